from __future__ import annotations

from typing import Any

import msgspec
import pytest

from riskstream.contracts import ContentEvent, ListingEvent, parse_time
from riskstream.detectors.health_claims import HealthClaimsDetector, HealthClaimsParams

T0 = parse_time("2026-03-01T10:00:00Z")
DEFAULT = HealthClaimsDetector(HealthClaimsParams())


def content(text: str, **kw: Any) -> ContentEvent:
    base: dict[str, Any] = dict(
        event_id="e1", event_time=T0, region="DE", content_id="c1", creator_id="cr1",
        content_kind="live", text=text,
    )
    base.update(kw)
    return ContentEvent(**base)


def claims(text: str, d: HealthClaimsDetector = DEFAULT) -> dict[str, list[str]]:
    _, signals = d.detect(content(text), None)
    for s in signals:
        assert (s.code, s.entity_type, s.entity_id) == ("unsubstantiated_claim", "content", "c1")
        assert s.evidence["creator_id"] == "cr1" and 0 < s.score <= 1
    return {s.evidence["kind"]: s.evidence["claims"] for s in signals}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("This oil cures cancer, trust me", {"health": ["cures cancer"]}),
        ("It CURES C4NCER!!", {"health": ["cures cancer"]}),  # leetspeak
        ("Dieser Tee heilt Krebs", {"health": ["heilt krebs"]}),
        ("Cette tisane guérit le cancer", {"health": ["guerit le cancer"]}),
        ("Este té cura el cáncer", {"health": ["cura el cancer"]}),
        ("Jamu ini menyembuhkan kanser", {"health": ["menyembuhkan kanser"]}),
        ("สมุนไพรนี้รักษามะเร็งได้", {"health": ["รักษามะเร็ง"]}),
        ("Lose 10kg in a week with these drops", {"health": ["10kg in a week"]}),
        ("Minus 8 kg in nur 7 Tagen!", {"health": ["8 kg in nur 7 tagen"]}),
        ("Perdez 5 kilos en une semaine", {"health": ["5 kilos en une semaine"]}),
        ("Turun 10kg dalam seminggu", {"health": ["10kg dalam seminggu"]}),
        ("Abnehmen ohne Diät mit diesem Pulver", {"health": ["abnehmen ohne diat"]}),
        ("Guaranteed returns with my crypto bot", {"financial": ["guaranteed returns"]}),
        ("Double your money with forex signals", {"financial": ["double your money"]}),
        ("Rendement garanti de 12% par mois", {"financial": ["rendement garanti"]}),
        ("Pulangan dijamin, pelaburan emas", {"financial": ["pulangan dijamin"]}),
        (
            "Cures diabetes AND guaranteed profit on your investment",
            {"health": ["cures diabetes"], "financial": ["guaranteed profit"]},
        ),
    ],
)
def test_claims(text: str, expected: dict[str, list[str]]) -> None:
    assert claims(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Guaranteed returns within 30 days, free shipping",  # a refund policy
        "Free returns guaranteed on every order",
        "Join our fundraiser to find a cure for cancer",
        "I lost 10kg over a year of running",
        "Our cashback app: double your money back if you find it cheaper",  # no investment context
        "This shampoo smells like a miracle",
        "Tradesman review of a cordless drill: guaranteed returns policy",  # "trade" is not squashed into "tradesman"
        "",
    ],
)
def test_honest_negatives(text: str) -> None:
    assert claims(text) == {}


def test_financial_context_can_be_switched_off() -> None:
    d = HealthClaimsDetector(msgspec.convert({"financial_needs_context": False}, HealthClaimsParams))
    assert claims("double your money back", d) == {"financial": ["double your money"]}


def test_financial_context_is_evidence() -> None:
    _, (s,) = DEFAULT.detect(content("guaranteed returns 20% monthly"), None)
    assert s.evidence["context"] == ["20%"]


def test_policy_patterns() -> None:
    d = HealthClaimsDetector(HealthClaimsParams(health_terms=(), health_patterns=(r"\bgrow \d+ ?cm\b",)))
    assert claims("Grow 5cm taller in a month", d) == {"health": ["grow 5cm"]}
    assert claims("cures cancer", d) == {}


def test_ignores_other_events() -> None:
    listing = ListingEvent(event_id="e", event_time=T0, region="DE", op="created", listing_id="l",
                           seller_id="s", category="health", title="cures cancer", price=1.0, currency="EUR")
    assert DEFAULT.detect(listing, None) == (None, [])
