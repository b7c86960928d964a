"""CRM webhooks in: one module per provider on a shared base view."""
