#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up, lint, types, unit and
# integration tests (real Kafka started by the fixtures, real Prometheus).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== pytest"; exec pytest -q "$@"
