#!/usr/bin/env bash
# Runs the benchmarks and writes bench/README.md (see bench/README.md, "Running").
#   bash bench/run.sh                  # every part (`make bench`)
#   BENCH="api workers" bash bench/run.sh   # some parts (`make bench BENCH="api workers"`)
# Parts: profile api workers scaling webhooks guardrails memory. The sections of parts
# not run are kept from the last run that made them (bench/results/).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${BENCH_PYTHON:-.venv/bin/python}
export PATH="$(dirname "$PY"):$PATH"
parts=${BENCH:-all}
if [ "$parts" = all ]; then
  parts="profile api workers scaling webhooks guardrails memory"
fi
if ! "$PY" -c 'import sys; sys.path.insert(0, "."); from bench.common import services_up; sys.exit(not services_up())'; then
  echo "The benchmarks need PostgreSQL (BENCH_PG, default postgres://postgres@127.0.0.1:5432)" >&2
  echo "and Redis (BENCH_REDIS, default redis://127.0.0.1:6379; databases 8 and 9)." >&2
  exit 1
fi
mkdir -p bench/results
started=$(date +%s)
for part in $parts; do
  echo "== $part (load: $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  t0=$(date +%s)
  case $part in
    profile)
      "$PY" bench/profiling.py && "$PY" bench/profile_worker.py
      "$PY" bench/profile_worker.py --guardrails ;;
    api) "$PY" bench/api.py ;;
    workers) "$PY" bench/workers.py --attempts "${BENCH_WORKER_ATTEMPTS:-400}" ;;
    scaling) "$PY" bench/workers.py --scaling --per-worker "${BENCH_SCALING_PER_WORKER:-30}" ;;
    webhooks) "$PY" bench/webhooks.py ;;
    guardrails)
      n=${BENCH_GUARDRAILS_REQUESTS:-300}
      "$PY" bench/guardrails.py --requests "$n" --attempts "$n" ;;
    memory) "$PY" bench/memory.py --attempts "${BENCH_MEMORY_ATTEMPTS:-10000}" ;;
    *) echo "unknown part: $part (profile api workers scaling webhooks guardrails memory)" >&2; exit 2 ;;
  esac > /dev/null
  echo "$part: $(( $(date +%s) - t0 )) s" > "bench/results/$part.time"
done
"$PY" bench/report.py "$parts" "$(( $(date +%s) - started ))"
cat bench/README.md
