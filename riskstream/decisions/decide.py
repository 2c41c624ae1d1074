"""From signals to enforcement actions: what we do about what we saw.

Signals on one entity combine into a risk score, a noisy-or of the signal
scores each scaled by its detector's policy weight:
``risk = 1 - prod(1 - weight * score)``.  The candidate actions are the
policy's mapped action for every signal code plus the action the risk score
reaches under ``decision`` thresholds (flag / hold / remove); the strongest
candidate wins for the entity, and ``allow`` produces nothing.

Shadow and enforced rules never mix.  Signals from enforced rules decide the
enforced action; signals from shadow rules are decided separately and
emitted as a ``mode="shadow"`` action that is recorded and never enforced.
An entity hit by both gets both records, so a shadow rule's would-be
decisions can be measured without ever touching what is enforced.

Idempotency key: ``stable_id(event_id, entity_type, entity_id, action, mode)``.
A *back-filled* entity - one of the event's own type but not the event's own
(a skew detector flagging earlier reviews of its listing) - accrues its points
to its own seller (the signal's ``seller_id`` evidence), not to the trigger's.

A detector that is ``decided_alone`` (`riskstream.detectors.base`: its signal
on an entity comes with whichever event completes what it looks for, which is
arrival order; a wave back-filling its earlier listings, `new_seller_wave`)
has a lane of its own per entity: its signals there are decided by the
policy's rule for their codes alone (no risk threshold: the score describes
the wave as it stood when that arrival came), never combined with the event's
other signals, and the key is ``stable_id("alone", detector, entity_type,
entity_id, action, mode)``: no event id.  So a listing of a wave gets the same
action under the same key whether it arrived before the wave was complete (and
was back-filled) or after, and whichever arrival completed it.  The detector
signals an entity once, so the key has one owner: the decide partition of the
one event that carries that signal (redelivered, the same event carries it).
The policy version is deliberately NOT part of it: replaying an event after
a policy bump that decides the same thing must not enforce it twice.  If the
new policy decides differently (hold -> remove), the action differs and so
does the key.  ``action_id`` (the record's own id) does include the policy
version, so the audit trail tells the two decisions apart.

>>> from riskstream.contracts import ListingEvent, Signal, parse_time
>>> from riskstream.policy.model import DetectorPolicy, Policy
>>> from datetime import date
>>> policy = Policy(region="EU", version="2026.11.1", owner="tns", change_note="",
...     effective_from=date(2026, 11, 1), detectors={
...         "prohibited_terms": DetectorPolicy(actions={"prohibited_item": "remove"})})
>>> t = parse_time("2026-11-02T10:00:00Z")
>>> ev = ListingEvent(event_id="e1", event_time=t, region="DE", op="created",
...     listing_id="l1", seller_id="s1", category="art", title="ivory", price=9.0, currency="EUR")
>>> sig = Signal(detector="prohibited_terms", code="prohibited_item", entity_type="listing",
...     entity_id="l1", region="DE", score=1.0, event_id="e1", event_time=t,
...     evidence={"terms": ["ivory"]})
>>> [(a.action, a.mode, a.reason_codes, a.evidence["detectors"]) for a in decide([sig], policy, ev)]
[('remove', 'enforced', ['prohibited_item'], ['prohibited_terms'])]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any, Final

from riskstream.contracts import (
    ActionKind,
    ContentEvent,
    EnforcementAction,
    EntityType,
    Event,
    ListingEvent,
    Mode,
    ReviewEvent,
    Signal,
    stable_id,
)
from riskstream.policy.model import Policy

ACTION_STRENGTH: Final[dict[ActionKind, int]] = {
    "allow": 0,
    "flag": 1,
    "demote_content": 2,
    "hold": 3,
    "remove": 4,
    "strike": 5,
    "restrict_seller": 6,
}
"""Total order of actions; the strongest candidate wins for an entity."""

HUMAN_REVIEW: Final[frozenset[ActionKind]] = frozenset({"flag"})
"""Actions that only route to a moderator: detection is automated, the decision is not."""


def strongest(actions: Iterable[ActionKind]) -> ActionKind:
    """The strongest action, ``allow`` for none.

    >>> strongest(["flag", "remove", "hold"])
    'remove'
    """
    return max(actions, key=ACTION_STRENGTH.__getitem__, default="allow")


def risk_score(signals: Iterable[Signal], policy: Policy) -> float:
    """Noisy-or of the signals' scores, each scaled by its detector's weight."""
    keep = 1.0
    for s in signals:
        rule = policy.rule(s.detector)
        weight = 1.0 if rule is None else rule.weight
        keep *= 1.0 - min(1.0, max(0.0, weight * s.score))
    return round(1.0 - keep, 6)


def threshold_action(risk: float, policy: Policy) -> ActionKind:
    """The action the combined risk score reaches under the policy's thresholds."""
    d = policy.decision
    for kind, limit in (("remove", d.remove), ("hold", d.hold), ("flag", d.flag)):
        if risk >= limit:
            return kind  # type: ignore[return-value]
    return "allow"


def idempotency_key(event_id: str, entity_type: str, entity_id: str, action: str, mode: str) -> str:
    """Stable across replays and policy versions (see the module docstring)."""
    return stable_id(event_id, entity_type, entity_id, action, mode)


def _own_entity(event: Event | None) -> tuple[str, str] | None:
    if isinstance(event, ListingEvent):
        return "listing", event.listing_id
    if isinstance(event, ReviewEvent):
        return "review", event.review_id
    if isinstance(event, ContentEvent):
        return "content", event.content_id
    return None


def _backfilled(entity: tuple[str, str], event: Event | None) -> bool:
    """An entity of the event's own type that is not the event's own (see the module docstring)."""
    own = _own_entity(event)
    return own is not None and own[0] == entity[0] and own[1] != entity[1]


def _backfill_subject(signals: Sequence[Signal]) -> dict[str, str]:
    sellers = {str(s.evidence["seller_id"]) for s in signals if isinstance(s.evidence.get("seller_id"), str)}
    return {"seller_id": sellers.pop()} if len(sellers) == 1 else {}


def _subject_ids(event: Event | None) -> dict[str, str]:
    """Who accrues graduated-enforcement points for an action on this event."""
    if isinstance(event, ListingEvent):
        return {"seller_id": event.seller_id}
    if isinstance(event, ContentEvent):
        return {"creator_id": event.creator_id, "content_kind": event.content_kind}
    return {}


def _decide_lane(
    entity: tuple[EntityType, str],
    signals: Sequence[Signal],
    policy: Policy,
    event: Event | None,
    mode: Mode,
    enforced: ActionKind | None,
    alone: str = "",
) -> EnforcementAction | None:
    """One lane's action: the entity's signals of one mode (of one `decided_alone` detector if `alone`)."""
    risk = risk_score(signals, policy)
    by_rule = {s.code: policy.action_for(s.detector, s.code) or "allow" for s in signals}
    by_threshold = "allow" if alone else threshold_action(risk, policy)
    action = strongest([*by_rule.values(), by_threshold])
    if action == "allow":
        return None
    # Reasons: codes whose rule produced the action first (strongest signal
    # first), then the other contributing codes; the first is the primary reason.
    ordered = sorted(signals, key=lambda s: (by_rule[s.code] != action, -s.score, s.code))
    reason_codes = list(dict.fromkeys(s.code for s in ordered))
    detectors = sorted({s.detector for s in signals})
    d = policy.decision
    evidence: dict[str, Any] = {
        "detectors": detectors,
        "signals": [
            {"detector": s.detector, "code": s.code, "score": s.score, "evidence": s.evidence}
            for s in ordered
        ],
        "rules": {code: kind for code, kind in sorted(by_rule.items()) if kind != "allow"},
        "risk_score": risk,
        "thresholds": {"flag": d.flag, "hold": d.hold, "remove": d.remove},
        "decided_by": "rule" if by_rule and strongest(by_rule.values()) == action else "risk_threshold",
        **(_backfill_subject(signals) if _backfilled(entity, event) else _subject_ids(event)),
    }
    if alone:
        evidence["decided_alone"] = alone
    if mode == "shadow":
        # What the enforced rules did on the same entity, to compare against.
        evidence["enforced_action"] = enforced or "allow"
    entity_type, entity_id = entity
    first = signals[0]
    event_id = event.event_id if event is not None else first.event_id
    key = (stable_id("alone", alone, entity_type, entity_id, action, mode) if alone
           else idempotency_key(event_id, entity_type, entity_id, action, mode))
    return EnforcementAction(
        action_id=stable_id("action", key, policy.version),
        idempotency_key=key,
        event_id=event_id,
        event_time=event.event_time if event is not None else first.event_time,
        region=event.region if event is not None else first.region,
        entity_type=entity_type,
        entity_id=entity_id,
        action=action,
        reason_codes=reason_codes,
        evidence=evidence,
        policy_version=policy.version,
        mode=mode,
        risk_score=risk,
        automated_detection=True,
        automated_decision=action not in HUMAN_REVIEW,
    )


def decide(signals: Sequence[Signal], policy: Policy, event: Event | None = None,
           alone: frozenset[str] = frozenset()) -> list[EnforcementAction]:
    """Enforcement actions for one event's signals: per entity and lane, strongest wins.

    Signals from detectors the policy does not name, or has disabled, are
    ignored.  The signals of a detector in `alone` (`Registry.decided_alone`)
    are a lane of their own per entity (see the module docstring); the others
    are one lane per entity.  Returns enforced actions and shadow actions (at
    most one of each per entity and lane), ordered by entity, lane, then mode.
    """
    lanes: dict[tuple[EntityType, str, str], dict[Mode, list[Signal]]] = {}
    for s in signals:
        rule = policy.rule(s.detector)
        if rule is None or math.isnan(s.score):
            continue
        lane = s.detector if s.detector in alone else ""
        lanes.setdefault((s.entity_type, s.entity_id, lane), {}).setdefault(rule.mode, []).append(s)
    modes: tuple[Mode, ...] = ("enforced", "shadow")
    out: list[EnforcementAction] = []
    for entity_type, entity_id, lane in sorted(lanes):
        enforced: ActionKind | None = None
        for mode in modes:
            sigs = lanes[entity_type, entity_id, lane].get(mode)
            action = (_decide_lane((entity_type, entity_id), sigs, policy, event, mode, enforced, lane)
                      if sigs else None)
            if action is None:
                continue
            if mode == "enforced":
                enforced = action.action
            out.append(action)
    return out
