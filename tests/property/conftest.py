"""Hypothesis profiles: `ci` runs at least 10,000 cases per input kind.

Select with HYPOTHESIS_PROFILE=ci (the CI job does); the default `dev`
profile runs 300 cases per kind so a local run takes seconds.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
           "print_blob": True}
settings.register_profile("ci", max_examples=10_000, derandomize=False, database=None, **_COMMON)
settings.register_profile("dev", max_examples=300, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
