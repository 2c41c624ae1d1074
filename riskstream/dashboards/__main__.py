"""`python -m riskstream.dashboards [DIR]`: regenerate the provisioned dashboards (default deploy/grafana/dashboards)."""

from __future__ import annotations

import sys
from pathlib import Path

from riskstream.dashboards import write

if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
    for path in write(target):
        print(path)
