from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest

from riskstream.contracts import ContentEvent, ReviewEvent, parse_time
from riskstream.detectors.content_prohibited import ContentProhibitedDetector, ContentProhibitedParams

T0 = parse_time("2026-03-01T10:00:00Z")
DEFAULT = ContentProhibitedDetector(ContentProhibitedParams())


def content(text: str = "", links: list[str] | None = None, **kw: Any) -> ContentEvent:
    base: dict[str, Any] = dict(
        event_id="e1", event_time=T0, region="DE", content_id="c1", creator_id="cr1",
        content_kind="video", text=text, linked_listing_ids=links or [],
    )
    base.update(kw)
    return ContentEvent(**base)


def codes(text: str, d: ContentProhibitedDetector = DEFAULT) -> dict[str, list[str]]:
    _, signals = d.detect(content(text), d.initial_state())
    for s in signals:
        assert (s.entity_type, s.entity_id, s.evidence["creator_id"]) == ("content", "c1", "cr1")
    return {s.code: s.evidence["terms"] for s in signals}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Unboxing my real ivory collection", {"promotes_prohibited": ["real ivory"]}),
        ("Genuine rh1n0 h0rn powder, DM me", {"promotes_prohibited": ["rhino horn"]}),  # leetspeak
        ("Best d.i.s.p.o.s.a.b.l.e v.a.p.e haul", {"promotes_restricted": ["disposable vape"]}),
        ("Antibiotika ohne Rezept bestellen, Link unten", {"promotes_restricted": ["ohne rezept"]}),
        ("Médicaments sans ordonnance, livraison rapide", {"promotes_restricted": ["sans ordonnance"]}),
        (
            "Rhino horn and nicotine pouches giveaway",
            {"promotes_prohibited": ["rhino horn"], "promotes_restricted": ["nicotine pouches"]},
        ),
        ("My ivory white wedding dress try-on", {}),  # a colour, not a tusk
        # Honest posts from the tuning seeds: a water gun is no ghost gun, a power bank no banknote.
        ("Unboxing my new Toy water gun pump action 2-pack #ad", {}),
        ("Is it worth it? Testing the SplashCo Toy water gun pump action 2-pack #ad", {}),
        ("Ehrlicher Test: Ampero Powerbank 20000mAh PD #werbung", {}),
        ("Déballage : Batterie externe 20000mAh", {}),
        ("Horny rhinos at the zoo documentary", {}),
        ("", {}),
    ],
)
def test_terms(text: str, expected: dict[str, list[str]]) -> None:
    assert codes(text) == expected


def test_region_policy_terms() -> None:
    d = ContentProhibitedDetector(msgspec.convert({"prohibited": ["ivory"], "restricted": []}, ContentProhibitedParams))
    assert codes("ivory figurine", d) == {"promotes_prohibited": ["ivory"]}
    assert codes("nicotine pouches", d) == {}


@pytest.mark.parametrize(
    ("actioned", "links", "hits"),
    [
        (["l9"], ["l1", "l9"], ["l9"]),
        (["l9", "l1"], ["l1", "l9", "l1"], ["l1", "l9"]),  # each once, in link order
        (["l9"], ["l1"], None),
        ([], ["l1"], None),
        (["l9"], [], None),
    ],
)
def test_links_to_actioned_listings(actioned: list[str], links: list[str], hits: list[str] | None) -> None:
    state = DEFAULT.with_actioned(DEFAULT.initial_state(), actioned)
    _, signals = DEFAULT.detect(content("new video", links), state)
    found = [s.evidence["listing_ids"] for s in signals if s.code == "links_actioned_listing"]
    assert found == ([hits] if hits else [])


def test_actioned_set_lifecycle() -> None:
    d = ContentProhibitedDetector(ContentProhibitedParams(max_actioned=3))
    s0 = d.initial_state()
    s1 = d.with_actioned(s0, ["a", "b", "c"])
    assert s0 == {"actioned": {}}  # pure: the input state is untouched
    s2 = d.with_actioned(s1, ["a"])  # refreshing "a" makes "b" the oldest
    s3 = d.with_actioned(s2, ["d"])
    assert list(s3["actioned"]) == ["c", "a", "d"]
    s4 = d.without_actioned(s3, ["a", "zzz"])  # appeal granted
    assert list(s4["actioned"]) == ["c", "d"] and list(s3["actioned"]) == ["c", "a", "d"]
    _, signals = d.detect(content("", ["a", "d"]), s4)
    assert [s.evidence["listing_ids"] for s in signals] == [["d"]]


def test_detect_does_not_change_state_and_state_round_trips() -> None:
    state = DEFAULT.with_actioned(DEFAULT.initial_state(), ["l9"])
    restored = orjson.loads(orjson.dumps(state))
    assert restored == state
    new_state, signals = DEFAULT.detect(content("real ivory", ["l9"]), restored)
    assert new_state == state
    assert [s.code for s in signals] == ["promotes_prohibited", "links_actioned_listing"]
    assert [s.score for s in signals] == [0.9, 0.8]


def test_keys_and_other_events() -> None:
    assert DEFAULT.state_key(content(region="FR")) == "FR"
    review = ReviewEvent(event_id="e", event_time=T0, region="DE", review_id="r", listing_id="l9",
                         buyer_id="b", rating=1, text="real ivory", language="en",
                         verified_purchase=True, account_age_days=1)
    assert DEFAULT.state_key(review) is None
    state = DEFAULT.with_actioned(DEFAULT.initial_state(), ["l9"])
    assert DEFAULT.detect(review, state) == (state, [])


def test_invalid_params_are_refused() -> None:
    with pytest.raises(ValueError):
        ContentProhibitedDetector(ContentProhibitedParams(max_actioned=0))


# Honest posts of the tuning seeds that were flagged: each links a lawful item whose listing was held
# for its paperwork or its reviews.  The creator promoted nothing prohibited.
HONEST_LINKED = [
    ("Unboxing my new Toy water gun pump action 2-pack #ad", ["certification_missing"]),
    ("Ehrlicher Test: Ampero Powerbank 20000mAh PD #werbung", ["attribute_missing"]),
    ("Mon avis sur Soft plush teddy bear 30cm #publicité", ["certification_missing", "attribute_missing"]),
    ("Ehrlicher Test: Sonivo Bluetooth Lautsprecher wasserdicht", ["near_duplicate_reviews"]),
    ("Day 3 with the Building blocks 500 pieces #ad", ["attribute_invalid_format"]),
]


@pytest.mark.parametrize(("text", "reasons"), HONEST_LINKED)
def test_a_listing_held_for_paperwork_or_reviews_is_not_an_actioned_link(text: str, reasons: list[str]) -> None:
    state = DEFAULT.with_actioned(DEFAULT.initial_state(), ["l9"], reasons=reasons)
    assert state == DEFAULT.initial_state()
    assert DEFAULT.detect(content(text, ["l9"]), state)[1] == []


@pytest.mark.parametrize(
    "reasons",
    [
        ["restricted_item"],                                  # the semaglutide drops a creator wave links
        ["prohibited_item", "mixed_script"],
        ["recalled_product"],
        ["image_reused", "new_seller_wave", "price_below_baseline"],  # a counterfeit bag
        ["certification_missing", "prohibited_item"],         # any one reason about the item is enough
    ],
)
def test_a_listing_actioned_for_what_it_sells_is_an_actioned_link(reasons: list[str]) -> None:
    state = DEFAULT.with_actioned(DEFAULT.initial_state(), ["l9"], reasons=reasons)
    _, signals = DEFAULT.detect(content("Day 3 with the GlucoSlim drops", ["l9"]), state)
    assert [(s.code, s.evidence["listing_ids"]) for s in signals] == [("links_actioned_listing", ["l9"])]


def test_link_reasons_are_the_policys_and_unknown_reasons_are_remembered() -> None:
    d = ContentProhibitedDetector(ContentProhibitedParams(link_reasons=("safety_complaint",)))
    assert d.with_actioned(d.initial_state(), ["l1"], reasons=["safety_complaint"])["actioned"] == {"l1": None}
    assert d.with_actioned(d.initial_state(), ["l1"], reasons=["prohibited_item"])["actioned"] == {}
    # A caller that does not know why (reasons None) is taken at its word.
    assert DEFAULT.with_actioned(DEFAULT.initial_state(), ["l1"])["actioned"] == {"l1": None}
