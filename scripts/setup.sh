#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: everything the project needs, installed
# by the project's own files.  Called by scripts/demo.sh and scripts/test.sh.
#   - a virtualenv in .venv with exactly requirements-dev.lock, and riskstream in it (editable)
#   - Apache Kafka's jars from Maven Central into .cache/kafka (deploy/kafka/pom.xml)
#   - Debian's prometheus package (prometheus + promtool) for the metrics tests
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
# What riskstream writes and downloads stays in the checkout when run from it.
export RISKSTREAM_HOME=${RISKSTREAM_HOME:-$ROOT/var} RISKSTREAM_CACHE=${RISKSTREAM_CACHE:-$ROOT/.cache}
log() { printf '\033[36m[setup]\033[0m %s\n' "$*" >&2; }

PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for cand in python3.12 python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      PY=$cand; break
    fi
  done
fi
[ -n "$PY" ] || { echo "Python 3.11+ is required" >&2; exit 1; }

# 1. Python environment: exactly the lock (every package pinned with its hash), then
#    riskstream itself without touching the locked set.  Re-installed when a lock or
#    pyproject.toml changes.  Re-lock on purpose with scripts/relock.sh.
LOCK=${RISKSTREAM_LOCK:-requirements-dev.lock}
stamp=.venv/.installed-$(cat "$LOCK" pyproject.toml | sha1sum | cut -c1-12)
if [ ! -f "$stamp" ]; then
  log "creating .venv with $($PY --version) and installing $LOCK ..."
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r "$LOCK"
  .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
  .venv/bin/python -m pip check >/dev/null || { .venv/bin/python -m pip check; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# 2. Kafka jars (java + maven are needed; the broker is started by the code, not here)
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Java 17 and Maven from Debian's packages ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless maven >/dev/null
  else
    echo "Java 17+ and Maven are required to fetch Kafka's jars" >&2; exit 1
  fi
fi
.venv/bin/python -c 'from riskstream.stream.kafka_local import resolve_jars; resolve_jars()'

# 3. Prometheus + promtool (Debian's package), for the metrics tests and alert-rule checks
if [ "${RISKSTREAM_SKIP_PROMETHEUS:-0}" != 1 ] && ! command -v promtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing Debian's prometheus package (prometheus, promtool) ..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
    # the package starts a system service on some machines; the tests run their own
    (systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null || true) >/dev/null 2>&1
  else
    log "promtool not found and not root: install Debian's 'prometheus' package for the metrics tests"
  fi
fi
log "ready ($ROOT)"
