"""The policy model: one frozen record per region's policy file.

A policy names detectors by their registry id, gives each its own typed
``Params`` (converted by the loader into that detector's ``Params`` class), a
mode (``enforced`` or ``shadow``), a weight in the risk score and a mapping
from the signal codes it emits to enforcement actions.  Around that sit the
decision thresholds, the graduated-enforcement settings and, per reason code,
the legal or terms-of-service ground a statement of reasons cites.

>>> p = Policy(region="EU", version="2026.11.1", owner="tns-eu", change_note="first",
...     effective_from=date(2026, 11, 1),
...     detectors={"prohibited_terms": DetectorPolicy(actions={"prohibited_item": "remove"})})
>>> p.action_for("prohibited_terms", "prohibited_item")
'remove'
>>> p.action_for("prohibited_terms", "restricted_item") is None
True
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Annotated, Any, Final, Literal, get_args

import msgspec

from riskstream.contracts import ActionKind, Mode

RULE_PREFIX: Final = "rule:"
"""A rule's hits are signals whose ``detector`` is ``rule:<id>``: its metric label and feedback key."""
RuleKind = Literal["listing", "review", "content"]
ReasonCode = Annotated[str, msgspec.Meta(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
CountryCode = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
MAX_CONDITION_CHARS: Final = 2000

RegionName = Literal["EU", "UK", "US", "SEA"]
Ground = Literal["illegal_content", "incompatible_content"]
Scope = Literal["union", "country"]
DsaCategory = Literal[
    "STATEMENT_CATEGORY_ANIMAL_WELFARE",
    "STATEMENT_CATEGORY_CONSUMER_INFORMATION",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE",
    "STATEMENT_CATEGORY_CYBER_VIOLENCE_AGAINST_WOMEN",
    "STATEMENT_CATEGORY_DATA_PROTECTION_AND_PRIVACY_VIOLATIONS",
    "STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH",
    "STATEMENT_CATEGORY_INTELLECTUAL_PROPERTY_INFRINGEMENTS",
    "STATEMENT_CATEGORY_NEGATIVE_EFFECTS_ON_CIVIC_DISCOURSE_OR_ELECTIONS",
    "STATEMENT_CATEGORY_NOT_SPECIFIED_NOTICE",
    "STATEMENT_CATEGORY_OTHER_VIOLATION_TC",
    "STATEMENT_CATEGORY_PROTECTION_OF_MINORS",
    "STATEMENT_CATEGORY_RISK_FOR_PUBLIC_SECURITY",
    "STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
    "STATEMENT_CATEGORY_SELF_HARM",
    "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS",
    "STATEMENT_CATEGORY_VIOLENCE",
]

ACTION_KINDS: Final[tuple[str, ...]] = get_args(ActionKind)
MODES: Final[tuple[str, ...]] = get_args(Mode)
VERSION_PATTERN: Final = r"^\d{4}\.(0?[1-9]|1[0-2])\.\d+$"
"""Calendar versioning: ``YEAR.MONTH.SEQUENCE``, e.g. ``2026.11.1``."""
VERSION_RE: Final = re.compile(VERSION_PATTERN)

Unit = Annotated[float, msgspec.Meta(ge=0, le=1)]
Points = Annotated[int, msgspec.Meta(ge=0)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]

@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DetectorPolicy:
    """One detector's rule in a region: on/off, mode, weight, params, actions.

    ``params`` is the detector's own ``Params`` instance once loaded (a plain
    mapping only while the file is being validated).
    """

    enabled: bool = True
    mode: Mode = "enforced"
    weight: Unit = 1.0
    params: Any = None
    actions: dict[str, ActionKind] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DecisionThresholds:
    """Combined risk score at or above which an entity is flagged, held, removed."""

    flag: Unit = 0.5
    hold: Unit = 0.8
    remove: Unit = 0.95


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EscalationThresholds:
    """Live violation points at which a seller or creator reaches each level."""

    warning: PositiveInt = 3
    restriction: PositiveInt = 6
    suspension: PositiveInt = 10


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EnforcementPolicy:
    """Graduated enforcement: points per enforced action, expiring after a period."""

    points: dict[ActionKind, Points] = dataclasses.field(default_factory=dict)
    expiry_days: PositiveInt = 180
    seller: EscalationThresholds = dataclasses.field(default_factory=EscalationThresholds)
    creator: EscalationThresholds = dataclasses.field(default_factory=EscalationThresholds)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LegalBasis:
    """The ground a restriction relies on, for the DSA statement of reasons.

    ``ground`` is ``illegal_content`` (``reference`` names the law) or
    ``incompatible_content`` (``reference`` names the terms-of-service clause;
    ``illegal`` says whether the content is also considered illegal).
    ``scope`` is ``union`` when the restriction applies EU-wide, ``country``
    when only in the member state the event came from.
    """

    ground: Ground
    category: DsaCategory
    reference: NonEmpty
    explanation: NonEmpty
    illegal: bool = False
    keywords: tuple[str, ...] = ()
    scope: Scope = "union"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """A policy manager's own rule: a CEL condition that, when true, raises a signal.

    The signal (detector ``rule:<id>``, code ``reason``, score ``score``) goes
    through the same decision layer as a detector's: weighted into the
    noisy-or, ``action`` mapped for its reason, decided in its ``mode``'s lane.
    ``score`` defaults to 0.5: alone, a rule reaches only its own action and the
    ``flag`` threshold; it takes more findings to push the risk score to
    ``hold`` or ``remove``.
    ``countries`` (empty: every country of the region) and ``kind`` index the
    rule at compile time, so a rule that cannot apply to an event costs nothing.
    ``legal`` is the statement-of-reasons ground of an EU restriction (it may
    instead sit under the policy's ``legal`` for the reason code).
    """

    condition: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONDITION_CHARS)]
    reason: ReasonCode
    action: ActionKind
    mode: Mode = "shadow"
    kind: RuleKind = "listing"
    countries: tuple[CountryCode, ...] = ()
    enabled: bool = True
    weight: Unit = 1.0
    score: Unit = 0.5
    description: str = ""
    legal: LegalBasis | None = None

    @property
    def actions(self) -> dict[str, ActionKind]:
        """The same shape as a detector's ``actions``: this rule's reason code -> its action."""
        return {self.reason: self.action}


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """A region's whole policy, as loaded from ``policies/<region>.yaml``."""

    region: RegionName
    version: Annotated[str, msgspec.Meta(pattern=VERSION_PATTERN)]
    owner: NonEmpty
    change_note: str
    effective_from: date
    detectors: dict[str, DetectorPolicy]
    decision: DecisionThresholds = dataclasses.field(default_factory=DecisionThresholds)
    enforcement: EnforcementPolicy = dataclasses.field(default_factory=EnforcementPolicy)
    legal: dict[str, LegalBasis] = dataclasses.field(default_factory=dict)
    term_lists: dict[str, tuple[NonEmpty, ...]] = dataclasses.field(default_factory=dict)
    """Named term lists that rules test (``terms.<name>``), matched like the detectors' terms."""
    rules: dict[str, Rule] = dataclasses.field(default_factory=dict)
    """The policy managers' rules, by id (see ``riskstream.policy.rules``)."""

    def rule(self, detector: str) -> DetectorPolicy | Rule | None:
        """The detector's (or ``rule:<id>``'s) rule if the policy names it and it is enabled."""
        rule: DetectorPolicy | Rule | None = self.detectors.get(detector)
        if rule is None and detector.startswith(RULE_PREFIX):
            rule = self.rules.get(detector[len(RULE_PREFIX):])
        return rule if rule is not None and rule.enabled else None

    def shadow_rule_detectors(self) -> frozenset[str]:
        """``rule:<id>`` of the rules in shadow mode: their hits are not counted in incident aggregates."""
        return frozenset(RULE_PREFIX + rid for rid, r in self.rules.items() if r.mode == "shadow")

    def enabled_detectors(self) -> list[str]:
        return sorted(d for d, r in self.detectors.items() if r.enabled)

    def action_for(self, detector: str, code: str) -> ActionKind | None:
        """The action the policy maps a detector's signal code to, if any."""
        rule = self.rule(detector)
        return None if rule is None else rule.actions.get(code)


def declared_codes(detector_cls: type[Any]) -> frozenset[str] | None:
    """The signal codes a detector class declares (``codes`` or ``CODES``), if any."""
    for name in ("codes", "CODES"):
        value = getattr(detector_cls, name, None)
        if isinstance(value, (frozenset, set, tuple, list)) and all(isinstance(v, str) for v in value):
            return frozenset(value)
    return None


def inferred_codes(detector_cls: type[Any]) -> frozenset[str]:
    """Codes guessed from upper-case string constants on the class.

    ``ProhibitedTermsDetector.PROHIBITED = "prohibited_item"`` is the pattern
    detectors follow; used only for a soft (warning) check.
    """
    out = set()
    for klass in detector_cls.__mro__:
        for name, value in vars(klass).items():
            if name.isupper() and isinstance(value, str) and re.fullmatch(r"[a-z][a-z0-9_]*", value):
                out.add(value)
    return frozenset(out)
