"""CRM write-back: every finished call logged on the HubSpot, Salesforce or Pipedrive
record its ``contact_ref`` names (docs/crm.md)."""
