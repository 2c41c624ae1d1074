"""Daily recall: did this series reach a value like this at about this time of day on each of the last few days?

A value that a level or seasonal baseline finds surprising may still be
routine: a nightly batch job's spike, a rush hour a little early. This memory
keeps, for each of the last ``days`` days and each ``bucket_s``-second slice of
the day, the lowest and highest value seen. A value lies within reach of day
``d`` if it is inside (or within the distance asked about) the range of some
slice of that day within ``tolerance_s`` of the same time of day. The detector
only believes a value is routine if *every* remembered day confirms it, so a
one-off excursion yesterday does not excuse one today. Timestamps, not row
counts, place a value, so the memory works the same at any cadence from a
minute to an hour and across gaps; memory is ``days * 86400 / bucket_s``
triples, whatever the cadence.

>>> from datetime import UTC, datetime, timedelta
>>> r = DailyRecall(days=2, bucket_s=900, tolerance_s=3600)
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
>>> for d in range(3):
...     for h in range(24):
...         r.learn(t0 + d * 86400 + h * 3600, 50.0 if h == 3 else 1.0)
>>> r.distance(t0 + 3 * 86400 + 3 * 3600 + 1200, 50.0), r.distance(t0 + 3 * 86400 + 12 * 3600, 49.0)
(0.0, 48.0)
"""

from __future__ import annotations

import math
from typing import Any

_DAY = 86400


class DailyRecall:
    """Per-day, per-slice ``[lo, hi]`` of the last ``days`` days (a ring indexed by day and slice)."""

    __slots__ = ("bucket_s", "day", "days", "hi", "lo", "per_day", "reach")

    def __init__(self, days: int, bucket_s: float, tolerance_s: float) -> None:
        self.days = max(days, 1)
        self.bucket_s = bucket_s
        self.per_day = max(int(_DAY // bucket_s), 1)
        self.reach = math.ceil(tolerance_s / bucket_s)
        size = (self.days + 1) * self.per_day  # today's slices plus the remembered days
        self.day = [-1] * size  # which day a cell holds (-1: none)
        self.lo = [0.0] * size
        self.hi = [0.0] * size

    def _cell(self, day: int, slot: int) -> int:
        return (day % (self.days + 1)) * self.per_day + slot

    def distance(self, ts: float, x: float) -> float:
        """How far ``x`` lies from what every one of the last ``days`` days showed near this time of day.

        ``inf`` when some day has no value near this time (not remembered: no excuse).
        """
        day = int(ts // _DAY)
        slot = int((ts % _DAY) // self.bucket_s)
        worst = 0.0
        for back in range(1, self.days + 1):
            best = math.inf
            for off in range(-self.reach, self.reach + 1):
                s = slot + off
                d = day - back + (s // self.per_day)  # a slice past midnight belongs to the next day
                c = self._cell(d, s % self.per_day)
                if self.day[c] != d:
                    continue
                lo, hi = self.lo[c], self.hi[c]
                gap = lo - x if x < lo else (x - hi if x > hi else 0.0)
                if gap < best:
                    best = gap
                    if gap == 0.0:
                        break
            if best > worst:
                worst = best
                if math.isinf(worst):
                    break
        return worst

    def learn(self, ts: float, x: float) -> None:
        if not math.isfinite(x):
            return
        day = int(ts // _DAY)
        c = self._cell(day, int((ts % _DAY) // self.bucket_s))
        if self.day[c] != day:
            self.day[c] = day
            self.lo[c] = self.hi[c] = x
        elif x < self.lo[c]:
            self.lo[c] = x
        elif x > self.hi[c]:
            self.hi[c] = x

    def state(self) -> dict[str, Any]:
        return {"day": list(self.day), "lo": list(self.lo), "hi": list(self.hi)}

    def load(self, s: dict[str, Any]) -> None:
        self.day = [int(v) for v in s["day"]]
        self.lo = [float(v) for v in s["lo"]]
        self.hi = [float(v) for v in s["hi"]]
