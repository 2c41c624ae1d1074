"""NAB (Numenta Anomaly Benchmark) scoring for streaming time-series detectors.

A pure library: it reads a folder in NAB's layout (``data/<folder>/<name>.csv``
with ``timestamp,value``, ``labels/combined_windows.json``, ``profiles.json``),
runs a detector over every series one row at a time (score before learning, no
look-ahead), writes per-series ``timestamp,value,anomaly_score,label`` files and
computes NAB's normalized score per cost profile:

* the first 15% of each file (at most 750 rows) is a probation period, not scored;
* in each window only the earliest detection counts, weighted by a scaled
  sigmoid of its position (full true-positive weight at the window start,
  falling towards zero at its end); a window without detection costs the
  false-negative weight;
* a detection outside every window costs the false-positive weight, scaled down
  by the same sigmoid when it falls shortly after a window's end;
* one threshold per profile is chosen by sweeping every distinct score over
  the whole corpus, and the corpus total is normalized so that a detector that
  never fires scores 0 and a perfect one (a detection at each window's first
  row, nothing else) scores 100.

>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> ts = [t0 + timedelta(minutes=i) for i in range(100)]
>>> s = ScoredSeries("f/a.csv", tuple(ts), (0.0,) * 100, (0.0,) * 40 + (1.0,) + (0.0,) * 59,
...                  ((ts[40], ts[49]),))
>>> result = score_corpus([s], {"standard": Profile("standard", 1.0, 0.11, 1.0)})
>>> result["standard"].normalized_score, result["standard"].threshold
(100.0, 1.0)
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Protocol

import numpy as np

from riskstream.evaluation.nab_corpus import Corpus, Profile, TimeOrder, load_corpus

PROBATION_PERCENT = 0.15
PROBATION_CAP_ROWS = 750  # NAB: probationPercent * 5000 rows

Window = tuple[datetime, datetime]


class StreamingDetector(Protocol):
    """What the runner needs from a detector: score a point, then learn it."""

    def score_one(self, t: datetime, x: float) -> float: ...

    def learn_one(self, t: datetime, x: float) -> None: ...


DetectorFactory = Callable[[], StreamingDetector]


@dataclass(frozen=True)
class ScoredSeries:
    """One series with the detector's scores and its labeled windows."""

    key: str
    timestamps: tuple[datetime, ...]
    values: tuple[float, ...]
    scores: tuple[float, ...]
    windows: tuple[Window, ...]


@dataclass(frozen=True)
class FileScore:
    """Outcome for one file at the profile's chosen threshold."""

    key: str
    tp: int
    fp: int
    fn: int
    raw_score: float


@dataclass(frozen=True)
class ProfileScore:
    """Corpus outcome for one profile."""

    profile: str
    threshold: float
    raw_score: float
    null_score: float
    perfect_score: float
    normalized_score: float
    files: tuple[FileScore, ...]


@dataclass(frozen=True)
class NabResult:
    """Everything a benchmark run produced."""

    profiles: dict[str, ProfileScore]
    rows_scored: int
    seconds: float
    rows_per_second: float
    notes: tuple[str, ...] = ()


# --------------------------------------------------------------------- rules


def probation_length(n_rows: int) -> int:
    """Rows at the start of a file that are not scored (15%, at most 750)."""
    return min(math.floor(PROBATION_PERCENT * n_rows), PROBATION_CAP_ROWS)


def scaled_sigmoid(position: float) -> float:
    """NAB's weighting: position -1 is a window's start, 0 its end, >0 past it.

    >>> round(scaled_sigmoid(-1.0), 4), scaled_sigmoid(0.0), scaled_sigmoid(3.5)
    (0.9866, 0.0, -1.0)
    """
    if position > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * position)) - 1.0


def window_rows(timestamps: Sequence[datetime], windows: Sequence[Window]) -> list[tuple[int, int]]:
    """Row index ranges ``[first, last]`` covered by each window (empty ones dropped).

    Timestamps out of order (kept in file order) fall back to a scan: first and
    last row whose timestamp lies in the window.
    """
    out: list[tuple[int, int]] = []
    if any(b < a for a, b in pairwise(timestamps)):
        for start, end in windows:
            inside = [i for i, t in enumerate(timestamps) if start <= t <= end]
            if inside:
                out.append((inside[0], inside[-1]))
        return out
    for start, end in windows:
        lo = _bisect_left(timestamps, start)
        hi = _bisect_right(timestamps, end) - 1
        if lo <= hi:
            out.append((lo, hi))
    return out


def _bisect_left(ts: Sequence[datetime], t: datetime) -> int:
    lo, hi = 0, len(ts)
    while lo < hi:
        mid = (lo + hi) // 2
        if ts[mid] < t:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _bisect_right(ts: Sequence[datetime], t: datetime) -> int:
    lo, hi = 0, len(ts)
    while lo < hi:
        mid = (lo + hi) // 2
        if t < ts[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


@dataclass(frozen=True)
class _RowWeights:
    """Per-row scoring terms of one file, independent of the cost profile."""

    window_id: np.ndarray  # index into the file's windows, -1 outside, -2 in probation
    sigmoid: np.ndarray  # scaled sigmoid of the row's position (TP value or FP discount)
    n_windows: int  # windows with at least one scored row


def row_weights(n_rows: int, windows: Sequence[tuple[int, int]]) -> _RowWeights:
    """Walk a file like NAB's sweeper: in-window position, or distance past the last window."""
    window_id = np.full(n_rows, -1, dtype=np.int64)
    sig = np.full(n_rows, -1.0)
    prev_right: int | None = None
    prev_width = 0.0
    order = sorted(windows)
    k = 0
    i = 0
    while i < n_rows:
        if k < len(order) and i >= order[k][0]:
            lo, hi = order[k]
            width = float(hi - lo + 1)
            for j in range(i, min(hi, n_rows - 1) + 1):
                window_id[j] = k
                sig[j] = scaled_sigmoid(-(hi - j + 1) / width)
            prev_right, prev_width = hi, width
            i = hi + 1
            k += 1
            continue
        if prev_right is not None:
            # A detection shortly after a window costs less than the full FP weight.
            denom = max(prev_width - 1.0, 1.0)
            sig[i] = scaled_sigmoid(abs(prev_right - i) / denom)
        i += 1
    probation = probation_length(n_rows)
    window_id[:probation] = -2
    scored_ids = {int(w) for w in window_id[probation:] if w >= 0}
    # Renumber so window ids are dense over windows that can still be scored.
    remap = {old: new for new, old in enumerate(sorted(scored_ids))}
    for j in range(probation, n_rows):
        w = int(window_id[j])
        if w >= 0:
            window_id[j] = remap[w]
    return _RowWeights(window_id, sig, len(scored_ids))


def _contributions(rw: _RowWeights, profile: Profile) -> np.ndarray:
    in_window = rw.window_id >= 0
    tp_norm = profile.tp_weight / scaled_sigmoid(-1.0)
    return np.where(in_window, rw.sigmoid * tp_norm, rw.sigmoid * profile.fp_weight)


def sweep_thresholds(series: Sequence[ScoredSeries], profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Raw corpus score for every candidate threshold (every distinct score), highest first.

    Detection means ``score >= threshold``. Returns ``(thresholds, raw_scores)``;
    the implicit "never fire" threshold (raw score ``-fn_weight * windows``) is
    the first entry, with threshold ``1.1`` as in NAB.
    """
    scores_parts: list[np.ndarray] = []
    contrib_parts: list[np.ndarray] = []
    wid_parts: list[np.ndarray] = []
    n_windows = 0
    for s in series:
        rw = row_weights(len(s.scores), window_rows(s.timestamps, s.windows))
        keep = rw.window_id != -2
        scores_parts.append(np.asarray(s.scores, dtype=float)[keep])
        contrib_parts.append(_contributions(rw, profile)[keep])
        wid = rw.window_id[keep].copy()
        wid[wid >= 0] += n_windows  # global window ids
        wid_parts.append(wid)
        n_windows += rw.n_windows
    if not scores_parts:
        return np.array([1.1]), np.array([0.0])
    scores = np.concatenate(scores_parts)
    contrib = np.concatenate(contrib_parts)
    wid = np.concatenate(wid_parts)
    order = np.argsort(-scores, kind="stable")
    scores, contrib, wid = scores[order], contrib[order], wid[order]

    best = [-profile.fn_weight] * n_windows
    total = -profile.fn_weight * n_windows
    thresholds = [1.1]
    totals = [total]
    n = len(scores)
    score_list = scores.tolist()
    contrib_list = contrib.tolist()
    wid_list = wid.tolist()
    for i in range(n):
        w = wid_list[i]
        c = contrib_list[i]
        if w >= 0:
            if c > best[w]:
                total += c - best[w]
                best[w] = c
        else:
            total += c
        # Record only at the boundary between distinct scores: all ties fire together.
        if i == n - 1 or score_list[i + 1] != score_list[i]:
            thresholds.append(score_list[i])
            totals.append(total)
    return np.asarray(thresholds), np.asarray(totals)


def score_file(s: ScoredSeries, profile: Profile, threshold: float) -> FileScore:
    """TP/FP/FN counts and raw score of one file at a fixed threshold."""
    rw = row_weights(len(s.scores), window_rows(s.timestamps, s.windows))
    contrib = _contributions(rw, profile)
    detected = np.asarray(s.scores, dtype=float) >= threshold
    detected &= rw.window_id != -2
    raw = 0.0
    tp = fn = 0
    for w in range(rw.n_windows):
        hits = np.flatnonzero(detected & (rw.window_id == w))
        if hits.size:
            tp += 1
            raw += float(contrib[hits[0]])  # the earliest detection counts
        else:
            fn += 1
            raw -= profile.fn_weight
    fp_rows = detected & (rw.window_id == -1)
    fp = int(fp_rows.sum())
    raw += float(contrib[fp_rows].sum())
    return FileScore(s.key, tp, fp, fn, raw)


def score_corpus(series: Sequence[ScoredSeries], profiles: dict[str, Profile]) -> dict[str, ProfileScore]:
    """Optimize one threshold per profile over the corpus and normalize the total."""
    out: dict[str, ProfileScore] = {}
    n_windows = sum(
        row_weights(len(s.scores), window_rows(s.timestamps, s.windows)).n_windows for s in series
    )
    for name, profile in profiles.items():
        thresholds, totals = sweep_thresholds(series, profile)
        best = int(np.argmax(totals))  # first maximum = highest threshold among ties
        threshold = float(thresholds[best])
        files = tuple(score_file(s, profile, threshold) for s in series)
        raw = sum(f.raw_score for f in files)
        null = -profile.fn_weight * n_windows
        perfect = profile.tp_weight * n_windows
        span = perfect - null
        normalized = 100.0 * (raw - null) / span if span > 0 else 0.0
        out[name] = ProfileScore(name, threshold, raw, null, perfect, round(normalized, 6), files)
    return out


# ------------------------------------------------------------------ corpus IO


def run_detector(
    factory: DetectorFactory, timestamps: Sequence[datetime], values: Sequence[float]
) -> list[float]:
    """Score each row before learning it: the detector never sees the future."""
    det = factory()
    scores: list[float] = []
    for t, x in zip(timestamps, values, strict=True):
        scores.append(float(det.score_one(t, x)))
        det.learn_one(t, x)
    return scores


def score_series(factory: DetectorFactory, corpus: Corpus) -> tuple[list[ScoredSeries], int, float]:
    """Every series of ``corpus`` scored by a fresh ``factory()``; also rows scored and seconds spent."""
    scored: list[ScoredSeries] = []
    rows = 0
    elapsed = 0.0
    for s in corpus.series:
        start = time.perf_counter()
        scores = run_detector(factory, s.timestamps, s.values)
        elapsed += time.perf_counter() - start
        rows += len(scores)
        scored.append(ScoredSeries(s.key, s.timestamps, s.values, tuple(scores), s.windows))
    return scored, rows, elapsed


def run_nab(
    data_dir: Path, factory: DetectorFactory, out_dir: Path | None = None, time_order: TimeOrder = "strict"
) -> NabResult:
    """Run ``factory()`` over every series of ``data_dir`` and score it with NAB's rules.

    The corpus is validated first (:func:`~riskstream.evaluation.nab_corpus.load_corpus`
    raises :class:`~riskstream.evaluation.nab_corpus.CorpusError` naming file and row).
    When ``out_dir`` is given, ``<out_dir>/<folder>/<name>.csv`` receives
    ``timestamp,value,anomaly_score,label`` (label 1 inside a window).
    """
    corpus = load_corpus(data_dir, time_order)
    scored, rows, elapsed = score_series(factory, corpus)
    if out_dir is not None:
        for src, series in zip(corpus.series, scored, strict=True):
            _write_scores(out_dir / series.key, src.stamps, series)
    result = score_corpus(scored, corpus.profiles)
    return NabResult(result, rows, elapsed, rows / elapsed if elapsed > 0 else 0.0, corpus.notes)


def _write_scores(path: Path, stamps: Sequence[str], s: ScoredSeries) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    label = np.zeros(len(s.scores), dtype=int)
    for lo, hi in window_rows(s.timestamps, s.windows):
        label[lo : hi + 1] = 1
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["timestamp", "value", "anomaly_score", "label"])
        for stamp, value, score, lab in zip(stamps, s.values, s.scores, label.tolist(), strict=True):
            w.writerow([stamp, repr(value), repr(score), lab])
