"""Policies as data: loading, exact-line validation, schema, diff, explain, sample files."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import ClassVar, Final

import jsonschema
import pytest

from riskstream.contracts import Event, EventKind, ListingEvent, Signal, parse_time
from riskstream.decisions.explain import explain
from riskstream.detectors.base import Registry, Stateless
from riskstream.detectors.prohibited_terms import ProhibitedTermsDetector, ProhibitedTermsParams
from riskstream.policy import (
    PolicyError,
    PolicyIssue,
    check,
    diff_policies,
    load_policy,
    policy_schema,
    validate_file,
    write_schema,
)

ROOT: Final = Path(__file__).resolve().parents[2]
POLICIES: Final = ROOT / "policies"


@dataclasses.dataclass(frozen=True, slots=True)
class CertParams:
    categories: tuple[str, ...] = ()
    marks: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    score: float = 0.7


class CertDetector(Stateless[CertParams]):
    """A fake detector that declares the codes it emits."""

    id: ClassVar[str] = "fake_cert"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[CertParams]] = CertParams
    codes: ClassVar[frozenset[str]] = frozenset({"mark_missing"})

    def __init__(self, params: CertParams) -> None:
        self.params = params

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ListingEvent) or event.category not in self.params.categories:
            return state, []
        missing = [m for m in self.params.marks.get(event.category, ()) if m not in event.certifications]
        if not missing:
            return state, []
        return state, [Signal(detector=self.id, code="mark_missing", entity_type="listing",
                              entity_id=event.listing_id, region=event.region, score=self.params.score,
                              event_id=event.event_id, event_time=event.event_time,
                              evidence={"missing": missing})]


REG: Final = Registry.with_detectors(ProhibitedTermsDetector, CertDetector)

GOOD: Final = """\
# EXAMPLE — not legal advice
region: EU
version: "2026.11.1"
owner: trust-and-safety-eu@example.com
change_note: first version
effective_from: 2026-11-01
detectors:
  prohibited_terms:
    mode: enforced
    params:
      prohibited: [ivory, rhino horn]
      restricted: [nicotine pouches]
    actions:
      prohibited_item: remove
      restricted_item: flag
  fake_cert:
    mode: shadow
    weight: 0.8
    params:
      categories: [toys]
      marks: {toys: [CE]}
    actions:
      mark_missing: hold
decision: {flag: 0.5, hold: 0.8, remove: 0.95}
enforcement:
  points: {remove: 3, hold: 1}
  expiry_days: 180
  seller: {warning: 3, restriction: 6, suspension: 10}
  creator: {warning: 2, restriction: 4, suspension: 8}
legal:
  prohibited_item:
    ground: illegal_content
    category: STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS
    reference: Council Regulation (EC) No 338/97 (CITES), art. 8
    explanation: Trade in specimens of protected species is prohibited.
  mark_missing:
    ground: illegal_content
    category: STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS
    reference: Directive 2009/48/EC (toy safety), art. 16
    explanation: A toy must bear the CE marking.
"""


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """The 1-based line of the nth line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth - 1]


def edit(old: str, new: str, text: str = GOOD) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


def errors(text: str, registry: Registry = REG) -> list[PolicyIssue]:
    return [i for i in check(text, registry)[1] if i.severity == "error"]


# --------------------------------------------------------------------------- loading


def test_good_policy_loads_with_typed_params() -> None:
    policy = load_policy(GOOD, REG)
    assert policy.region == "EU" and policy.version == "2026.11.1"
    assert str(policy.effective_from) == "2026-11-01"
    terms = policy.detectors["prohibited_terms"]
    assert isinstance(terms.params, ProhibitedTermsParams)
    assert terms.params.prohibited == ("ivory", "rhino horn")
    assert terms.params.min_squashed == 6  # default kept
    cert = policy.detectors["fake_cert"]
    assert isinstance(cert.params, CertParams) and cert.params.marks == {"toys": ("CE",)}
    assert (cert.mode, cert.weight) == ("shadow", 0.8)
    assert policy.action_for("prohibited_terms", "prohibited_item") == "remove"
    assert policy.enforcement.points == {"remove": 3, "hold": 1}
    assert policy.legal["mark_missing"].reference.startswith("Directive 2009/48/EC")
    assert check(GOOD, REG)[1] == []


def test_load_from_path_and_validate_file(tmp_path: Path) -> None:
    path = tmp_path / "eu.yaml"
    path.write_text(GOOD)
    assert load_policy(path, REG).region == "EU"
    assert validate_file(path, REG) == []
    path.write_text(edit("      restricted: [nicotine pouches]", "      restricted: nicotine pouches"))
    (issue,) = validate_file(path, REG)
    assert str(issue) == (f"{path}:12:19: detectors.prohibited_terms.params.restricted: "
                          "expected array, got string 'nicotine pouches'")


# --------------------------------------------------------------------------- exact lines


def test_bad_param_type_reports_its_line() -> None:
    text = edit("      restricted: [nicotine pouches]",
                "      restricted: [nicotine pouches]\n      min_squashed: six")
    (err,) = errors(text)
    assert (err.line, err.col) == (13, 21) == (line_of(text, "min_squashed: six"), 21)
    assert "min_squashed: expected integer, got string 'six'" in err.message


def test_bad_nested_param_reports_the_item_line() -> None:
    text = edit("      marks: {toys: [CE]}", "      marks:\n        toys:\n          - CE\n          - 42")
    (err,) = errors(text)
    assert err.line == line_of(text, "- 42")
    assert "detectors.fake_cert.params.marks.toys[1]: expected string, got integer 42" in err.message


def test_unknown_param_reports_its_line() -> None:
    text = edit("      categories: [toys]", "      categories: [toys]\n      treshold: 0.4")
    (err,) = errors(text)
    assert err.line == line_of(text, "treshold") == 21
    assert err.message == "unknown param 'treshold' for detector 'fake_cert'; known: categories, marks, score"


def test_unknown_detector_reports_its_line() -> None:
    text = edit("  fake_cert:\n", "  price_outlyer:\n    params: {}\n  fake_cert:\n")
    (err,) = errors(text)
    assert (err.line, err.col) == (line_of(text, "price_outlyer"), 3) == (16, 3)
    assert err.message == "unknown detector 'price_outlyer'; known: fake_cert, prohibited_terms"


def test_bad_action_reports_its_line() -> None:
    text = edit("      restricted_item: flag", "      restricted_item: ban")
    (err,) = errors(text)
    assert err.line == line_of(text, "restricted_item: ban") == 15
    assert "unknown action 'ban'" in err.message


def test_action_key_must_be_a_declared_code() -> None:
    text = edit("      mark_missing: hold", "      mark_missing: hold\n      ce_missing: flag")
    (err,) = errors(text)
    assert err.line == line_of(text, "ce_missing")
    assert err.message == "detector 'fake_cert' does not emit code 'ce_missing'; it emits mark_missing"


def test_undeclared_codes_are_a_soft_check() -> None:
    # prohibited_terms declares no `codes`; an unknown key is a warning, not an error.
    text = edit("      restricted_item: flag", "      restricted_item: flag\n      banned_item: flag")
    policy, issues = check(text, REG)
    assert policy is not None
    (warning,) = issues
    assert warning.severity == "warning" and warning.line == line_of(text, "banned_item")
    assert str(warning).startswith(f"<text>:{warning.line}:7: warning: detector 'prohibited_terms'")


def test_every_error_is_reported_at_once() -> None:
    text = GOOD
    text = edit('version: "2026.11.1"', 'version: "v2"', text)
    text = edit("region: EU", "region: EUROPE", text)
    text = edit("decision: {flag: 0.5, hold: 0.8, remove: 0.95}", "decision: {flag: 0.5, hold: 0.9, remove: 0.85}",
                text)
    text = edit("  seller: {warning: 3, restriction: 6, suspension: 10}",
                "  seller: {warning: 3, restriction: 2, suspension: 10}", text)
    text = edit("  points: {remove: 3, hold: 1}", "  points: {remove: 3, ban: 1}", text)
    text = edit("      mark_missing: hold", "      mark_missing: hold\n    extra_field: 1", text)
    with pytest.raises(PolicyError) as info:
        load_policy(text, REG)
    got = [(e.line, e.message.split(":")[0]) for e in info.value.errors]
    assert got == [
        (2, "region"),
        (3, "version 'v2' must look like YEAR.MONTH.SEQUENCE, e.g. '2026.11.1'"),
        (24, "detectors.fake_cert"),
        (25, "decision"),
        (27, "enforcement.points"),
        (29, "enforcement.seller"),
    ]
    assert str(info.value).splitlines()[0] == "<text>:2:9: region: 'EUROPE' is not one of EU, SEA, UK, US"


def test_missing_field_duplicate_key_and_yaml_errors() -> None:
    (err,) = errors(edit("owner: trust-and-safety-eu@example.com\n", ""))
    assert err.message == "<root>: missing required field 'owner'"
    (err,) = errors(edit("      restricted_item: flag", "      restricted_item: flag\n      prohibited_item: hold"))
    assert err.message == "duplicate key 'prohibited_item'" and err.line == 16
    (err,) = errors(edit("    mode: enforced", "    mode: [enforced"))
    # PyYAML notices on the next line; the message names where the list began.
    assert err.line == 10
    assert err.message == ("invalid YAML: expected ',' or ']', but got ':' "
                           "(while parsing a flow sequence at line 9)")
    (err,) = errors("- just\n- a list\n")
    assert err.message == "a policy file must be a mapping"


def test_eu_restriction_needs_a_legal_ground() -> None:
    text = edit("      restricted_item: flag", "      restricted_item: remove")
    (err,) = errors(text)
    assert err.line == line_of(text, "restricted_item: remove")
    assert "restricted_item" in err.message and "legal" in err.message
    # Outside the EU there is no statement of reasons, so no such rule.
    assert errors(edit("region: EU", "region: US", text)) == []


def test_unquoted_calendar_version_is_refused_with_a_hint() -> None:
    (err,) = errors(edit('version: "2026.11.1"', "version: 2026.11"))
    assert err.line == 3 and "expected string, got number 2026.11" in err.message


# --------------------------------------------------------------------------- licence groups (prohibited_terms)


def licensed(group: str) -> str:
    """GOOD with one `licensed_terms` group, written as a flow mapping on one line."""
    return edit("      restricted: [nicotine pouches]",
                f"      restricted: [nicotine pouches]\n      licensed_terms:\n        - {group}")


def test_a_licence_group_loads_into_typed_params() -> None:
    text = licensed("{name: pharmacy, licence_attributes: [pharmacy_licence_id], "
                    "licence_pattern: '[A-Z]{2}-[0-9]{4,8}', terms: [melatonin 5 mg, semaglutide]}")
    assert check(text, REG)[1] == []
    params = load_policy(text, REG).detectors["prohibited_terms"].params
    assert isinstance(params, ProhibitedTermsParams)
    (group,) = params.licensed_terms
    assert (group.name, group.terms, group.licence_attributes, group.licence_pattern) == (
        "pharmacy", ("melatonin 5 mg", "semaglutide"), ("pharmacy_licence_id",), "[A-Z]{2}-[0-9]{4,8}")


@pytest.mark.parametrize(("group", "message"), [
    ("{terms: [melatonin 5 mg]}",
     "detectors.prohibited_terms.params.licensed_terms[0]: missing required field 'licence_attributes'"),
    ("{licence_attributes: [pharmacy_licence_id]}",
     "detectors.prohibited_terms.params.licensed_terms[0]: missing required field 'terms'"),
    ("{licence_attributes: [pharmacy_licence_id], terms: []}",
     "detectors.prohibited_terms.params.licensed_terms[0].terms: [] should be non-empty"),
    ("{licence_attributes: [], terms: [melatonin 5 mg]}",
     "detectors.prohibited_terms.params.licensed_terms[0].licence_attributes: [] should be non-empty"),
    ("{licence_attributes: [''], terms: [melatonin 5 mg]}",
     "detectors.prohibited_terms.params.licensed_terms[0].licence_attributes[0]: '' should be non-empty"),
    ("{licence_attributes: pharmacy_licence_id, terms: [melatonin 5 mg]}",
     "detectors.prohibited_terms.params.licensed_terms[0].licence_attributes: "
     "expected array, got string 'pharmacy_licence_id'"),
    ("{licence_attributes: [pharmacy_licence_id], terms: [melatonin 5 mg], licence: pharmacy}",
     "detectors.prohibited_terms.params.licensed_terms[0]: unknown field 'licence'; "
     "expected one of licence_attributes, licence_pattern, name, terms"),
    ("{licence_attributes: [pharmacy_licence_id], terms: [melatonin 5 mg], licence_pattern: '(a+)+'}",
     "detectors.prohibited_terms.params.licensed_terms[0].licence_pattern: regex refused: nested quantifiers"),
    ("{licence_attributes: [pharmacy_licence_id], terms: [melatonin 5 mg], licence_pattern: '[A-Z'}",
     "detectors.prohibited_terms.params.licensed_terms[0].licence_pattern: regex refused: does not compile"),
    ("melatonin 5 mg",
     "detectors.prohibited_terms.params.licensed_terms[0]: expected object, got string 'melatonin 5 mg'"),
])
def test_a_malformed_licence_group_is_refused_at_its_line(group: str, message: str) -> None:
    text = licensed(group)
    with pytest.raises(PolicyError) as info:
        load_policy(text, REG)
    (err,) = info.value.errors
    assert err.line == line_of(text, "        - ") and err.message.startswith(message), err.message


def test_a_licensed_term_also_restricted_or_prohibited_is_a_warning() -> None:
    text = licensed("{licence_attributes: [licence_id], terms: [melatonin, Nicotine Pouches, Rh1no horn]}")
    policy, issues = check(text, REG)
    assert policy is not None  # it loads: the restricted and prohibited lists win
    assert [(i.severity, i.message) for i in issues] == [
        ("warning", "detectors.prohibited_terms.params.licensed_terms[0].terms[1]: 'Nicotine Pouches' is also in "
                    "restricted, so no licence clears it; list it in one place"),
        ("warning", "detectors.prohibited_terms.params.licensed_terms[0].terms[2]: 'Rh1no horn' is also in "
                    "prohibited, so no licence clears it; list it in one place"),
    ]
    assert {i.line for i in issues} == {line_of(text, "        - ")}


# --------------------------------------------------------------------------- schema


def test_schema_is_valid_and_validates_params_per_detector(tmp_path: Path) -> None:
    path = tmp_path / "schema.json"
    schema = write_schema(REG, path)
    assert json.loads(path.read_text()) == schema == policy_schema(REG)
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    defs = schema["$defs"]
    assert defs["detector.fake_cert"]["properties"]["params"]["$ref"] == "#/$defs/fake_cert.CertParams"
    assert defs["fake_cert.CertParams"]["additionalProperties"] is False
    assert defs["prohibited_terms.ProhibitedTermsParams"]["properties"]["min_squashed"] == {
        "type": "integer", "default": 6}


def _sample_registry() -> Registry:
    try:
        from riskstream.detectors.registry import default_registry
    except ImportError:  # pragma: no cover - until the lead lands detectors/registry.py
        pytest.skip("detectors.registry.default_registry does not exist yet")
    return default_registry()


def test_checked_in_schema_matches_the_default_registry() -> None:
    reg = _sample_registry()
    assert json.loads((POLICIES / "schema.json").read_text()) == policy_schema(reg), (
        "policies/schema.json is stale: regenerate with "
        "write_schema(default_registry(), 'policies/schema.json')")


# --------------------------------------------------------------------------- sample policies


SAMPLES: Final = sorted(POLICIES.glob("*.yaml"))


def test_there_are_four_sample_policies() -> None:
    assert [p.stem for p in SAMPLES] == ["eu", "sea", "uk", "us"]


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.stem)
def test_sample_policy_loads_cleanly(path: Path) -> None:
    reg = _sample_registry()
    assert [str(i) for i in validate_file(path, reg)] == []
    policy = load_policy(path, reg)
    assert policy.region == path.stem.upper()
    assert path.read_text().startswith("# EXAMPLE — not legal advice")
    # Every sample validates against the checked-in schema file as well.
    import yaml

    schema = json.loads((POLICIES / "schema.json").read_text())
    data = json.loads(json.dumps(yaml.safe_load(path.read_text()), default=str))
    jsonschema.Draft202012Validator(schema).validate(data)


# --------------------------------------------------------------------------- diff


def test_diff_shows_mode_change_added_terms_and_actions() -> None:
    old = load_policy(GOOD, REG)
    text = edit('version: "2026.11.1"', 'version: "2026.12.1"')
    text = edit("      prohibited: [ivory, rhino horn]", "      prohibited: [ivory, rhino horn, pangolin scales, tiger bone]",
                text)
    text = edit("    mode: shadow", "    mode: enforced", text)
    text = edit("      mark_missing: hold", "      mark_missing: remove", text)
    text = edit("decision: {flag: 0.5, hold: 0.8, remove: 0.95}", "decision: {flag: 0.4, hold: 0.8, remove: 0.95}",
                text)
    new = load_policy(text, REG)
    assert diff_policies(old, new) == [
        "version: 2026.11.1 -> 2026.12.1",
        "fake_cert: mode shadow -> enforced",
        "fake_cert.actions.mark_missing: hold -> remove",
        "prohibited_terms.params.prohibited: +2 terms (added: 'pangolin scales', 'tiger bone')",
        "decision.flag: 0.5 -> 0.4",
    ]
    assert diff_policies(old, old) == []


def test_diff_shows_detectors_added_and_removed_and_removed_terms() -> None:
    old = load_policy(GOOD, REG)
    text = edit("      restricted: [nicotine pouches]", "      restricted: []")
    start, end = text.index("  fake_cert:\n"), text.index("decision:")
    new = load_policy(edit("mark_missing:", "unused_code:", text[:start] + text[end:]), REG)
    assert diff_policies(old, new)[:2] == [
        "detector removed: fake_cert",
        "prohibited_terms.params.restricted: -1 term (removed: 'nicotine pouches')",
    ]
    assert diff_policies(new, old)[0] == "detector added: fake_cert (enabled, shadow)"


# --------------------------------------------------------------------------- explain


def test_explain_says_which_detectors_fire_and_what_follows() -> None:
    policy = load_policy(GOOD, REG)
    ev = ListingEvent(event_id="e1", event_time=parse_time("2026-11-02T10:00:00Z"), region="FR",
                      op="created", listing_id="l1", seller_id="s1", category="toys",
                      title="Wooden train with real 1v0ry wheels", price=20.0, currency="EUR")
    ex = explain(ev, policy, REG)
    assert [(f.detector, f.code, f.mode, f.mapped_action) for f in ex.fired] == [
        ("fake_cert", "mark_missing", "shadow", "hold"),
        ("prohibited_terms", "prohibited_item", "enforced", "remove"),
    ]
    assert [(a.action, a.mode) for a in ex.actions] == [("remove", "enforced"), ("hold", "shadow")]
    text = ex.render()
    assert "fired prohibited_terms [enforced] prohibited_item score=1.00 -> remove  terms=['ivory']" in text
    assert "listing l1: risk 1.00 -> remove (enforced)" in text


def test_explain_lists_silent_and_inapplicable_detectors() -> None:
    policy = load_policy(GOOD, REG)
    ev = ListingEvent(event_id="e2", event_time=parse_time("2026-11-02T10:00:00Z"), region="FR",
                      op="created", listing_id="l2", seller_id="s1", category="books",
                      title="A novel", price=5.0, currency="EUR")
    ex = explain(ev, policy, Registry.with_detectors(ProhibitedTermsDetector))
    assert ex.fired == () and ex.actions == ()
    assert ex.silent == ("prohibited_terms",) and ex.not_applicable == ("fake_cert",)
    assert ex.render().endswith("no action")
