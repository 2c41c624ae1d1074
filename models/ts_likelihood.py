"""Anomaly likelihood: how surprising is the recent average raw score, given this series' history of raw scores.

This is the idea behind NAB's best detectors ("anomaly likelihood"): a raw
score that is common for *this* series (a noisy server) is not an alarm, and a
short run of elevated raw scores counts more than a lone blip. The recent
average is compared with an exponentially weighted mean and variance of past
averages; the Gaussian tail probability ``Q`` is returned as ``-log10 Q``
(0 = ordinary, 5 = a one-in-100,000 event), which keeps resolution far into the
tail where ``1 - Q`` would round to 1.0.

>>> lik = TailLikelihood(short=3, alpha=0.01, warmup=10, sigma_floor=0.05)
>>> for _ in range(50):
...     lik.learn(1.0)
>>> lik.surprise(1.0) < 1.0 < lik.surprise(8.0)
True
"""

from __future__ import annotations

import math
from typing import Any

_LOG10 = math.log(10.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def neg_log10_tail(u: float) -> float:
    """``-log10 P(N(0,1) > u)``, accurate far into the tail.

    >>> round(neg_log10_tail(0.0), 4), round(neg_log10_tail(40.0), 1)
    (0.301, 349.4)
    """
    if u < 25.0:
        return -math.log10(0.5 * math.erfc(u / math.sqrt(2.0)))
    # Mills-ratio asymptotics: erfc underflows long before the tail is uninteresting.
    log_q = -0.5 * u * u - math.log(u) - _HALF_LOG_2PI + math.log1p(-1.0 / (u * u))
    return -log_q / _LOG10


class TailLikelihood:
    """Short moving average of raw scores against their long-run mean and variance."""

    __slots__ = ("alpha", "buf", "mean", "n", "pos", "sigma_floor", "total", "var", "warmup")

    def __init__(self, short: int, alpha: float, warmup: int, sigma_floor: float) -> None:
        self.alpha = alpha
        self.warmup = warmup
        self.sigma_floor = sigma_floor
        self.buf = [0.0] * max(short, 1)
        self.pos = 0
        self.total = 0.0
        self.mean = 0.0
        self.var = 0.0
        self.n = 0

    def _recent(self, a: float) -> float:
        k = len(self.buf)
        filled = min(self.n, k - 1)
        oldest = self.buf[self.pos] if self.n >= k else 0.0
        # Mean of the current raw score and the k-1 before it.
        return (self.total - oldest + a) / (filled + 1)

    def surprise(self, a: float) -> float:
        """``-log10`` tail probability of the recent average including ``a`` (no state change)."""
        if self.n < self.warmup:
            return 0.0
        m = self._recent(a)
        sigma = math.sqrt(self.var) + self.sigma_floor
        u = (m - self.mean) / sigma
        if u <= 0.0:
            return 0.0
        return neg_log10_tail(u)

    def learn(self, a: float) -> None:
        m = self._recent(a)
        k = len(self.buf)
        if self.n >= k:
            self.total -= self.buf[self.pos]
        self.buf[self.pos] = a
        self.total += a
        self.pos = (self.pos + 1) % k
        self.n += 1
        if self.n == 1:
            self.mean = m
            return
        # Fast start, then a long memory: 1/n until n reaches 1/alpha.
        rate = max(self.alpha, 1.0 / self.n)
        d = m - self.mean
        self.mean += rate * d
        self.var = (1.0 - rate) * (self.var + rate * d * d)

    def state(self) -> dict[str, Any]:
        return {
            "buf": list(self.buf),
            "pos": self.pos,
            "total": self.total,
            "mean": self.mean,
            "var": self.var,
            "n": self.n,
        }

    def load(self, s: dict[str, Any]) -> None:
        self.buf = [float(v) for v in s["buf"]]
        self.pos = int(s["pos"])
        self.total = float(s["total"])
        self.mean = float(s["mean"])
        self.var = float(s["var"])
        self.n = int(s["n"])
