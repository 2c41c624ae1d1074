"""The decision layer: risk score, strongest action, shadow vs enforced, idempotency, ledger."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
import pytest

from riskstream.contracts import ActionKind, ContentEvent, EnforcementAction, ListingEvent, Signal, parse_time
from riskstream.decisions import (
    Ledger,
    apply,
    decide,
    idempotency_key,
    risk_score,
    strongest,
    subject_of,
)
from riskstream.policy.model import (
    DecisionThresholds,
    DetectorPolicy,
    EnforcementPolicy,
    EscalationThresholds,
    Policy,
)

T0 = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)


def policy(**detectors: DetectorPolicy) -> Policy:
    return Policy(
        region="EU",
        version="2026.11.1",
        owner="tns-eu",
        change_note="test",
        effective_from=date(2026, 11, 1),
        detectors=detectors,
        decision=DecisionThresholds(flag=0.5, hold=0.8, remove=0.95),
        enforcement=EnforcementPolicy(
            points={"remove": 3, "hold": 1, "demote_content": 1, "flag": 0},
            expiry_days=90,
            seller=EscalationThresholds(warning=3, restriction=6, suspension=9),
            creator=EscalationThresholds(warning=2, restriction=4, suspension=8),
        ),
    )


def listing(event_id: str = "e1", listing_id: str = "l1", seller_id: str = "s1") -> ListingEvent:
    return ListingEvent(event_id=event_id, event_time=T0, region="DE", op="created",
                        listing_id=listing_id, seller_id=seller_id, category="toys",
                        title="x", price=10.0, currency="EUR")


def signal(detector: str, code: str, score: float = 1.0, *, entity_type: Any = "listing",
           entity_id: str = "l1", event_id: str = "e1", **evidence: Any) -> Signal:
    return Signal(detector=detector, code=code, entity_type=entity_type, entity_id=entity_id,
                  region="DE", score=score, event_id=event_id, event_time=T0, evidence=evidence)


TERMS = DetectorPolicy(actions={"prohibited_item": "remove", "restricted_item": "flag"})
ATTRS = DetectorPolicy(actions={"certification_missing": "hold"})


# --------------------------------------------------------------------------- combining


def test_strongest_action_wins_per_entity() -> None:
    p = policy(prohibited_terms=TERMS, mandatory_attributes=ATTRS)
    sigs = [
        signal("prohibited_terms", "restricted_item", 0.6, terms=["vape"]),
        signal("mandatory_attributes", "certification_missing", 0.7, missing=["CE"]),
        signal("prohibited_terms", "prohibited_item", 1.0, terms=["ivory"]),
    ]
    (action,) = decide(sigs, p, listing())
    assert action.action == "remove"
    assert action.mode == "enforced"
    assert action.reason_codes[0] == "prohibited_item"  # the code that decided comes first
    assert set(action.reason_codes) == {"prohibited_item", "restricted_item", "certification_missing"}
    assert action.evidence["detectors"] == ["mandatory_attributes", "prohibited_terms"]
    assert action.evidence["rules"] == {
        "certification_missing": "hold", "prohibited_item": "remove", "restricted_item": "flag"}
    assert action.evidence["seller_id"] == "s1"
    assert action.automated_decision and action.automated_detection


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([0.3], None),            # below flag: allow, nothing emitted
        ([0.5], "flag"),
        ([0.6, 0.5], "hold"),     # noisy-or: 1 - 0.4 * 0.5 = 0.8
        ([0.9, 0.6], "remove"),   # 1 - 0.1 * 0.4 = 0.96
    ],
)
def test_unmapped_codes_decided_by_risk_thresholds(scores: list[float], expected: str | None) -> None:
    p = policy(price_outlier=DetectorPolicy())
    sigs = [signal("price_outlier", f"code{i}", s) for i, s in enumerate(scores)]
    actions = decide(sigs, p, listing())
    assert [a.action for a in actions] == ([expected] if expected else [])
    if actions:
        assert actions[0].evidence["decided_by"] == "risk_threshold"


def test_weight_scales_the_risk_score() -> None:
    p = policy(price_outlier=DetectorPolicy(weight=0.5), review_burst=DetectorPolicy(weight=1.0))
    sigs = [signal("price_outlier", "a", 0.8), signal("review_burst", "b", 0.5)]
    assert risk_score(sigs, p) == pytest.approx(1 - (1 - 0.4) * (1 - 0.5))


def test_mapped_allow_produces_nothing() -> None:
    p = policy(prohibited_terms=DetectorPolicy(actions={"restricted_item": "allow"}))
    assert decide([signal("prohibited_terms", "restricted_item", 0.4)], p, listing()) == []


def test_signals_from_unknown_or_disabled_detectors_are_ignored() -> None:
    p = policy(prohibited_terms=dataclasses.replace(TERMS, enabled=False))
    sigs = [signal("prohibited_terms", "prohibited_item"), signal("not_in_policy", "x")]
    assert decide(sigs, p, listing()) == []


def test_each_entity_gets_its_own_action() -> None:
    p = policy(prohibited_terms=TERMS, new_seller_burst=DetectorPolicy(
        actions={"new_seller_burst": "restrict_seller"}))
    sigs = [signal("prohibited_terms", "prohibited_item"),
            signal("new_seller_burst", "new_seller_burst", 0.9, entity_type="seller", entity_id="s1")]
    got = {(a.entity_type, a.entity_id): a.action for a in decide(sigs, p, listing())}
    assert got == {("listing", "l1"): "remove", ("seller", "s1"): "restrict_seller"}


def test_flag_is_not_an_automated_decision() -> None:
    p = policy(prohibited_terms=TERMS)
    (action,) = decide([signal("prohibited_terms", "restricted_item", 0.3)], p, listing())
    assert action.action == "flag" and not action.automated_decision


def test_strongest_order() -> None:
    assert strongest([]) == "allow"
    assert strongest(["flag", "demote_content", "hold"]) == "hold"
    assert strongest(["remove", "restrict_seller"]) == "restrict_seller"


# --------------------------------------------------------------------------- shadow vs enforced


def test_shadow_and_enforced_rules_on_one_entity_give_two_actions() -> None:
    shadow = DetectorPolicy(mode="shadow", actions={"certification_missing": "remove"})
    p = policy(prohibited_terms=TERMS, mandatory_attributes=shadow)
    sigs = [signal("prohibited_terms", "restricted_item", 0.6),
            signal("mandatory_attributes", "certification_missing", 0.7)]
    actions = decide(sigs, p, listing())
    by_mode = {a.mode: a for a in actions}
    assert set(by_mode) == {"enforced", "shadow"}
    # The enforced rule still acts, unaffected by the stronger shadow rule ...
    assert by_mode["enforced"].action == "flag"
    assert by_mode["enforced"].evidence["detectors"] == ["prohibited_terms"]
    # ... and the shadow rule's decision is recorded, marked, never mixed in.
    assert by_mode["shadow"].action == "remove"
    assert by_mode["shadow"].evidence["detectors"] == ["mandatory_attributes"]
    assert by_mode["shadow"].evidence["enforced_action"] == "flag"
    assert by_mode["shadow"].idempotency_key != by_mode["enforced"].idempotency_key


def test_shadow_only_entity_gets_only_a_shadow_action() -> None:
    p = policy(prohibited_terms=dataclasses.replace(TERMS, mode="shadow"))
    (action,) = decide([signal("prohibited_terms", "prohibited_item")], p, listing())
    assert action.mode == "shadow" and action.action == "remove"
    assert action.evidence["enforced_action"] == "allow"


# --------------------------------------------------------------------------- idempotency


def test_idempotency_key_is_stable_under_replay() -> None:
    p = policy(prohibited_terms=TERMS)
    sigs = [signal("prohibited_terms", "prohibited_item")]
    first, again = decide(sigs, p, listing()), decide(sigs, p, listing())
    assert [a.idempotency_key for a in first] == [a.idempotency_key for a in again]
    assert first == again
    assert first[0].idempotency_key == idempotency_key("e1", "listing", "l1", "remove", "enforced")


def test_replay_after_policy_bump_keeps_key_but_not_action_id() -> None:
    sigs = [signal("prohibited_terms", "prohibited_item")]
    old = decide(sigs, policy(prohibited_terms=TERMS), listing())[0]
    bumped = dataclasses.replace(policy(prohibited_terms=TERMS), version="2026.12.1")
    new = decide(sigs, bumped, listing())[0]
    assert new.idempotency_key == old.idempotency_key  # same decision: not enforced twice
    assert new.action_id != old.action_id  # but the audit trail tells the versions apart
    assert new.policy_version == "2026.12.1"


def test_different_decision_after_policy_change_gets_a_new_key() -> None:
    sigs = [signal("prohibited_terms", "prohibited_item", 0.85)]
    old = decide(sigs, policy(prohibited_terms=TERMS), listing())[0]
    stricter = DetectorPolicy(actions={"prohibited_item": "hold"})
    new = decide(sigs, policy(prohibited_terms=stricter), listing())[0]
    assert (old.action, new.action) == ("remove", "hold")
    assert new.idempotency_key != old.idempotency_key


# --------------------------------------------------------------------------- ledger


def enforced(action: ActionKind = "remove", key: str = "k1", *, entity_type: Any = "listing",
             mode: Any = "enforced", **evidence: Any) -> EnforcementAction:
    evidence = evidence or {"seller_id": "s1"}
    return EnforcementAction(action_id=f"a-{key}", idempotency_key=key, event_id="e", event_time=T0,
                             region="DE", entity_type=entity_type, entity_id="x", action=action,
                             reason_codes=["prohibited_item"], evidence=evidence,
                             policy_version="2026.11.1", mode=mode)


def test_ledger_escalates_warning_restriction_suspension() -> None:
    p = policy()
    state = Ledger.empty("seller", "s1")
    levels = []
    for i in range(3):
        state, esc = apply(state, enforced(key=f"k{i}"), T0 + timedelta(days=i), p)
        assert esc is not None
        levels.append((esc.level, esc.action, esc.points, esc.previous_level))
    assert levels == [("warning", None, 3, "none"),
                      ("restriction", "restrict_seller", 6, "warning"),
                      ("suspension", "restrict_seller", 9, "restriction")]
    # Beyond the top level there is nothing further to escalate to.
    state, esc = apply(state, enforced(key="k9"), T0 + timedelta(days=4), p)
    assert esc is None and state.level == "suspension"


def test_ledger_points_expire() -> None:
    p = policy()
    state, _ = apply(Ledger.empty("seller", "s1"), enforced(key="k1"), T0, p)
    state, _ = apply(state, enforced(key="k2"), T0 + timedelta(days=10), p)
    assert state.points(T0 + timedelta(days=10), p) == 6
    # 90 days after the first violation it has lapsed; the second is still live.
    later = T0 + timedelta(days=90)
    assert state.points(later, p) == 3
    state, esc = apply(state, enforced("hold", key="k3"), later, p)
    assert esc is None
    assert [v.idempotency_key for v in state.violations] == ["k2", "k3"]
    assert state.level == "warning"  # restriction lapsed with the points


def test_ledger_re_escalates_after_lapse() -> None:
    p = policy()
    state = Ledger.empty("seller", "s1")
    for i in range(2):
        state, _ = apply(state, enforced(key=f"k{i}"), T0, p)
    assert state.level == "restriction"
    state, esc = apply(state, enforced(key="k5"), T0 + timedelta(days=100), p)
    assert esc is not None and esc.level == "warning" and esc.previous_level == "none"


def test_ledger_ignores_replays_shadow_and_pointless_actions() -> None:
    p = policy()
    state, esc = apply(Ledger.empty("seller", "s1"), enforced(key="k1"), T0, p)
    assert esc is not None
    again, esc = apply(state, enforced(key="k1"), T0 + timedelta(hours=1), p)
    assert esc is None and again.points(T0, p) == 3
    shadow, esc = apply(state, enforced(key="k2", mode="shadow"), T0, p)
    assert esc is None and shadow.points(T0, p) == 3
    flagged, esc = apply(state, enforced("flag", key="k3"), T0, p)
    assert esc is None and flagged.points(T0, p) == 3


def test_creator_restriction_is_a_strike() -> None:
    p = policy()
    state = Ledger.empty("creator", "cr1")
    state, esc = apply(state, enforced(key="k1", entity_type="content", creator_id="cr1"), T0, p)
    state, esc = apply(state, enforced(key="k2", entity_type="content", creator_id="cr1"), T0, p)
    assert esc is not None and (esc.level, esc.action) == ("restriction", "strike")


def test_ledger_state_round_trips_through_json() -> None:
    p = policy()
    state, _ = apply(Ledger.empty("seller", "s1"), enforced(key="k1"), T0, p)
    raw = orjson.dumps(state.to_json())
    assert Ledger.from_json(orjson.loads(raw)) == state


def test_ledger_refuses_naive_time() -> None:
    with pytest.raises(ValueError, match="timezone"):
        apply(Ledger.empty("seller", "s1"), enforced(), datetime(2026, 1, 1), policy())  # noqa: DTZ001


def test_subject_of() -> None:
    assert subject_of(enforced(seller_id="s9")) == ("seller", "s9")
    assert subject_of(enforced(entity_type="seller")) == ("seller", "x")
    assert subject_of(enforced(entity_type="review", other=1)) is None


def test_decide_feeds_the_ledger_for_content() -> None:
    p = policy(content_prohibited=DetectorPolicy(actions={"promotes_prohibited": "remove"}))
    ev = ContentEvent(event_id="e1", event_time=T0, region="DE", content_id="c1", creator_id="cr1",
                      content_kind="live", text="x")
    sig = signal("content_prohibited", "promotes_prohibited", entity_type="content", entity_id="c1")
    (action,) = decide([sig], p, ev)
    assert subject_of(action) == ("creator", "cr1")
    assert action.evidence["content_kind"] == "live"


def test_escalation_identity_does_not_depend_on_arrival_order() -> None:
    """The same violations in two orders escalate the seller with the same idempotency key."""
    from riskstream.detectors.registry import default_registry
    from riskstream.engine import Engine
    from riskstream.policy import load_policy
    from riskstream.resources import sample_policy_dir

    def escalations(order: list[int]) -> set[tuple[str, str]]:
        engine = Engine(default_registry())
        engine.set_policy(load_policy(sample_policy_dir() / "eu.yaml", default_registry()))
        ledger, keys = None, set()
        for i in order:
            action = EnforcementAction(
                action_id=f"a{i}", idempotency_key=f"k{i}", event_id=f"e{i}",
                event_time=parse_time(f"2026-11-01T10:0{i}:00Z"), region="DE", entity_type="listing",
                entity_id=f"l{i}", action="remove", reason_codes=["prohibited_item"],
                evidence={"seller_id": "s1", "detectors": ["prohibited_terms"]}, policy_version="2026.11.2",
                mode="enforced", risk_score=1.0)
            ledger, _esc, escalated = engine.on_violation(ledger, action)
            if escalated is not None:
                keys.add((escalated.action, escalated.idempotency_key))
        return keys

    forward, backward = escalations([0, 1, 2, 3, 4, 5]), escalations([5, 4, 3, 2, 1, 0])
    assert forward and forward == backward


def test_a_backfilled_listing_accrues_points_to_its_own_seller() -> None:
    """A wave completed by another seller's listing: the earlier listing's points go to its own seller."""
    from datetime import date

    from riskstream.contracts import ListingEvent, Signal, parse_time
    from riskstream.decisions import decide
    from riskstream.policy.model import DetectorPolicy, Policy

    policy = Policy(region="EU", version="1", owner="tns", change_note="", effective_from=date(2026, 11, 1),
                    detectors={"new_seller_wave": DetectorPolicy(actions={"new_seller_wave": "hold"})})
    t = parse_time("2026-11-02T10:00:00Z")

    def ev(listing: str, seller: str) -> ListingEvent:
        return ListingEvent(event_id=f"e-{listing}", event_time=t, region="DE", op="created", listing_id=listing,
                            seller_id=seller, category="bags", title="bag", price=10.0, currency="EUR")

    def wave_signal(trigger: ListingEvent, listing: str, seller: str) -> Signal:
        return Signal(detector="new_seller_wave", code="new_seller_wave", score=0.9, event_id=trigger.event_id,
                      event_time=t, region="DE", entity_type="listing", entity_id=listing,
                      evidence={"seller_id": seller})

    first, second = ev("l9", "s9"), ev("l8", "s8")  # either may be the one that completes the wave
    a = decide([wave_signal(first, "l1", "s1")], policy, first)
    b = decide([wave_signal(second, "l1", "s1")], policy, second)
    assert len(a) == len(b) == 1
    # not decided alone: keyed by the trigger's event (one owner per key: the decide partition of that event)
    assert a[0].idempotency_key != b[0].idempotency_key
    assert a[0].evidence["seller_id"] == b[0].evidence["seller_id"] == "s1"  # not s9 / s8, the triggers' sellers
    own = decide([wave_signal(first, "l9", "s9")], policy, first)
    assert own[0].evidence["seller_id"] == "s9"


def test_a_detector_decided_alone_gets_one_action_per_listing_whatever_the_arrival_order() -> None:
    """new_seller_wave: back-filled by either trigger, or signalled on its own arrival, one listing, one key.

    Its lane is decided by its rule alone: not combined with the carrying event's other
    signals, and not by the risk threshold (its score describes the wave when that arrival came).
    """
    from datetime import date

    from riskstream.contracts import ListingEvent, Signal, parse_time
    from riskstream.decisions import decide
    from riskstream.detectors.registry import default_registry
    from riskstream.policy.model import DetectorPolicy, Policy

    alone = default_registry().decided_alone()
    assert "new_seller_wave" in alone and "prohibited_terms" not in alone
    policy = Policy(region="EU", version="1", owner="tns", change_note="", effective_from=date(2026, 11, 1),
                    detectors={"new_seller_wave": DetectorPolicy(actions={"new_seller_wave": "flag"}),
                               "prohibited_terms": DetectorPolicy(weight=0.5)})
    t = parse_time("2026-11-02T10:00:00Z")

    def ev(listing: str, seller: str) -> ListingEvent:
        return ListingEvent(event_id=f"e-{listing}", event_time=t, region="DE", op="created", listing_id=listing,
                            seller_id=seller, category="bags", title="bag", price=10.0, currency="EUR")

    def sig(detector: str, code: str, trigger: ListingEvent, listing: str, seller: str, score: float) -> Signal:
        return Signal(detector=detector, code=code, score=score, event_id=trigger.event_id,
                      event_time=t, region="DE", entity_type="listing", entity_id=listing,
                      evidence={"seller_id": seller})

    l1, l8, l9 = ev("l1", "s1"), ev("l8", "s8"), ev("l9", "s9")
    both = [sig("new_seller_wave", "new_seller_wave", l1, "l1", "s1", 0.95),
            sig("prohibited_terms", "restricted_item", l1, "l1", "s1", 1.0)]
    by_l9 = decide([sig("new_seller_wave", "new_seller_wave", l9, "l1", "s1", 0.75)], policy, l9, alone)
    by_l8 = decide([sig("new_seller_wave", "new_seller_wave", l8, "l1", "s1", 1.0)], policy, l8, alone)
    # on its own arrival, with another signal that would combine with it past `hold` (0.8)
    own = decide(both, policy, l1, alone)
    wave_own = [a for a in own if a.evidence.get("decided_alone") == "new_seller_wave"]
    rest = [a for a in own if "decided_alone" not in a.evidence]
    assert [a.action for a in by_l9] == [a.action for a in by_l8] == [a.action for a in wave_own] == ["flag"]
    assert by_l9[0].idempotency_key == by_l8[0].idempotency_key == wave_own[0].idempotency_key
    assert by_l9[0].action_id == by_l8[0].action_id
    assert by_l9[0].evidence["seller_id"] == wave_own[0].evidence["seller_id"] == "s1"
    # the other signal is decided in the event's own lane, under the event's key, without the wave
    assert [(a.action, a.reason_codes) for a in rest] == [("flag", ["restricted_item"])]
    assert rest[0].idempotency_key != wave_own[0].idempotency_key
    # without `alone` the two combine (the old behaviour): one action for the listing, past hold
    (combined,) = decide(both, policy, l1)
    assert combined.action == "remove"  # 1 - 0.05 * 0.5
