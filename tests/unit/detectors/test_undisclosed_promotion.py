from __future__ import annotations

import msgspec
import pytest

from riskstream.contracts import ContentEvent, Signal, parse_time
from riskstream.detectors.undisclosed_promotion import (
    UndisclosedPromotionDetector,
    UndisclosedPromotionParams,
)

T0 = parse_time("2026-03-01T10:00:00Z")
DEFAULT = UndisclosedPromotionDetector(UndisclosedPromotionParams())


def content(text: str, links: tuple[str, ...] = ("l1",), paid: bool = False, disclosed: bool = False) -> ContentEvent:
    return ContentEvent(
        event_id="e1", event_time=T0, region="DE", content_id="c1", creator_id="cr1", content_kind="video",
        text=text, linked_listing_ids=list(links), paid_promotion=paid, promotion_disclosed=disclosed,
    )


def detect(event: ContentEvent, d: UndisclosedPromotionDetector = DEFAULT) -> list[Signal]:
    _, signals = d.detect(event, None)
    for s in signals:
        assert (s.code, s.entity_type, s.entity_id) == ("undisclosed_promotion", "content", "c1")
        assert s.evidence["creator_id"] == "cr1"
    return signals


@pytest.mark.parametrize(
    ("paid", "disclosed", "text", "expected"),
    [
        (True, False, "My new favourite blender", ("declared", 0.9)),
        (True, False, "My new favourite blender #ad", ("declared", 0.4)),  # told the viewer, not the platform
        (True, True, "My new favourite blender", None),
        (False, True, "use my code ANNA20", None),  # labelled on the platform
    ],
)
def test_declared(paid: bool, disclosed: bool, text: str, expected: tuple[str, float] | None) -> None:
    signals = detect(content(text, paid=paid, disclosed=disclosed))
    assert [(s.evidence["basis"], s.score) for s in signals] == ([expected] if expected else [])


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        ("Obsessed with this serum, use my code ANNA20 for 20% off", ["use my code", "ANNA20"]),
        ("Everything I wear is linked, link in bio!", ["link in bio"]),
        ("U.S.E  M.Y  C.O.D.E at checkout", ["use my code"]),  # obfuscated
        ("Mit meinem Code LISA10 spart ihr 10 %", ["mit meinem code", "LISA10"]),
        ("Rabattcode: SOMMER15", ["rabattcode", "SOMMER15"]),
        ("code promo LEA15, lien en bio", ["code promo", "lien en bio", "LEA15"]),
        ("Usa mi código MARIA5 en la tienda", ["usa mi codigo", "MARIA5"]),
        ("Guna kod RINA10 untuk diskaun", ["guna kod", "RINA10"]),
        ("ใช้โค้ด SAVE50 ลดทันที", ["ใช้โค้ด", "SAVE50"]),
        ("I hate this ad break, use my code ANNA20", ["use my code", "ANNA20"]),  # the word "ad" discloses nothing
    ],
)
def test_undeclared_affiliate_patterns(text: str, patterns: list[str]) -> None:
    (s,) = detect(content(text))
    assert (s.evidence["basis"], s.evidence["patterns"], s.score) == ("pattern", patterns, 0.6)


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("use my code ANNA20 #ad", ("l1",)),
        ("use my code ANNA20 #AD!", ("l1",)),
        ("Mit meinem Code LISA10 #Anzeige", ("l1",)),
        ("Mit meinem Code LISA10 – Werbung", ("l1",)),
        ("code promo LEA15 #publicité", ("l1",)),
        ("código MARIA5 #publi", ("l1",)),
        ("Guna kod RINA10 #iklan", ("l1",)),
        ("Paid partnership with Acme: use code ACME10", ("l1",)),
        ("link in bio for my photography portfolio", ()),  # links no listing
        ("Code red! The heatwave is here", ("l1",)),  # no code, just words
        ("My honest review of this blender", ("l1",)),
        ("", ("l1",)),
    ],
)
def test_negatives(text: str, links: tuple[str, ...]) -> None:
    assert detect(content(text, links=links)) == []


def test_linked_listing_requirement_can_be_relaxed() -> None:
    d = UndisclosedPromotionDetector(msgspec.convert({"require_linked_listing": False}, UndisclosedPromotionParams))
    assert [s.evidence["patterns"] for s in detect(content("use my code ANNA20", links=()), d)] == [
        ["use my code", "ANNA20"]
    ]


def test_code_pattern_can_be_disabled() -> None:
    d = UndisclosedPromotionDetector(UndisclosedPromotionParams(code_pattern=""))
    assert detect(content("Rabatt SOMMER15"), d) == []
    assert [s.evidence["patterns"] for s in detect(content("Rabattcode: SOMMER15"), d)] == [["rabattcode"]]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("#Ad #gifted", ["#ad", "#gifted"]),
        ("#Publicité", ["#publicite"]),
        ("#adidas #padding", []),  # whole tags only
        ("in Zusammenarbeit, Werbung", ["werbung"]),
    ],
)
def test_disclosures(text: str, found: list[str]) -> None:
    assert DEFAULT.disclosures(text) == found
