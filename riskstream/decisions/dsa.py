"""EU Digital Services Act statement of reasons (art. 17 and art. 24(5)).

``statement_of_reasons`` turns an enforced restriction into the JSON body the
DSA Transparency Database API accepts (``POST /api/v1/statement``).  The
ground comes from the policy's ``legal`` entry for the action's primary
reason code (its first), so a policy that restricts without a ground cannot
produce a statement (the loader refuses such an EU policy).

Only EU policies have statements; a shadow action was never applied and a
``flag`` only routes to a moderator, so neither has one either.

>>> from datetime import date, datetime, timezone
>>> from riskstream.contracts import EnforcementAction
>>> from riskstream.policy.model import LegalBasis, Policy
>>> policy = Policy(region="EU", version="2026.11.1", owner="tns", change_note="",
...     effective_from=date(2026, 11, 1), detectors={}, legal={"prohibited_item": LegalBasis(
...         ground="illegal_content", category="STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
...         reference="Regulation (EU) 2023/988 (GPSR) art. 5", explanation="Unsafe product.")})
>>> act = EnforcementAction(action_id="a1", idempotency_key="k1", event_id="e1",
...     event_time=datetime(2026, 11, 2, tzinfo=timezone.utc), region="DE", entity_type="listing",
...     entity_id="l1", action="remove", reason_codes=["prohibited_item"], evidence={},
...     policy_version="2026.11.1", mode="enforced")
>>> sor = statement_of_reasons(act, policy)
>>> sor["decision_visibility"], sor["decision_ground"], sor["automated_decision"]
(['DECISION_VISIBILITY_CONTENT_REMOVED'], 'DECISION_GROUND_ILLEGAL_CONTENT', 'AUTOMATED_DECISION_FULLY')
"""

from __future__ import annotations

from typing import Any, Final

from riskstream.contracts import ActionKind, EnforcementAction, EntityType
from riskstream.policy.model import LegalBasis, Policy
from riskstream.regions import REGIONS

EU_COUNTRIES: Final[tuple[str, ...]] = tuple(sorted(REGIONS["EU"]))

VISIBILITY: Final[dict[ActionKind, str]] = {
    "remove": "DECISION_VISIBILITY_CONTENT_REMOVED",
    "hold": "DECISION_VISIBILITY_CONTENT_DISABLED",
    "demote_content": "DECISION_VISIBILITY_CONTENT_DEMOTED",
}
PROVISION: Final[dict[ActionKind, str]] = {
    # A restricted seller can no longer list; a strike limits a creator's
    # features.  Both are a partial suspension of the service.
    "restrict_seller": "DECISION_PROVISION_PARTIAL_SUSPENSION",
    "strike": "DECISION_PROVISION_PARTIAL_SUSPENSION",
}
CONTENT_TYPE: Final[dict[EntityType, str]] = {
    "listing": "CONTENT_TYPE_PRODUCT",
    "seller": "CONTENT_TYPE_PRODUCT",
    "review": "CONTENT_TYPE_TEXT",
    "content": "CONTENT_TYPE_VIDEO",
    "creator": "CONTENT_TYPE_VIDEO",
    "buyer": "CONTENT_TYPE_OTHER",
}


class NoStatement(ValueError):
    """This action needs (or can have) no statement of reasons."""


def automated_decision(action: EnforcementAction) -> str:
    if action.automated_decision:
        return "AUTOMATED_DECISION_FULLY"
    return "AUTOMATED_DECISION_PARTIALLY" if action.automated_detection else "AUTOMATED_DECISION_NOT_AUTOMATED"


def _content_type(action: EnforcementAction) -> list[str]:
    if action.entity_type in ("content", "creator") and action.evidence.get("content_kind") == "post":
        return ["CONTENT_TYPE_TEXT"]
    return [CONTENT_TYPE[action.entity_type]]


def _facts(action: EnforcementAction, basis: LegalBasis, policy: Policy) -> str:
    """Facts and circumstances, in words a seller can act on (no internal scores only)."""
    parts = []
    for sig in action.evidence.get("signals", []):
        ev = sig.get("evidence", {})
        found = ev.get("terms") or ev.get("missing") or ev.get("matched_rule") or ev.get("codes")
        detail = f" ({', '.join(map(str, found)) if isinstance(found, list) else found})" if found else ""
        if ev.get("rule") and not found:
            detail = f" (marketplace rule {ev['rule']})"
        if ev.get("recall_id"):
            detail = f" (recall {ev['recall_id']}){detail}"
        parts.append(f"{sig.get('code')}{detail}")
    found_s = "; ".join(parts) or ", ".join(action.reason_codes)
    how = "automated detection" if action.automated_detection else "review"
    return (
        f"The {action.entity_type} {action.entity_id} was found by {how} to match: {found_s}. "
        f"{basis.explanation} Decision under marketplace policy {policy.region} {action.policy_version}."
    )


def statement_of_reasons(action: EnforcementAction, policy: Policy) -> dict[str, Any]:
    """The DSA Transparency Database statement for an enforced EU restriction."""
    if policy.region != "EU" or action.region not in REGIONS["EU"]:
        raise NoStatement(f"statements of reasons are for the EU; policy {policy.region}, event {action.region}")
    if action.mode != "enforced":
        raise NoStatement("a shadow action is never applied and has no statement of reasons")
    if action.action not in VISIBILITY and action.action not in PROVISION:
        raise NoStatement(f"{action.action!r} restricts nothing; no statement of reasons")
    primary = next((c for c in action.reason_codes if c in policy.legal), None)
    if primary is None:
        raise NoStatement(f"no legal ground in policy {policy.version} for {action.reason_codes}")
    basis = policy.legal[primary]
    sor: dict[str, Any] = {}
    if action.action in VISIBILITY:
        sor["decision_visibility"] = [VISIBILITY[action.action]]
    else:
        sor["decision_provision"] = PROVISION[action.action]
    if basis.ground == "illegal_content":
        sor["decision_ground"] = "DECISION_GROUND_ILLEGAL_CONTENT"
        sor["illegal_content_legal_ground"] = basis.reference
        sor["illegal_content_explanation"] = basis.explanation
    else:
        sor["decision_ground"] = "DECISION_GROUND_INCOMPATIBLE_CONTENT"
        sor["incompatible_content_ground"] = basis.reference
        sor["incompatible_content_explanation"] = basis.explanation
        sor["incompatible_content_illegal"] = "Yes" if basis.illegal else "No"
    sor["category"] = basis.category
    if basis.keywords:
        sor["category_specification"] = list(basis.keywords)
    sor["territorial_scope"] = list(EU_COUNTRIES) if basis.scope == "union" else [action.region]
    sor["content_type"] = _content_type(action)
    if sor["content_type"] == ["CONTENT_TYPE_OTHER"]:
        sor["content_type_other"] = f"{action.entity_type} account"
    day = action.event_time.date().isoformat()
    sor["content_date"] = day
    sor["application_date"] = day
    sor["decision_facts"] = _facts(action, basis, policy)
    sor["source_type"] = "SOURCE_VOLUNTARY"
    sor["automated_detection"] = "Yes" if action.automated_detection else "No"
    sor["automated_decision"] = automated_decision(action)
    sor["puid"] = action.action_id
    return sor


def statement_of_reversal(reversal: EnforcementAction, original: EnforcementAction, policy: Policy) -> dict[str, Any]:
    """The statement that an EU restriction was reversed (DSA art. 17 and art. 20(4)).

    Due only where the original restriction had a statement of reasons
    (`statement_of_reasons` raises `NoStatement` otherwise): the affected
    seller or creator is told that the decision with that ``puid`` was
    reversed, when, on which ground, and that a human decided it.
    """
    original_sor = statement_of_reasons(original, policy)
    outcome = str(reversal.evidence.get("outcome", ""))
    ground = ("internal complaint upheld (DSA art. 20(4))" if outcome == "appeal_granted"
              else "decision overturned on review by a moderator")
    kept = ("decision_visibility", "decision_provision", "decision_ground", "category", "territorial_scope")
    return {
        "puid": original.action_id,
        "decision_reversed": True,
        "reversal_puid": reversal.action_id,
        "reversal_date": reversal.event_time.date().isoformat(),
        "reversal_ground": ground,
        "automated_decision": "AUTOMATED_DECISION_NOT_AUTOMATED",  # a moderator reversed it
        "reversed_decision": {k: original_sor[k] for k in kept if k in original_sor},
    }
