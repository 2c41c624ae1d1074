"""The pieces that wire appeals and the blast-radius guard: engine, policy runtime, guard windows, statements."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import orjson
import pytest

from riskstream.contracts import ContentEvent, EnforcementAction, ModerationFeedback, parse_time
from riskstream.decisions import Ledger
from riskstream.decisions.appeals import appealable, reversal
from riskstream.decisions.blast_radius import (
    GuardConfig,
    RegionGuard,
    add_partial,
    enforced_rules,
    reenable_rule,
    with_rules_shadowed,
)
from riskstream.decisions.dsa import NoStatement, statement_of_reversal
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine, Outcome
from riskstream.policy import load_policy
from riskstream.resources import sample_policy_dir
from riskstream.stream import metrics as m
from riskstream.stream.control import PolicyRuntime
from riskstream.stream.feedback_stats import RECENT_IDS, counted, stats_key
from riskstream.stream.guard import control_record, partials

T = parse_time("2026-06-01T00:00:00Z")
REGISTRY = default_registry()
EU_PATH = sample_policy_dir() / "eu.yaml"
EU = load_policy(EU_PATH, REGISTRY)


def removal(i: int = 1, entity_type: str = "listing", region: str = "DE") -> EnforcementAction:
    return EnforcementAction(action_id=f"a{i}", idempotency_key=f"k{i}", event_id=f"e{i}", event_time=T,
                             region=region, entity_type=entity_type, entity_id=f"l{i}",  # type: ignore[arg-type]
                             action="remove", reason_codes=["prohibited_item"],
                             evidence={"seller_id": "s1", "detectors": ["prohibited_terms"],
                                       "signals": [{"code": "prohibited_item", "evidence": {"terms": ["ivory"]}}]},
                             policy_version=EU.version, mode="enforced")


def appeal(outcome: str = "appeal_granted", action_id: str = "a1") -> ModerationFeedback:
    return ModerationFeedback(event_id=f"f-{outcome}", event_time=T + timedelta(days=2), region="DE",
                              action_id=action_id, rule="prohibited_terms", outcome=outcome)  # type: ignore[arg-type]


def engine() -> Engine:
    e = Engine(REGISTRY)
    e.set_policy(EU)
    return e


# ------------------------------------------------------------------ engine: ledger and actioned broadcast


def test_a_reversal_removes_the_original_points_from_the_ledger() -> None:
    e = engine()
    ledger, _, _ = e.on_violation(None, removal(1))
    ledger, _, _ = e.on_violation(ledger, removal(2))
    assert ledger is not None and len(ledger.violations) == 2
    rev = reversal(appeal(), removal(1))
    assert rev is not None
    after, esc, escalated = e.on_violation(ledger, rev)
    assert after is not None and [v.action_id for v in after.violations] == ["a2"]
    assert esc is None and escalated is None
    again, _, _ = e.on_violation(after, rev)  # a replayed reversal changes nothing
    assert again == after
    assert e.on_violation(None, rev)[0] is None  # no ledger: nothing to remove, none created


def test_a_reversal_un_actions_the_listing_for_content_linking_to_it() -> None:
    e = engine()
    e.note_actioned(removal(1))
    assert _links(e, "l1", 1, "my new video")
    rev = reversal(appeal(), removal(1))
    assert rev is not None
    e.note_actioned(rev)
    assert not _links(e, "l1", 2, "my new video")


def test_a_listing_held_for_a_missing_mark_is_not_an_actioned_link() -> None:
    """The engine hands the action's reasons on: a hold for paperwork does not taint the posts linking it."""
    e = engine()
    text = "Unboxing my new toy water gun"
    held = dataclasses.replace(removal(3), action="hold", reason_codes=["certification_missing"])
    e.note_actioned(held)
    assert not _links(e, "l3", 1, text)
    e.note_actioned(dataclasses.replace(held, reason_codes=["certification_missing", "restricted_item"]))
    assert _links(e, "l3", 2, text)


def _links(e: Any, listing_id: str, n: int, text: str) -> bool:
    """Does a creator's post linking `listing_id` get the links_actioned_listing signal?"""
    ev = ContentEvent(event_id=f"c{n}", event_time=T, region="DE", content_id=f"c{n}", creator_id="cr1",
                      content_kind="video", text=text, linked_listing_ids=[listing_id])
    return any(s.code == "links_actioned_listing" for s in e.process(ev).signals)


# ------------------------------------------------------------------ the index and the DSA statement


def test_the_appeals_index_keeps_no_signal_evidence_and_nothing_unappealable() -> None:
    kept = appealable(removal(1))
    assert kept is not None and "signals" not in kept.evidence and kept.evidence["seller_id"] == "s1"
    assert appealable(dataclasses.replace(removal(1), mode="shadow")) is None
    rev = reversal(appeal(), removal(1))
    assert rev is not None and appealable(rev) is None


def test_a_reversed_eu_removal_gets_a_reversal_statement() -> None:
    original = removal(1)
    rev = reversal(appeal(), original)
    assert rev is not None
    sor = statement_of_reversal(rev, original, EU)
    assert sor["puid"] == "a1" and sor["decision_reversed"] is True
    assert sor["reversed_decision"]["decision_visibility"] == ["DECISION_VISIBILITY_CONTENT_REMOVED"]
    assert sor["automated_decision"] == "AUTOMATED_DECISION_NOT_AUTOMATED" and "20(4)" in sor["reversal_ground"]
    with pytest.raises(NoStatement):  # a flag restricted nothing: no statement then, none now
        statement_of_reversal(rev, dataclasses.replace(original, action="flag"), EU)


# ------------------------------------------------------------------ feedback statistics


def test_feedback_counts_each_event_once_and_remember_a_bounded_window() -> None:
    fb = appeal("overturned")
    assert stats_key(fb) == "prohibited_terms|EU"
    value = counted(None, fb)
    assert value is not None and counted(value, fb) is None
    for i in range(RECENT_IDS + 10):
        value = counted(value, dataclasses.replace(fb, event_id=f"x{i}", outcome="confirmed")) or value
    assert len(value["recent"]) == RECENT_IDS and value["confirmed"] == RECENT_IDS + 10
    assert value["overturned"] == 1


# ------------------------------------------------------------------ the guard


CFG = GuardConfig(multiple=3.0, min_actions=5, baseline_windows=6, min_baseline_windows=3)


def test_windows_close_after_the_grace_and_late_partials_are_not_counted() -> None:
    g = RegionGuard()
    g, trips, late = add_partial(g, 0, 100, {"prohibited_terms": 1}, CFG, 60, 60, ("recall_match",))
    g, trips, late = add_partial(g, 60, 100, {}, CFG, 60, 60, ("recall_match",))
    assert sorted(g.open) == [0, 60] and not trips  # window 0 waits for its grace
    g, trips, late = add_partial(g, 120, 100, {}, CFG, 60, 60, ("recall_match",))
    assert sorted(g.open) == [60, 120] and g.closed_until == 60
    assert g.rules["recall_match"].windows == ((0, 100),) and g.rules["prohibited_terms"].windows == ((1, 100),)
    g2, _, late = add_partial(g, 0, 5, {"prohibited_terms": 5}, CFG, 60, 60, ())
    assert late and g2 == g
    assert RegionGuard.from_json(orjson.loads(orjson.dumps(g.to_json()))) == g


def test_two_partials_of_one_window_merge_before_it_is_judged() -> None:
    g = RegionGuard()
    for w in range(4):
        g, _, _ = add_partial(g, w * 60, 100, {"prohibited_terms": 1}, CFG, 60, 0, ())
    g, _, _ = add_partial(g, 240, 50, {"prohibited_terms": 20}, CFG, 60, 0, ())  # two workers' halves
    g, _, _ = add_partial(g, 240, 50, {"prohibited_terms": 20}, CFG, 60, 0, ())
    g, trips, _ = add_partial(g, 300, 1, {}, CFG, 60, 0, ())
    ((rule, trip, window),) = trips
    assert (rule, trip.actions, trip.events, window) == ("prohibited_terms", 40, 100, 240)
    assert g.rules[rule].shadowed and not reenable_rule(g, rule).rules[rule].shadowed


def test_shadowing_a_rule_and_the_rules_the_guard_watches() -> None:
    assert "prohibited_terms" in enforced_rules(EU)
    shadowed = with_rules_shadowed(EU, ["prohibited_terms", "no_such_rule"])
    assert shadowed.detectors["prohibited_terms"].mode == "shadow"
    assert "prohibited_terms" not in enforced_rules(shadowed)
    own = [f"rule:{rid}" for rid, r in EU.rules.items() if r.mode == "enforced" and r.enabled]
    if own:
        assert with_rules_shadowed(EU, own[:1]).rules[own[0][5:]].mode == "shadow"


def test_partials_count_events_and_enforced_actions_per_rule_and_window() -> None:
    ev = ContentEvent(event_id="c1", event_time=T + timedelta(seconds=70), region="DE", content_id="c1",
                      creator_id="cr", content_kind="video", text="x")
    shadow = dataclasses.replace(removal(2), mode="shadow")
    out = partials([Outcome(event=ev, actions=[removal(1), shadow]), Outcome(event=ev)], 60)
    start = int(T.timestamp()) + 60
    assert out == {("EU", start): {"events": 2, "actions": {"prohibited_terms": 1}}}


def test_every_worker_applies_guard_records_and_a_new_policy_keeps_the_rule_shadowed() -> None:
    e = engine()
    rt = PolicyRuntime(REGISTRY, e)
    rt.apply_document(orjson.dumps({"region": "EU", "version": EU.version, "yaml": EU_PATH.read_text()}))
    assert rt.apply_document(control_record("EU", "prohibited_terms", True)) is None
    policy = e.policy("EU")
    assert policy is not None and policy.detectors["prohibited_terms"].mode == "shadow"
    assert m.GUARD_SHADOWED.labels("prohibited_terms", "EU")._value.get() == 1
    newer = EU_PATH.read_text().replace(f'version: "{EU.version}"', 'version: "2026.12.9"')
    assert rt.apply_document(orjson.dumps({"region": "EU", "version": "2026.12.9", "yaml": newer})) is None
    policy = e.policy("EU")
    assert policy is not None and policy.version == "2026.12.9"
    assert policy.detectors["prohibited_terms"].mode == "shadow"
    base = rt.base_policy("EU")
    assert base is not None and base.detectors["prohibited_terms"].mode == "enforced"
    assert rt.apply_document(control_record("EU", "prohibited_terms", False, by="test")) is None
    policy = e.policy("EU")
    assert policy is not None and policy.detectors["prohibited_terms"].mode == "enforced"
    assert m.GUARD_SHADOWED.labels("prohibited_terms", "EU")._value.get() == 0
    assert rt.apply_document(orjson.dumps({"kind": "blast_radius", "region": "EU"})) == "not_a_document"


def test_ledger_type_is_unchanged_by_a_reversal_of_an_unknown_action() -> None:
    e = engine()
    ledger, _, _ = e.on_violation(None, removal(1))
    rev = reversal(appeal(action_id="a9"), dataclasses.replace(removal(9), action_id="a9"))
    assert rev is not None
    after, _, _ = e.on_violation(ledger, rev)
    assert isinstance(after, Ledger) and after == ledger


def test_guard_settings_from_the_environment() -> None:
    from riskstream.settings import GuardSettings

    d = GuardSettings.from_env({})
    assert (d.enabled, d.min_actions, d.exempt_rules) == (True, 100, ("recall_match",))
    s = GuardSettings.from_env({"RISKSTREAM_GUARD_ENABLED": "0", "RISKSTREAM_GUARD_EXEMPT_RULES": "a, rule:b,",
                                "RISKSTREAM_GUARD_WINDOW_SECONDS": "0", "RISKSTREAM_GUARD_MULTIPLE": "2.5"})
    assert (s.enabled, s.exempt_rules, s.window_seconds, s.multiple) == (False, ("a", "rule:b"), 1, 2.5)
