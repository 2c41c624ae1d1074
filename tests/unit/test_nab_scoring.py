"""NAB scoring rules on small hand-made corpora."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from riskstream.evaluation.nab import (
    Profile,
    ScoredSeries,
    probation_length,
    row_weights,
    run_nab,
    scaled_sigmoid,
    score_corpus,
    score_file,
    sweep_thresholds,
)

STANDARD = Profile("standard", 1.0, 0.11, 1.0)
LOW_FP = Profile("reward_low_FP_rate", 1.0, 0.22, 1.0)
LOW_FN = Profile("reward_low_FN_rate", 1.0, 0.11, 2.0)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
N = 200  # probation = 30 rows
WIN = (100, 119)  # a 20-row window


def _series(detections: list[int], n: int = N, windows: tuple[tuple[int, int], ...] = (WIN,)) -> ScoredSeries:
    ts = tuple(T0 + timedelta(minutes=i) for i in range(n))
    scores = [0.0] * n
    for i in detections:
        scores[i] = 1.0
    return ScoredSeries("f/x.csv", ts, (0.0,) * n, tuple(scores), tuple((ts[a], ts[b]) for a, b in windows))


@pytest.mark.parametrize(
    ("n_rows", "expected"),
    [(100, 15), (4032, 604), (5000, 750), (22695, 750), (6, 0)],
)
def test_probation_is_15_percent_capped_at_750(n_rows: int, expected: int) -> None:
    assert probation_length(n_rows) == expected


@pytest.mark.parametrize(
    ("position", "expected"),
    [
        (-1.0, 2.0 / (1.0 + math.exp(-5.0)) - 1.0),
        (0.0, 0.0),
        (3.01, -1.0),
        (1.0, 2.0 / (1.0 + math.exp(5.0)) - 1.0),
    ],
)
def test_scaled_sigmoid(position: float, expected: float) -> None:
    assert scaled_sigmoid(position) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("detections", "tp", "fp", "fn", "raw"),
    [
        ([100], 1, 0, 0, 1.0),  # at the window start: full TP weight
        ([100, 105, 110], 1, 0, 0, 1.0),  # only the earliest detection counts
        # late in the window: position -(119-118+1)/20 = -0.1
        ([118], 1, 0, 0, scaled_sigmoid(-0.1) / scaled_sigmoid(-1.0)),
        ([60], 0, 1, 1, -0.11 - 1.0),  # before any window: full FP weight, window missed
        ([], 0, 0, 1, -1.0),  # nothing: the window costs the FN weight
        ([10], 0, 0, 1, -1.0),  # probation rows are ignored
        # right after the window the FP costs less: position |119-125|/19
        ([125], 0, 1, 1, -1.0 + 0.11 * scaled_sigmoid(6 / 19)),
        ([190], 0, 1, 1, -1.0 + 0.11 * scaled_sigmoid(71 / 19)),  # far past: full cost
    ],
)
def test_file_score(detections: list[int], tp: int, fp: int, fn: int, raw: float) -> None:
    result = score_file(_series(detections), STANDARD, threshold=0.5)
    assert (result.tp, result.fp, result.fn) == (tp, fp, fn)
    assert result.raw_score == pytest.approx(raw)


def test_fp_right_after_window_costs_less_than_far_after() -> None:
    near = score_file(_series([121]), STANDARD, 0.5).raw_score
    far = score_file(_series([180]), STANDARD, 0.5).raw_score
    assert near > far


def test_window_in_probation_is_not_counted() -> None:
    rw = row_weights(N, [(5, 10), WIN])
    assert rw.n_windows == 1


@pytest.mark.parametrize("profile", [STANDARD, LOW_FP, LOW_FN])
@pytest.mark.parametrize(
    ("detections", "expected"),
    [([], 0.0), ([100], 100.0)],
)
def test_normalization_null_is_0_perfect_is_100(
    profile: Profile, detections: list[int], expected: float
) -> None:
    result = score_corpus([_series(detections)], {profile.name: profile})[profile.name]
    assert result.normalized_score == pytest.approx(expected)


def test_threshold_is_optimized_over_the_corpus() -> None:
    # Strong score early in the window, weaker false alarm outside: the best threshold
    # sits between them, so the false alarm is not a detection.
    a = _series([])
    scores = list(a.scores)
    scores[102] = 0.9
    scores[60] = 0.4
    b = ScoredSeries(a.key, a.timestamps, a.values, tuple(scores), a.windows)
    res = score_corpus([b], {"standard": STANDARD})["standard"]
    assert res.threshold == 0.9
    assert res.files[0].fp == 0 and res.files[0].tp == 1
    thresholds, totals = sweep_thresholds([b], STANDARD)
    assert thresholds.tolist() == [1.1, 0.9, 0.4, 0.0]
    assert totals[0] == pytest.approx(-1.0)


def test_ties_fire_together() -> None:
    a = _series([60, 100])  # equal scores: cannot take the TP without the FP
    thresholds, totals = sweep_thresholds([a], STANDARD)
    assert thresholds.tolist() == [1.1, 1.0, 0.0]
    assert totals[1] == pytest.approx(1.0 - 0.11)


class _Spiky:
    """Fires exactly on values above 5."""

    def score_one(self, t: datetime, x: float) -> float:
        return 1.0 if x > 5 else 0.0

    def learn_one(self, t: datetime, x: float) -> None:
        return None


def test_run_nab_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "bench"
    (data / "data" / "folder").mkdir(parents=True)
    (data / "labels").mkdir()
    rows = ["timestamp,value"]
    for i in range(N):
        stamp = (T0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(f"{stamp},{9.0 if i == WIN[0] else 1.0}")
    (data / "data" / "folder" / "s.csv").write_text("\n".join(rows) + "\n")
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    window = [(T0 + timedelta(minutes=i)).strftime(fmt) for i in WIN]
    (data / "labels" / "combined_windows.json").write_text(json.dumps({"folder/s.csv": [window]}))
    profiles = {
        "standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11, "tnWeight": 1.0}}
    }
    (data / "profiles.json").write_text(json.dumps(profiles))
    out = tmp_path / "out"
    result = run_nab(data, _Spiky, out)
    assert result.rows_scored == N
    assert result.profiles["standard"].normalized_score == pytest.approx(100.0)
    lines = (out / "folder" / "s.csv").read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,label"
    assert len(lines) == N + 1
    assert lines[WIN[0] + 1].endswith(",1.0,1") and lines[1].endswith(",0.0,0")
