"""The pure core of a worker: decode, detect, decide.  No Kafka here.

The engine holds the active policy per region, the detectors each policy
configures, and the detectors' keyed state (bounded: least recently used keys
are evicted, so memory stays constant on an endless stream).  The stream
layer hands it raw bytes and sends whatever comes back.

>>> from riskstream.detectors.registry import default_registry
>>> from riskstream.policy import load_policy
>>> from riskstream.resources import sample_policy_dir
>>> eng = Engine(default_registry())
>>> eng.set_policy(load_policy(sample_policy_dir() / "eu.yaml", default_registry()))
>>> out = eng.handle_raw("listing", b'{"nonsense": true}')
>>> out.dead_letter
('missing_field', 'Object missing required field `event_id`')

Input limits (`riskstream.settings.LimitSettings`) are enforced at decode; the
clock is an argument, so a test or a replay decides what "now" is:

>>> from riskstream.contracts import parse_time
>>> raw = b'{"event_id": "e", "event_time": "0001-01-01T00:00:00Z", "region": "DE", "op": "created",' \\
...       b' "listing_id": "l", "seller_id": "s", "category": "c", "title": "t", "price": 1, "currency": "EUR"}'
>>> eng.handle_raw("listing", raw, now=parse_time("2026-01-01T00:00:00Z")).dead_letter[0]
'out_of_range'
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from riskstream.contracts import (
    EVENT_TYPES,
    EnforcementAction,
    EntityType,
    Event,
    InvalidEvent,
    Signal,
    decode,
    stable_id,
)
from riskstream.decisions import Escalation, Ledger, apply, decide, pseudonymize, subject_of
from riskstream.decisions.appeals import ledger_after_reversal
from riskstream.detectors.base import PARTIAL, Registry, is_banded
from riskstream.policy.model import Policy
from riskstream.policy.rules import CompiledRules, compile_rules
from riskstream.regions import region_of
from riskstream.settings import LimitSettings

MAX_STATE_KEYS: Final = 200_000


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one input produced: a dead letter, or the event with its signals and actions."""

    event: Event | None = None
    signals: list[Signal] = field(default_factory=list)
    actions: list[EnforcementAction] = field(default_factory=list)
    dead_letter: tuple[str, str] | None = None  # (reason, detail)
    measured: int | None = None  # too_large / out_of_range: the refused size or value


@dataclass(frozen=True, slots=True)
class Prepared:
    """An event after its stateless detectors: signals so far and the partitioned steps to run."""

    event: Event | None = None
    signals: list[Signal] = field(default_factory=list)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (detector id, state key)
    dead_letter: tuple[str, str] | None = None


@dataclass
class _Compiled:
    policy: Policy
    by_kind: dict[str, list[Any]]  # event kind -> detector instances (mode is the policy's business)
    rules: CompiledRules  # the policy's own rules, indexed by (kind, country)
    # Built once per policy, read per event: per kind, (detector, its state_key, partitioned?, banded?)
    # in policy order (a banded detector's key function is its `state_keys`, giving several keys);
    # and (kind, detector id) -> detector for `step`, instead of a scan per call.
    plan: dict[str, tuple[tuple[Any, Any, bool, bool], ...]] = field(default_factory=dict)
    by_id: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for kind, detectors in self.by_kind.items():
            self.plan[kind] = tuple((d, d.state_keys if is_banded(d) else d.state_key,
                                     not getattr(d, "local_state", False), is_banded(d)) for d in detectors)
            for d in detectors:
                self.by_id.setdefault((kind, d.id), d)


class Engine:
    """Runs a region's configured detectors over each event and decides actions."""

    def __init__(self, registry: Registry, max_state_keys: int = MAX_STATE_KEYS,
                 limits: LimitSettings | None = None, pseudonym_key: bytes | None = None) -> None:
        self.registry = registry
        self._alone = registry.decided_alone()  # detectors decided in a lane of their own (decisions.decide)
        self.limits = limits if limits is not None else LimitSettings()
        # With a key, signals and actions leave pseudonymous (riskstream.decisions.pseudonym).
        self._pseudonym_key = pseudonym_key
        self._regions: dict[str, _Compiled] = {}
        self._state: OrderedDict[tuple[str, str, str], Any] = OrderedDict()
        self._max_state_keys = max_state_keys

    # ---------------------------------------------------------------- policies

    def set_policy(self, policy: Policy) -> None:
        """Activate a (validated) policy for its region.

        Detector state survives a policy change for detectors whose params did
        not change; a detector whose params changed starts fresh.
        """
        by_kind: dict[str, list[Any]] = {}
        old = self._regions.get(policy.region)
        for det_id in policy.enabled_detectors():
            rule = policy.detectors[det_id]
            cls = self.registry.get(det_id)
            params = rule.params if rule.params is not None else cls.Params()
            detector = cls(params)
            for kind in cls.kinds:
                by_kind.setdefault(kind, []).append(detector)
            if old is not None:
                old_rule = old.policy.detectors.get(det_id)
                if old_rule is None or not old_rule.enabled or old_rule.params != rule.params:
                    self._drop_state(policy.region, det_id)
        # Rules compile here, once per policy load (conditions are cached by text, so the
        # loader's validation already paid for the CEL parse).
        self._regions[policy.region] = _Compiled(policy, by_kind, compile_rules(policy))

    def policy(self, region: str) -> Policy | None:
        compiled = self._regions.get(region)
        return compiled.policy if compiled else None

    def rules(self, region: str) -> CompiledRules | None:
        """The compiled rules of a region's active policy."""
        compiled = self._regions.get(region)
        return compiled.rules if compiled else None

    def policies(self) -> dict[str, Policy]:
        return {r: c.policy for r, c in self._regions.items()}

    def _drop_state(self, region: str, det_id: str) -> None:
        for key in [k for k in self._state if k[0] == region and k[1] == det_id]:
            del self._state[key]

    # ---------------------------------------------------------------- events

    def handle_raw(self, kind: str, raw: bytes, now: datetime | None = None) -> Outcome:
        """Decode, validate (within `limits`, event time around `now`) and process one input.

        Never raises for bad input.  `now` defaults to the wall clock.
        """
        try:  # decode_raw, without its intermediate Outcome
            event = decode(raw, EVENT_TYPES[kind], self.limits, now)
        except InvalidEvent as exc:
            return Outcome(dead_letter=(exc.reason, exc.detail), measured=exc.measured)
        return self.process(event)

    def decode_raw(self, kind: str, raw: bytes, now: datetime | None = None) -> Outcome:
        """Decode and validate one input within `limits`: the event, or a dead letter's reason."""
        try:
            return Outcome(event=decode(raw, EVENT_TYPES[kind], self.limits, now))
        except InvalidEvent as exc:
            return Outcome(dead_letter=(exc.reason, exc.detail), measured=exc.measured)

    def process(self, event: Event) -> Outcome:
        """Detect and decide in one step, with the engine's own in-process state.

        The same three steps the stream layer runs across partitions
        (``prepare``, ``step`` per partitioned detector, ``finish``), here with
        the state in a local, bounded dict (the in-process harness and tests),
        without the intermediate records: the signals come out in the same
        order (stateless and per-worker detectors first, then the partitioned
        ones, each in policy order).
        """
        group = region_of(event.region)
        compiled = self._regions.get(group) if group else None
        if compiled is None:
            return Outcome(event=event, dead_letter=("no_policy", f"no active policy for region {group!r}"))
        assert group is not None
        signals: list[Signal] = []
        steps: list[tuple[Any, Any]] | None = None
        # Two passes, as prepare + step: stateless and per-worker detectors first, so the signals and
        # the order in which state keys are touched (the LRU's eviction order) are what they were.
        for detector, state_key, partitioned, banded in compiled.plan.get(event.kind, ()):
            key = state_key(event)
            if banded and not key:
                continue
            if key is None:
                found = detector.detect(event, None)[1]
            elif partitioned:
                if steps is None:
                    steps = []
                steps.append((detector, key))
                continue
            elif banded:
                found = self._detect_banded(group, detector, event, key)
            else:
                found = self._detect_keyed(group, detector, event, key)
            if found:
                signals.extend(found)
        if steps is not None:
            for detector, key in steps:
                if isinstance(key, tuple):
                    found = self._detect_banded(group, detector, event, key)
                else:
                    found = self._detect_keyed(group, detector, event, key)
                if found:
                    signals.extend(found)
        return self._decide(event, compiled, signals)

    def prepare(self, event: Event) -> Prepared:
        """Run the stateless and broadcast-state detectors; list the partitioned steps still to run.

        A partitioned step is ``(detector id, state key)``: the stream layer
        routes the event to the partition that owns that key and calls
        ``step`` there with the key's state from a changelog-backed table.
        """
        group = region_of(event.region)
        compiled = self._regions.get(group) if group else None
        if compiled is None:
            return Prepared(event=event, dead_letter=("no_policy", f"no active policy for region {group!r}"))
        assert group is not None
        signals: list[Signal] = []
        steps: list[tuple[str, str]] = []
        for detector, state_key, partitioned, banded in compiled.plan.get(event.kind, ()):
            key = state_key(event)
            if banded:  # one step per bucket; `finish` combines their partial signals
                if partitioned:
                    steps.extend((detector.id, k) for k in key)
                elif key:
                    signals.extend(self._detect_banded(group, detector, event, key))
            elif key is not None and partitioned:
                steps.append((detector.id, key))
            else:
                signals.extend(self._run(group, detector, event, key))
        return Prepared(event=event, signals=signals, steps=steps)

    def step(self, event: Event, det_id: str, state: Any, key: str | None = None) -> tuple[Any, list[Signal]]:
        """One partitioned detector on one event, with the state its key owns (None: a new key).

        A banded detector's step is one bucket (`key`); its signals are partial until `finish`.
        """
        group = region_of(event.region)
        compiled = self._regions.get(group) if group else None
        detector = compiled.by_id.get((event.kind, det_id)) if compiled is not None else None
        if detector is None:  # the policy changed in between: the detector no longer runs here
            return state, []
        if is_banded(detector):
            new, signals = detector.detect_key(event, key, state)
            return new, list(signals)
        new, signals = detector.detect(event, detector.initial_state() if state is None else state)
        return new, list(signals)

    def finish(self, event: Event, signals: list[Signal]) -> Outcome:
        """Decide the event's actions from all of its signals and the policy's rules.

        The rules see the detectors' signals for this event (not those of a detector decided
        alone: `Registry.decided_alone`); a rule that matches
        adds its own signal (detector ``rule:<id>``), decided with the others.
        """
        group = region_of(event.region)
        compiled = self._regions.get(group) if group else None
        if compiled is None:
            return Outcome(event=event, dead_letter=("no_policy", f"no active policy for region {group!r}"))
        if any(s.code == PARTIAL for s in signals):
            signals = _combined(compiled, event, signals)
        return self._decide(event, compiled, signals)

    def _decide(self, event: Event, compiled: _Compiled, signals: list[Signal]) -> Outcome:
        # A detector decided alone signals whichever event completes what it looks for (arrival
        # order, `decisions.decide`): the rules do not read its signals, so a rule's hit is not
        # order-dependent through them either.
        seen = [s for s in signals if s.detector not in self._alone] if self._alone else signals
        hits = compiled.rules.evaluate(event, seen)
        if hits:
            signals = [*signals, *hits]
        actions = decide(signals, compiled.policy, event, self._alone) if signals else []
        if self._pseudonym_key is not None:
            signals = [pseudonymize(s, self._pseudonym_key) for s in signals]
            actions = [pseudonymize(a, self._pseudonym_key) for a in actions]
        return Outcome(event=event, signals=signals, actions=actions)

    def _run(self, region: str, detector: Any, event: Event, key: str | None) -> Iterable[Signal]:
        if key is None:
            _, signals = detector.detect(event, None)
            return list(signals)
        return list(self._detect_keyed(region, detector, event, key))

    def _detect_keyed(self, region: str, detector: Any, event: Event, key: str) -> list[Signal]:
        """`detector` on `event` with the in-process state of `key` (bounded LRU)."""
        skey = (region, detector.id, key)
        state_of = self._state
        # Taken out and put back at the end: what move_to_end and an update do, in two dict operations.
        state = state_of.pop(skey, None)
        known = state is not None
        state, signals = detector.detect(event, detector.initial_state() if state is None else state)
        state_of[skey] = state
        if not known and len(state_of) > self._max_state_keys:
            state_of.popitem(last=False)
        return signals  # type: ignore[no-any-return]

    def _detect_banded(self, region: str, detector: Any, event: Event, keys: tuple[str, ...]) -> list[Signal]:
        """A banded detector on each of its buckets (the in-process state), then `combine`."""
        partials: list[Signal] = []
        state_of = self._state
        for key in keys:
            skey = (region, detector.id, key)
            bucket = state_of.pop(skey, None)
            known = bucket is not None
            bucket, found = detector.detect_key(event, key, bucket)
            state_of[skey] = bucket
            if not known and len(state_of) > self._max_state_keys:
                state_of.popitem(last=False)
            partials.extend(found)
        return list(detector.combine(event, partials)) if partials else []

    # ---------------------------------------------------------------- feedback into detector state

    def note_actioned(self, action: EnforcementAction) -> None:
        """Remember an enforced remove/hold of a listing, so content linking to it is caught.

        The detector is given the action's reason codes and keeps only the listings whose
        reasons make a link a finding (``content_prohibited``'s ``link_reasons``).  A reversal
        of one (an appeal granted, riskstream.decisions.appeals) forgets it again.
        """
        reverses = action.action == "allow" and action.evidence.get("reversed_action") in ("remove", "hold")
        if action.mode != "enforced" or action.entity_type != "listing" or (
                action.action not in ("remove", "hold") and not reverses):
            return
        group = region_of(action.region)
        compiled = self._regions.get(group) if group else None
        if compiled is None or group is None:
            return
        for detector in compiled.by_kind.get("content", ()):
            if hasattr(detector, "with_actioned"):
                skey = (group, detector.id, action.region)
                state = self._state.get(skey) or detector.initial_state()
                if reverses and hasattr(detector, "without_actioned"):
                    self._state[skey] = detector.without_actioned(state, [action.entity_id])
                elif not reverses:
                    self._state[skey] = detector.with_actioned(state, [action.entity_id],
                                                               reasons=action.reason_codes)

    # ---------------------------------------------------------------- graduated enforcement

    def on_violation(
        self, ledger: Ledger | None, action: EnforcementAction
    ) -> tuple[Ledger | None, Escalation | None, EnforcementAction | None]:
        """Add an enforced action's points to its seller's or creator's ledger.

        Returns the new ledger, the escalation if a level was crossed, and the
        enforcement action that escalation carries (restrict seller, strike).
        """
        subject = subject_of(action)
        group = region_of(action.region)
        policy = self._regions[group].policy if group in self._regions else None
        if subject is None or policy is None:
            return ledger, None, None
        reversed_id = action.evidence.get("reverses") if action.action == "allow" else None
        if isinstance(reversed_id, str):  # an appeal granted: the original's points go (appeals.py)
            return (ledger_after_reversal(ledger, reversed_id, action.event_time, policy) if ledger else None,
                    None, None)
        state = ledger or Ledger.empty(*subject)
        state, esc = apply(state, action, action.event_time, policy)
        if esc is None or esc.action is None:
            return state, esc, None
        entity_type: EntityType = "seller" if esc.subject_type == "seller" else "creator"
        escalated = EnforcementAction(
            # Identities depend on what was decided (who, which level), never on which
            # event happened to cross the level: that depends on arrival order, so
            # one worker and two would give the same escalation different keys.
            action_id=stable_id("escalation", esc.subject_type, esc.subject_id, esc.level),
            idempotency_key=stable_id("escalation", esc.subject_type, esc.subject_id, esc.level),
            event_id=action.event_id,
            event_time=action.event_time,
            region=action.region,
            entity_type=entity_type,
            entity_id=esc.subject_id,
            action=esc.action,
            reason_codes=[f"escalation_{esc.level}", *esc.reason_codes],
            evidence={"points": esc.points, "previous_level": esc.previous_level, "level": esc.level,
                      "triggered_by": esc.triggered_by, "detectors": action.evidence.get("detectors", [])},
            policy_version=policy.version,
            mode="enforced",
            risk_score=action.risk_score,
        )
        return state, esc, escalated


def _combined(compiled: _Compiled, event: Event, signals: list[Signal]) -> list[Signal]:
    """`signals` with each banded detector's partial signals replaced by what its `combine` makes of them.

    The combined signals take the place of the detector's first partial; the partials of a
    detector the policy no longer runs are dropped (they are never decided on).
    """
    parts: dict[str, list[Signal]] = {}
    for s in signals:
        if s.code == PARTIAL:
            parts.setdefault(s.detector, []).append(s)
    out: list[Signal] = []
    for s in signals:
        if s.code != PARTIAL:
            out.append(s)
            continue
        found = parts.pop(s.detector, None)
        if found is None:  # a later partial of a detector already combined
            continue
        detector = compiled.by_id.get((event.kind, s.detector))
        if detector is not None and is_banded(detector):
            out.extend(detector.combine(event, found))
    return out
