from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import msgspec
import orjson
import pytest

from riskstream.contracts import Event, ListingEvent, RecallNotice, ReviewEvent, Signal, parse_time
from riskstream.detectors.recall_match import RecallMatchDetector, RecallMatchParams, indexed_listings

T0 = parse_time("2026-03-01T10:00:00Z")


def listing(lid: str = "l1", title: str = "", minutes: float = 0, **kw: Any) -> ListingEvent:
    base: dict[str, Any] = dict(
        event_id=f"e-{lid}-{minutes}", event_time=T0 + timedelta(minutes=minutes), region="DE", op="created",
        listing_id=lid, seller_id="s1", category="baby", title=title, price=30.0, currency="EUR",
    )
    base.update(kw)
    return ListingEvent(**base)


def recall(rid: str = "R1", terms: tuple[str, ...] = ("baby rocker",), minutes: float = 0, **kw: Any) -> RecallNotice:
    base: dict[str, Any] = dict(
        event_id=f"r-{rid}-{minutes}", event_time=T0 + timedelta(minutes=minutes), region="DE",
        recall_id=rid, product_terms=list(terms), hazard="suffocation", authority="BAuA",
    )
    base.update(kw)
    return RecallNotice(**base)


def run(d: RecallMatchDetector, events: list[Event]) -> tuple[dict[str, Any], list[list[Signal]]]:
    state = d.initial_state()
    out = []
    for ev in events:
        state, signals = d.detect(ev, state)
        out.append(signals)
    return state, out


# (recall terms, recall brand, listing fields, should match)
CASES = [
    (("Babywippe",), None, {"title": "B@bywippe Komfort, kaum benutzt"}, True),                     # German, leetspeak
    (("chaise haute",), "Bébéconfort", {"title": "Chaise-haute pliable", "brand": "BEBECONFORT"}, True),  # French
    (("cuna de viaje",), None, {"title": "CUNA DE VIAJE plegable", "region": "ES"}, True),           # Spanish
    (("เปลเด็ก",), None, {"title": "ขาย เปลเด็ก ราคาถูก", "region": "TH", "currency": "THB"}, True),    # Thai
    (("kerusi bayi",), None, {"title": "K3rusi B.a.y.i mudah alih", "region": "MY", "currency": "MYR"}, True),  # Malay
    (("baby rocker",), None, {"title": "Βaby rоcker"}, True),                                       # homoglyphs
    (("baby rocker",), None, {"title": "Rocker", "description": "Bequeme baby-rocker Wippe"}, True),
    (("baby rocker",), None, {"title": "Nice", "attributes": {"model": "Baby Rocker 2"}}, True),
    # Honest look-alikes.
    (("baby rocker",), None, {"title": "Rocker jacket for a baby shower party"}, False),
    (("baby rocker",), "SleepWell", {"title": "Baby rocker", "brand": "DreamCo"}, False),            # other brand
    (("chaise haute",), None, {"title": "Chaise de jardin haute qualité"}, False),
    (("Babywippe",), None, {"title": "Baby Wippe"}, True),                                          # split word still the product
    (("crib",), None, {"title": "Crib notes for exams"}, True),                                     # a plain term matches plainly
]


@pytest.mark.parametrize(("terms", "brand", "fields", "match"), CASES)
def test_listing_after_recall(terms: tuple[str, ...], brand: str | None, fields: dict[str, Any], match: bool) -> None:
    d = RecallMatchDetector(RecallMatchParams())
    region = fields.get("region", "DE")
    _, out = run(d, [recall(terms=terms, brand=brand, region=region), listing(**fields)])
    assert bool(out[1]) is match
    if match:
        (s,) = out[1]
        assert (s.code, s.entity_type, s.entity_id, s.region) == ("recalled_product", "listing", "l1", region)
        assert s.evidence["recall_id"] == "R1" and s.evidence["matched_terms"] == list(terms)
        assert s.evidence["hazard"] == "suffocation" and s.evidence["trigger"] == "listing"
        assert s.score == (1.0 if brand else 0.8)


@pytest.mark.parametrize(("terms", "brand", "fields", "match"), CASES)
def test_recall_after_listing_backfills(
    terms: tuple[str, ...], brand: str | None, fields: dict[str, Any], match: bool
) -> None:
    d = RecallMatchDetector(RecallMatchParams())
    region = fields.get("region", "DE")
    _, out = run(d, [listing(**fields), recall(terms=terms, brand=brand, region=region)])
    assert out[0] == []
    assert [s.entity_id for s in out[1]] == (["l1"] if match else [])
    if match:
        s = out[1][0]
        assert s.event_id == "r-R1-0" and s.evidence["trigger"] == "recall"


def test_backfill_finds_only_live_matching_listings() -> None:
    d = RecallMatchDetector(RecallMatchParams())
    events: list[Event] = [
        listing("a", "Baby rocker grey"),
        listing("b", "Wooden train"),
        listing("c", "baby rocker, removed later"),
        listing("c", op="removed", minutes=1),
        listing("d", "Wooden train", minutes=2),
        listing("d", "Baby rocker after an edit", op="updated", minutes=3),
        recall(minutes=4),
    ]
    state, out = run(d, events)
    assert [s.entity_id for s in out[-1]] == ["a", "d"]
    assert set(indexed_listings(state)) == {"a", "b", "d"}


def test_redelivered_recall_does_not_rescan_but_a_changed_one_does() -> None:
    d = RecallMatchDetector(RecallMatchParams())
    events: list[Event] = [
        listing("a", "Baby rocker"),
        listing("b", "Baby bouncer"),
        recall(terms=("baby rocker",)),
        recall(terms=("baby rocker",), minutes=1),
        recall(terms=("baby rocker", "baby bouncer"), minutes=2),
    ]
    _, out = run(d, events)
    assert [[s.entity_id for s in signals] for signals in out[2:]] == [["a"], [], ["a", "b"]]


def test_recall_resent_without_terms_is_withdrawn() -> None:
    d = RecallMatchDetector(RecallMatchParams())
    _, out = run(d, [recall(), recall(terms=(), minutes=1), listing("a", "baby rocker", minutes=2)])
    assert out == [[], [], []]


def test_several_recalls_match_one_listing() -> None:
    d = RecallMatchDetector(RecallMatchParams())
    _, out = run(d, [
        recall("R1", ("baby rocker",)),
        recall("R2", ("rocker",), brand="SleepWell"),
        recall("R3", ("high chair",)),
        listing("a", "SleepWell baby rocker"),
    ])
    assert sorted((s.evidence["recall_id"], tuple(s.evidence["matched_terms"])) for s in out[-1]) == [
        ("R1", ("baby rocker",)), ("R2", ("rocker",))
    ]


def test_recalls_expire_after_ttl() -> None:
    d = RecallMatchDetector(RecallMatchParams(recall_ttl_days=30))
    day = 24 * 60
    _, out = run(d, [recall(), listing("a", "baby rocker", minutes=29 * day), listing("b", "baby rocker", minutes=31 * day)])
    assert [bool(s) for s in out] == [False, True, False]


def test_index_is_bounded_and_evicts_oldest() -> None:
    d = RecallMatchDetector(RecallMatchParams(max_listings=2))
    state, out = run(d, [
        listing("a", "baby rocker"), listing("b", "baby rocker"), listing("c", "baby rocker"), recall(),
    ])
    assert list(indexed_listings(state)) == ["b", "c"]
    assert [s.entity_id for s in out[-1]] == ["b", "c"]


def test_recall_count_is_bounded() -> None:
    d = RecallMatchDetector(RecallMatchParams(max_recalls=2))
    state, _ = run(d, [recall("R1", minutes=0), recall("R2", ("cot",), minutes=1), recall("R3", ("pram",), minutes=2)])
    assert set(state["recalls"]) == {"R2", "R3"}


def test_recall_without_terms_matches_nothing() -> None:
    d = RecallMatchDetector(RecallMatchParams())
    state, out = run(d, [listing("a", "anything SleepWell"), recall(terms=(), brand="SleepWell"),
                         recall(terms=("  ", "--"), minutes=1), listing("b", "SleepWell rocker")])
    assert out == [[], [], [], []] and state["recalls"] == {}


def test_text_is_cut_at_a_word_boundary() -> None:
    d = RecallMatchDetector(RecallMatchParams(max_text_chars=20))
    state, _ = run(d, [listing("a", "alpha beta gamma delta epsilon")])
    assert indexed_listings(state)["a"] == "alpha beta gamma"


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (listing(region="DE"), "DE"),
        (recall(region="DE"), "DE"),
        (listing(region="FR"), "FR"),
        (ReviewEvent(event_id="r", event_time=T0, region="DE", review_id="r1", listing_id="l1", buyer_id="b",
                     rating=1, text="baby rocker", language="de", verified_purchase=True, account_age_days=1), None),
    ],
)
def test_state_key_is_the_country(event: Event, key: str | None) -> None:
    assert RecallMatchDetector(RecallMatchParams()).state_key(event) == key


def test_state_round_trips_through_json_and_input_is_not_mutated() -> None:
    d = RecallMatchDetector(RecallMatchParams())
    state, _ = run(d, [listing("a", "baby rocker"), listing("b", "ขาย เปลเด็ก"), recall("R9", ("pram",))])
    frozen = copy.deepcopy(state)
    restored = orjson.loads(orjson.dumps(state))
    assert restored == state
    for ev in (recall("R2", ("เปลเด็ก",), minutes=5), listing("c", "Pram", minutes=5), listing("a", op="removed")):
        assert d.detect(ev, restored) == d.detect(ev, state)
    assert state == frozen


def test_ignores_other_event_kinds() -> None:
    d = RecallMatchDetector(RecallMatchParams())
    review = ReviewEvent(event_id="r", event_time=T0, region="DE", review_id="r1", listing_id="l1", buyer_id="b",
                         rating=1, text="baby rocker", language="de", verified_purchase=True, account_age_days=1)
    state, _ = run(d, [recall()])
    assert d.detect(review, state) == (state, [])
    assert d.detect(review, None)[1] == []  # the engine passes None for events without a key
    fresh, _ = d.detect(listing("a", "Baby rocker"), None)
    assert fresh["recalls"] == {} and indexed_listings(fresh) == {"a": "baby rocker"}


@pytest.mark.parametrize("bad", [{"max_listings": -1}, {"max_recalls": 0}, {"recall_ttl_days": -1}])
def test_rejects_bad_params(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RecallMatchDetector(RecallMatchParams(**bad))


def test_params_load_from_plain_policy_data() -> None:
    params = msgspec.convert({"max_listings": 10, "recall_ttl_days": 90}, RecallMatchParams)
    assert (params.max_listings, params.recall_ttl_days, params.max_recalls) == (10, 90.0, 2000)


def test_state_in_the_older_flat_form_is_read_as_the_same_index() -> None:
    d = RecallMatchDetector(RecallMatchParams(max_listings=3))
    events: list[Event] = [listing(lid, "baby rocker", minutes=i) for i, lid in enumerate("abc")]
    state, _ = run(d, events)
    flat = {"recalls": state["recalls"], "listings": indexed_listings(state)}  # what earlier versions kept
    assert list(flat["listings"]) == ["a", "b", "c"]
    for ev in (recall(minutes=5), listing("d", "baby rocker", minutes=5), listing("b", op="removed", minutes=5)):
        new_from_flat, out_flat = d.detect(ev, flat)
        new, out = d.detect(ev, state)
        assert out_flat == out
        assert indexed_listings(new_from_flat) == indexed_listings(new)


def test_index_cost_is_one_bucket_not_the_whole_index() -> None:
    d = RecallMatchDetector(RecallMatchParams(max_listings=10_000))
    state, _ = run(d, [listing(f"l{i}", "wooden train") for i in range(2000)])
    new, _ = d.detect(listing("l-new", "wooden train"), state)
    shared = sum(new["index"][b] is state["index"][b] for b in state["index"])
    assert shared == len(state["index"]) - 1  # every bucket but the one the listing went into
