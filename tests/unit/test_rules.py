"""Policy rules: CEL conditions compiled once per load, checked with FILE:LINE:COL, decided like signals."""

from __future__ import annotations

import dataclasses
import textwrap
from datetime import date, timedelta
from typing import Any

import orjson
import pytest

from riskstream.contracts import ContentEvent, ListingEvent, ReviewEvent, Signal, parse_time
from riskstream.decisions import statement_of_reasons
from riskstream.decisions.explain import explain
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import PolicyError, check, load_policy
from riskstream.policy.model import LegalBasis, Policy, Rule
from riskstream.policy.rule_check import MAX_RULE_COST, check_condition, estimate_cost, tokens
from riskstream.policy.rules import compile_rules, condition_problems
from riskstream.resources import sample_policy_dir
from riskstream.stream.control import PolicyRuntime

T = parse_time("2026-11-02T10:00:00Z")
REG = default_registry()


def listing(**kw: Any) -> ListingEvent:
    base: dict[str, Any] = dict(event_id="e1", event_time=T, region="FR", op="created", listing_id="l1",
                                seller_id="s1", category="cosmetics", title="Red lipstick", price=3.5,
                                currency="EUR", seller_age_days=2)
    return ListingEvent(**{**base, **kw})


def review(**kw: Any) -> ReviewEvent:
    base: dict[str, Any] = dict(event_id="r1", event_time=T, region="DE", review_id="rv1", listing_id="l1",
                                buyer_id="b1", rating=1, text="Scam!!", language="de",
                                verified_purchase=False, account_age_days=1)
    return ReviewEvent(**{**base, **kw})


def policy(rules: dict[str, Rule], region: str = "EU", **kw: Any) -> Policy:
    return Policy(region=region, version="2026.11.1", owner="tns", change_note="", detectors={},  # type: ignore[arg-type]
                  effective_from=date(2026, 11, 1), rules=rules, **kw)


def sig(detector: str, code: str, score: float = 0.9, **evidence: Any) -> Signal:
    return Signal(detector=detector, code=code, entity_type="listing", entity_id="l1", region="FR",
                  score=score, event_id="e1", event_time=T, evidence=evidence)


# --------------------------------------------------------------------------- evaluation


@pytest.mark.parametrize(("condition", "event", "signals", "matched"), [
    ('event.category == "cosmetics" && event.price < 5.0 && seller.age_days < 7', listing(), [], True),
    ('event.category == "cosmetics" && event.price < 5.0 && seller.age_days < 7', listing(price=9.0), [], False),
    ("event.price < 5", listing(), [], True),  # int literal against a double field: numeric comparison
    ('event.country == "FR" && event.region == "EU"', listing(), [], True),
    ('"CE" in event.certifications', listing(certifications=["CE"]), [], True),
    ('event.attributes["colour"] == "red"', listing(attributes={"colour": "red"}), [], True),
    ('text.normalized.contains("lipstick")', listing(title="R3D L1PST1CK"), [], True),
    ("text.length > 100", listing(), [], False),
    ('"prohibited_item" in signals.codes', listing(), [sig("prohibited_terms", "prohibited_item")], True),
    ('"price_outlier" in signals.detectors', listing(), [sig("prohibited_terms", "prohibited_item")], False),
    ("signals.count >= 1 && signals.max_score > 0.8", listing(), [sig("x", "y", 0.9)], True),
    ("has(price.ratio_to_baseline) && price.ratio_to_baseline < 0.2", listing(price=100.0),
     [sig("price_outlier", "price_below_baseline", baseline_median=1000.0)], True),
    ("has(price.ratio_to_baseline)", listing(), [], False),
    ("has(seller.age_days)", listing(seller_age_days=None), [], False),
    ('signals.codes.exists(c, c.startsWith("prohib"))', listing(), [sig("p", "prohibited_item")], True),
    ('event.title.matches("(?i)lip")', listing(), [], True),
])
def test_a_condition_is_judged_on_the_event_and_its_signals(
    condition: str, event: ListingEvent, signals: list[Signal], matched: bool
) -> None:
    assert not condition_problems(condition, "listing", [])
    rules = compile_rules(policy({"r": Rule(condition=condition, reason="why", action="flag")}))
    [result] = rules.judge(event, signals)
    assert (result.matched, result.error) == (matched, None)
    assert [s.detector for s in rules.evaluate(event, signals)] == (["rule:r"] if matched else [])


def test_term_lists_are_matched_with_the_detectors_normalisation() -> None:
    pol = policy({"stim": Rule(condition='size(terms.stimulants) > 0 && "dmaa" in terms.stimulants',
                               reason="stimulant", action="hold")},
                 term_lists={"stimulants": ("dmaa", "geranium extract")})
    [hit] = compile_rules(pol).evaluate(listing(title="Pre-workout D.M.A.A extreme"), [])
    assert hit.evidence == {"rule": "stim", "values": {"terms.stimulants": ["dmaa"]}}


def test_rules_that_cannot_apply_are_not_evaluated() -> None:
    pol = policy({
        "fr": Rule(condition="event.price < 5.0", reason="a", action="flag", countries=("FR",)),
        "reviews": Rule(condition="event.rating == 1", reason="b", action="flag", kind="review"),
        "off": Rule(condition="true", reason="c", action="flag", enabled=False),
    })
    rules = compile_rules(pol)
    assert [r.id for r in rules.applicable(listing())] == ["fr"]
    assert rules.applicable(listing(region="DE")) == ()
    assert [r.id for r in rules.applicable(review())] == ["reviews"]
    assert rules.judge(listing(region="DE"), []) == []


def test_one_rule_that_errs_does_not_stop_the_others() -> None:
    # seller.age_days is absent for this listing: the unguarded rule raises; the combined
    # program falls back to judging the rules one by one.
    pol = policy({
        "unguarded": Rule(condition="seller.age_days < 7", reason="a", action="flag"),
        "guarded": Rule(condition="!has(seller.age_days) && event.price < 5.0", reason="b", action="flag"),
    })
    rules = compile_rules(pol)
    results = {r.id: r for r in rules.judge(listing(seller_age_days=None), [])}
    assert results["unguarded"].error is not None and not results["unguarded"].matched
    assert results["guarded"].matched
    assert [s.code for s in rules.evaluate(listing(seller_age_days=None), [])] == ["b"]
    assert rules.errors == 1


def test_a_condition_compiles_once_per_process() -> None:
    from riskstream.policy.rules import compile_condition

    pol = policy({"r": Rule(condition="event.price < 123.0", reason="a", action="flag")})
    compile_rules(pol)
    before = compile_condition.cache_info().hits
    compile_rules(pol)
    assert compile_condition.cache_info().hits > before


# --------------------------------------------------------------------------- decisions


def test_rule_hits_are_decided_like_signals_in_their_own_lane() -> None:
    legal = LegalBasis(ground="incompatible_content", category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
                       reference="Seller Terms 4", explanation="Cheap cosmetics from a new seller.")
    pol = policy({
        "cheap": Rule(condition="event.price < 5.0", reason="cheap_cosmetics", action="hold", mode="enforced",
                      legal=legal),
        "new": Rule(condition="seller.age_days < 7", reason="new_seller", action="flag", mode="shadow"),
    }, legal={"cheap_cosmetics": legal})
    engine = Engine(REG)
    engine.set_policy(pol)
    out = engine.process(listing())
    by_mode = {a.mode: a for a in out.actions}
    enforced, shadow = by_mode["enforced"], by_mode["shadow"]
    assert (enforced.action, enforced.reason_codes, enforced.evidence["detectors"]) == \
        ("hold", ["cheap_cosmetics"], ["rule:cheap"])
    assert enforced.risk_score == 0.5  # noisy-or of one rule signal at its default score
    assert (shadow.action, shadow.evidence["detectors"], shadow.evidence["enforced_action"]) == \
        ("flag", ["rule:new"], "hold")
    assert {s.detector for s in out.signals} == {"rule:cheap", "rule:new"}
    # the same event again: the same idempotency keys (replays never enforce twice)
    assert [a.idempotency_key for a in engine.process(listing()).actions] == [a.idempotency_key for a in out.actions]
    sor = statement_of_reasons(enforced, pol)
    assert sor["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert "marketplace rule cheap" in sor["decision_facts"]


def test_a_rule_adds_to_the_detectors_risk_score() -> None:
    pol = dataclasses.replace(load_policy(sample_policy_dir() / "eu.yaml", REG), rules={
        "boost": Rule(condition='"certification_missing" in signals.codes', reason="boost", action="flag",
                      mode="enforced", score=0.6)})
    engine = Engine(REG)
    engine.set_policy(pol)
    out = engine.process(listing(category="toys", attributes={"eu_responsible_person": "x"}))
    [action] = [a for a in out.actions if a.mode == "enforced"]
    assert set(action.evidence["detectors"]) == {"mandatory_attributes", "rule:boost"}
    assert action.risk_score > 0.8  # 1 - (1 - 0.8) * (1 - 0.6)


def test_explain_shows_which_rules_matched_and_what_they_read() -> None:
    pol = policy({
        "cheap": Rule(condition="event.price < 5.0 && seller.age_days < 7", reason="cheap", action="hold"),
        "dear": Rule(condition="event.price > 100.0", reason="dear", action="flag"),
        "reviews": Rule(condition="event.rating == 1", reason="bomb", action="flag", kind="review"),
    }, legal={"cheap": LegalBasis(ground="incompatible_content", category="STATEMENT_CATEGORY_SCAMS_AND_FRAUD",
                                  reference="x", explanation="y")})
    text = explain(listing(), pol, REG).render()
    assert "rule cheap [shadow] matched cheap -> hold  event.price=3.5  seller.age_days=2" in text
    assert "rule dear [shadow] no match  event.price=3.5" in text
    assert "(1 rule(s) not for listing events in FR: not evaluated)" in text


# --------------------------------------------------------------------------- validation


def _policy_text(rules_yaml: str, region: str = "EU", extra: str = "") -> str:
    return textwrap.dedent("""\
        region: {region}
        version: "2026.11.1"
        owner: tns
        change_note: rules
        effective_from: 2026-11-01
        detectors: {{}}
        {extra}rules:
        """).format(region=region, extra=extra) + textwrap.indent(textwrap.dedent(rules_yaml), "  ")


@pytest.mark.parametrize(("rules_yaml", "expected"), [
    # syntax: CEL's own position, inside a plain scalar on the condition's line
    ("""\
     r:
       condition: event.price < && true
       reason: a
       action: flag
     """, "<text>:9:30: rules.r.condition: syntax error: "),
    # ... inside a folded block: the second line of the condition
    ("""\
     r:
       condition: >-
         event.price < 5.0
         && (seller.age_days < 7 ||)
       reason: a
       action: flag
     """, "<text>:11:33: rules.r.condition: syntax error"),
    # ... inside a literal block
    ("""\
     r:
       condition: |
         event.price < 5.0 &&
           event.categry == "x"
       reason: a
       action: flag
     """, "<text>:11:9: rules.r.condition: unknown field 'event.categry' for listing events; "
          "did you mean event.category?"),
    ("""\
     r:
       condition: "lower(event.title) == 'x'"
       reason: a
       action: flag
     """, "<text>:9:17: rules.r.condition: unknown function 'lower'"),
    ("""\
     r:
       condition: event.title.lowerAscii() == "x"
       reason: a
       action: flag
     """, "<text>:9:28: rules.r.condition: unknown method 'lowerAscii'"),
    ("""\
     r:
       condition: buyer.age < 3
       reason: a
       action: flag
     """, "<text>:9:16: rules.r.condition: unknown name 'buyer'"),
    ("""\
     r:
       kind: review
       condition: event.rating == "5"
       reason: a
       action: flag
     """, "<text>:10:16: rules.r.condition: type error: event.rating is int, compared with string \"5\""),
    ("""\
     r:
       condition: event.price * 2 > 10.0
       reason: a
       action: flag
     """, "<text>:9:30: rules.r.condition: type error: event.price is double and 2 is int"),
    ("""\
     r:
       condition: event.price
       reason: a
       action: flag
     """, "<text>:9:16: rules.r.condition: a condition must be true or false; this one gives float"),
    ("""\
     r:
       kind: content
       condition: seller.age_days < 7
       reason: a
       action: flag
     """, "<text>:10:16: rules.r.condition: seller.* is not available for content events"),
    ("""\
     r:
       condition: size(terms.nope) > 0
       reason: a
       action: flag
     """, "<text>:9:21: rules.r.condition: unknown term list 'terms.nope'"),
    ("""\
     r:
       condition: "true"
       countries: [FR, US]
       reason: a
       action: flag
     """, "<text>:10:21: rules.r.countries: 'US' is not in region EU"),
    ("""\
     r:
       condition: "true"
       reason: a
       action: remove
     """, "<text>:11:5: rules.r: action 'remove' restricts in the EU but neither the rule nor legal.a gives"),
    ("""\
     r:
       condition: "true"
       reason: a
       action: ban
     """, "<text>:11:13: rules.r.action: 'ban' is not one of"),
    ("""\
     R-1:
       condition: "true"
       reason: a
       action: flag
     """, "<text>:8:3: rule id 'R-1' must be lower_snake_case"),
    ("""\
     r:
       condition: "true"
       reason: a
       action: flag
       colour: red
     """, "<text>:12:5: rules.r: unknown field 'colour'"),
])
def test_an_invalid_rule_is_reported_at_its_file_line_and_column(rules_yaml: str, expected: str) -> None:
    policy_, issues = check(_policy_text(rules_yaml), REG)
    assert policy_ is None
    assert any(str(i).startswith(expected) for i in issues), "\n".join(map(str, issues))


def test_a_costly_condition_is_refused() -> None:
    nested = "signals.codes.exists(a, signals.codes.exists(b, a == b && a.matches(\"x+\")))"
    assert estimate_cost(tokens(nested)) > MAX_RULE_COST
    assert any("too costly" in f.message for f in check_condition(nested, "listing", frozenset()))
    assert estimate_cost(tokens("event.price < 5.0 && seller.age_days < 7")) < 20


def test_comprehension_variables_are_not_unknown_names() -> None:
    assert check_condition('signals.codes.exists(c, c == "x")', "listing", frozenset()) == []


def test_the_sample_policies_carry_rules_that_validate() -> None:
    for path in sorted(sample_policy_dir().glob("*.yaml")):
        pol = load_policy(path, REG)
        assert len(pol.rules) >= 2, path
        compile_rules(pol)


def test_a_published_policy_with_an_invalid_rule_is_refused_whole() -> None:
    engine = Engine(REG)
    engine.set_policy(load_policy(sample_policy_dir() / "eu.yaml", REG))
    runtime = PolicyRuntime(REG, engine)
    before = engine.policy("EU")
    text = (sample_policy_dir() / "eu.yaml").read_text().replace(
        'version: "2026.11.2"', 'version: "2026.12.1"').replace(
        "condition: has(seller.age_days) && seller.age_days < 7 && signals.count > 0",
        "condition: has(seller.age_days) && seller.agedays < 7 && signals.count > 0")
    assert runtime.apply_document(orjson.dumps({"region": "EU", "yaml": text})) == "invalid_policy"
    assert engine.policy("EU") is before
    with pytest.raises(PolicyError, match=r"unknown field 'seller\.agedays'"):
        load_policy(text, REG)


def test_rules_read_content_and_review_fields() -> None:
    content = ContentEvent(event_id="c1", event_time=T, region="US", content_id="ct1", creator_id="cr1",
                           content_kind="video", text="Buy now", linked_listing_ids=["l1"],
                           paid_promotion=True, promotion_disclosed=False)
    pol = policy({"ad": Rule(condition="event.paid_promotion && !event.promotion_disclosed "
                                       "&& size(event.linked_listing_ids) > 0",
                             reason="ad", action="flag", kind="content")}, region="US")
    [hit] = compile_rules(pol).evaluate(content, [])
    assert (hit.entity_type, hit.entity_id) == ("content", "ct1")
    pol = policy({"bomb": Rule(condition="event.rating == 1 && event.account_age_days < 7",
                               reason="bomb", action="flag", kind="review")})
    [hit] = compile_rules(pol).evaluate(review(), [])
    assert (hit.entity_type, hit.entity_id) == ("review", "rv1")


# --------------------------------------------------------------------------- the fast path agrees with CEL


FAST_CASES = [
    'event.category == "toys" && event.price < 20.0 && has(seller.age_days) && seller.age_days < 400',
    'event.price >= 10 && event.price != 12.5 && !("CE" in event.certifications)',
    '"prohibited_item" in signals.codes || event.price > 900.0',
    'size(event.certifications) == 0 && event.category != "home"',
    'text.normalized.contains("train") && event.op == "created"',
    'event.title.startsWith("W") && event.brand == null',
    "seller.age_days < 30 && event.price < 50.0",  # unguarded: errs where the age is absent
    '10.0 > event.price && "toys" == event.category && (seller.age_days > 3)',
    'event.brand == "Glowra" && event.attributes["condition"] == "new"',
    "signals.count > 0 && signals.max_score >= 0.8",
]


def test_the_fast_path_gives_exactly_the_verdicts_of_cel() -> None:
    from riskstream.sim import SimConfig, run

    eu = load_policy(sample_policy_dir() / "eu.yaml", REG)
    engine = Engine(REG)
    engine.set_policy(eu)
    pol = policy({f"c{i}": Rule(condition=c, reason=f"c{i}", action="flag") for i, c in enumerate(FAST_CASES)})
    for c in FAST_CASES:
        assert not condition_problems(c, "listing", []), c
    rules = compile_rules(pol, by_category=False)
    sim = run(SimConfig(seed=3, duration_hours=2))
    events = [r for _, _, r in sim.events if isinstance(r, ListingEvent) and r.region in ("DE", "FR", "IT")]
    events += [dataclasses.replace(e, seller_age_days=None, brand=None) for e in events[:50]]
    assert len(events) > 100
    decided = 0
    for ev in events:
        sigs = list(engine.prepare(ev).signals)
        by_cel = {r.id for r in rules.judge(ev, sigs) if r.matched}
        by_fast = {s.evidence["rule"] for s in rules.evaluate(ev, sigs)}
        assert by_fast == by_cel, (ev, sigs)
        decided += len(by_cel)
    assert decided > 0 and rules.errors > 0  # both matches and errors were exercised


def test_rules_requiring_a_category_meet_only_listings_of_that_category() -> None:
    pol = policy({
        "toys": Rule(condition='event.category == "toys" && event.price < 5.0', reason="a", action="flag"),
        "toys_or": Rule(condition='event.category == "toys" || event.price < 1.0', reason="b", action="flag"),
        "any": Rule(condition="event.price < 5.0", reason="c", action="flag"),
    })
    rules = compile_rules(pol)
    assert [r.id for r in rules.applicable(listing(category="toys"))] == ["toys", "toys_or", "any"]
    assert [r.id for r in rules.applicable(listing(category="cosmetics"))] == ["toys_or", "any"]
    assert [r.id for r in rules.applicable(listing(category="never-named"))] == ["toys_or", "any"]
    assert [s.code for s in rules.evaluate(listing(category="toys", price=3.0), [])] == ["a", "b", "c"]
    assert [s.code for s in rules.evaluate(listing(category="home", price=3.0), [])] == ["c"]
    unindexed = compile_rules(pol, by_category=False)
    assert len(unindexed.applicable(listing(category="cosmetics"))) == 3


def test_diff_and_the_cli_name_rule_changes(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from riskstream.cli.main import main
    from riskstream.policy import diff_policies

    eu = load_policy(sample_policy_dir() / "eu.yaml", REG)
    rule = eu.rules["new_seller_with_findings"]
    new = dataclasses.replace(eu, version="2026.12.1", rules={
        **eu.rules, "new_seller_with_findings": dataclasses.replace(rule, mode="enforced")})
    assert "rule new_seller_with_findings: mode shadow -> enforced" in diff_policies(eu, new)
    fewer = dataclasses.replace(eu, rules={})
    assert "rule removed: new_seller_with_findings" in diff_policies(eu, fewer)

    bad = tmp_path / "eu.yaml"
    bad.write_text((sample_policy_dir() / "eu.yaml").read_text().replace(
        "seller.age_days < 7 && signals.count > 0", "seller.age_days < 7 && signals.cnt > 0"))
    result = CliRunner().invoke(main, ["policy", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:" in result.output and "unknown field 'signals.cnt'" in result.output


def test_backtest_counts_rule_actions_against_the_policy_in_force(tmp_path: Any) -> None:
    from riskstream.evaluation.backtest import backtest, read_events
    from riskstream.sim import SimConfig, default_scenarios, run, write_run

    sim = run(SimConfig(seed=2, duration_hours=11, events_per_hour=300,
                        scenarios=default_scenarios("review_farm")))
    events_path, _ = write_run(sim, tmp_path / "day.jsonl")
    old = tmp_path / "us-old.yaml"
    text = (sample_policy_dir() / "us.yaml").read_text()
    old.write_text(text[: text.index("\n# Rules:")] + text[text.index("\ndecision:"):])  # the policy without rules
    assert not load_policy(old, REG).rules
    rep = backtest(sample_policy_dir() / "us.yaml", read_events(events_path), in_force=old, labels=sim.labels)
    rows = {(r.contributor, r.mode): r for r in rep.rows}
    farm = rows[("rule:five_star_from_fresh_unverified", "shadow")]
    assert farm.in_force == 0 and farm.candidate > 0
    assert farm.precision is not None and farm.precision > 0.5 and farm.recall is not None
    assert "rule:five_star_from_fresh_unverified" in rep.render()
    # detectors are the same in both policies: the same number of actions
    assert all(r.in_force == r.candidate for r in rep.rows if not r.contributor.startswith("rule:"))


def test_rules_do_not_read_the_signals_of_a_detector_decided_alone() -> None:
    """Which event carries a wave's finding is arrival order: a rule reading it would be too."""
    assert "new_seller_wave" in REG.decided_alone()
    pol = dataclasses.replace(load_policy(sample_policy_dir() / "eu.yaml", REG), rules={
        "wave": Rule(condition='"new_seller_wave" in signals.detectors', reason="wave",
                     action="hold", mode="enforced")})
    engine = Engine(REG)
    engine.set_policy(pol)
    signals: list[Signal] = []
    for i in range(12):  # 12 listings of one brand from 6 accounts two days old, within an hour
        ev = listing(event_id=f"e{i}", listing_id=f"l{i}", seller_id=f"s{i % 6}", brand="Maison Ferrac",
                     category="luxury_bags", title="Classic flap bag", price=390.0, seller_age_days=2,
                     event_time=T + timedelta(minutes=3 * i))
        signals += engine.process(ev).signals
    waves = {s.entity_id for s in signals if s.detector == "new_seller_wave"}
    assert waves == {f"l{i}" for i in range(12)}  # the wave was found ...
    assert not [s for s in signals if s.detector == "rule:wave"]  # ... and no rule read it
