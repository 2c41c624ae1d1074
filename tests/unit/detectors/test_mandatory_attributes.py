from __future__ import annotations

from typing import Any

import msgspec
import pytest

from riskstream.contracts import ListingEvent, RecallNotice, parse_time
from riskstream.detectors.mandatory_attributes import MandatoryAttributesDetector, MandatoryAttributesParams

T0 = parse_time("2026-03-01T10:00:00Z")

EU = MandatoryAttributesParams(
    required_attributes={"toys": ("eu_responsible_person",), "electronics": ("weee_number",)},
    required_certifications={"toys": ("CE",), "electronics/radio": ("CE", "RED")},
)
US = MandatoryAttributesParams(
    required_attributes={"electronics/radio": ("fcc_id",)},
    attribute_formats={"fcc_id": r"[A-Z0-9]{3,5}-?[A-Z0-9]{1,14}"},
)
EU_TOY_OK: dict[str, Any] = {"attributes": {"eu_responsible_person": "Spielwaren GmbH, Berlin"}, "certifications": ["CE"]}


def listing(**kw: Any) -> ListingEvent:
    base: dict[str, Any] = dict(
        event_id="e1", event_time=T0, region="DE", op="created", listing_id="l1",
        seller_id="s1", category="toys", title="Holzeisenbahn", price=10.0, currency="EUR",
    )
    base.update(kw)
    return ListingEvent(**base)


def found(params: MandatoryAttributesParams, event: ListingEvent) -> dict[str, Any]:
    _, signals = MandatoryAttributesDetector(params).detect(event, None)
    out: dict[str, Any] = {}
    for s in signals:
        assert s.entity_id == event.listing_id and 0 < s.score <= 1
        out[s.code] = s.evidence.get("missing", s.evidence.get("invalid"))
    return out


@pytest.mark.parametrize(
    ("params", "event", "expected"),
    [
        (EU, listing(**EU_TOY_OK), {}),
        (EU, listing(category="toys/dolls", title="Poupée", attributes=EU_TOY_OK["attributes"]),
         {"certification_missing": ["CE"]}),
        # Certification spelled differently is the same certification; UKCA is not CE.
        (EU, listing(attributes=EU_TOY_OK["attributes"], certifications=["c.e."]), {}),
        (EU, listing(attributes=EU_TOY_OK["attributes"], certifications=[" ce "]), {}),
        (EU, listing(attributes=EU_TOY_OK["attributes"], certifications=["UKCA"]), {"certification_missing": ["CE"]}),
        # Blank counts as missing; attribute names ignore case.
        (EU, listing(attributes={"eu_responsible_person": " "}, certifications=["CE"]),
         {"attribute_missing": ["eu_responsible_person"]}),
        (EU, listing(attributes={"EU_Responsible_Person": "Juguetes SL, Madrid"}, certifications=["CE"], region="ES"), {}),
        # Both problems at once.
        (EU, listing(title="Muñeca"), {"certification_missing": ["CE"], "attribute_missing": ["eu_responsible_person"]}),
        # Look-alike categories: no rule.
        (EU, listing(category="toyshop_supplies"), {}),
        (EU, listing(category="books/toys"), {}),
        # Ancestor requirements add up.
        (EU, listing(category="electronics/radio/walkie_talkie", certifications=["CE"]),
         {"certification_missing": ["RED"], "attribute_missing": ["weee_number"]}),
        # US radio: FCC id present and well-formed, malformed, missing.
        (US, listing(region="US", category="electronics/radio", attributes={"fcc_id": "2ABCD-XYZ123"}, currency="USD"), {}),
        (US, listing(region="US", category="electronics/radio", attributes={"FCC_ID": "2ABCDXYZ123"}, currency="USD"), {}),
        (US, listing(region="US", category="electronics/radio", attributes={"fcc_id": "n/a"}, currency="USD"),
         {"attribute_invalid_format": {"fcc_id": {"value": "n/a", "pattern": US.attribute_formats["fcc_id"]}}}),
        (US, listing(region="US", category="electronics/radio", currency="USD"), {"attribute_missing": ["fcc_id"]}),
        # Format binds only where the attribute is required.
        (US, listing(region="US", category="toys", attributes={"fcc_id": "n/a"}, currency="USD"), {}),
        (EU, listing(op="removed"), {}),
        (MandatoryAttributesParams(), listing(category="electronics/radio"), {}),
    ],
)
def test_mandatory_attributes(
    params: MandatoryAttributesParams, event: ListingEvent, expected: dict[str, Any]
) -> None:
    assert found(params, event) == expected


def test_ignores_other_event_kinds() -> None:
    recall = RecallNotice(event_id="r", event_time=T0, region="DE", recall_id="R1", product_terms=["toy"])
    assert MandatoryAttributesDetector(EU).detect(recall, None) == (None, [])


def test_params_load_from_plain_policy_data() -> None:
    raw = {"required_certifications": {"Toys": ["CE"]}, "attribute_formats": {"gtin": r"\d{13}"},
           "required_attributes": {"toys": ["gtin"]}}
    params = msgspec.convert(raw, MandatoryAttributesParams)
    got = found(params, listing(category="toys", certifications=["CE"], attributes={"gtin": "123"}))
    assert list(got) == ["attribute_invalid_format"]


def test_bad_regex_fails_at_construction() -> None:
    with pytest.raises(Exception, match=r"unterminated|missing"):
        MandatoryAttributesDetector(MandatoryAttributesParams(attribute_formats={"x": "[a-"}))
