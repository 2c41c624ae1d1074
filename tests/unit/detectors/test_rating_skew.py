from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest

from riskstream.contracts import ReviewEvent, Signal, parse_time
from riskstream.detectors.rating_skew import RatingSkewDetector, RatingSkewParams, unpack

T0 = parse_time("2026-03-01T10:00:00Z")

# (rating, verified_purchase, account_age_days)
Row = tuple[int, bool, int]
NEW5: Row = (5, True, 2)  # new account
UNV5: Row = (5, False, 400)  # old but unverified
OLD5: Row = (5, True, 400)  # established, verified
NEW1: Row = (1, False, 0)
OLD1: Row = (1, True, 900)
MID: Row = (3, True, 400)


def review(i: int, row: Row, listing: str = "l1") -> ReviewEvent:
    rating, verified, age = row
    return ReviewEvent(
        event_id=f"e{i}", event_time=T0, region="ES", review_id=f"r{i}", listing_id=listing,
        buyer_id=f"b{i}", rating=rating, text="", language="es", verified_purchase=verified,
        account_age_days=age, seller_id="s1",
    )


def run(d: RatingSkewDetector, rows: list[Row],
        state: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[list[Signal]]]:
    st = d.initial_state() if state is None else state
    out = []
    for i, row in enumerate(rows):
        st, signals = d.detect(review(i, row), st)
        out.append(signals)
    return st, out


def fired(out: list[list[Signal]]) -> list[tuple[int, str]]:
    """(index of the review that set the skew off, code): once per skew, however many reviews it names."""
    return list(dict.fromkeys((i, s.code) for i, signals in enumerate(out) for s in signals))


def flagged(out: list[list[Signal]]) -> list[str]:
    """Every review signalled, in signal order."""
    return [s.entity_id for signals in out for s in signals]


DEFAULT = RatingSkewDetector(RatingSkewParams())


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([NEW5] * 5, [(4, "rating_inflation")]),  # a farm: fifth suspect 5-star reaches the minimum
        ([NEW1] * 5, [(4, "rating_bombing")]),  # a pile-on
        ([UNV5] * 5, [(4, "rating_inflation")]),  # unverified old accounts count by default
        ([NEW5] * 4, []),  # below the minimum count
        ([OLD5] * 20, []),  # an honestly loved product
        ([OLD1] * 20, []),  # an honestly hated one
        ([MID] * 15 + [NEW5] * 5, []),  # 5 of 20 = 25 % < 50 %
        ([MID] * 5 + [NEW5] * 5, [(9, "rating_inflation")]),  # 5 of 10 = 50 %: inclusive
        ([NEW5] * 3 + [NEW1] * 3, []),  # mixed extremes: neither reaches 5
        ([NEW5] * 12, [(4, "rating_inflation"), *((i, "rating_inflation") for i in range(5, 12))]),  # each new one
        ([(5, True, 29)] * 5, [(4, "rating_inflation")]),  # 29 days is new
        ([(5, True, 30)] * 5, []),  # 30 days is not (age < N)
    ],
)
def test_skew(rows: list[Row], expected: list[tuple[int, str]]) -> None:
    _, out = run(DEFAULT, rows)
    assert fired(out) == expected


def test_count_unverified_off() -> None:
    d = RatingSkewDetector(RatingSkewParams(count_unverified=False))
    assert fired(run(d, [UNV5] * 5)[1]) == []
    assert fired(run(d, [NEW5] * 5)[1]) == [(4, "rating_inflation")]


def test_skew_that_ends_and_returns_signals_again() -> None:
    rows = [NEW1] * 5 + [OLD5] * 20 + [NEW1] * 20
    _, out = run(DEFAULT, rows)
    assert fired(out)[:2] == [(4, "rating_bombing"), (34, "rating_bombing")]
    # Then each new suspect one-star review while the skew lasts; each review once.
    assert fired(out)[2:] == [(i, "rating_bombing") for i in range(35, 45)]
    assert sorted(flagged(out)) == sorted({f"r{i}" for i in (*range(5), *range(25, 45))})


def test_label_per_review_the_skew_names_its_suspect_reviews() -> None:
    # Honest reviews in between (a verified old buyer's five stars, a three) are never named.
    rows = [NEW5, OLD5, NEW5, MID, NEW5, UNV5, OLD5, NEW5, NEW5, OLD5, NEW5]
    _, out = run(DEFAULT, rows)
    assert flagged(out) == ["r7", "r0", "r2", "r4", "r5", "r8", "r10"]
    assert {s.entity_type for signals in out for s in signals} == {"review"}


def test_redelivered_review_is_not_counted_or_signalled_twice() -> None:
    st, out = run(DEFAULT, [NEW1] * 5)
    again, signals = DEFAULT.detect(review(4, NEW1), st)
    assert signals == [] and again == st and len(flagged(out)) == 5


def test_evidence_and_entity() -> None:
    _, out = run(DEFAULT, [MID] * 3 + [NEW5] * 5)
    s = out[-1][0]
    assert len(out[-1]) == 5  # the five suspect five-star reviews, the newest first
    assert (s.entity_type, s.entity_id, s.detector) == ("review", "r7", "rating_skew")
    assert s.evidence["listing_id"] == "l1" and s.evidence["trigger_review_id"] == "r7"
    assert s.evidence["suspect_extreme"] == 5 and s.evidence["reviews_considered"] == 8
    assert s.evidence["share"] == 0.625 and s.score == 0.625
    assert s.evidence["seller_id"] == "s1"


def test_window_bounds_state() -> None:
    d = RatingSkewDetector(RatingSkewParams(last_reviews=7))
    st, _ = run(d, [MID] * 100)
    assert len(unpack(st)[0]) == 7


def test_state_round_trips_and_input_is_not_mutated() -> None:
    st, _ = run(DEFAULT, [NEW5] * 4)
    before = orjson.dumps(st)
    restored = orjson.loads(before)
    _, a = DEFAULT.detect(review(9, NEW5), st)
    _, b = DEFAULT.detect(review(9, NEW5), restored)
    assert a == b and [s.code for s in a] == ["rating_inflation"] * 5
    assert orjson.dumps(st) == before


def test_state_key_is_the_listing() -> None:
    assert DEFAULT.state_key(review(0, MID, listing="lz")) == "lz"


@pytest.mark.parametrize("bad", [{"last_reviews": 0}, {"share_threshold": 0.0}, {"min_suspect_extreme": 0}])
def test_invalid_params_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RatingSkewDetector(RatingSkewParams(**bad))


def test_params_load_from_policy_data() -> None:
    p = msgspec.convert({"new_account_days": 14, "count_unverified": False}, RatingSkewParams)
    assert (p.new_account_days, p.count_unverified, p.last_reviews) == (14, False, 20)


def test_state_in_the_older_form_is_read() -> None:
    st, _ = run(DEFAULT, [MID] * 3 + [NEW5] * 5)
    recent, active = unpack(st)
    assert active == {"rating_inflation"}
    older = {"recent": [[r, s] for r, s in recent], "active": sorted(active)}
    for i, row in enumerate((NEW5, MID, NEW1)):
        a, b = DEFAULT.detect(review(100 + i, row), older), DEFAULT.detect(review(100 + i, row), st)
        assert unpack(a[0]) == unpack(b[0]) and a[1] == b[1]
    # The ids-less list form of the last version: same skews, its earlier reviews cannot be named.
    codes = [r * 2 + s for r, s in recent]
    bits = 1
    assert unpack([bits, *codes]) == (recent, active)
    new_state, signals = DEFAULT.detect(review(200, NEW5), [bits, *codes])
    assert [s.entity_id for s in signals] == ["r200"] and unpack(new_state)[1] == active
