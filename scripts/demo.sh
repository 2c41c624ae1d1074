#!/usr/bin/env bash
# The main job: a local Kafka, a worker, a generated marketplace stream, and the
# actions / incidents / dead letters printed as they happen.  Ctrl-C stops it all.
# Uses KAFKA_BOOTSTRAP_SERVERS instead of a local broker when it is set.
set -euo pipefail
cd "$(dirname "$0")/.."
export RISKSTREAM_HOME=${RISKSTREAM_HOME:-$PWD/var} RISKSTREAM_CACHE=${RISKSTREAM_CACHE:-$PWD/.cache}
RISKSTREAM_SKIP_PROMETHEUS=1 bash scripts/setup.sh
exec .venv/bin/riskstream demo "$@"
