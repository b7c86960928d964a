#!/usr/bin/env bash
# Runs every benchmark and writes bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/README.md
{
  echo "# Benchmarks"
  echo
  echo "Made by \`make bench\` on $(date -u +%Y-%m-%d) ($(nproc) cores, $(python3 --version 2>&1))."
  echo "These are measurements, not pass/fail targets; the machine's other load shows in them."
  echo
  echo "## One process, immediate backend (bench/inprocess.py)"
  echo
  .venv/bin/python bench/inprocess.py
  echo
  echo "## RQ workers on Redis and PostgreSQL (bench/dispatch.py)"
  echo
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && redis-cli -p 6379 ping >/dev/null 2>&1; then
    .venv/bin/python bench/dispatch.py
  else
    echo "Not run: needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379."
  fi
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
