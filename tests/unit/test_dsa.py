"""DSA statements of reasons, checked against golden files (reviewed like code).

Regenerate a golden file after an intended change with ``UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import pytest

from riskstream.contracts import ContentEvent, EnforcementAction, ListingEvent, Signal
from riskstream.decisions import NoStatement, decide, statement_of_reasons
from riskstream.policy import load_policy

ROOT: Final = Path(__file__).resolve().parents[2]
GOLDEN: Final = ROOT / "tests" / "golden"
T0: Final = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def _registry() -> Any:
    try:
        from riskstream.detectors.registry import default_registry
    except ImportError:  # pragma: no cover
        pytest.skip("detectors.registry.default_registry does not exist yet")
    return default_registry()


@pytest.fixture(scope="module")
def eu() -> Any:
    return load_policy(ROOT / "policies" / "eu.yaml", _registry())


def check_golden(name: str, payload: dict[str, Any]) -> None:
    path = GOLDEN / name
    text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("UPDATE_GOLDEN") or not path.exists():
        path.write_text(text)
    assert text == path.read_text(), f"{name} differs; review and rerun with UPDATE_GOLDEN=1"


def listing_removal(eu: Any) -> EnforcementAction:
    ev = ListingEvent(event_id="evt-20261102-0001", event_time=T0, region="DE", op="created",
                      listing_id="lst-7731", seller_id="sel-42", category="toys/wooden",
                      title="Holzeisenbahn", price=24.9, currency="EUR")
    sig = Signal(detector="recall_match", code="recalled_product", entity_type="listing",
                 entity_id="lst-7731", region="DE", score=1.0, event_id=ev.event_id, event_time=T0,
                 evidence={"recall_id": "SG-A12-01234-26", "terms": ["holzeisenbahn"]})
    (action,) = decide([sig], eu, ev)
    return action


def test_golden_listing_removed_for_recall(eu: Any) -> None:
    sor = statement_of_reasons(listing_removal(eu), eu)
    check_golden("dsa_sor_listing_recalled.json", sor)
    assert sor["decision_ground"] == "DECISION_GROUND_ILLEGAL_CONTENT"
    assert sor["territorial_scope"][:3] == ["AT", "BE", "BG"] and len(sor["territorial_scope"]) == 27


def test_golden_content_demoted_for_hidden_advertising(eu: Any) -> None:
    ev = ContentEvent(event_id="evt-20261102-0002", event_time=T0, region="FR", content_id="vid-9",
                      creator_id="cr-5", content_kind="video", text="code LEA15", paid_promotion=True)
    sig = Signal(detector="undisclosed_promotion", code="undisclosed_promotion", entity_type="content",
                 entity_id="vid-9", region="FR", score=0.6, event_id=ev.event_id, event_time=T0,
                 evidence={"codes": ["LEA15"]})
    (action,) = decide([sig], eu, ev)
    assert action.action == "demote_content"
    sor = statement_of_reasons(action, eu)
    check_golden("dsa_sor_content_demoted.json", sor)
    assert sor["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DEMOTED"]
    assert sor["content_type"] == ["CONTENT_TYPE_VIDEO"]


def test_incompatible_ground_and_country_scope(eu: Any) -> None:
    base = listing_removal(eu)
    held = dataclasses.replace(base, action="hold", reason_codes=["restricted_item"], region="FR")
    sor = statement_of_reasons(held, eu)
    assert sor["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert sor["incompatible_content_ground"].startswith("Marketplace Terms")
    assert sor["incompatible_content_illegal"] == "No"
    assert "illegal_content_legal_ground" not in sor
    assert sor["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_DISABLED"]
    banned = dataclasses.replace(base, reason_codes=["category_banned"], region="FR")
    assert statement_of_reasons(banned, eu)["territorial_scope"] == ["FR"]


def test_account_restriction_is_a_provision_decision(eu: Any) -> None:
    action = dataclasses.replace(listing_removal(eu), action="restrict_seller", entity_type="seller",
                                 entity_id="sel-42", reason_codes=["new_seller_burst"])
    sor = statement_of_reasons(action, eu)
    assert sor["decision_provision"] == "DECISION_PROVISION_PARTIAL_SUSPENSION"
    assert "decision_visibility" not in sor


def test_partially_automated_decision(eu: Any) -> None:
    action = dataclasses.replace(listing_removal(eu), automated_decision=False)
    assert statement_of_reasons(action, eu)["automated_decision"] == "AUTOMATED_DECISION_PARTIALLY"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"mode": "shadow"}, "shadow"),
        ({"action": "flag"}, "restricts nothing"),
        ({"reason_codes": ["no_such_code"]}, "no legal ground"),
        ({"region": "US"}, "EU"),
    ],
)
def test_no_statement(eu: Any, change: dict[str, Any], message: str) -> None:
    with pytest.raises(NoStatement, match=message):
        statement_of_reasons(dataclasses.replace(listing_removal(eu), **change), eu)


def test_no_statement_outside_the_eu(eu: Any) -> None:
    us = load_policy(ROOT / "policies" / "us.yaml", _registry())
    with pytest.raises(NoStatement, match="EU"):
        statement_of_reasons(listing_removal(eu), us)
