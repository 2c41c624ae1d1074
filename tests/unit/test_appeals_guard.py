"""Appeals reverse actions; the blast-radius guard drops a surging rule to shadow."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from riskstream.contracts import EnforcementAction, ModerationFeedback, parse_time
from riskstream.decisions import Ledger, apply
from riskstream.decisions.appeals import ledger_after_reversal, reversal
from riskstream.decisions.blast_radius import GuardConfig, GuardState, observe_window, reenable
from riskstream.detectors.registry import default_registry
from riskstream.policy import load_policy
from tests.paths import REPO

T = parse_time("2026-06-01T00:00:00Z")
POLICY = load_policy(REPO / "policies" / "eu.yaml", default_registry())


def action(i: int, act: str = "remove", mode: str = "enforced") -> EnforcementAction:
    return EnforcementAction(action_id=f"a{i}", idempotency_key=f"k{i}", event_id=f"e{i}", event_time=T + timedelta(minutes=i),
                             region="DE", entity_type="listing", entity_id=f"l{i}", action=act,  # type: ignore[arg-type]
                             reason_codes=["prohibited_item"], evidence={"seller_id": "s1"}, policy_version="v",
                             mode=mode)  # type: ignore[arg-type]


def feedback(outcome: str, action_id: str = "a1") -> ModerationFeedback:
    return ModerationFeedback(event_id=f"f-{outcome}", event_time=T + timedelta(days=1), region="DE",
                              action_id=action_id, rule="prohibited_terms", outcome=outcome)  # type: ignore[arg-type]


@pytest.mark.parametrize(("outcome", "original", "reversed_"), [
    ("overturned", action(1), True),
    ("appeal_granted", action(1), True),
    ("confirmed", action(1), False),
    ("overturned", action(1, mode="shadow"), False),  # nothing was done, nothing to undo
    ("overturned", action(1, act="allow"), False),
])
def test_reversal_only_for_enforced_actions_overturned_or_appealed(outcome: str, original: EnforcementAction,
                                                                   reversed_: bool) -> None:
    r = reversal(feedback(outcome), original)
    assert (r is not None) == reversed_
    if r is not None:
        assert (r.action, r.entity_id, r.evidence["reverses"], r.automated_decision) == ("allow", "l1", "a1", False)
        assert r.evidence["seller_id"] == "s1"


def test_reversal_is_idempotent_across_outcomes_and_replays() -> None:
    a, b = reversal(feedback("overturned"), action(1)), reversal(feedback("appeal_granted"), action(1))
    assert a is not None and b is not None and a.idempotency_key == b.idempotency_key
    assert reversal(feedback("overturned"), a) is None  # a reversal is never reversed


def test_reversal_removes_the_points_and_lowers_the_level() -> None:
    ledger = Ledger.empty("seller", "s1")
    for i in range(6):
        ledger, _ = apply(ledger, action(i), T + timedelta(minutes=i), POLICY)
    before = ledger.points(T + timedelta(hours=1), POLICY)
    after = ledger_after_reversal(ledger, "a1", T + timedelta(hours=1), POLICY)
    assert after.points(T + timedelta(hours=1), POLICY) < before
    assert len(after.violations) == len(ledger.violations) - 1
    assert ledger_after_reversal(after, "a1", T + timedelta(hours=1), POLICY) == after  # idempotent


CFG = GuardConfig(multiple=3.0, min_actions=10, baseline_windows=6, min_baseline_windows=3)


@pytest.mark.parametrize(("history", "window", "trips"), [
    ([(5, 1000)] * 6, (50, 1000), True),  # 10x the baseline rate
    ([(5, 1000)] * 6, (14, 1000), False),  # under 3x
    ([(5, 1000)] * 6, (9, 100), False),  # 18x the rate, but fewer than min_actions
    ([(5, 1000)] * 2, (50, 1000), False),  # baseline too short to judge
    ([(0, 1000)] * 6, (30, 1000), True),  # a rule that never fired, now removing 30 per window
    ([(0, 1000)] * 6, (0, 0), False),  # no events
])
def test_guard_trips_on_a_surge_over_the_baseline(history: list[tuple[int, int]], window: tuple[int, int],
                                                  trips: bool) -> None:
    s = GuardState()
    for a, e in history:
        s, trip = observe_window(s, a, e, CFG)
        assert trip is None
    s, trip = observe_window(s, *window, CFG)
    assert (trip is not None) == trips == s.shadowed


def test_guard_stays_shadowed_until_reenabled_and_does_not_learn_the_surge() -> None:
    s = GuardState()
    for _ in range(6):
        s, _ = observe_window(s, 5, 1000, CFG)
    s, trip = observe_window(s, 80, 1000, CFG)
    assert trip is not None and s.shadowed
    s2, again = observe_window(s, 80, 1000, CFG)
    assert again is None and s2 == s  # no second alert while shadowed
    on = reenable(s)
    assert not on.shadowed and on.windows == s.windows and (80, 1000) not in on.windows
    assert dataclasses.replace(on, trip=None) == on
