"""Incident results with the likelihood-only detector and with the default (range-aware, daily recall), side by side.

Run from the repository root (held-out simulator seeds; tuning uses 1-5):

    python bench/bench_incident_detectors.py [--hours 24] [--seeds 101 102 103 104 105]

For each seed and detector: surge scenarios detected, incidents opened, false
alarms (and those during honest surges such as a viral product), mean time to
detect. The detector is the prototype of the incident series and of the region
fallback (no region models are loaded).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskstream.evaluation.incidents_eval import evaluate_incidents
from riskstream.models import RangeAwareDetector, TimeSeriesAnomalyDetector
from riskstream.models.ts_range import StreamDetector
from riskstream.sim import SimConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--seeds", type=int, nargs="+", default=[101, 102, 103, 104, 105])
    args = ap.parse_args()
    rows: list[tuple[str, Callable[[], StreamDetector]]] = [
        ("likelihood only", TimeSeriesAnomalyDetector),
        ("range-aware (default)", RangeAwareDetector),
    ]
    print(f"{'detector':<22} {'seed':>5} {'surges':>7} {'opened':>7} {'false':>6} {'honest':>7} {'ttd_min':>8}")
    for name, factory in rows:
        for seed in args.seeds:
            res = evaluate_incidents(SimConfig(seed=seed, duration_hours=args.hours), detector=factory())
            s = res.scores
            found = sum(d.detected for d in s.scenarios)
            ttd = [d.time_to_detect_s / 60 for d in s.scenarios if d.time_to_detect_s is not None]
            mean = sum(ttd) / len(ttd) if ttd else float("nan")
            print(f"{name:<22} {seed:>5} {found:>3}/{len(s.scenarios):<3} {s.opened:>7} {s.false_alarms:>6} "
                  f"{s.false_alarms_on_honest_surges:>7} {mean:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
