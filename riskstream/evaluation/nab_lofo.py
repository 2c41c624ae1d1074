"""Leave-one-folder-out (LOFO) on a NAB-layout corpus: choose on four folders, score the fifth.

For each folder in turn every candidate detector configuration is scored on
the *other* folders (its NAB score averaged over the cost profiles); the best
one, and for each profile the threshold that was optimal on those folders, are
then applied unchanged to the held-out folder. The reference detector gets the
same treatment (it has no parameters, only its thresholds are chosen on the
training folders). Nothing about the held-out folder (its labels or its
scores) is used to choose anything.

A folder without any label window (``artificialNoAnomaly``) has no normalized
score (the null and the perfect detector tie at 0); it reports its raw score,
which is minus the cost of its false positives (0 is best). The overall score
pools every held-out folder's raw score against the pooled null and perfect
scores.

>>> from datetime import UTC, datetime, timedelta
>>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
>>> ts = tuple(t0 + timedelta(minutes=i) for i in range(100))
>>> def series(key):
...     return ScoredSeries(key, ts, (0.0,) * 100, (0.0,) * 40 + (1.0,) + (0.0,) * 59, ((ts[40], ts[49]),))
>>> folds = {"a": [series("a/x.csv")], "b": [series("b/y.csv")]}
>>> p = {"standard": Profile("standard", 1.0, 0.11, 1.0)}
>>> res = held_out({"only": folds}, p)
>>> [(f.folder, f.chosen, f.scores["standard"].normalized) for f in res.folds]
[('a', 'only', 100.0), ('b', 'only', 100.0)]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from riskstream.evaluation.nab import (
    DetectorFactory,
    ScoredSeries,
    row_weights,
    score_file,
    score_series,
    sweep_thresholds,
    window_rows,
)
from riskstream.evaluation.nab_corpus import Corpus, Profile

Folds = Mapping[str, Sequence[ScoredSeries]]
"""Scored series by folder, for one detector configuration."""


@dataclass(frozen=True)
class HeldOutScore:
    """A profile's outcome on one held-out folder at the threshold chosen on the others."""

    threshold: float
    raw: float
    null: float
    perfect: float
    tp: int
    fp: int
    fn: int

    @property
    def normalized(self) -> float | None:
        span = self.perfect - self.null
        return round(100.0 * (self.raw - self.null) / span, 6) if span > 0 else None


@dataclass(frozen=True)
class FoldResult:
    """One held-out folder: the configuration chosen without it, its scores and the reference's."""

    folder: str
    chosen: str
    train_score: float
    scores: dict[str, HeldOutScore]
    reference: dict[str, HeldOutScore]


@dataclass(frozen=True)
class LofoResult:
    """Every fold plus the pooled held-out score per profile (``overall`` / ``reference_overall``)."""

    folds: tuple[FoldResult, ...]
    overall: dict[str, float]
    reference_overall: dict[str, float]


def _n_windows(series: Sequence[ScoredSeries]) -> int:
    return sum(row_weights(len(s.scores), window_rows(s.timestamps, s.windows)).n_windows for s in series)


def _train_choice(series: Sequence[ScoredSeries], profile: Profile) -> tuple[float, float]:
    """Best threshold on ``series`` and the normalized score it reaches there."""
    thresholds, totals = sweep_thresholds(series, profile)
    best = int(np.argmax(totals))
    n = _n_windows(series)
    null, perfect = -profile.fn_weight * n, profile.tp_weight * n
    norm = 100.0 * (float(totals[best]) - null) / (perfect - null) if perfect > null else 0.0
    return float(thresholds[best]), norm


def _apply(series: Sequence[ScoredSeries], profile: Profile, threshold: float) -> HeldOutScore:
    files = [score_file(s, profile, threshold) for s in series]
    n = _n_windows(series)
    return HeldOutScore(
        threshold,
        sum(f.raw_score for f in files),
        -profile.fn_weight * n,
        profile.tp_weight * n,
        sum(f.tp for f in files),
        sum(f.fp for f in files),
        sum(f.fn for f in files),
    )


def _fit_and_apply(
    folds: Folds, held: str, profiles: Mapping[str, Profile]
) -> tuple[float, dict[str, HeldOutScore]]:
    train = [s for f, ss in folds.items() if f != held for s in ss]
    out: dict[str, HeldOutScore] = {}
    train_scores: list[float] = []
    for name, profile in profiles.items():
        threshold, norm = _train_choice(train, profile)
        train_scores.append(norm)
        out[name] = _apply(folds[held], profile, threshold)
    return sum(train_scores) / len(train_scores), out


def held_out(
    candidates: Mapping[str, Folds], profiles: Mapping[str, Profile], reference: Folds | None = None
) -> LofoResult:
    """Run the protocol over pre-scored ``candidates`` (name -> folder -> scored series)."""
    if not candidates:
        raise ValueError("no candidate configurations")
    folders = sorted(next(iter(candidates.values())))
    folds: list[FoldResult] = []
    for held in folders:
        best_name, best_train, best_scores = "", -np.inf, {}
        for name, scored in candidates.items():  # ties go to the first candidate listed
            train, scores = _fit_and_apply(scored, held, profiles)
            if train > best_train:
                best_name, best_train, best_scores = name, train, scores
        ref = _fit_and_apply(reference, held, profiles)[1] if reference is not None else {}
        folds.append(FoldResult(held, best_name, round(best_train, 6), best_scores, ref))
    return LofoResult(tuple(folds), _pooled(folds, profiles, False), _pooled(folds, profiles, True))


def _pooled(folds: Sequence[FoldResult], profiles: Mapping[str, Profile], reference: bool) -> dict[str, float]:
    out: dict[str, float] = {}
    for name in profiles:
        parts = [(f.reference if reference else f.scores).get(name) for f in folds]
        got = [p for p in parts if p is not None]
        if not got:
            continue
        raw, null, perfect = (sum(getattr(p, k) for p in got) for k in ("raw", "null", "perfect"))
        out[name] = round(100.0 * (raw - null) / (perfect - null), 6) if perfect > null else 0.0
    return out


def by_folder(series: Sequence[ScoredSeries]) -> dict[str, list[ScoredSeries]]:
    """Group scored series by the folder part of their key (``folder/name.csv``)."""
    out: dict[str, list[ScoredSeries]] = {}
    for s in series:
        out.setdefault(s.key.split("/", 1)[0], []).append(s)
    return out


def render(result: LofoResult, profiles: Sequence[str]) -> str:
    """The per-fold table: each profile's held-out score, windowed Gaussian's beside it."""
    short = {"standard": "std", "reward_low_FP_rate": "lowFP", "reward_low_FN_rate": "lowFN"}
    head = "".join(f" {short.get(p, p)[:6]:>7} {'wGauss':>7}" for p in profiles)
    lines = [f"{'held-out folder':<24}{head}  chosen (train score)"]
    for f in result.folds:
        cells = ""
        for p in profiles:
            cells += f" {_cell(f.scores.get(p))} {_cell(f.reference.get(p))}"
        lines.append(f"{f.folder:<24}{cells}  {f.chosen} ({f.train_score:.1f})")
    cells = "".join(
        f" {result.overall.get(p, float('nan')):7.1f} {result.reference_overall.get(p, float('nan')):7.1f}"
        for p in profiles
    )
    lines.append(f"{'overall (pooled)':<24}{cells}")
    lines.append("a folder without windows shows its raw score: minus the cost of its false positives (0 is best)")
    return "\n".join(lines)


def _cell(s: HeldOutScore | None) -> str:
    if s is None:
        return f"{'-':>7}"
    norm = s.normalized
    return f"{norm:7.1f}" if norm is not None else f"{s.raw:7.2f}"


def run_lofo(
    corpus: Corpus, candidates: Mapping[str, DetectorFactory], reference: DetectorFactory | None = None
) -> LofoResult:
    """Score every candidate (and the reference) over ``corpus`` once, then run :func:`held_out`."""
    scored = {name: by_folder(score_series(f, corpus)[0]) for name, f in candidates.items()}
    ref = by_folder(score_series(reference, corpus)[0]) if reference is not None else None
    return held_out(scored, corpus.profiles, ref)
