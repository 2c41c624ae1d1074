"""Behaviour of the streaming time-series anomaly detector."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from riskstream.models import Threshold, TimeSeriesAnomalyDetector, TimeSeriesConfig

T0 = datetime(2024, 1, 1, tzinfo=UTC)
STEP = timedelta(minutes=5)


def _noise(i: int) -> float:
    # Deterministic pseudo-noise in [-1, 1] without a random generator.
    return math.sin(i * 12.9898) * 43758.5453 % 2.0 - 1.0


def _steady(i: int) -> float:
    return 50.0 + _noise(i)


def _daily(i: int) -> float:
    return 50.0 + 20.0 * math.sin(2 * math.pi * i / 288) + _noise(i)


def _run(values: Callable[[int], float], n: int, det: TimeSeriesAnomalyDetector | None = None) -> list[float]:
    det = det or TimeSeriesAnomalyDetector()
    out = []
    for i in range(n):
        t, x = T0 + i * STEP, values(i)
        out.append(det.score_one(t, x))
        det.learn_one(t, x)
    return out


@pytest.mark.parametrize("base", [_steady, _daily], ids=["steady", "daily"])
def test_spike_scores_high_and_steady_series_scores_low(base: Callable[[int], float]) -> None:
    spike_at = 1500
    scores = _run(lambda i: base(i) + (40.0 if i == spike_at else 0.0), 1600)
    assert scores[spike_at] > 0.7
    assert max(scores[700:spike_at]) < 0.5


@pytest.mark.parametrize("base", [_steady, _daily], ids=["steady", "daily"])
def test_clean_series_never_reaches_default_threshold(base: Callable[[int], float]) -> None:
    scores = _run(base, 3000)
    assert all(0.0 <= s < 1.0 for s in scores)
    assert not any(Threshold()(s) for s in scores[600:])


def test_level_shift_is_detected_then_adapted_to() -> None:
    shift_at = 1500
    scores = _run(lambda i: _steady(i) + (30.0 if i >= shift_at else 0.0), 2500)
    assert max(scores[shift_at : shift_at + 5]) > 0.7
    assert max(scores[shift_at + 400 :]) < 0.5


def test_outliers_do_not_poison_the_baseline() -> None:
    # Repeated huge outliers, then one moderate spike: it must still stand out.
    def series(i: int) -> float:
        if i in (800, 900, 1000):
            return 1e6
        return _steady(i) + (25.0 if i == 1800 else 0.0)

    scores = _run(series, 1900)
    assert scores[1800] > 0.6


def test_deterministic() -> None:
    assert _run(_daily, 1200) == _run(_daily, 1200)


def test_state_round_trip_through_json() -> None:
    det = TimeSeriesAnomalyDetector()
    _run(_daily, 1000, det)
    restored = TimeSeriesAnomalyDetector.from_state(json.loads(json.dumps(det.state_dict())))
    assert restored.state_dict() == det.state_dict()
    tail = [lambda i: _daily(i + 1000)]
    assert _run(tail[0], 300, det) == _run(tail[0], 300, restored)


def test_clone_is_unfitted_with_same_config() -> None:
    config = TimeSeriesConfig(fast_alpha=0.2, suppress_rows=40)
    det = TimeSeriesAnomalyDetector(config)
    _run(_steady, 500, det)
    clone = det.clone()
    assert clone.config == config
    assert clone.n == 0
    assert clone.state_dict() == TimeSeriesAnomalyDetector(config).state_dict()


def test_score_one_does_not_change_state() -> None:
    det = TimeSeriesAnomalyDetector()
    _run(_steady, 300, det)
    before = det.state_dict()
    det.score_one(T0 + 300 * STEP, 1e9)
    assert det.state_dict() == before


def test_repeated_firing_is_suppressed() -> None:
    spikes = {1500, 1510}
    scores = _run(lambda i: _steady(i) + (40.0 if i in spikes else 0.0), 1600)
    assert scores[1510] < scores[1500]


@pytest.mark.parametrize(
    ("level", "score", "fired"), [(0.5, 0.5, True), (0.5, 0.49, False), (0.9, 0.95, True)]
)
def test_threshold(level: float, score: float, fired: bool) -> None:
    assert Threshold(level)(score) is fired


@pytest.mark.parametrize("counts", [[0, 0, 0, 1, 0, 0, 2, 0, 0, 0, 1, 0]], ids=["sparse"])
def test_sparse_counts_do_not_fire_on_ordinary_ones(counts: list[int]) -> None:
    scores = _run(lambda i: float(counts[i % len(counts)]), 3000)
    assert max(scores[600:]) < 0.5


def test_incident_does_not_echo_one_season_later() -> None:
    # A two-hour plateau on a clean daily cycle: the seasonal models hold still while the
    # detector is alarmed, so one day later the plateau's absence is not itself a surprise.
    start, length = 2000, 24

    def series(i: int) -> float:
        return _daily(i) + (15.0 if start <= i < start + length else 0.0)

    def echo(hold: bool) -> tuple[float, float]:
        det = TimeSeriesAnomalyDetector(TimeSeriesConfig(hold_seasons=hold))
        scores = _run(series, start + 288 + length + 40, det)
        return max(scores[start : start + length]), max(scores[start + 276 : start + 288 + length + 36])

    (hit, echo_held), (_, echo_free) = echo(True), echo(False)
    assert hit >= 0.5
    assert echo_held < 0.15 < echo_free


def test_state_from_older_config_with_retired_options_loads() -> None:
    det = TimeSeriesAnomalyDetector()
    _run(_steady, 200, det)
    state = json.loads(json.dumps(det.state_dict()))
    state["config"].update(log_raw=False, shift_alpha=0.1, shift_weight=0.0, history_clip=0.0)
    state["drift"] = 0.0
    assert TimeSeriesAnomalyDetector.from_state(state).state_dict() == det.state_dict()
