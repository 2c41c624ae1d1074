#!/usr/bin/env bash
# Re-lock every Python dependency (transitive ones included, exact versions with hashes),
# then re-install from the new locks and run the whole test suite.  Upgrading is a
# deliberate, tested change: commit the two lock files only if this passes.
#   scripts/relock.sh                 re-resolve within pyproject.toml's ranges
#   scripts/relock.sh --upgrade-package msgspec   move one dependency on purpose
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/uv ] || bash scripts/setup.sh
uv=.venv/bin/uv
common=(--generate-hashes --universal --python-version 3.11 --quiet)
"$uv" pip compile "${common[@]}" "$@" pyproject.toml deploy/python/build.in -o requirements.lock
"$uv" pip compile "${common[@]}" "$@" --extra dev -c requirements.lock pyproject.toml deploy/python/build.in \
  -o requirements-dev.lock
echo "[relock] locks written; re-installing and running the tests" >&2
rm -f .venv/.installed-*
exec bash scripts/test.sh
