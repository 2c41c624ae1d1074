"""Graduated enforcement: violation points per seller or creator, expiring.

Each enforced action adds the policy's points for its kind to the ledger of
the seller or creator responsible; points older than ``expiry_days`` drop
out.  When the live total first reaches a level (warning -> restriction ->
suspension) ``apply`` returns an ``Escalation``.  ``apply`` is pure and the
state is plain JSON (``to_json`` / ``from_json``), so the stream layer can
keep it in a table backed by a changelog topic.

Shadow actions never add points.  An action already on the ledger (same
idempotency key) is ignored, so a replay does not count twice.

>>> from datetime import date, datetime, timezone
>>> from riskstream.contracts import EnforcementAction
>>> from riskstream.policy.model import EnforcementPolicy, EscalationThresholds, Policy
>>> policy = Policy(region="EU", version="2026.11.1", owner="tns", change_note="",
...     effective_from=date(2026, 11, 1), detectors={},
...     enforcement=EnforcementPolicy(points={"remove": 3}, expiry_days=90,
...         seller=EscalationThresholds(warning=3, restriction=6, suspension=9)))
>>> now = datetime(2026, 11, 2, tzinfo=timezone.utc)
>>> act = EnforcementAction(action_id="a1", idempotency_key="k1", event_id="e1", event_time=now,
...     region="DE", entity_type="listing", entity_id="l1", action="remove",
...     reason_codes=["prohibited_item"], evidence={"seller_id": "s1"},
...     policy_version="2026.11.1", mode="enforced")
>>> state, esc = apply(Ledger.empty("seller", "s1"), act, now, policy)
>>> state.points(now, policy), esc.level, esc.action
(3, 'warning', None)
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, Final, Literal

import msgspec

from riskstream.contracts import ActionKind, AwareDatetime, EnforcementAction
from riskstream.policy.model import EscalationThresholds, Policy

SubjectType = Literal["seller", "creator"]
Level = Literal["none", "warning", "restriction", "suspension"]

LEVELS: Final[tuple[Level, ...]] = ("none", "warning", "restriction", "suspension")

ESCALATION_ACTION: Final[dict[tuple[SubjectType, Level], ActionKind | None]] = {
    ("seller", "warning"): None,
    ("seller", "restriction"): "restrict_seller",
    ("seller", "suspension"): "restrict_seller",
    ("creator", "warning"): None,
    ("creator", "restriction"): "strike",
    ("creator", "suspension"): "strike",
}
"""The enforcement action an escalation level carries (a warning is a notice only)."""

@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Violation:
    """Points from one enforced action, counted from ``at``."""

    idempotency_key: str
    action_id: str
    action: ActionKind
    reason_codes: tuple[str, ...]
    points: int
    at: AwareDatetime


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Ledger:
    """The graduated-enforcement state of one seller or creator."""

    subject_type: SubjectType
    subject_id: str
    violations: tuple[Violation, ...] = ()
    level: Level = "none"

    @classmethod
    def empty(cls, subject_type: SubjectType, subject_id: str) -> Ledger:
        return cls(subject_type=subject_type, subject_id=subject_id)

    def live(self, now: datetime, policy: Policy) -> tuple[Violation, ...]:
        """Violations that have not expired at ``now``."""
        cutoff = now - timedelta(days=policy.enforcement.expiry_days)
        return tuple(v for v in self.violations if v.at > cutoff)

    def points(self, now: datetime, policy: Policy) -> int:
        return sum(v.points for v in self.live(now, policy))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = msgspec.to_builtins(self)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ledger:
        return msgspec.convert(data, cls)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Escalation:
    """A seller or creator reached a higher enforcement level."""

    subject_type: SubjectType
    subject_id: str
    level: Level
    previous_level: Level
    action: ActionKind | None
    points: int
    at: AwareDatetime
    triggered_by: str
    """The action_id of the enforcement action that crossed the threshold."""
    reason_codes: tuple[str, ...]
    policy_version: str


def subject_of(action: EnforcementAction) -> tuple[SubjectType, str] | None:
    """Whose ledger an action counts against: the seller or creator responsible.

    >>> from datetime import datetime, timezone
    >>> a = EnforcementAction(action_id="a", idempotency_key="k", event_id="e",
    ...     event_time=datetime(2026, 1, 1, tzinfo=timezone.utc), region="DE",
    ...     entity_type="content", entity_id="c1", action="remove", reason_codes=[],
    ...     evidence={"creator_id": "cr1"}, policy_version="2026.1.1", mode="enforced")
    >>> subject_of(a)
    ('creator', 'cr1')
    """
    if action.entity_type == "seller":
        return "seller", action.entity_id
    if action.entity_type == "creator":
        return "creator", action.entity_id
    seller = action.evidence.get("seller_id")
    if action.entity_type == "listing" and isinstance(seller, str) and seller:
        return "seller", seller
    creator = action.evidence.get("creator_id")
    if action.entity_type == "content" and isinstance(creator, str) and creator:
        return "creator", creator
    return None


def level_for(points: int, thresholds: EscalationThresholds) -> Level:
    if points >= thresholds.suspension:
        return "suspension"
    if points >= thresholds.restriction:
        return "restriction"
    if points >= thresholds.warning:
        return "warning"
    return "none"


def apply(
    state: Ledger, action: EnforcementAction, now: datetime, policy: Policy
) -> tuple[Ledger, Escalation | None]:
    """Record an enforced action's points; return the new state and any escalation.

    Expired violations are dropped first.  The level follows the live points
    down as well as up, but only a rise past a threshold (compared with the
    level after expiry) is an escalation.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    thresholds = policy.enforcement.seller if state.subject_type == "seller" else policy.enforcement.creator
    live = state.live(now, policy)
    # The level after expiry: a seller whose old points lapsed and who offends
    # again is escalated again.
    before = level_for(sum(v.points for v in live), thresholds)
    points = policy.enforcement.points.get(action.action, 0)
    counted = (
        action.mode == "enforced"
        and points > 0
        and all(v.idempotency_key != action.idempotency_key for v in live)
    )
    if counted:
        live += (
            Violation(
                idempotency_key=action.idempotency_key,
                action_id=action.action_id,
                action=action.action,
                reason_codes=tuple(action.reason_codes),
                points=points,
                at=now,
            ),
        )
    total = sum(v.points for v in live)
    level = level_for(total, thresholds)
    new_state = dataclasses.replace(state, violations=live, level=level)
    if not counted or LEVELS.index(level) <= LEVELS.index(before):
        return new_state, None
    return new_state, Escalation(
        subject_type=state.subject_type,
        subject_id=state.subject_id,
        level=level,
        previous_level=before,
        action=ESCALATION_ACTION[(state.subject_type, level)],
        points=total,
        at=now,
        triggered_by=action.action_id,
        reason_codes=tuple(action.reason_codes),
        policy_version=policy.version,
    )
