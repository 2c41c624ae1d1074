"""The detector configurations the leave-one-folder-out protocol chooses among.

Each is one parameter set applied to every series; the protocol picks one per
held-out folder using the other folders only. The list is short on purpose:
every entry is a chance to fit the development folders.

>>> 'default' in lofo_candidates()
True
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from riskstream.models.timeseries import TimeSeriesAnomalyDetector, TimeSeriesConfig

CANDIDATE_CONFIGS: dict[str, TimeSeriesConfig] = {
    "default": TimeSeriesConfig(),
    "fast_alpha=0.05": TimeSeriesConfig(fast_alpha=0.05),
    "suppress_rows=150": TimeSeriesConfig(suppress_rows=150),
    "history_alpha=0.0003": TimeSeriesConfig(history_alpha=0.0003),
    "short_window=10": TimeSeriesConfig(short_window=10),
    "scale_alpha=0.003": TimeSeriesConfig(scale_alpha=0.003),
    "clip=4.0": TimeSeriesConfig(clip=4.0),
}
"""One step away from the default along each parameter that mattered in-sample."""


def lofo_candidates() -> dict[str, Callable[[], TimeSeriesAnomalyDetector]]:
    """A detector factory per candidate name."""
    return {name: partial(TimeSeriesAnomalyDetector, config) for name, config in CANDIDATE_CONFIGS.items()}
