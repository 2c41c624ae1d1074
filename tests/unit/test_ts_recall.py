"""DailyRecall and the detector's use of it: a daily routine is recalled at any cadence, a one-off is not."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from riskstream.models.timeseries import TimeSeriesAnomalyDetector
from riskstream.models.ts_range import RangeAwareConfig, RangeAwareDetector
from riskstream.models.ts_recall import DailyRecall

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86400
CADENCES = (60, 300, 600, 3600)


def _ts(day: int, seconds: float) -> float:
    return T0.timestamp() + day * DAY + seconds


def _days(recall: DailyRecall, step: int, days: int, spike_at: float | None, jitter: float = 0.0) -> None:
    """``days`` days at cadence ``step``: level 1.0, and 50.0 at ``spike_at`` s (shifted by ``jitter`` s a day)."""
    for d in range(days):
        at = None if spike_at is None else spike_at + (jitter if d % 2 else -jitter)
        for k in range(DAY // step):
            s = k * step
            hit = at is not None and abs(s - at) < step / 2 + 1e-9
            recall.learn(_ts(d, s), 50.0 if hit else 1.0)


@pytest.mark.parametrize("step", CADENCES)
def test_a_daily_spike_is_recalled_near_its_time_of_day_at_any_cadence(step: int) -> None:
    r = DailyRecall(days=2, bucket_s=900, tolerance_s=1800)
    spike = 10 * 3600.0  # 10:00
    _days(r, step, 3, spike, jitter=min(step, 600))
    assert r.distance(_ts(3, spike + 900), 50.0) == 0.0
    assert r.distance(_ts(3, spike + 5 * 3600), 50.0) == pytest.approx(49.0)
    assert r.distance(_ts(3, spike + 5 * 3600), 1.0) == 0.0


def test_a_one_off_yesterday_is_no_excuse() -> None:
    r = DailyRecall(days=2, bucket_s=900, tolerance_s=1800)
    _days(r, 300, 2, None)
    r.learn(_ts(1, 3600), 50.0)  # yesterday only, not the day before
    assert r.distance(_ts(2, 3600), 50.0) == pytest.approx(49.0)


def test_a_day_without_data_is_no_excuse() -> None:
    r = DailyRecall(days=2, bucket_s=900, tolerance_s=1800)
    _days(r, 300, 1, 7200.0)  # day 0 only; day 1 is a gap
    assert math.isinf(r.distance(_ts(2, 7200), 50.0))


def test_the_window_wraps_around_midnight() -> None:
    r = DailyRecall(days=2, bucket_s=900, tolerance_s=1800)
    for d in range(3):
        for k in range(288):
            r.learn(_ts(d, k * 300), 50.0 if k == 287 else 1.0)  # 23:55 every day
    assert r.distance(_ts(3, 600), 50.0) == 0.0  # 00:10 the next day is 15 minutes after it


def test_non_finite_values_are_not_learnt_and_repeated_timestamps_are_harmless() -> None:
    r = DailyRecall(days=2, bucket_s=900, tolerance_s=1800)
    _days(r, 300, 3, None)
    before = r.state()
    for x in (math.nan, math.inf, -math.inf):
        r.learn(_ts(3, 0), x)
    assert r.state() == before
    r.learn(_ts(3, 0), 2.0)
    r.learn(_ts(3, 0), 2.0)  # the same timestamp again
    assert r.distance(_ts(4, 0), 2.0) == pytest.approx(1.0)  # day 2 never reached 2.0


def test_state_round_trip() -> None:
    a = DailyRecall(days=2, bucket_s=900, tolerance_s=1800)
    _days(a, 300, 3, 5000.0)
    b = DailyRecall(days=2, bucket_s=900, tolerance_s=1800)
    b.load(orjson.loads(orjson.dumps(a.state())))
    assert b.state() == a.state()
    assert b.distance(_ts(3, 5000), 50.0) == a.distance(_ts(3, 5000), 50.0) == 0.0


def _spiky(det: RangeAwareDetector | TimeSeriesAnomalyDetector, days: int, step: int = 300) -> list[float]:
    """A flat, slightly noisy series with a spike at 03:00 (+- one row) every day; scores of the spike rows."""
    out = []
    per_day = DAY // step
    for i in range(days * per_day):
        d, k = divmod(i, per_day)
        spike_k = 3 * 3600 // step + (1 if d % 2 else -1)
        x = 10.0 + 0.1 * ((i * 7919) % 13) / 13 + (30.0 if k == spike_k else 0.0)
        t = T0 + timedelta(seconds=i * step)
        s = det.score_one(t, x)
        det.learn_one(t, x)
        if k == spike_k:
            out.append(s)
    return out


def test_the_detector_stops_firing_on_a_daily_routine_only_with_recall() -> None:
    with_recall = _spiky(RangeAwareDetector(), 8)
    base = RangeAwareConfig().base
    without = _spiky(RangeAwareDetector(RangeAwareConfig(base=replace(base, recall_days=0))), 8)
    # From the third day on, both earlier days confirm the spike: it is routine.
    assert max(with_recall[2:]) < 0.5
    assert sum(s >= 0.5 for s in without[2:]) >= 3


def test_a_new_spike_at_another_time_still_fires() -> None:
    det = RangeAwareDetector()
    _spiky(det, 6)
    t = T0 + timedelta(days=6, hours=15)
    assert det.score_one(t, 40.0) >= 0.5
