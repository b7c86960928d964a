#!/usr/bin/env bash
# Starts the demo: the DialogTech emulator on 127.0.0.1:8099, the CRM stand-ins on
# 127.0.0.1:8100-8102 (HubSpot, Salesforce, Pipedrive) and Django on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
SANDBOX_PORT=${SANDBOX_PORT:-8099}
WEB_PORT=${WEB_PORT:-8000}
CRM_PORT=${CRM_PORT:-8100}

# The emulator's own account (fixtures/sandbox_account.json) holds these keys.
export DJANGO_DEBUG=${DJANGO_DEBUG:-true}
export DIALOGTECH_BASE_URL=${DIALOGTECH_BASE_URL:-http://127.0.0.1:${SANDBOX_PORT}/ibp_api.php}
export DIALOGTECH_ACCESS_KEY=${DIALOGTECH_ACCESS_KEY:-sandbox-access-key}
export DIALOGTECH_SECRET_ACCESS_KEY=${DIALOGTECH_SECRET_ACCESS_KEY:-sandbox-secret-access-key}
# CRM write-back to the stand-ins (`clicktoagent_sandbox --crm` prints these values).
export HUBSPOT_API_BASE_URL=${HUBSPOT_API_BASE_URL:-http://127.0.0.1:${CRM_PORT}}
export HUBSPOT_ACCESS_TOKEN=${HUBSPOT_ACCESS_TOKEN:-standin-hubspot-token}
export SALESFORCE_INSTANCE_URL=${SALESFORCE_INSTANCE_URL:-http://127.0.0.1:$((CRM_PORT + 1))}
export SALESFORCE_CLIENT_ID=${SALESFORCE_CLIENT_ID:-standin-salesforce-client-id}
export SALESFORCE_CLIENT_SECRET=${SALESFORCE_CLIENT_SECRET:-standin-salesforce-client-secret}
export PIPEDRIVE_API_BASE_URL=${PIPEDRIVE_API_BASE_URL:-http://127.0.0.1:$((CRM_PORT + 2))}
export PIPEDRIVE_API_TOKEN=${PIPEDRIVE_API_TOKEN:-standin-pipedrive-token}

$PY manage.py migrate --no-input -v 0 --skip-checks
$PY manage.py loaddata fixtures/demo.json -v 0 --skip-checks
$PY manage.py demo_setup --skip-checks

$PY manage.py clicktoagent_sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" \
    --crm --crm-port "$CRM_PORT" &
SANDBOX_PID=$!
# Wait for the emulator; stop here if it could not start (e.g. a port already taken).
for _ in $(seq 1 50); do
  kill -0 "$SANDBOX_PID" 2>/dev/null || { echo "The emulator did not start (see above)." >&2; exit 1; }
  $PY - "$SANDBOX_PORT" 2>/dev/null <<'PYCHECK' && break
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
PYCHECK
  sleep 0.2
done
# Sends attempts held back (e.g. by an open circuit breaker) once DialogTech is reachable.
$PY manage.py clicktoagent_reconcile --every 30 --skip-checks &
RECONCILER_PID=$!
trap 'kill $SANDBOX_PID $RECONCILER_PID 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  Demo:      http://127.0.0.1:${WEB_PORT}/
  Admin:     http://127.0.0.1:${WEB_PORT}/admin/   (credentials above)
  Emulator:  ${DIALOGTECH_BASE_URL}
  HubSpot stand-in: ${HUBSPOT_API_BASE_URL}/   (calls written back, record by record)

  Place a call on HubSpot contact 501 from another shell (same environment), then
  reload the HubSpot stand-in's page to see it logged on the contact:
    DIALOGTECH_BASE_URL=${DIALOGTECH_BASE_URL} DIALOGTECH_ACCESS_KEY=sandbox-access-key \\
    DIALOGTECH_SECRET_ACCESS_KEY=sandbox-secret-access-key \\
    HUBSPOT_API_BASE_URL=${HUBSPOT_API_BASE_URL} HUBSPOT_ACCESS_TOKEN=standin-hubspot-token \\
    .venv/bin/python manage.py clicktoagent_call --queue 12345 --agent 98765 \\
      --phone "(312) 555-0123" --contact-ref hubspot:contact:501

  Safe calling is on: outside 8:00-21:00 in Chicago that call is scheduled for the next
  allowed moment (the reconciler here sends it then). CLICKTOAGENT_SAFE_CALLING_RULES=none
  before \`make run\` turns the rules off (docs/safe-calling.md).

MSG
$PY manage.py runserver "127.0.0.1:${WEB_PORT}" --noreload
