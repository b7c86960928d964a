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
} > "$out.tmp"
mv "$out.tmp" "$out"
cat "$out"
