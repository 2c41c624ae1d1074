"""NAB's ``windowedGaussian`` detector, the reference every fold of the protocol is compared with.

As NAB defines it: the mean and standard deviation of the last 6400 values
(recomputed every 100 rows once the window is full, after every row before);
a row's score is ``1 - Q(|x - mean| / std)`` (``Q`` the upper Gaussian tail, so
scores lie in ``[0.5, 1)``), computed before the row joins the window. A zero
standard deviation is replaced by ``1e-6``. It is an evaluation reference, not
a production detector (its memory is the window, not a constant).

>>> from datetime import UTC, datetime
>>> det = WindowedGaussian()
>>> t = datetime(2024, 1, 1, tzinfo=UTC)
>>> for x in [1.0, 2.0, 1.0, 2.0] * 10:
...     det.learn_one(t, x)
>>> det.score_one(t, 1.5), det.score_one(t, 9.0) > 0.99
(0.5, True)
"""

from __future__ import annotations

import math
from collections import deque
from datetime import datetime

import numpy as np


class WindowedGaussian:
    """Sliding-window Gaussian tail score (NAB's ``windowedGaussian``: window 6400, step 100)."""

    def __init__(self, window_size: int = 6400, step_size: int = 100) -> None:
        self.window_size = window_size
        self.step_size = step_size
        self.window: deque[float] = deque()
        self.step: list[float] = []
        self.mean = 0.0
        self.std = 1.0

    def score_one(self, t: datetime, x: float) -> float:
        if not self.window:
            return 0.0
        z = abs(x - self.mean) / self.std
        # NAB's normalProbability folds x below the mean onto the upper tail.
        return 1.0 - 0.5 * math.erfc(z / math.sqrt(2.0))

    def learn_one(self, t: datetime, x: float) -> None:
        if len(self.window) < self.window_size:
            self.window.append(x)
            self._update()
            return
        self.step.append(x)
        if len(self.step) == self.step_size:
            for v in self.step:
                self.window.popleft()
                self.window.append(v)
            self.step = []
            self._update()

    def _update(self) -> None:
        arr = np.fromiter(self.window, dtype=float, count=len(self.window))
        self.mean = float(arr.mean())
        std = float(arr.std())
        self.std = std if std != 0.0 else 1e-6
