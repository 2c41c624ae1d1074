from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import orjson
import pytest

from riskstream.contracts import ContentEvent, ReviewEvent, Signal, parse_time
from riskstream.detectors.review_burst import ReviewBurstDetector, ReviewBurstParams, unpack

T0 = parse_time("2026-03-01T10:00:00Z")


def review(minute: float, i: int = 0, **kw: Any) -> ReviewEvent:
    base: dict[str, Any] = dict(
        event_id=f"e{i}", event_time=T0 + timedelta(minutes=minute), region="DE", review_id=f"r{i}",
        listing_id="l1", buyer_id=f"b{i}", rating=5, text="super", language="de",
        verified_purchase=True, account_age_days=100, seller_id="s1",
    )
    base.update(kw)
    return ReviewEvent(**base)


def run(
    d: ReviewBurstDetector, minutes: list[float], state: dict[str, Any] | None = None
) -> tuple[dict[str, Any], list[list[Signal]]]:
    st = d.initial_state() if state is None else state
    out = []
    for i, m in enumerate(minutes):
        st, signals = d.detect(review(m, i), st)
        out.append(signals)
    return st, out


@pytest.mark.parametrize(
    ("k", "w", "minutes", "flagged"),
    [
        (3, 10, [0, 1, 2, 3], [0, 1, 2, 3]),  # K+1 inside the window: all of them, back-filled
        (3, 10, [0, 1, 2], []),  # exactly K is not a burst
        (3, 10, [0, 4, 8, 12], []),  # 4 reviews but spread over 12 minutes
        (2, 10, [0, 5, 10], [0, 1, 2]),  # window is inclusive at its start: t - W <= r
        (2, 10, [0, 5, 10.01], []),  # just outside
        (3, 10, [0, 1, 2, 3, 4, 5, 6, 7], [0, 1, 2, 3, 4, 5, 6, 7]),  # every review of a sustained burst
        (3, 10, [0, 1, 2, 3, 30, 31, 32, 33], [0, 1, 2, 3, 4, 5, 6, 7]),  # a second burst later too
        (3, 10, [0, 1, 2, 3, 30], [0, 1, 2, 3]),  # a lone review after the burst is not flagged
        (3, 10, [5, 3, 4, 0], [0, 1, 2, 3]),  # out of order, all inside the window
    ],
)
def test_burst_flags_every_review_of_the_burst(k: int, w: int, minutes: list[float], flagged: list[int]) -> None:
    """Label per review: each review of a burst is signalled exactly once, earlier ones back-filled."""
    d = ReviewBurstDetector(ReviewBurstParams(max_reviews=k, window_minutes=w))
    _, out = run(d, minutes)
    ids = [s.entity_id for signals in out for s in signals]
    assert sorted(ids) == sorted(f"r{i}" for i in flagged) and len(ids) == len(set(ids))
    for signals in out:
        for s in signals:
            assert (s.code, s.entity_type, s.evidence["listing_id"]) == ("review_burst", "review", "l1")
            assert 0 < s.score <= 1
            assert s.evidence["reviews_in_window"] > k
            assert s.evidence["seller_id"] == "s1"


def test_evidence_counts_distinct_buyers() -> None:
    d = ReviewBurstDetector(ReviewBurstParams(max_reviews=2, window_minutes=10))
    st = d.initial_state()
    signals: list[Signal] = []
    for i in range(3):
        st, signals = d.detect(review(i, i, buyer_id="same"), st)
    assert signals[0].evidence["distinct_buyers"] == 1
    assert signals[0].evidence["window_start"] == T0.isoformat()


def test_state_is_bounded_and_pruned() -> None:
    d = ReviewBurstDetector(ReviewBurstParams(max_reviews=3, window_minutes=10, max_tracked=5))
    st, _ = run(d, [i * 0.1 for i in range(50)])
    assert len(unpack(st)[1]) == 5
    st, _ = run(d, [100.0], st)  # a review 90 minutes later prunes all older ones
    assert [r[0] for r in unpack(st)[1]] == [(T0 + timedelta(minutes=100)).timestamp()]


def test_late_event_older_than_window_is_dropped() -> None:
    d = ReviewBurstDetector(ReviewBurstParams(max_reviews=1, window_minutes=10))
    st, out = run(d, [60, 0])
    assert out == [[], []]
    assert len(unpack(st)[1]) == 1


def test_state_round_trips_through_json() -> None:
    d = ReviewBurstDetector(ReviewBurstParams(max_reviews=3, window_minutes=10))
    st, _ = run(d, [0, 1, 2])
    restored = orjson.loads(orjson.dumps(st))
    assert restored == st
    _, a = d.detect(review(3, 9), st)
    _, b = d.detect(review(3, 9), restored)
    assert a == b and len(a) == 4  # the trigger and the three it back-fills


def test_detect_does_not_mutate_input_state() -> None:
    d = ReviewBurstDetector(ReviewBurstParams(max_reviews=3))
    st, _ = run(d, [0, 1])
    before = orjson.dumps(st)
    d.detect(review(2, 5), st)
    assert orjson.dumps(st) == before


def test_keys_and_kinds() -> None:
    d = ReviewBurstDetector(ReviewBurstParams())
    assert d.state_key(review(0, listing_id="lx")) == "lx"
    content = ContentEvent(event_id="c", event_time=T0, region="DE", content_id="c1", creator_id="cr",
                           content_kind="post", text="hi")
    assert d.state_key(content) is None
    assert d.detect(content, d.initial_state()) == (d.initial_state(), [])


@pytest.mark.parametrize("bad", [{"max_reviews": 5, "max_tracked": 5}, {"max_reviews": 0}, {"window_minutes": 0}])
def test_invalid_params_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ReviewBurstDetector(ReviewBurstParams(**bad))


def test_params_load_from_policy_data() -> None:
    p = msgspec.convert({"max_reviews": 4, "window_minutes": 30}, ReviewBurstParams)
    assert (p.max_reviews, p.window_minutes, p.max_tracked) == (4, 30, 200)


def test_state_in_the_older_form_is_read() -> None:
    d = ReviewBurstDetector(ReviewBurstParams(max_reviews=3, window_minutes=10))
    st, _ = run(d, [0, 1, 2])
    fired_at, reviews = unpack(st)
    older = {"reviews": [list(r) for r in reviews], "fired_at": fired_at}
    assert d.detect(review(3, 9), older) == d.detect(review(3, 9), st)
    assert d.detect(review(1, 1), older) == d.detect(review(1, 1), st)  # redelivered
    no_ids = {"reviews": [list(r[:2]) for r in reviews], "fired_at": fired_at}  # entries without review ids
    _, out = d.detect(review(3, 9), no_ids)
    assert [s.entity_id for s in out] == ["r9"]
