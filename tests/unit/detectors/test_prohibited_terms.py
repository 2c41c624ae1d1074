"""prohibited_terms: term lists, and restricted terms a licence clears (`licensed_terms`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from riskstream.contracts import ListingEvent, parse_time
from riskstream.detectors.prohibited_terms import (
    LicensedTerms,
    ProhibitedTermsDetector,
    ProhibitedTermsParams,
)
from riskstream.detectors.registry import default_registry
from riskstream.policy import load_policy

ROOT = Path(__file__).resolve().parents[3]
T0 = parse_time("2026-03-01T10:00:00+01:00")
PHARMACY_PATTERN = "[A-Z]{2}-[A-Z0-9-]{4,32}"

PARAMS = ProhibitedTermsParams(
    prohibited=("fentanyl", "elephant ivory"),
    restricted=("ohne Rezept", "sans ordonnance", "kratom"),
    licensed_terms=(
        LicensedTerms(name="pharmacy", licence_attributes=("pharmacy_licence_id", "eu_online_pharmacy_logo_id"),
                      licence_pattern=PHARMACY_PATTERN,
                      terms=("melatonin 5 mg", "Semaglutid", "sémaglutide", "semaglutida", "เซมากลูไทด์")),
        LicensedTerms(name="tobacco", licence_attributes=("tobacco_licence_id",), licence_pattern="TOB-[0-9]{6}",
                      terms=("nicotine pouches", "Nikotinbeutel", "sachets de nicotine")),
    ),
)
DETECTOR = ProhibitedTermsDetector(PARAMS)
PHARMACY = {"pharmacy_licence_id": "DE-APO-1234567"}


def listing(title: str, attributes: dict[str, str] | None = None, **kw: Any) -> ListingEvent:
    base: dict[str, Any] = dict(
        event_id="e1", event_time=T0, region="DE", op="created", listing_id="l1", seller_id="s1",
        category="health/supplements/melatonin", title=title, price=11.0, currency="EUR",
        attributes=attributes or {},
    )
    base.update(kw)
    return ListingEvent(**base)


def found(event: ListingEvent, detector: ProhibitedTermsDetector = DETECTOR) -> list[tuple[str, list[str]]]:
    return [(s.code, s.evidence["terms"]) for s in detector.detect(event, None)[1]]


def restricted_evidence(event: ListingEvent, detector: ProhibitedTermsDetector = DETECTOR) -> dict[str, Any]:
    (sig,) = [s for s in detector.detect(event, None)[1] if s.code == "restricted_item"]
    return sig.evidence


@pytest.mark.parametrize(("title", "term"), [
    ("Melatonin 5 mg Einschlaf-Tabletten 120 Stück", "melatonin 5 mg"),   # de
    ("Melatonin 5 mg sleep aid, 120 tablets", "melatonin 5 mg"),          # en
    ("Semaglutid Fertigpen 0,25 mg", "Semaglutid"),                       # de
    ("Stylo de sémaglutide, sur ordonnance", "sémaglutide"),              # fr
    ("Stylo de semaglutide", "sémaglutide"),                              # fr, accent dropped
    ("Pluma de semaglutida 1 mg", "semaglutida"),                         # es
    ("ปากกา เซมากลูไทด์ 1 มก.", "เซมากลูไทด์"),                            # th (unspaced script)
    ("S3maglut1d Pen", "Semaglutid"),                                     # leetspeak
])
def test_pharmacy_licence_clears_its_terms_in_every_language(title: str, term: str) -> None:
    ((code, terms),) = found(listing(title))  # fires without the licence
    assert code == "restricted_item" and term in terms
    assert found(listing(title, PHARMACY)) == []
    assert found(listing(title, {"EU_Online_Pharmacy_Logo_ID": " NL-APO-7654321 "})) == []  # any listed name, any case


def test_unlicensed_listing_is_held_and_the_evidence_says_the_licence_is_missing() -> None:
    ev = restricted_evidence(listing("Melatonin 5 mg sleep aid", {"colour": "white"}))
    assert ev["terms"] == ["melatonin 5 mg"]
    assert ev["licences"] == [{"licence": "pharmacy", "terms": ["melatonin 5 mg"], "problem": "missing",
                               "required_any_of": ["pharmacy_licence_id", "eu_online_pharmacy_logo_id"]}]
    blank = restricted_evidence(listing("Melatonin 5 mg sleep aid", {"pharmacy_licence_id": "   "}))
    assert blank["licences"][0]["problem"] == "missing"


@pytest.mark.parametrize("value", ["pending", "18+", "de-apo-1234567", "DE-APO-1234567 extra", "DE-1"])
def test_a_value_not_matching_the_pattern_in_full_is_an_invalid_licence(value: str) -> None:
    ev = restricted_evidence(listing("Melatonin 5 mg Tabletten", {"pharmacy_licence_id": value}))
    assert ev["terms"] == ["melatonin 5 mg"]
    assert ev["licences"] == [{"licence": "pharmacy", "terms": ["melatonin 5 mg"], "problem": "invalid",
                               "values": {"pharmacy_licence_id": value.strip()}, "pattern": PHARMACY_PATTERN}]


def test_one_valid_value_among_the_licence_attributes_is_enough() -> None:
    attrs = {"pharmacy_licence_id": "pending", "eu_online_pharmacy_logo_id": "DE-APO-1234567"}
    assert found(listing("Melatonin 5 mg", attrs)) == []


def test_a_licence_clears_only_its_own_group() -> None:
    # A pharmacy licence does not clear nicotine pouches, and a tobacco licence does not clear melatonin.
    pouches = listing("Nikotinbeutel / nicotine pouches ice mint", PHARMACY, category="tobacco/nicotine_pouches")
    ev = restricted_evidence(pouches)
    assert sorted(ev["terms"]) == ["Nikotinbeutel", "nicotine pouches"]
    assert [(x["licence"], x["problem"]) for x in ev["licences"]] == [("tobacco", "missing")]
    assert found(listing("Sachets de nicotine menthe", {"tobacco_licence_id": "TOB-123456"}, region="FR")) == []
    wrong = restricted_evidence(listing("Melatonin 5 mg", {"tobacco_licence_id": "TOB-123456"}))
    assert [(x["licence"], x["problem"]) for x in wrong["licences"]] == [("pharmacy", "missing")]
    # Both groups in one listing with one licence: the other group's terms are still held.
    both = restricted_evidence(listing("Melatonin 5 mg + nicotine pouches bundle", PHARMACY))
    assert both["terms"] == ["nicotine pouches"]
    assert [x["licence"] for x in both["licences"]] == ["tobacco"]


def test_restricted_and_prohibited_terms_are_never_cleared_by_a_licence() -> None:
    assert found(listing("Semaglutid ohne Rezept", PHARMACY)) == [("restricted_item", ["ohne Rezept"])]
    assert "licences" not in restricted_evidence(listing("Semaglutid ohne Rezept", PHARMACY))
    assert found(listing("Fentanyl patches, melatonin 5 mg", PHARMACY)) == [("prohibited_item", ["fentanyl"])]
    # Unlicensed: restricted and licensed terms are reported in one signal, the licence in its evidence.
    ev = restricted_evidence(listing("Sémaglutide sans ordonnance"))
    assert ev["terms"][0] == "sans ordonnance" and "sémaglutide" in ev["terms"]
    assert [(x["licence"], x["problem"]) for x in ev["licences"]] == [("pharmacy", "missing")]
    assert ev["licences"][0]["terms"] == ev["terms"][1:]


def test_a_term_in_two_groups_is_cleared_by_either_licence() -> None:
    d = ProhibitedTermsDetector(ProhibitedTermsParams(licensed_terms=(
        LicensedTerms(name="pharmacy", licence_attributes=("pharmacy_licence_id",), terms=("prescription drugs",)),
        LicensedTerms(name="wholesale", licence_attributes=("wholesale_licence_id",), terms=("Prescription Drugs",)),
    )))
    ev = listing("prescription drugs wholesale")
    assert [(x["licence"], x["terms"]) for x in restricted_evidence(ev, d)["licences"]] == [
        ("pharmacy", ["Prescription Drugs"]), ("wholesale", ["Prescription Drugs"])]
    assert found(listing("prescription drugs wholesale", {"wholesale_licence_id": "W1"}), d) == []
    assert found(listing("prescription drugs wholesale", {"pharmacy_licence_id": "P1"}), d) == []


def test_without_a_pattern_any_non_empty_value_is_a_licence() -> None:
    d = ProhibitedTermsDetector(ProhibitedTermsParams(licensed_terms=(
        LicensedTerms(licence_attributes=("licence_id",), terms=("kratom",)),)))
    assert found(listing("Kratom powder", {"licence_id": "anything"}), d) == []
    (sig,) = d.detect(listing("Kratom powder"), None)[1]
    assert sig.evidence["licences"][0]["licence"] == "licence_id"  # unnamed: the first attribute


def test_exceptions_apply_to_licensed_terms_too() -> None:
    d = ProhibitedTermsDetector(ProhibitedTermsParams(exceptions=("melatonin 5 mg free",), licensed_terms=(
        LicensedTerms(licence_attributes=("pharmacy_licence_id",), terms=("melatonin 5 mg",)),)))
    assert found(listing("Sleep tea, melatonin 5 mg free"), d) == []
    assert found(listing("Melatonin 5 mg"), d) == [("restricted_item", ["melatonin 5 mg"])]


def test_params_convert_from_policy_data() -> None:
    raw = msgspec.json.decode(msgspec.json.encode(PARAMS))
    assert raw["licensed_terms"][1] == {"terms": ["nicotine pouches", "Nikotinbeutel", "sachets de nicotine"],
                                        "licence_attributes": ["tobacco_licence_id"],
                                        "licence_pattern": "TOB-[0-9]{6}", "name": "tobacco"}
    assert msgspec.convert(raw, ProhibitedTermsParams) == PARAMS


# --------------------------------------------------------------------------- the shipped EU policy


@pytest.fixture(scope="module")
def eu() -> ProhibitedTermsDetector:
    policy = load_policy(ROOT / "policies" / "eu.yaml", default_registry())
    rule = policy.rule("prohibited_terms")
    assert rule is not None
    return ProhibitedTermsDetector(rule.params)


def test_eu_pharmacy_group_uses_category_rules_licence() -> None:
    policy = load_policy(ROOT / "policies" / "eu.yaml", default_registry())
    terms, cats = policy.rule("prohibited_terms"), policy.rule("category_rules")
    assert terms is not None and cats is not None
    (pharmacy,) = [g for g in terms.params.licensed_terms if g.name == "pharmacy"]
    assert pharmacy.licence_attributes == cats.params.licence_attributes
    assert pharmacy.licence_pattern == cats.params.licence_pattern


@pytest.mark.parametrize(("region", "title", "attributes", "expected"), [
    # The simulator's near-miss: a licensed pharmacy's melatonin (DE, NL) passes.
    ("DE", "Melatonin 5 mg Einschlaf-Tabletten 120 Stück", {"pharmacy_licence_id": "DE-APO-1234567"}, []),
    ("NL", "Melatonin 5 mg sleep aid, 120 tablets", {"eu_online_pharmacy_logo_id": "NL-APO-7654321"}, []),
    ("DE", "Melatonin 5 mg Einschlaf-Tabletten 120 Stück", {}, [("restricted_item", ["melatonin 5 mg"])]),
    ("DE", "Melatonin 5 mg Einschlaf-Tabletten", {"pharmacy_licence_id": "pending"},
     [("restricted_item", ["melatonin 5 mg"])]),
    ("FR", "Stylo sémaglutide", {"pharmacy_licence_id": "FR-APO-1234567"}, []),
    # No licence clears an offer without prescription, GLP-1 "drops", or nicotine pouches.
    ("DE", "Abnehmspritze ohne Rezept", {"pharmacy_licence_id": "DE-APO-1234567"},
     [("restricted_item", ["ohne Rezept"])]),
    ("ES", "glp-1 drops", {"pharmacy_licence_id": "ES-APO-1234567"}, [("restricted_item", ["glp-1 drops"])]),
    ("DE", "Nicotine pouches ice mint", {"pharmacy_licence_id": "DE-APO-1234567"},
     [("restricted_item", ["nicotine pouches"])]),
])
def test_eu_policy(eu: ProhibitedTermsDetector, region: str, title: str, attributes: dict[str, str],
                   expected: list[tuple[str, list[str]]]) -> None:
    assert found(listing(title, attributes, region=region), eu) == expected
