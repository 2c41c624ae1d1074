"""Streaming anomaly detector for one univariate time series (one object per series).

Several robust baselines predict each value: a fast and a slow EWMA level and
additive seasonal models by time of day and by hour of week. Each tracks the
mean absolute error of its own predictions, learning from clipped residuals so
that outliers cannot poison it. The baseline with the smallest error explains
the point; its residual in units of its error scale is the raw score,
unless a daily recall (``recall_days`` > 0, see :mod:`riskstream.models.ts_recall`)
finds that every one of the last few days reached that value within
``recall_tolerance_s`` of the same time of day: then the raw score is the
distance to what those days showed (a nightly job's spike is routine). An
anomaly likelihood (see :mod:`riskstream.models.ts_likelihood`) turns the recent average
of raw scores into a tail probability relative to this series' own history,
mapped to ``[0, 1)``. Right after a firing (a score of at least ``fire_level``)
scores are damped for ``suppress_rows`` rows so one incident does not fire
again and again, and the seasonal models hold still so they do not learn the
incident and replay it one cycle later. Memory is constant per series.

``fire_level`` is the operating point: the damping is tuned for a decision
threshold equal to it (the default :class:`Threshold` uses the same 0.5).

Score before learning; higher is more anomalous; the yes/no decision is a
separate :class:`Threshold`.

>>> from datetime import UTC, datetime, timedelta
>>> det = TimeSeriesAnomalyDetector()
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> scores = []
>>> for i in range(600):
...     t = t0 + timedelta(minutes=5 * i)
...     x = 10.0 + (i % 7) * 0.1 + (50.0 if i == 500 else 0.0)
...     scores.append(det.score_one(t, x))
...     det.learn_one(t, x)
>>> Threshold(0.5)(scores[500]), max(scores[300:500]) < 0.5
(True, True)
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from riskstream.models.ts_baselines import LevelBaseline, SeasonalBaseline
from riskstream.models.ts_likelihood import TailLikelihood
from riskstream.models.ts_recall import DailyRecall

_DAY = 86400
_WEEK = 7 * _DAY
_MONDAY_OFFSET = 3 * _DAY  # the Unix epoch fell on a Thursday


@dataclass(frozen=True)
class TimeSeriesConfig:
    """Hyperparameters; the defaults are the ones measured on NAB's development subset."""

    fast_alpha: float = 0.1
    slow_alpha: float = 0.02
    season_alpha: float = 0.02
    season_gamma: float = 0.2
    scale_alpha: float = 0.01
    clip: float = 6.0
    daily_buckets: int = 48
    weekly_buckets: int = 168
    warmup: int = 30
    scale_floor: float = 0.02
    z_cap: float = 20.0
    short_window: int = 5
    history_alpha: float = 0.001
    sigma_floor: float = 0.02
    score_half: float = 5.0
    fire_level: float = 0.5
    suppress_rows: int = 75
    suppress_factor: float = 0.5
    hold_seasons: bool = True
    recall_days: int = 0
    recall_bucket_s: float = 900.0
    recall_tolerance_s: float = 3600.0
    recall_min_z: float = 3.0


@dataclass(frozen=True)
class Threshold:
    """The decision: a score at or above ``level`` is a detection.

    >>> Threshold(0.7)(0.71), Threshold(0.7)(0.2)
    (True, False)
    """

    level: float = 0.5

    def __call__(self, score: float) -> bool:
        return score >= self.level


class TimeSeriesAnomalyDetector:
    """Online anomaly detector: ``score_one(t, x)`` in ``[0, 1)``, then ``learn_one(t, x)``."""

    def __init__(self, config: TimeSeriesConfig | None = None) -> None:
        self.config = config or TimeSeriesConfig()
        c = self.config
        self.fast = LevelBaseline(c.fast_alpha, c.scale_alpha, c.clip)
        self.slow = LevelBaseline(c.slow_alpha, c.scale_alpha, c.clip)
        self.daily = SeasonalBaseline(
            c.daily_buckets, c.season_alpha, c.season_gamma, c.scale_alpha, c.clip, 2 * c.daily_buckets
        )
        self.weekly = SeasonalBaseline(
            c.weekly_buckets, c.season_alpha, c.season_gamma, c.scale_alpha, c.clip, c.weekly_buckets
        )
        self.likelihood = TailLikelihood(c.short_window, c.history_alpha, c.warmup, c.sigma_floor)
        self.recall = (
            DailyRecall(c.recall_days, c.recall_bucket_s, c.recall_tolerance_s) if c.recall_days > 0 else None
        )
        self.n = 0
        self.cooldown = 0
        self.first_ts = 0.0
        self.last_ts = 0.0
        self._memo: tuple[int, datetime, float, float, float] | None = None

    # ------------------------------------------------------------ API
    def clone(self) -> TimeSeriesAnomalyDetector:
        """An unfitted detector with the same configuration."""
        return TimeSeriesAnomalyDetector(self.config)

    def score_one(self, t: datetime, x: float) -> float:
        """Anomaly score of ``x`` at ``t`` given everything learnt so far (no state change).

        A NaN or infinite ``x`` is no evidence either way: it scores 0 and
        :meth:`learn_one` skips it (callers that must count such rows do so).
        """
        if self.n < self.config.warmup or not math.isfinite(x):
            return 0.0
        a = self._raw(t, x)
        s = self._raw_score(a)
        # learn_one usually follows with the same row: remember the work (state is unchanged until then).
        self._memo = (self.n, t, x, a, s)
        # Right after a firing the same incident should not fire again and again.
        return s * self.config.suppress_factor if self.cooldown > 0 else s

    def learn_one(self, t: datetime, x: float) -> None:
        """Update baselines, score history and the post-detection cooldown with ``(t, x)``."""
        if not math.isfinite(x):
            return  # one NaN would poison every level and scale for good
        c = self.config
        ts = t.timestamp()
        if self.n >= c.warmup:
            memo = self._memo
            if memo is not None and memo[0] == self.n and memo[1] == t and memo[2] == x:
                a, s = memo[3], memo[4]
            else:
                a = self._raw(t, x)
                s = self._raw_score(a)
            self._memo = None
            if self.cooldown > 0:
                self.cooldown -= 1
            elif s >= c.fire_level:
                self.cooldown = c.suppress_rows
            self.likelihood.learn(a)
        dslot, wslot = self._slots(ts)
        self.fast.learn(x, 0)
        self.slow.learn(x, 0)
        adapt = not (c.hold_seasons and self.cooldown > 0)
        self.daily.learn(x, dslot, adapt)
        self.weekly.learn(x, wslot, adapt)
        if self.recall is not None:
            self.recall.learn(ts, x)
        if self.n == 0:
            self.first_ts = ts
        self.last_ts = ts
        self.n += 1

    # ------------------------------------------------------------ internals
    def _slots(self, ts: float) -> tuple[int, int]:
        c = self.config
        dslot = int((ts % _DAY) * c.daily_buckets / _DAY)
        wslot = int(((ts + _MONDAY_OFFSET) % _WEEK) * c.weekly_buckets / _WEEK)
        return dslot, wslot

    def explain(self, t: datetime) -> tuple[float, float]:
        """``(prediction, scale)`` for a row at ``t``: the best-fitting baseline's prediction and error scale.

        The scale includes a floor tied to the slow level's error, so it is
        positive whenever the series has varied, even when a season predicts
        it perfectly.
        """
        c = self.config
        dslot, wslot = self._slots(t.timestamp())
        span = self.last_ts - self.first_ts
        best_err = self.fast.err
        best_pred = self.fast.level
        if self.slow.err < best_err:
            best_err, best_pred = self.slow.err, self.slow.level
        # A seasonal model may only explain a point once it has seen the whole cycle.
        if span >= 2 * _DAY and self.daily.warm and self.daily.err < best_err:
            best_err, best_pred = self.daily.err, self.daily.predict(dslot)
        if span >= 2 * _WEEK and self.weekly.warm and self.weekly.err < best_err:
            best_err, best_pred = self.weekly.err, self.weekly.predict(wslot)
        floor = c.scale_floor * self.slow.err + 1e-9 * abs(self.slow.level) + 1e-12
        return best_pred, best_err + floor

    def _raw(self, t: datetime, x: float) -> float:
        """Residual of the best-fitting baseline, in units of that baseline's error scale."""
        pred, scale = self.explain(t)
        z = abs(x - pred) / scale
        if self.recall is not None and z >= self.config.recall_min_z:
            # Routine if every remembered day reached it at about this time of day.
            z = min(z, self.recall.distance(t.timestamp(), x) / scale)
        return min(z, self.config.z_cap)

    def _raw_score(self, a: float) -> float:
        lik = self.likelihood.surprise(a)
        return lik / (lik + self.config.score_half)

    # ------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot: configuration plus every learnt quantity."""
        return {
            "config": asdict(self.config),
            "fast": self.fast.state(),
            "slow": self.slow.state(),
            "daily": self.daily.state(),
            "weekly": self.weekly.state(),
            "likelihood": self.likelihood.state(),
            **({"recall": self.recall.state()} if self.recall is not None else {}),
            "n": self.n,
            "cooldown": self.cooldown,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TimeSeriesAnomalyDetector:
        """Rebuild a detector from :meth:`state_dict` output (unknown keys, e.g. retired options, are ignored)."""
        known = {f.name for f in fields(TimeSeriesConfig)}
        config = TimeSeriesConfig(**{k: v for k, v in state["config"].items() if k in known})
        det = cls(config)
        det.fast.load(state["fast"])
        det.slow.load(state["slow"])
        det.daily.load(state["daily"])
        det.weekly.load(state["weekly"])
        det.likelihood.load(state["likelihood"])
        if det.recall is not None and "recall" in state:
            det.recall.load(state["recall"])
        det.n = int(state["n"])
        det.cooldown = int(state["cooldown"])
        det.first_ts = float(state["first_ts"])
        det.last_ts = float(state["last_ts"])
        return det
