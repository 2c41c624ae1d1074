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
    Profile,
    ProfileScore,
    ScoredSeries,
    StreamingDetector,
    load_profiles,
    probation_length,
    run_nab,
    score_corpus,
    sweep_thresholds,
)

__all__ = [
    "DetectorFactory",
    "FileScore",
    "NabResult",
    "Profile",
    "ProfileScore",
    "ScoredSeries",
    "StreamingDetector",
    "load_profiles",
    "probation_length",
    "run_nab",
    "score_corpus",
    "sweep_thresholds",
]
