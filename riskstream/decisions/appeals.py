"""Appeals: a moderator overturns an action, or grants an appeal, and the action is reversed.

Pure functions; the stream layer wires them (the feedback agent looks the
original action up by `action_id`).  `reversal` turns the outcome into a
reversal record for ``risk.actions.v1``: action ``allow`` on the same entity,
``reverses`` naming the original, decided by a human.  Its idempotency key
depends only on the original action, so an ``overturned`` followed by an
``appeal_granted`` (or a replayed feedback event) yields the same record, and
consumers drop the second.  `ledger_after_reversal` removes the original's
points from the seller's or creator's ledger and recomputes the level.

>>> from riskstream.contracts import ModerationFeedback, parse_time
>>> t = parse_time("2026-01-02T00:00:00Z")
>>> original = EnforcementAction(action_id="a1", idempotency_key="k1", event_id="e1", event_time=t,
...     region="DE", entity_type="listing", entity_id="l1", action="remove", reason_codes=["prohibited_item"],
...     evidence={"seller_id": "s1"}, policy_version="2026.11.1", mode="enforced")
>>> fb = ModerationFeedback(event_id="f1", event_time=t, region="DE", action_id="a1", rule="prohibited_terms",
...     outcome="appeal_granted")
>>> r = reversal(fb, original)
>>> r.action, r.entity_id, r.evidence["reverses"], r.reason_codes
('allow', 'l1', 'a1', ['reversal_appeal_granted', 'prohibited_item'])
>>> reversal(dataclasses.replace(fb, outcome="confirmed"), original) is None
True
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Final

from riskstream.contracts import EnforcementAction, ModerationFeedback, stable_id
from riskstream.decisions.ledger import Ledger, level_for
from riskstream.policy.model import Policy

REVERSING_OUTCOMES: Final = frozenset({"overturned", "appeal_granted"})


def reversal(feedback: ModerationFeedback, original: EnforcementAction) -> EnforcementAction | None:
    """The reversal record for `original`, or None (outcome confirmed, or nothing to reverse)."""
    if feedback.outcome not in REVERSING_OUTCOMES or feedback.action_id != original.action_id:
        return None
    if original.mode != "enforced" or original.action == "allow" or "reverses" in original.evidence:
        return None
    key = stable_id("reversal", original.action_id)
    return EnforcementAction(
        action_id=stable_id("reversal-action", original.action_id),
        idempotency_key=key,
        event_id=feedback.event_id,
        event_time=feedback.event_time,
        region=original.region,
        entity_type=original.entity_type,
        entity_id=original.entity_id,
        action="allow",
        reason_codes=[f"reversal_{feedback.outcome}", *original.reason_codes],
        evidence={
            "reverses": original.action_id,
            "reversed_action": original.action,
            "outcome": feedback.outcome,
            "rule": feedback.rule,
            "feedback_event_id": feedback.event_id,
            **{k: original.evidence[k] for k in ("seller_id", "creator_id") if k in original.evidence},
        },
        policy_version=original.policy_version,
        mode="enforced",
        risk_score=0.0,
        automated_detection=original.automated_detection,
        automated_decision=False,  # a moderator decided
    )


def ledger_after_reversal(ledger: Ledger, reversed_action_id: str, now: datetime, policy: Policy) -> Ledger:
    """`ledger` without the reversed action's points, its level recomputed (idempotent)."""
    kept = tuple(v for v in ledger.violations if v.action_id != reversed_action_id)
    if len(kept) == len(ledger.violations):
        return ledger
    thresholds = policy.enforcement.seller if ledger.subject_type == "seller" else policy.enforcement.creator
    new = dataclasses.replace(ledger, violations=kept)
    return dataclasses.replace(new, level=level_for(new.points(now, policy), thresholds))


APPEALABLE_EVIDENCE: Final = ("seller_id", "creator_id", "detectors", "content_kind", "rules")


def appealable(action: EnforcementAction) -> EnforcementAction | None:
    """What the appeals index keeps of an enforced action (None: nothing to appeal).

    The evidence is trimmed to what a reversal, its ledger entry and its
    statement need (no signal evidence, no free text): one record per enforced
    action is kept for as long as an appeal can come.
    """
    if action.mode != "enforced" or action.action == "allow" or "reverses" in action.evidence:
        return None
    evidence: dict[str, Any] = {k: action.evidence[k] for k in APPEALABLE_EVIDENCE if k in action.evidence}
    return dataclasses.replace(action, evidence=evidence)
