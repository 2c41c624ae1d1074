"""Online models: ``learn_one`` / ``score_one``, higher score = more anomalous.

>>> from riskstream.models import Threshold, TimeSeriesAnomalyDetector
>>> TimeSeriesAnomalyDetector().clone().n, Threshold(0.5)(0.9)
(0, True)
"""

from __future__ import annotations

from riskstream.models.timeseries import Threshold, TimeSeriesAnomalyDetector, TimeSeriesConfig

__all__ = ["Threshold", "TimeSeriesAnomalyDetector", "TimeSeriesConfig"]
