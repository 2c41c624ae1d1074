"""Online models: ``learn_one`` / ``score_one``, higher score = more anomalous.

>>> from riskstream.models import RangeAwareDetector, Threshold, TimeSeriesAnomalyDetector
>>> TimeSeriesAnomalyDetector().clone().n, RangeAwareDetector().clone().n, Threshold(0.5)(0.9)
(0, 0, True)
"""

from __future__ import annotations

from riskstream.models.timeseries import Threshold, TimeSeriesAnomalyDetector, TimeSeriesConfig
from riskstream.models.ts_range import RangeAwareConfig, RangeAwareDetector

__all__ = ["RangeAwareConfig", "RangeAwareDetector", "Threshold", "TimeSeriesAnomalyDetector", "TimeSeriesConfig"]
