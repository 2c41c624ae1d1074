"""Why would this event be actioned?  Run a policy's detectors and rules on one event and say.

Each rule that applies to the event's kind and country is shown matched or
not, with the values of the fields its condition read.

Explain is stateless: every detector starts from a fresh state, so a
detector that needs history (bursts, baselines) explains only what a first
event would trigger.  The decision is the real decision layer's.

>>> from datetime import date
>>> from riskstream.detectors.base import Registry
>>> from riskstream.detectors.prohibited_terms import ProhibitedTermsDetector, ProhibitedTermsParams
>>> from riskstream.contracts import ListingEvent, parse_time
>>> from riskstream.policy.model import DetectorPolicy, Policy
>>> policy = Policy(region="EU", version="2026.11.1", owner="tns", change_note="",
...     effective_from=date(2026, 11, 1), detectors={"prohibited_terms": DetectorPolicy(
...         params=ProhibitedTermsParams(prohibited=("ivory",)), actions={"prohibited_item": "remove"})})
>>> ev = ListingEvent(event_id="e1", event_time=parse_time("2026-11-02T10:00:00Z"), region="DE",
...     op="created", listing_id="l1", seller_id="s1", category="art", title="Ivory netsuke",
...     price=90.0, currency="EUR")
>>> print(explain(ev, policy, Registry.with_detectors(ProhibitedTermsDetector)).render())
event e1 (listing, DE) under EU policy 2026.11.1
  fired prohibited_terms [enforced] prohibited_item score=1.00 -> remove  terms=['ivory']
  listing l1: risk 1.00 -> remove (enforced) reasons=prohibited_item
"""

from __future__ import annotations

import dataclasses
from typing import Any

from riskstream.contracts import ActionKind, EnforcementAction, Event, Mode, Signal
from riskstream.decisions.decide import decide
from riskstream.detectors.base import Registry
from riskstream.policy.model import Policy
from riskstream.policy.rules import RuleResult, compile_rules


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Firing:
    """One signal, with the rule that judged it."""

    detector: str
    mode: Mode
    weight: float
    code: str
    score: float
    entity: str
    mapped_action: ActionKind | None
    evidence: dict[str, Any]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Explanation:
    event_id: str
    event_kind: str
    country: str
    region: str
    policy_version: str
    fired: tuple[Firing, ...]
    silent: tuple[str, ...]
    """Enabled detectors that read this kind of event and found nothing."""
    not_applicable: tuple[str, ...]
    """Enabled detectors that do not read this kind of event, or are missing from the registry."""
    signals: tuple[Signal, ...]
    actions: tuple[EnforcementAction, ...]
    rules: tuple[RuleResult, ...] = ()
    """Every rule that applies to this event's kind and country, matched or not, with what it read."""
    rules_not_applicable: int = 0
    policy: Policy | None = None

    def render(self) -> str:
        lines = [f"event {self.event_id} ({self.event_kind}, {self.country}) "
                 f"under {self.region} policy {self.policy_version}"]
        for f in self.fired:
            ev = ", ".join(f"{k}={v!r}" for k, v in sorted(f.evidence.items()) if k in _SHOWN)
            lines.append(f"  fired {f.detector} [{f.mode}] {f.code} score={f.score:.2f} "
                         f"-> {f.mapped_action or '(thresholds)'}  {ev}".rstrip())
        for r in self.rules:
            rule = self.policy.rules[r.id] if self.policy is not None else None
            mode = f" [{rule.mode}]" if rule is not None else ""
            seen = "  ".join(f"{k}={v!r}" for k, v in r.values.items())
            if r.error is not None:
                verdict = f"error ({r.error}): counts as no match"
            elif r.matched and rule is not None:
                verdict = f"matched {rule.reason} -> {rule.action}"
            else:
                verdict = "no match"
            lines.append(f"  rule {r.id}{mode} {verdict}  {seen}".rstrip())
        if self.rules_not_applicable:
            lines.append(f"  ({self.rules_not_applicable} rule(s) not for {self.event_kind} events in "
                         f"{self.country}: not evaluated)")
        for a in self.actions:
            lines.append(f"  {a.entity_type} {a.entity_id}: risk {a.risk_score:.2f} -> {a.action} "
                         f"({a.mode}) reasons={','.join(a.reason_codes)}")
        if not self.actions:
            lines.append("  no action")
        return "\n".join(lines)


_SHOWN = frozenset({"terms", "missing", "matched_rule", "recall_id", "ratio", "count", "rule"})


def explain(event: Event, policy: Policy, registry: Registry) -> Explanation:
    """Run every enabled detector of ``policy`` on ``event`` from fresh state; decide."""

    fired: list[Firing] = []
    signals: list[Signal] = []
    silent: list[str] = []
    not_applicable: list[str] = []
    for det_id in policy.enabled_detectors():
        rule = policy.detectors[det_id]
        cls = registry.detectors.get(det_id)
        if cls is None or event.kind not in cls.kinds:
            not_applicable.append(det_id)
            continue
        detector = cls(rule.params if rule.params is not None else cls.Params())
        _, found = detector.detect(event, detector.initial_state())
        if not found:
            silent.append(det_id)
        for s in found:
            signals.append(s)
            fired.append(Firing(detector=det_id, mode=rule.mode, weight=rule.weight, code=s.code,
                                score=s.score, entity=f"{s.entity_type}:{s.entity_id}",
                                mapped_action=rule.actions.get(s.code), evidence=s.evidence))
    compiled = compile_rules(policy)
    alone = registry.decided_alone()
    seen = [s for s in signals if s.detector not in alone]  # as the engine: rules do not read them
    rules = tuple(compiled.judge(event, seen))
    hits = compiled.evaluate(event, seen)
    for s in hits:
        own = policy.rules[s.evidence["rule"]]
        fired.append(Firing(detector=s.detector, mode=own.mode, weight=own.weight, code=s.code,
                            score=s.score, entity=f"{s.entity_type}:{s.entity_id}",
                            mapped_action=own.action, evidence=s.evidence))
    signals = [*signals, *hits]
    return Explanation(
        rules=rules,
        rules_not_applicable=sum(1 for r in policy.rules.values() if r.enabled) - len(rules),
        policy=policy,
        event_id=event.event_id,
        event_kind=event.kind,
        country=event.region,
        region=policy.region,
        policy_version=policy.version,
        fired=tuple(fired),
        silent=tuple(silent),
        not_applicable=tuple(not_applicable),
        signals=tuple(signals),
        actions=tuple(decide(signals, policy, event, alone)),
    )
