from __future__ import annotations

import copy
from typing import Any

import msgspec
import pytest

from riskstream.contracts import ListingEvent, ReviewEvent, parse_time
from riskstream.detectors.category_rules import CategoryRulesDetector, CategoryRulesParams, category_rule_for

T0 = parse_time("2026-03-01T10:00:00+01:00")

EU = CategoryRulesParams(
    banned=("weapons/firearms", "wildlife/ivory"),
    banned_by_country={"DE": ("militaria/insignia",), "FR": ("gambling/loot_boxes",)},
    restricted=("pharmacy/prescription",),
    restricted_by_country={"ES": ("fireworks",)},
    licence_attributes=("licence_id", "permit_number"),
)


def listing(**kw: Any) -> ListingEvent:
    base: dict[str, Any] = dict(
        event_id="e1", event_time=T0, region="DE", op="created", listing_id="l1",
        seller_id="s1", category="toys", title="Wooden train", price=10.0, currency="EUR",
    )
    base.update(kw)
    return ListingEvent(**base)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        # Banned region-wide, exact, sub-category, odd case and spacing.
        (listing(category="weapons/firearms"), [("category_banned", "banned", "weapons/firearms")]),
        (listing(category=" Weapons / Firearms / Rifles "), [("category_banned", "banned", "weapons/firearms")]),
        (listing(region="FR", category="wildlife/ivory", title="Ivoire sculpté"),
         [("category_banned", "banned", "wildlife/ivory")]),
        # Honest look-alikes: a toy gun in toys, a sibling category, a name sharing a prefix.
        (listing(category="toys/toy_guns", title="Spielzeugpistole / toy gun with caps"), []),
        (listing(category="weapons/replicas"), []),
        (listing(category="weapons/firearms_books"), []),
        # Banned in one country only.
        (listing(region="DE", category="militaria/insignia/badges", title="Abzeichen"),
         [("category_banned", "banned_in_country", "militaria/insignia")]),
        (listing(region="AT", category="militaria/insignia/badges"), []),
        (listing(region="FR", category="gambling/loot_boxes", title="Coffre à butin"),
         [("category_banned", "banned_in_country", "gambling/loot_boxes")]),
        (listing(region="DE", category="gambling/loot_boxes"), []),
        # Restricted: licence missing, blank, present (any accepted name, any case).
        (listing(category="pharmacy/prescription"), [("licence_missing", "restricted", "pharmacy/prescription")]),
        (listing(category="pharmacy/prescription", attributes={"licence_id": "   "}),
         [("licence_missing", "restricted", "pharmacy/prescription")]),
        (listing(category="pharmacy/prescription", attributes={"licence_id": "DE-APO-1234"}), []),
        (listing(category="pharmacy/prescription", attributes={"Permit_Number": "77"}), []),
        (listing(category="pharmacy/otc"), []),
        # Restricted in one country only.
        (listing(region="ES", category="fireworks/rockets", title="Cohetes de fuegos artificiales"),
         [("licence_missing", "restricted_in_country", "fireworks")]),
        (listing(region="PT", category="fireworks/rockets"), []),
        # Removed listings are not judged.
        (listing(op="removed", category="weapons/firearms"), []),
    ],
)
def test_category_rules(event: ListingEvent, expected: list[tuple[str, str, str]]) -> None:
    _, signals = CategoryRulesDetector(EU).detect(event, None)
    assert [(s.code, s.evidence["rule"], s.evidence["matched_rule"]) for s in signals] == expected
    for s in signals:
        assert s.entity_type == "listing" and s.entity_id == event.listing_id
        assert s.evidence["category"] == event.category
        assert 0 < s.score <= 1


def test_country_rule_reports_country_and_banned_beats_restricted() -> None:
    params = CategoryRulesParams(banned_by_country={"DE": ("knives",)}, restricted=("knives",))
    _, signals = CategoryRulesDetector(params).detect(listing(category="knives/butterfly"), None)
    assert [s.code for s in signals] == ["category_banned"]
    assert signals[0].evidence["country"] == "DE" and signals[0].score == 1.0
    _, signals = CategoryRulesDetector(params).detect(listing(region="NL", category="knives"), None)
    assert [s.code for s in signals] == ["licence_missing"]
    assert signals[0].evidence["required_any_of"] == ["licence_id"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("WL-2026-00042", []), ("wl-2026-00042", ["licence_invalid"]), ("pending", ["licence_invalid"])],
)
def test_licence_pattern(value: str, expected: list[str]) -> None:
    params = CategoryRulesParams(restricted=("alcohol",), licence_pattern=r"WL-\d{4}-\d{5}")
    _, signals = CategoryRulesDetector(params).detect(
        listing(category="alcohol/spirits", attributes={"licence_id": value}), None
    )
    assert [s.code for s in signals] == expected


def test_defaults_are_a_no_op() -> None:
    d = CategoryRulesDetector(CategoryRulesParams())
    assert d.detect(listing(category="weapons/firearms"), None) == (None, [])
    assert d.state_key(listing()) is None


def test_ignores_other_event_kinds() -> None:
    review = ReviewEvent(event_id="r", event_time=T0, region="DE", review_id="r1", listing_id="l1",
                         buyer_id="b1", rating=1, text="weapons/firearms", language="de",
                         verified_purchase=True, account_age_days=3)
    assert CategoryRulesDetector(EU).detect(review, None) == (None, [])


def test_params_load_from_plain_policy_data() -> None:
    raw = {"banned": ["a"], "banned_by_country": {"DE": ["b/c"]}, "licence_attributes": ["lic"]}
    params = msgspec.convert(raw, CategoryRulesParams)
    assert params.banned_by_country == {"DE": ("b/c",)}
    _, signals = CategoryRulesDetector(params).detect(listing(category="B/C/d"), None)
    assert [s.code for s in signals] == ["category_banned"]


def test_params_are_not_mutated() -> None:
    before = copy.deepcopy(EU)
    CategoryRulesDetector(EU).detect(listing(category="weapons/firearms"), None)
    assert before == EU


@pytest.mark.parametrize(
    ("category", "rules", "expected"),
    [("a/b", ["a"], "a"), ("a", ["a/b"], None), ("ab", ["a"], None), ("x", ["", "x"], "x"), ("A//B", ["a/b"], "a/b")],
)
def test_category_rule_for(category: str, rules: list[str], expected: str | None) -> None:
    assert category_rule_for(category, rules) == expected
