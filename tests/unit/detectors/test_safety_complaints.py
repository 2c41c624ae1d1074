from __future__ import annotations

from typing import Any

import msgspec
import pytest

from riskstream.contracts import ContentEvent, ReviewEvent, Signal, parse_time
from riskstream.detectors.safety_complaints import SafetyComplaintsDetector, SafetyComplaintsParams
from riskstream.detectors.text import TermMatcher

T0 = parse_time("2026-03-01T10:00:00Z")
DEFAULT = SafetyComplaintsDetector(SafetyComplaintsParams())


def review(text: str, rating: int = 1, **kw: Any) -> ReviewEvent:
    base: dict[str, Any] = dict(
        event_id="e1", event_time=T0, region="GB", review_id="r1", listing_id="l1", buyer_id="b1",
        rating=rating, text=text, language="en", verified_purchase=True, account_age_days=300,
        seller_id="s1",
    )
    base.update(kw)
    return ReviewEvent(**base)


def detect(text: str, **kw: Any) -> list[Signal]:
    return DEFAULT.detect(review(text, **kw), None)[1]


@pytest.mark.parametrize(
    ("text", "terms"),
    [
        ("The power bank caught fire on my desk", ["caught fire"]),
        ("It EXPLODED while charging!!", ["exploded"]),  # not also "explode", found inside it
        ("c@ught f.i.r.e after 10 minutes", ["caught fire"]),  # obfuscated
        ("it c a u g h t f i r e", ["caught fire"]),  # letters spaced out
        ("gave my daughter a rash!", ["rash"]),  # "!" is punctuation, not leetspeak
        ("gave my daughter a rash!!Avoid", ["rash"]),  # even with the next word glued on
        ("Burned my hand on the handle", ["burned my"]),
        ("Overheated and melted the socket", ["overheated", "melted"]),
        ("choking hazard, the eyes come off", ["choking hazard"]),
        ("No joke, it caught fire", ["caught fire"]),  # "no" is outside the negation window
        ("Das Ladegerät hat Feuer gefangen", ["feuer gefangen"]),
        ("Le chargeur a pris feu dans la nuit", ["a pris feu"]),
        ("Les piles ont pris feu", ["pris feu"]),
        ("La batería se incendió", ["se incendio"]),
        ("Pengecas ini terbakar dan berasap", ["terbakar", "berasap"]),
        ("ชาร์จไปสักพักแล้วไฟไหม้", ["ไฟไหม้"]),  # Thai: no spaces between words
        ("แบตระเบิด!", ["ระเบิด"]),
        ("didn't explode but it caught fire", ["caught fire"]),
    ],
)
def test_positives(text: str, terms: list[str]) -> None:
    (s,) = detect(text)
    assert s.evidence["terms"] == terms
    assert (s.code, s.entity_type, s.entity_id) == ("safety_complaint", "listing", "l1")


@pytest.mark.parametrize(
    "text",
    [
        "This charger is fire, charges my phone in 20 minutes",  # slang
        "Love the fire red colour",
        "Absolutely fire product 🔥🔥",
        "No rash at all, gentle on my skin",
        "Did not catch fire even after 10 hours, unlike my old one",
        "Hat kein Feuer gefangen, alles gut",
        "Don't make a rash decision, this one is worth it",
        "Sales exploded in popularity for a reason",
        "Hot deal, arrived quickly",
        "สินค้าไม่ระเบิด ใช้ดีมาก",  # Thai: "did not explode"
        "เปิดไฟไหม",  # "turn on the light?" - the question particle, not "burnt"
        "",
    ],
)
def test_honest_negatives(text: str) -> None:
    assert detect(text) == []


def test_negated_terms_are_kept_as_evidence() -> None:
    (s,) = detect("didn't explode but it caught fire")
    assert s.evidence["negated_terms"] == ["explode"]


@pytest.mark.parametrize(("rating", "score"), [(1, 0.9), (2, 0.9), (3, 0.7), (5, 0.7)])
def test_score_rises_with_low_rating(rating: int, score: float) -> None:
    (s,) = detect("it caught fire", rating=rating)
    assert s.score == pytest.approx(score)


def test_policy_terms_replace_defaults() -> None:
    d = SafetyComplaintsDetector(msgspec.convert({"terms": ["fire hazard"], "negations": []}, SafetyComplaintsParams))
    assert [s.evidence["terms"] for s in d.detect(review("FIRE HAZARD!!"), None)[1]] == [["fire hazard"]]
    assert d.detect(review("it caught fire"), None)[1] == []
    assert d.detect(review("not a fire hazard"), None)[1] != []  # negations switched off


def test_ignores_other_events_and_keeps_no_state() -> None:
    content = ContentEvent(event_id="c", event_time=T0, region="GB", content_id="c1", creator_id="cr",
                           content_kind="post", text="it caught fire")
    assert DEFAULT.detect(content, None) == (None, [])
    assert DEFAULT.state_key(review("x")) is None


@pytest.mark.parametrize(
    ("terms", "text", "found"),
    [
        (["caught fire", "ไฟไหม้"], "It CAUGHT FIRE!! ชาร์จแล้วไฟไหม้", ["caught fire", "ไฟไหม้"]),
        (["ไฟไหม้"], "ไฟไ\u200bหม้", ["ไฟไหม้"]),  # zero-width space inserted
        (["rash"], "rashes everywhere", []),  # short terms: whole words only
        (["explode", "exploded"], "it EXPL0DED", ["exploded"]),  # the longer term only
        (["gatal gatal", "ruam"], "ruam dan gatal-gatal", ["ruam", "gatal gatal"]),  # in text order
    ],
)
def test_term_matching(terms: list[str], text: str, found: list[str]) -> None:
    assert TermMatcher(terms, drop_contained=True).find(text) == found
