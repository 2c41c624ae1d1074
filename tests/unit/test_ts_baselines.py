"""Properties of the streaming detector's baselines over synthetic series.

Shapes (constant, linear trend, daily and weekly seasonality) at 1-minute,
5-minute and hourly cadence, each clean and perturbed (level shift, gaps in
time, repeated timestamps, NaN). Whatever the series, an error scale is never
NaN or negative, the scale a residual is divided by is positive as soon as the
series has varied, and a baseline that has seen a non-zero residual keeps a
positive error scale: none can collapse to 0 and freeze there.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from riskstream.models import RangeAwareDetector, TimeSeriesAnomalyDetector
from riskstream.models.ts_baselines import LevelBaseline, SeasonalBaseline

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAY = 86400.0
WEEK = 7 * DAY
CADENCES = {"1min": 60, "5min": 300, "1h": 3600}
SHAPES = ("constant", "trend", "daily", "weekly")
PERTURBATIONS = ("clean", "level_shift", "gaps", "repeated_ts", "nan")


def _value(shape: str, seconds: float, i: int) -> float:
    if shape == "constant":
        return 42.0
    if shape == "trend":
        return 10.0 + 0.01 * i
    period = DAY if shape == "daily" else WEEK
    return 100.0 + 30.0 * math.sin(2 * math.pi * seconds / period)


def _series(shape: str, step: int, perturbation: str, n: int, noise: float = 0.0) -> Iterator[tuple[datetime, float]]:
    rng = random.Random(11)
    seconds = 0.0
    for i in range(n):
        if perturbation == "gaps" and i % 97 == 0:
            seconds += 37 * step  # a hole in the stream
        elif perturbation != "repeated_ts" or i % 5 != 0:
            seconds += step  # repeated_ts: every fifth row repeats the previous timestamp
        x = _value(shape, seconds, i) + noise * rng.gauss(0.0, 1.0)
        if perturbation == "level_shift" and i >= n // 2:
            x += 50.0
        if perturbation == "nan" and i % 53 == 0:
            x = math.nan
        yield T0 + timedelta(seconds=seconds), x


def _rows(step: int) -> int:
    # Hourly: four weeks, so the weekly baseline warms up; finer cadences: enough for the daily one at 5 min.
    return 24 * 7 * 4 if step == 3600 else 1500


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
@pytest.mark.parametrize("cadence", list(CADENCES))
@pytest.mark.parametrize("shape", SHAPES)
def test_scales_are_sane_and_positive_once_the_series_varies(shape: str, cadence: str, perturbation: str) -> None:
    step = CADENCES[cadence]
    det = TimeSeriesAnomalyDetector()
    seen: set[float] = set()
    baselines = {"fast": det.fast, "slow": det.slow, "daily": det.daily, "weekly": det.weekly}
    nonzero_residual = dict.fromkeys(baselines, False)
    for t, x in _series(shape, step, perturbation, _rows(step)):
        score = det.score_one(t, x)
        assert 0.0 <= score < 1.0
        if math.isfinite(x):
            seen.add(x)
            dslot, wslot = det._slots(t.timestamp())
            for name, b in baselines.items():
                if isinstance(b, LevelBaseline):
                    revisit, pred = b.n > 0, b.level
                else:
                    slot = wslot if name == "weekly" else dslot
                    revisit, pred = b.seen[slot] > 0, b.predict(slot)
                if revisit and x != pred:
                    nonzero_residual[name] = True
        det.learn_one(t, x)
        for name, b in baselines.items():
            assert math.isfinite(b.err) and b.err >= 0.0, name
            if nonzero_residual[name]:
                assert b.err > 0.0, f"{name} error scale collapsed to 0"
        _, scale = det.explain(t)
        if len(seen) > 1:
            assert scale > 0.0 and math.isfinite(scale)


@pytest.mark.parametrize("cadence", list(CADENCES))
@pytest.mark.parametrize("shape", ["daily", "weekly"])
def test_noisy_seasonal_error_scale_tracks_the_noise(shape: str, cadence: str) -> None:
    # The hourly weekly case is issue 10's bug: the first week's residuals are 0 by
    # construction, and the weekly scale used to average them, clip to 6 x 0 and stay 0.
    step = CADENCES[cadence]
    noise = 2.0
    det = TimeSeriesAnomalyDetector()
    zs: list[float] = []
    for t, x in _series(shape, step, "clean", 24 * 7 * 6 if step == 3600 else 2000, noise=noise):
        if det.n >= det.config.warmup:
            pred, scale = det.explain(t)
            zs.append(abs(x - pred) / scale)
        det.learn_one(t, x)
    mean_abs_noise = noise * math.sqrt(2 / math.pi)
    for b in (det.fast, det.slow, det.daily, det.weekly):
        if b.n > 100:
            assert b.err > 0.3 * mean_abs_noise
    late = zs[len(zs) // 2 :]
    assert sum(z >= det.config.z_cap for z in late) <= 0.01 * len(late)


def test_weekly_baseline_error_survives_a_first_week_of_exact_fits() -> None:
    b = SeasonalBaseline(buckets=168, alpha=0.02, gamma=0.2, scale_alpha=0.01, clip=6.0, warm_after=168)
    rng = random.Random(3)
    for i in range(168 * 6):
        b.learn(100.0 + rng.gauss(0.0, 1.0), i % 168)
    assert 0.5 < b.err < 1.5  # E|N(0, 1) - offset error| is about 0.8-1.1
    assert b.warm


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_value_scores_zero_and_leaves_state_alone(bad: float) -> None:
    det = TimeSeriesAnomalyDetector()
    for t, x in _series("daily", 300, "clean", 400, noise=1.0):
        det.learn_one(t, x)
    before = json.dumps(det.state_dict())
    t = T0 + timedelta(days=30)
    assert det.score_one(t, bad) == 0.0
    det.learn_one(t, bad)
    assert json.dumps(det.state_dict()) == before


def test_winsorizing_never_clips_against_a_zero_scale() -> None:
    b = LevelBaseline(alpha=0.1, scale_alpha=0.01, clip=6.0)
    for _ in range(300):
        b.learn(5.0, 0)  # constant: scale 0 is right
    assert b.err == 0.0
    for i in range(300):
        b.learn(5.0 + (1.0 if i % 2 else -1.0), 0)
    assert b.err > 0.5  # it learnt the new spread instead of clipping it to 0


@pytest.mark.parametrize("perturbation", PERTURBATIONS)
@pytest.mark.parametrize("cadence", list(CADENCES))
@pytest.mark.parametrize("shape", SHAPES)
def test_default_detector_scores_and_round_trips_on_every_shape(shape: str, cadence: str, perturbation: str) -> None:
    # The detector the region fallback and the incident series run (daily recall on), on the same series.
    step = CADENCES[cadence]
    rows = list(_series(shape, step, perturbation, _rows(step), noise=1.0))
    det = RangeAwareDetector()
    half = len(rows) // 2
    for t, x in rows[:half]:
        assert 0.0 <= det.score_one(t, x) <= 1.0
        det.learn_one(t, x)
    back = RangeAwareDetector.from_state(json.loads(json.dumps(det.state_dict())))
    for t, x in rows[half:]:
        s = det.score_one(t, x)
        assert 0.0 <= s <= 1.0 and s == back.score_one(t, x)
        det.learn_one(t, x)
        back.learn_one(t, x)
    assert back.state_dict() == det.state_dict()
