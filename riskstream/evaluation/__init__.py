"""Offline evaluation of riskstream's detectors against labeled benchmarks.

>>> from riskstream.evaluation import probation_length
>>> probation_length(4033)
604
"""

from __future__ import annotations

from riskstream.evaluation.nab import (
    DetectorFactory,
    FileScore,
    NabResult,
    ProfileScore,
    ScoredSeries,
    StreamingDetector,
    probation_length,
    run_nab,
    score_corpus,
    sweep_thresholds,
)
from riskstream.evaluation.nab_corpus import Corpus, CorpusError, Profile, Series, load_corpus, load_profiles

__all__ = [
    "Corpus",
    "CorpusError",
    "DetectorFactory",
    "FileScore",
    "NabResult",
    "Profile",
    "ProfileScore",
    "ScoredSeries",
    "Series",
    "StreamingDetector",
    "load_corpus",
    "load_profiles",
    "probation_length",
    "run_nab",
    "score_corpus",
    "sweep_thresholds",
]
