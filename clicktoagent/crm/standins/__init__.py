"""Local stand-ins of the CRM APIs the write-back calls: real HTTP servers on loopback.

Pure standard library, so tests, the demo (``clicktoagent_sandbox --crm``) and host
projects can run them::

    with HubSpotStandIn(token="pat-test") as hubspot:
        ...  # HUBSPOT_API_BASE_URL = hubspot.url; hubspot.records lists the calls

Each one answers the calls of the write-back the way its CRM documents them, and
refuses (as its CRM does, with its error body) a request of the wrong shape: another
path, a missing or wrong credential, a missing required field, an association of
the wrong kind, a record that does not exist (when ``known`` ids are given).

- :class:`HubSpotStandIn`: ``POST /crm/v3/objects/calls`` (Bearer token, properties,
  HUBSPOT_DEFINED association) and ``POST /crm/v3/objects/calls/search`` (EQ filter);
- :class:`SalesforceStandIn`: ``POST /services/oauth2/token`` (client credentials),
  ``POST /services/data/vXX.X/sobjects/Task/`` and ``GET /services/data/vXX.X/query/``
  (``SELECT Id FROM Task WHERE CallObject = '...'``); :meth:`SalesforceStandIn.expire_tokens`
  makes every token issued so far answer 401, as an expired session does;
- :class:`PipedriveStandIn`: ``POST /api/v1/callLogs`` (``x-api-token``).

Faults, queued with :meth:`StandInServer.add_fault` for the next request of an
operation (``create``, ``lookup``, ``token`` or ``any``):

``unauthorized``          HTTP 401 with the CRM's error body;
``rate_limited``          HTTP 429 with ``Retry-After: <seconds>``;
``server_error``          HTTP 500;
``hang``                  read the request, then wait ``seconds`` without answering
                          (nothing is created);
``timeout_after_create``  create the record, then wait ``seconds`` without answering:
                          the client times out although the record exists.

``GET /_standin/records`` lists what was created (JSON) and ``GET /`` shows it as a
page, record by record, as a CRM timeline would. Credentials are never logged or shown.
"""

from .base import (
    FAULTS,
    OPERATIONS,
    STANDIN_HUBSPOT_TOKEN,
    STANDIN_PIPEDRIVE_TOKEN,
    STANDIN_SALESFORCE_CLIENT_ID,
    STANDIN_SALESFORCE_CLIENT_SECRET,
    Reply,
    StandInServer,
)
from .hubspot import HubSpotStandIn
from .pipedrive import PipedriveStandIn
from .salesforce import SalesforceStandIn

__all__ = [
    "FAULTS",
    "OPERATIONS",
    "STANDIN_HUBSPOT_TOKEN",
    "STANDIN_PIPEDRIVE_TOKEN",
    "STANDIN_SALESFORCE_CLIENT_ID",
    "STANDIN_SALESFORCE_CLIENT_SECRET",
    "HubSpotStandIn",
    "PipedriveStandIn",
    "Reply",
    "SalesforceStandIn",
    "StandInServer",
]
