"""The detector configurations the leave-one-folder-out protocol chooses among.

Each is one parameter set applied to every series; the protocol picks one per
held-out folder using the other folders only. The list is short on purpose:
every entry is a chance to fit the development folders. The range-aware
detector (likelihood plus new-extreme rule) is the default; one step away along
each of its own parameters, and the previous likelihood-only default, are the
alternatives.

>>> 'default' in lofo_candidates()
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import partial

from riskstream.evaluation.nab import StreamingDetector
from riskstream.models.timeseries import TimeSeriesAnomalyDetector
from riskstream.models.ts_range import RangeAwareConfig, RangeAwareDetector

_BASE = RangeAwareConfig().base

CANDIDATE_CONFIGS: dict[str, RangeAwareConfig] = {
    "default": RangeAwareConfig(),
    "tolerance=0.1": RangeAwareConfig(tolerance=0.1),
    "range_warmup=600": RangeAwareConfig(range_warmup=600),
    "suppress_rows=75": RangeAwareConfig(base=replace(_BASE, suppress_rows=75)),
    "recall_days=3": RangeAwareConfig(base=replace(_BASE, recall_days=3)),
    "recall_tolerance_s=3600": RangeAwareConfig(base=replace(_BASE, recall_tolerance_s=3600.0)),
}
"""The default and one step away along each parameter of the new-extreme rule, the cooldown and the daily recall."""


def lofo_candidates() -> dict[str, Callable[[], StreamingDetector]]:
    """A detector factory per candidate name (plus ``likelihood_only``: the detector without the rule)."""
    out: dict[str, Callable[[], StreamingDetector]] = {
        name: partial(RangeAwareDetector, config) for name, config in CANDIDATE_CONFIGS.items()
    }
    out["likelihood_only"] = TimeSeriesAnomalyDetector
    return out
