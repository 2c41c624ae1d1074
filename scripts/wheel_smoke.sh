#!/usr/bin/env bash
# Build the wheel, install it with exactly requirements.lock into a new virtualenv in a
# temporary folder (no checkout on the path), then run `riskstream demo --duration`.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
work=$(mktemp -d /tmp/riskstream-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT
.venv/bin/python -m build --wheel --no-isolation --outdir "$work/dist" . >/dev/null
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
"$work/venv/bin/pip" install -q --disable-pip-version-check --no-deps "$work"/dist/riskstream-*.whl
"$work/venv/bin/pip" check
cd "$work"   # nothing of the checkout is importable from here
"$work/venv/bin/python" - <<'PY'
import riskstream, importlib.util
assert "site-packages" in riskstream.__file__, riskstream.__file__
for generic in ("stream", "detectors", "models"):
    assert importlib.util.find_spec(generic) is None, f"{generic} is installed under a generic name"
PY
# the jars are a download cache (already fetched by setup.sh); everything else goes to a new home
RISKSTREAM_HOME="$work/home" RISKSTREAM_CACHE="$ROOT/.cache" timeout 240 "$work/venv/bin/riskstream" demo --duration 25 \
  | tee "$work/demo.out" | tail -n 5
grep -q "enforced\|shadow" "$work/demo.out" || { echo "wheel demo printed no action" >&2; exit 1; }
echo "[wheel] installed wheel ran the demo outside the checkout"
