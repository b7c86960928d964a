#!/usr/bin/env bash
# Starts the demo: the DialogTech emulator on 127.0.0.1:8099 and Django on 127.0.0.1:8000.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
SANDBOX_PORT=${SANDBOX_PORT:-8099}
WEB_PORT=${WEB_PORT:-8000}

# The emulator's own account (fixtures/sandbox_account.json) holds these keys.
export DJANGO_DEBUG=${DJANGO_DEBUG:-true}
export DIALOGTECH_BASE_URL=${DIALOGTECH_BASE_URL:-http://127.0.0.1:${SANDBOX_PORT}/ibp_api.php}
export DIALOGTECH_ACCESS_KEY=${DIALOGTECH_ACCESS_KEY:-sandbox-access-key}
export DIALOGTECH_SECRET_ACCESS_KEY=${DIALOGTECH_SECRET_ACCESS_KEY:-sandbox-secret-access-key}

$PY manage.py migrate --no-input -v 0 --skip-checks
$PY manage.py loaddata fixtures/demo.json -v 0 --skip-checks
$PY manage.py demo_setup --skip-checks

$PY manage.py clicktoagent_sandbox --host 127.0.0.1 --port "$SANDBOX_PORT" &
SANDBOX_PID=$!
# Sends attempts held back (e.g. by an open circuit breaker) once DialogTech is reachable.
$PY manage.py clicktoagent_reconcile --every 30 --skip-checks &
RECONCILER_PID=$!
trap 'kill $SANDBOX_PID $RECONCILER_PID 2>/dev/null || true' EXIT INT TERM

cat <<MSG

  Demo:      http://127.0.0.1:${WEB_PORT}/
  Admin:     http://127.0.0.1:${WEB_PORT}/admin/   (credentials above)
  Emulator:  ${DIALOGTECH_BASE_URL}

  Place a call from another shell (same environment):
    DIALOGTECH_BASE_URL=${DIALOGTECH_BASE_URL} DIALOGTECH_ACCESS_KEY=sandbox-access-key \\
    DIALOGTECH_SECRET_ACCESS_KEY=sandbox-secret-access-key \\
    .venv/bin/python manage.py clicktoagent_call --queue 12345 --agent 98765 --phone "(312) 555-0123"

MSG
$PY manage.py runserver "127.0.0.1:${WEB_PORT}" --noreload
