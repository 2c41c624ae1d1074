"""The blast-radius guard: a rule whose enforcement rate jumps drops to shadow for that region.

A bad term list or a broken detector can start removing thousands of honest
listings in minutes.  Per rule and region, the guard keeps the enforced-action
rate (enforced actions per screened event) of the last `baseline_windows`
closed windows.  When a window's rate exceeds `multiple` times the baseline's
mean rate (and the window has at least `min_actions` enforced actions, so a
quiet rule firing twice is not a surge), the guard trips: the rule runs in
shadow for that region until a policy manager re-enables it (`reenable`).  A
tripped window is not learnt into the baseline.  Pure: the stream layer keeps
one `GuardState` per (rule, region), publishes the `Trip` on the control
topic and fires the alert.

>>> cfg = GuardConfig(multiple=3.0, min_actions=5, baseline_windows=4, min_baseline_windows=2)
>>> s = GuardState()
>>> for actions in (2, 3, 2):  # 2-3 enforced per 100 events
...     s, trip = observe_window(s, actions, 100, cfg)
>>> s, trip = observe_window(s, 40, 100, cfg)
>>> trip.rate, round(trip.baseline_rate, 4), s.shadowed
(0.4, 0.0233, True)
>>> reenable(s).shadowed
False
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from riskstream.policy.model import RULE_PREFIX, Policy


@dataclass(frozen=True, slots=True)
class GuardConfig:
    multiple: float = 5.0
    min_actions: int = 20
    baseline_windows: int = 24  # with 10-minute windows: the last four hours
    min_baseline_windows: int = 6


@dataclass(frozen=True, slots=True)
class Trip:
    """Why the guard dropped a rule to shadow (the control-topic record and the alert carry it)."""

    rate: float
    baseline_rate: float
    actions: int
    events: int
    multiple: float


@dataclass(frozen=True, slots=True)
class GuardState:
    windows: tuple[tuple[int, int], ...] = ()  # (enforced actions, events) per closed window, oldest first
    shadowed: bool = False
    trip: Trip | None = None

    def baseline_rate(self) -> float | None:
        events = sum(e for _, e in self.windows)
        return sum(a for a, _ in self.windows) / events if events else None


def observe_window(state: GuardState, actions: int, events: int, cfg: GuardConfig) -> tuple[GuardState, Trip | None]:
    """Account one closed window of a rule in a region; the `Trip` if this window trips the guard."""
    if state.shadowed or events <= 0:
        return state, None
    rate = actions / events
    baseline = state.baseline_rate()
    enough = len(state.windows) >= cfg.min_baseline_windows and baseline is not None
    if enough and actions >= cfg.min_actions and rate > cfg.multiple * max(baseline or 0.0, 1.0 / events):
        trip = Trip(rate=rate, baseline_rate=baseline or 0.0, actions=actions, events=events, multiple=cfg.multiple)
        return dataclasses.replace(state, shadowed=True, trip=trip), trip
    windows = (*state.windows, (actions, events))[-cfg.baseline_windows:]
    return dataclasses.replace(state, windows=windows), None


def reenable(state: GuardState) -> GuardState:
    """A policy manager re-enabled the rule: enforced again, baseline kept, trip cleared."""
    return dataclasses.replace(state, shadowed=False, trip=None)


# ------------------------------------------------------------------ JSON (the stream layer's table value)


def state_to_json(state: GuardState) -> dict[str, Any]:
    trip = dataclasses.asdict(state.trip) if state.trip is not None else None
    return {"windows": [list(w) for w in state.windows], "shadowed": state.shadowed, "trip": trip}


def state_from_json(data: dict[str, Any]) -> GuardState:
    trip = data.get("trip")
    return GuardState(windows=tuple((int(a), int(e)) for a, e in data.get("windows", ())),
                      shadowed=bool(data.get("shadowed", False)),
                      trip=Trip(**trip) if isinstance(trip, dict) else None)


# ------------------------------------------------------------------ one region's guard: windows merged from partials


@dataclass(frozen=True, slots=True)
class RegionGuard:
    """One policy region's guard: open event-time windows (merged partials) and a `GuardState` per rule.

    Partial counts arrive from every decide agent (one per batch and window);
    a window closes once a window at least `grace_seconds` later has been
    seen, and each rule is then judged on it (`observe_window`).  A partial for
    an already closed window is late: not counted (the caller counts it).

    >>> cfg = GuardConfig(multiple=3.0, min_actions=5, baseline_windows=4, min_baseline_windows=2)
    >>> g = RegionGuard()
    >>> for w, hits in enumerate((1, 2, 1, 30, 0)):
    ...     g, trips, late = add_partial(g, w * 60, 100, {"prohibited_terms": hits}, cfg, 60, 0, ())
    >>> [(rule, t.actions) for rule, t, _ in trips], g.rules["prohibited_terms"].shadowed
    ([('prohibited_terms', 30)], True)
    """

    open: dict[int, tuple[int, dict[str, int]]] = dataclasses.field(default_factory=dict)
    newest: int | None = None
    closed_until: int | None = None  # every window starting before this is closed
    rules: dict[str, GuardState] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"open": {str(w): [e, a] for w, (e, a) in self.open.items()}, "newest": self.newest,
                "closed_until": self.closed_until,
                "rules": {r: state_to_json(s) for r, s in self.rules.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegionGuard:
        return cls(open={int(w): (int(e), {str(k): int(v) for k, v in a.items()})
                         for w, (e, a) in data.get("open", {}).items()},
                   newest=data.get("newest"), closed_until=data.get("closed_until"),
                   rules={r: state_from_json(s) for r, s in data.get("rules", {}).items()})


def add_partial(
    guard: RegionGuard, window: int, events: int, actions: dict[str, int], cfg: GuardConfig,
    window_seconds: int, grace_seconds: int, known_rules: tuple[str, ...],
) -> tuple[RegionGuard, list[tuple[str, Trip, int]], bool]:
    """Merge one partial; close the windows it makes old; return (guard, trips (rule, trip, window), late)."""
    if guard.closed_until is not None and window < guard.closed_until:
        return guard, [], True
    opened = dict(guard.open)
    seen_events, seen_actions = opened.get(window, (0, {}))
    merged = dict(seen_actions)
    for rule, n in actions.items():
        merged[rule] = merged.get(rule, 0) + n
    opened[window] = (seen_events + events, merged)
    newest = window if guard.newest is None else max(guard.newest, window)
    horizon = newest - grace_seconds  # windows that end at or before it are closed
    rules = dict(guard.rules)
    trips: list[tuple[str, Trip, int]] = []
    closed_until = guard.closed_until
    for start in sorted(w for w in opened if w + window_seconds <= horizon):
        n_events, hits = opened.pop(start)
        for rule in sorted({*known_rules, *rules, *hits}):
            state, trip = observe_window(rules.get(rule, GuardState()), hits.get(rule, 0), n_events, cfg)
            rules[rule] = state
            if trip is not None:
                trips.append((rule, trip, start))
        closed_until = start + window_seconds if closed_until is None else max(closed_until, start + window_seconds)
    return RegionGuard(open=opened, newest=newest, closed_until=closed_until, rules=rules), trips, False


def reenable_rule(guard: RegionGuard, rule: str) -> RegionGuard:
    """A policy manager re-enabled `rule` in this region."""
    rules = dict(guard.rules)
    rules[rule] = reenable(rules.get(rule, GuardState()))
    return dataclasses.replace(guard, rules=rules)


# ------------------------------------------------------------------ the policy every worker runs


def with_rules_shadowed(policy: Policy, rules: Iterable[str]) -> Policy:
    """`policy` with each named rule (a detector id, or ``rule:<id>``) in shadow mode.

    >>> from datetime import date
    >>> from riskstream.policy.model import DetectorPolicy
    >>> p = Policy(region="EU", version="2026.11.1", owner="tns", change_note="", effective_from=date(2026, 11, 1),
    ...     detectors={"prohibited_terms": DetectorPolicy(), "recall_match": DetectorPolicy()})
    >>> q = with_rules_shadowed(p, ["prohibited_terms"])
    >>> q.detectors["prohibited_terms"].mode, q.detectors["recall_match"].mode
    ('shadow', 'enforced')
    """
    detectors, own = dict(policy.detectors), dict(policy.rules)
    for rule in rules:
        if rule in detectors:
            detectors[rule] = dataclasses.replace(detectors[rule], mode="shadow")
        elif rule.startswith(RULE_PREFIX) and rule[len(RULE_PREFIX):] in own:
            rid = rule[len(RULE_PREFIX):]
            own[rid] = dataclasses.replace(own[rid], mode="shadow")
    return dataclasses.replace(policy, detectors=detectors, rules=own)


def enforced_rules(policy: Policy) -> tuple[str, ...]:
    """The rules the guard watches in `policy`: enabled and enforced."""
    dets = [d for d, r in policy.detectors.items() if r.enabled and r.mode == "enforced"]
    own = [RULE_PREFIX + rid for rid, r in policy.rules.items() if r.enabled and r.mode == "enforced"]
    return tuple(sorted(dets + own))
