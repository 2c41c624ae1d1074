#!/usr/bin/env bash
# The whole test suite on a fresh machine: set-up (from the lock), lint, types, the
# import contract, unit and integration tests (real Kafka started by the fixtures,
# real Prometheus), the property tests at 10,000 cases per kind, the failure scenarios 3 times each, and the built wheel
# installed in a fresh virtualenv outside the checkout running a short demo.
set -euo pipefail
cd "$(dirname "$0")/.."
export RISKSTREAM_HOME=${RISKSTREAM_HOME:-$PWD/var} RISKSTREAM_CACHE=${RISKSTREAM_CACHE:-$PWD/.cache}
bash scripts/setup.sh
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"; ruff check .
echo "== mypy"; mypy
echo "== import contract"; lint-imports --no-cache
echo "== pytest"; pytest -q "$@"
if [ $# -eq 0 ]; then
  echo "== property tests (hypothesis 'ci' profile: 10,000 cases per input kind and policy documents)"
  HYPOTHESIS_PROFILE=ci pytest -q tests/property
  echo "== failure scenarios (kill -9 and two workers, 3 runs each)"; python bench/failure_loop.py --runs 3
  echo "== wheel in a fresh virtualenv, outside the checkout"; bash scripts/wheel_smoke.sh
fi
