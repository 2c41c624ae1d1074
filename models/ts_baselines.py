"""Robust online baselines for one time series: each predicts the next value and tracks its own error scale.

Every baseline learns from residuals clipped to a few error scales, so a single
outlier moves it by a bounded amount instead of poisoning it.

>>> b = LevelBaseline(alpha=0.5, scale_alpha=0.1, clip=4.0)
>>> for x in [10.0, 11.0] * 10 + [1000.0]:
...     b.learn(x, 0)
>>> b.predict(0) < 20.0
True
"""

from __future__ import annotations

import math
from typing import Any


def _winsorize(r: float, err: float, clip: float, *, young: bool) -> tuple[float, float]:
    """Residual ``r`` clipped to ``clip`` error scales, and its absolute value.

    A scale of zero is not a bound: clipping against it would turn every later
    residual into 0 and freeze the scale at 0 for good (the collapse seen on
    hourly series, whose first week of residuals is 0 by construction).

    >>> _winsorize(10.0, 1.0, 4.0, young=False), _winsorize(10.0, 0.0, 4.0, young=False)
    ((4.0, 4.0), (10.0, 10.0))
    """
    a = abs(r)
    bound = clip * err
    if young or bound <= 0.0 or a <= bound:
        return r, a
    return math.copysign(bound, r), bound


class LevelBaseline:
    """EWMA level with an EW mean-absolute-error scale (a MAD-like spread)."""

    __slots__ = ("alpha", "clip", "err", "level", "n", "scale_alpha")

    def __init__(self, alpha: float, scale_alpha: float, clip: float) -> None:
        self.alpha = alpha
        self.scale_alpha = scale_alpha
        self.clip = clip
        self.level = 0.0
        self.err = 0.0
        self.n = 0

    def predict(self, slot: int) -> float:
        return self.level

    def learn(self, x: float, slot: int) -> None:
        if not math.isfinite(x):
            return  # a NaN or inf would poison level and scale for good
        if self.n == 0:
            self.level = x
            self.n = 1
            return
        r, a = _winsorize(x - self.level, self.err, self.clip, young=self.n * self.scale_alpha < 1.0)
        self.err += max(self.scale_alpha, 1.0 / self.n) * (a - self.err)
        self.level += max(self.alpha, 1.0 / (self.n + 1)) * r
        self.n += 1

    def state(self) -> dict[str, Any]:
        return {"level": self.level, "err": self.err, "n": self.n}

    def load(self, s: dict[str, Any]) -> None:
        self.level = float(s["level"])
        self.err = float(s["err"])
        self.n = int(s["n"])


class SeasonalBaseline:
    """Additive Holt-Winters without trend: level plus one offset per seasonal bucket.

    It only counts as warm after ``min_cycles`` full cycles, so a half-learned
    season never gets chosen as the best explanation.
    """

    __slots__ = (
        "alpha",
        "clip",
        "err",
        "gamma",
        "level",
        "n",
        "n_err",
        "offsets",
        "scale_alpha",
        "seen",
        "warm_after",
    )

    def __init__(
        self, buckets: int, alpha: float, gamma: float, scale_alpha: float, clip: float, warm_after: int
    ) -> None:
        self.alpha = alpha
        self.gamma = gamma
        self.scale_alpha = scale_alpha
        self.clip = clip
        self.warm_after = warm_after
        self.level = 0.0
        self.err = 0.0
        self.n = 0
        self.n_err = 0  # residuals that taught the error scale (revisits of a bucket)
        self.offsets = [0.0] * buckets
        self.seen = [0] * buckets

    @property
    def warm(self) -> bool:
        """Seen ``warm_after`` rows and enough revisits for its error scale to mean something."""
        return self.n >= self.warm_after and self.n_err * self.scale_alpha >= 1.0

    def predict(self, slot: int) -> float:
        return self.level + self.offsets[slot]

    def learn(self, x: float, slot: int, adapt: bool = True) -> None:
        """Learn ``x`` in bucket ``slot``; ``adapt=False`` updates only the error scale.

        Holding level and offsets still during an incident keeps the season from
        learning the anomaly and replaying it as an "echo" one cycle later.
        """
        if not math.isfinite(x):
            return
        if self.n == 0:
            self.level = x
        if self.seen[slot] == 0:
            # First visit: the bucket's offset is whatever the level does not explain. That
            # residual is 0 by construction, so it says nothing about the error scale.
            self.offsets[slot] = x - self.level
            self.seen[slot] = 1
            self.n += 1
            return
        r, a = _winsorize(
            x - self.level - self.offsets[slot], self.err, self.clip, young=self.n_err * self.scale_alpha < 1.0
        )
        self.n_err += 1
        self.err += max(self.scale_alpha, 1.0 / self.n_err) * (a - self.err)
        if adapt:
            self.level += self.alpha * r
            self.offsets[slot] += self.gamma * (1.0 - self.alpha) * r
        self.seen[slot] += 1
        self.n += 1

    def state(self) -> dict[str, Any]:
        return {
            "level": self.level,
            "err": self.err,
            "n": self.n,
            "n_err": self.n_err,
            "offsets": list(self.offsets),
            "seen": list(self.seen),
        }

    def load(self, s: dict[str, Any]) -> None:
        self.level = float(s["level"])
        self.err = float(s["err"])
        self.n = int(s["n"])
        self.n_err = int(s.get("n_err", s["n"]))  # older snapshots counted every row
        self.offsets = [float(v) for v in s["offsets"]]
        self.seen = [int(v) for v in s["seen"]]
