"""Issue 15's hot-path shortcuts answer exactly what the work they skip would answer, and stay bounded."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from riskstream.contracts import InvalidEvent, _check_time
from riskstream.detectors import text
from riskstream.settings import LimitSettings, Settings
from riskstream.stream.loop import loop_in_use, use_loop

TEXTS = ["Carved 1v0ry figurine", "ivory coast tours", "Tiger bone china tea set", "Tiger bone powder",
         "Ｔｉｇｅｒ ｂｏｎｅ", "i\u200bv\u00ado\u2060ry", "\u202eyrovi tnahpele\u202c", "", "nothing here"]


def test_term_matcher_memo_gives_the_unmemoised_answer() -> None:
    a = text.TermMatcher(["ivory", "tiger bone", "elephant ivory"], exceptions=["bone china"])
    b = text.TermMatcher(["tiger bone"])  # same texts, other terms: results are never shared
    text._FOUND.clear()
    for _ in range(2):  # the second round is answered from the memo
        for t in TEXTS:
            assert a.find(t) == a._find(t)
            assert b.find(t) == b._find(t)
    assert b.find("Tiger bone china tea set") == ["tiger bone"] and a.find("Tiger bone china tea set") == []
    found = a.find("Carved 1v0ry figurine")
    found.append("mutated by a caller")
    assert a.find("Carved 1v0ry figurine") == ["ivory"]  # callers get their own list


def test_term_matcher_memo_is_bounded_in_bytes_and_skips_long_texts() -> None:
    m = text.TermMatcher(["ivory"])
    text._FOUND.clear()
    for i in range(20_000):
        m.find(f"listing {i} of carved ivory " + "x" * 500)
        assert text._FOUND.nbytes <= text._FOUND.max_bytes
    text._FOUND.clear()
    long = "ivory " * (text._FOUND.max_key_chars // 6 + 1)
    assert m.find(long) == ["ivory"] and not text._FOUND.data


def test_time_window_bounds_follow_now_and_kind() -> None:
    limits = LimitSettings(max_event_age_days=1, max_event_lead_days=1)
    now = datetime(2026, 6, 1, tzinfo=UTC)
    _check_time(now - timedelta(hours=23), "listing", limits, now)
    with pytest.raises(InvalidEvent):
        _check_time(now - timedelta(hours=25), "listing", limits, now)
    _check_time(now - timedelta(days=300), "recall", limits, now)  # exempt from the age limit
    later = now + timedelta(days=2)  # a new `now` moves the window (the kept bounds are not reused)
    _check_time(now + timedelta(hours=47), "listing", limits, later)
    with pytest.raises(InvalidEvent):
        _check_time(now, "listing", limits, later)
    other = LimitSettings(max_event_age_days=100, max_event_lead_days=1)  # and so do other limits
    _check_time(now, "listing", other, later)


def test_loop_setting_and_selection() -> None:
    assert Settings.from_env({}).loop == "asyncio"
    assert Settings.from_env({"RISKSTREAM_LOOP": "uvloop"}).loop == "uvloop"
    with pytest.raises(ValueError, match="RISKSTREAM_LOOP"):
        Settings.from_env({"RISKSTREAM_LOOP": "trio"})
    uvloop = pytest.importorskip("uvloop")
    try:
        assert use_loop("uvloop") == "uvloop" and loop_in_use() == "uvloop"
        loop = asyncio.new_event_loop()
        assert isinstance(loop, uvloop.Loop)
        loop.close()
    finally:
        use_loop("asyncio")
    assert loop_in_use() == "asyncio"
    loop = asyncio.new_event_loop()
    assert not isinstance(loop, uvloop.Loop)
    loop.close()
