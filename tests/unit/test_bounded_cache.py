"""Every cache is bounded in bytes; normalisation reads a bounded prefix."""

from __future__ import annotations

import pytest

from riskstream.detectors import recall_match, text
from riskstream.detectors.bounded_cache import ByteLRU


def test_byte_lru_stays_within_budget_and_evicts_oldest() -> None:
    cache: ByteLRU[str, str] = ByteLRU(max_bytes=10_000, max_entry_bytes=4_000)
    for i in range(100):
        cache.get_or_compute(f"{i:04d}" + "x" * 1_000, str.upper)
        assert cache.nbytes <= 10_000
    assert 0 < len(cache) < 100
    calls: list[str] = []
    cache.get_or_compute("0099" + "x" * 1_000, lambda k: calls.append(k) or k)
    assert calls == []  # the newest is still there
    cache.get_or_compute("0000" + "x" * 1_000, lambda k: calls.append(k) or k)
    assert len(calls) == 1  # the oldest was evicted


def test_normalize_cache_stays_bounded_on_huge_distinct_titles() -> None:
    text._FORMS.clear()
    for i in range(200):
        text.normalize(f"{i} " + "y" * 1_000_000)
    assert 0 < text._FORMS.nbytes <= text._FORMS.max_bytes
    assert len(text._FORMS) == 200  # keyed by the part that is read, so all fit


@pytest.mark.parametrize("hostile", ["\ufdfa" * 300_000, "a" * 5_000_000, "ß" * 100_000])
def test_normalize_output_is_capped(hostile: str) -> None:
    assert len(text.normalize(hostile)) <= text.MAX_NORMALIZED_CHARS


def test_normalize_unchanged_below_the_cap() -> None:
    assert text.normalize("Baby SL33PER " * 10) == " ".join(["baby sleeper"] * 10)


def test_recall_matcher_caches_are_bounded_in_bytes() -> None:
    for i in range(300):
        recall_match._matcher(tuple(f"term{i} {j}" * 20 for j in range(50)), 6)
    assert recall_match._MATCHERS.nbytes <= recall_match._MATCHERS.max_bytes
