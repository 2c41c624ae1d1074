"""Likelihood detector plus a new-extreme rule: a value far outside everything this series has shown is an anomaly.

The likelihood detector (:class:`~riskstream.models.timeseries.TimeSeriesAnomalyDetector`)
judges a residual against the series' own history of residuals, so a series
that has always been noisy learns to shrug. Some anomalies are plain in a way
that statistic misses: the value leaves the range the series has ever had. The
rule is the "spatial anomaly" that NAB's HTM detector adds to its likelihood:
once ``range_warmup`` rows have been seen, a value more than ``tolerance`` times
the all-time range beyond the all-time minimum or maximum scores 1. Like any
firing it starts the base detector's cooldown (scores damped, seasons held),
and within a cooldown a new extreme is damped like every other score, so a
ramp to new highs fires once, not on every row. Memory is the base detector's
plus two numbers.

>>> from datetime import UTC, datetime, timedelta
>>> det = RangeAwareDetector()
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> scores = []
>>> for i in range(600):
...     t = t0 + timedelta(minutes=5 * i)
...     x = 10.0 + (i % 7) * 0.1 + (5.0 if i == 500 else 0.0)
...     scores.append(det.score_one(t, x))
...     det.learn_one(t, x)
>>> scores[500], max(scores[300:500]) < 0.5
(1.0, True)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from typing import Any, TypeAlias

from riskstream.models.timeseries import TimeSeriesAnomalyDetector, TimeSeriesConfig


@dataclass(frozen=True)
class RangeAwareConfig:
    """The base detector's configuration and the new-extreme rule's two parameters.

    ``tolerance`` is HTM's (5% of the range); ``range_warmup`` is about a day
    of 5-minute rows, long enough for the range to mean something. The base
    recalls the last two days (a value both reached within 30 minutes of this
    time of day is routine): two, so that a one-off yesterday is no excuse.
    """

    base: TimeSeriesConfig = field(
        default_factory=lambda: TimeSeriesConfig(suppress_rows=150, recall_days=2, recall_tolerance_s=1800.0)
    )
    tolerance: float = 0.05
    range_warmup: int = 300


class RangeAwareDetector:
    """Online detector: ``score_one(t, x)`` in ``[0, 1]``, then ``learn_one(t, x)``; same API as the base."""

    def __init__(self, config: RangeAwareConfig | None = None) -> None:
        self.config = config or RangeAwareConfig()
        self.base = TimeSeriesAnomalyDetector(self.config.base)
        self.lo = math.inf
        self.hi = -math.inf

    @property
    def n(self) -> int:
        """Rows learnt (finite values only)."""
        return self.base.n

    def clone(self) -> RangeAwareDetector:
        """An unfitted detector with the same configuration."""
        return RangeAwareDetector(self.config)

    def is_extreme(self, x: float) -> bool:
        """Whether ``x`` lies beyond the all-time range by more than the tolerance (after the warmup)."""
        if self.base.n < self.config.range_warmup or not math.isfinite(x):
            return False
        margin = self.config.tolerance * (self.hi - self.lo)
        return x > self.hi + margin or x < self.lo - margin

    def score_one(self, t: datetime, x: float) -> float:
        """Anomaly score of ``x`` at ``t`` (no state change); NaN or infinite ``x`` scores 0."""
        s = self.base.score_one(t, x)
        if self.is_extreme(x):
            # Inside a cooldown the same incident should not fire again and again.
            extreme = self.config.base.suppress_factor if self.base.cooldown > 0 else 1.0
            return max(s, extreme)
        return s

    def learn_one(self, t: datetime, x: float) -> None:
        """Learn ``(t, x)``; a new extreme outside a cooldown starts one."""
        if not math.isfinite(x):
            return
        fired = self.is_extreme(x) and self.base.cooldown == 0
        self.base.learn_one(t, x)
        if fired:
            self.base.cooldown = self.config.base.suppress_rows
        self.lo = min(self.lo, x)
        self.hi = max(self.hi, x)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot (an empty range is stored as ``None``)."""
        config = asdict(self.config)
        return {
            "config": config,
            "base": self.base.state_dict(),
            "lo": self.lo if math.isfinite(self.lo) else None,
            "hi": self.hi if math.isfinite(self.hi) else None,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RangeAwareDetector:
        """Rebuild a detector from :meth:`state_dict` output (unknown keys are ignored)."""
        raw = state["config"]
        known = {f.name for f in fields(RangeAwareConfig)} - {"base"}
        base = TimeSeriesAnomalyDetector.from_state(state["base"])
        config = RangeAwareConfig(base=base.config, **{k: v for k, v in raw.items() if k in known})
        det = cls(config)
        det.base = base
        det.lo = math.inf if state["lo"] is None else float(state["lo"])
        det.hi = -math.inf if state["hi"] is None else float(state["hi"])
        return det


StreamDetector: TypeAlias = TimeSeriesAnomalyDetector | RangeAwareDetector
"""A per-series streaming detector the region models and the incident manager can clone and restore."""


def detector_from_state(state: dict[str, Any]) -> StreamDetector:
    """Rebuild whichever detector wrote ``state`` (a range-aware state nests its base under ``base``).

    >>> type(detector_from_state(RangeAwareDetector().state_dict())).__name__
    'RangeAwareDetector'
    >>> type(detector_from_state(TimeSeriesAnomalyDetector().state_dict())).__name__
    'TimeSeriesAnomalyDetector'
    """
    if "base" in state:
        return RangeAwareDetector.from_state(state)
    return TimeSeriesAnomalyDetector.from_state(state)
