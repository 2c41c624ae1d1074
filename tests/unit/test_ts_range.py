"""RangeAwareDetector: the new-extreme rule on top of the likelihood detector."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from riskstream.models.timeseries import TimeSeriesConfig
from riskstream.models.ts_range import RangeAwareConfig, RangeAwareDetector

T0 = datetime(2024, 1, 1, tzinfo=UTC)
CONFIG = RangeAwareConfig(base=TimeSeriesConfig(suppress_rows=20), range_warmup=100)


def _t(i: int) -> datetime:
    return T0 + timedelta(minutes=5 * i)


def _calm(det: RangeAwareDetector, n: int, start: int = 0) -> None:
    """Learn ``n`` rows cycling through 10.0 .. 11.0 (range 1.0)."""
    for i in range(start, start + n):
        det.learn_one(_t(i), 10.0 + (i % 11) * 0.1)


@pytest.mark.parametrize(
    ("x", "extreme"),
    [(11.2, True), (9.8, True), (11.04, False), (9.96, False), (10.5, False)],
)
def test_beyond_the_range_by_more_than_the_tolerance(x: float, extreme: bool) -> None:
    det = RangeAwareDetector(CONFIG)
    _calm(det, 200)
    assert det.is_extreme(x) is extreme
    assert (det.score_one(_t(200), x) == 1.0) is extreme


def test_no_extreme_before_the_range_warmup() -> None:
    det = RangeAwareDetector(CONFIG)
    _calm(det, 50)
    assert not det.is_extreme(100.0)


def test_an_extreme_starts_a_cooldown_and_a_ramp_fires_once() -> None:
    det = RangeAwareDetector(CONFIG)
    _calm(det, 200)
    first = det.score_one(_t(200), 12.0)
    det.learn_one(_t(200), 12.0)
    assert first == 1.0
    assert det.base.cooldown == CONFIG.base.suppress_rows
    # A higher value inside the cooldown is damped like any other score.
    second = det.score_one(_t(201), 13.0)
    assert second == pytest.approx(CONFIG.base.suppress_factor)
    assert det.hi == 12.0


def test_non_finite_values_score_zero_and_leave_the_range_alone() -> None:
    det = RangeAwareDetector(CONFIG)
    _calm(det, 200)
    lo, hi, n = det.lo, det.hi, det.n
    for x in (math.nan, math.inf, -math.inf):
        assert det.score_one(_t(200), x) == 0.0
        det.learn_one(_t(200), x)
    assert (det.lo, det.hi, det.n) == (lo, hi, n)


def test_state_round_trip_continues_identically() -> None:
    a = RangeAwareDetector(CONFIG)
    _calm(a, 150)
    b = RangeAwareDetector.from_state(orjson.loads(orjson.dumps(a.state_dict())))
    assert b.config == a.config
    for i in range(150, 400):
        x = 10.0 + (i % 11) * 0.1 + (3.0 if i == 300 else 0.0)
        assert a.score_one(_t(i), x) == b.score_one(_t(i), x)
        a.learn_one(_t(i), x)
        b.learn_one(_t(i), x)
    assert a.state_dict() == b.state_dict()


def test_fresh_state_round_trips_with_an_empty_range() -> None:
    det = RangeAwareDetector(CONFIG)
    state = orjson.loads(orjson.dumps(det.state_dict()))
    assert state["lo"] is None and state["hi"] is None
    back = RangeAwareDetector.from_state(state)
    assert back.lo == math.inf and back.hi == -math.inf
