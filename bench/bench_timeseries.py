"""Throughput of the streaming time-series detectors against a trivial EWMA z-score, side by side.

Run from the repository root:

    python bench/bench_timeseries.py [--series 20] [--points 5000]
    python bench/bench_timeseries.py --nab /work/shared/benchmarks/nab-dev

Every detector sees the same synthetic series (daily cycle, noise, a few spikes),
one object per series, ``score_one`` then ``learn_one`` for every point.
Throughput is reported per wall-clock second and per CPU second of this process
(the second is the one to read on a shared machine). With ``--nab DIR`` the
default detector (:class:`RangeAwareDetector`) is instead scored on a corpus in NAB's layout (score
per cost profile, chosen threshold, TP/FP/FN and rows per second).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskstream.evaluation import run_nab
from riskstream.models import RangeAwareConfig, RangeAwareDetector, TimeSeriesAnomalyDetector


class _Detector(Protocol):
    def score_one(self, t: datetime, x: float) -> float: ...

    def learn_one(self, t: datetime, x: float) -> None: ...


class EwmaZScore:
    """The baseline: EWMA mean and variance, score = 1 - exp(-|z|)."""

    def __init__(self, alpha: float = 0.02) -> None:
        self.alpha = alpha
        self.mean = 0.0
        self.var = 0.0
        self.n = 0

    def score_one(self, t: datetime, x: float) -> float:
        if self.n < 2:
            return 0.0
        z = abs(x - self.mean) / (math.sqrt(self.var) + 1e-12)
        return 1.0 - math.exp(-z)

    def learn_one(self, t: datetime, x: float) -> None:
        if self.n == 0:
            self.mean = x
        d = x - self.mean
        self.mean += self.alpha * d
        self.var = (1 - self.alpha) * (self.var + self.alpha * d * d)
        self.n += 1


def _without_recall() -> RangeAwareDetector:
    """The previous default: the range-aware detector without the daily recall."""
    base = RangeAwareConfig().base
    return RangeAwareDetector(RangeAwareConfig(base=replace(base, recall_days=0)))


def make_series(n_series: int, n_points: int) -> list[list[tuple[datetime, float]]]:
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    out = []
    for s in range(n_series):
        pts = []
        for i in range(n_points):
            noise = math.sin((i + 7 * s) * 12.9898) * 43758.5453 % 2.0 - 1.0
            x = 100 + 30 * math.sin(2 * math.pi * i / 288) + 5 * noise + (80 if i % 997 == 0 else 0)
            pts.append((t0 + timedelta(minutes=5 * i), x))
        out.append(pts)
    return out


def measure(factory: Callable[[], _Detector], data: list[list[tuple[datetime, float]]]) -> tuple[float, float]:
    """Points per wall-clock second and per CPU second."""
    start, cpu = time.perf_counter(), time.process_time()
    n = 0
    for series in data:
        det = factory()
        for t, x in series:
            det.score_one(t, x)
            det.learn_one(t, x)
        n += len(series)
    return n / (time.perf_counter() - start), n / (time.process_time() - cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument("--points", type=int, default=5000)
    ap.add_argument("--nab", type=Path, default=None, help="score on a NAB-layout corpus instead")
    args = ap.parse_args()
    if args.nab is not None:
        result = run_nab(args.nab, RangeAwareDetector, time_order="file")
        for p in result.profiles.values():
            tp, fp, fn = (sum(getattr(f, k) for f in p.files) for k in ("tp", "fp", "fn"))
            print(
                f"{p.profile:20s} {p.normalized_score:6.2f}  threshold={p.threshold:.4f}  tp={tp} fp={fp} fn={fn}"
            )
        print(f"{result.rows_scored} rows, {result.rows_per_second:,.0f} rows/s")
        return
    data = make_series(args.series, args.points)
    rows: list[tuple[str, Callable[[], _Detector]]] = [
        ("ewma_zscore (baseline)", EwmaZScore),
        ("TimeSeriesAnomalyDetector", TimeSeriesAnomalyDetector),
        ("RangeAwareDetector, no recall", _without_recall),
        ("RangeAwareDetector (default)", RangeAwareDetector),
    ]
    print(f"{args.series} series x {args.points} points, score_one + learn_one per point (best of three)")
    for name, factory in rows:
        runs = [measure(factory, data) for _ in range(3)]
        wall, cpu = max(r[0] for r in runs), max(r[1] for r in runs)
        print(f"{name:30s} {wall:12,.0f} points/s wall {cpu:12,.0f} points/CPU-s {1e6 / cpu:7.2f} us/point (CPU)")


if __name__ == "__main__":
    main()
