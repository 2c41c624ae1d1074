"""The marketplace simulator: reproducible, valid contract records, every scenario labelled."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from riskstream.contracts import decode, encode
from riskstream.sim import (
    DEFAULT_SCENARIOS,
    TOPIC_TYPES,
    SimConfig,
    SimRun,
    default_scenarios,
    read_events,
    read_labels,
    run,
    write_run,
)
from riskstream.sim.catalog import DETECTOR_IDS, PROHIBITED_TERMS

SMALL = SimConfig(seed=3, duration_hours=24, events_per_hour=150)


@pytest.fixture(scope="module")
def small_run() -> SimRun:
    return run(SMALL)


def _write(cfg: SimConfig, tmp: Path) -> tuple[bytes, bytes]:
    events, labels = write_run(run(cfg), tmp / "run.jsonl")
    return events.read_bytes(), labels.read_bytes()


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    a = _write(SMALL, tmp_path / "a")
    b = _write(SMALL, tmp_path / "b")
    assert a == b


def test_different_seed_gives_different_bytes(tmp_path: Path) -> None:
    a = _write(SMALL, tmp_path / "a")
    b = _write(SimConfig(seed=4, duration_hours=24, events_per_hour=150), tmp_path / "b")
    assert a[0] != b[0]


def test_every_scenario_present_and_labelled(small_run: SimRun) -> None:
    kinds = {s.kind for s in small_run.labels.scenarios}
    assert kinds == {s.kind for s in DEFAULT_SCENARIOS}
    per_scenario = Counter(lab.scenario for lab in small_run.labels.labels.values())
    for rec in small_run.labels.scenarios:
        assert per_scenario[rec.scenario_id] == rec.event_count > 0, rec.scenario_id
        assert rec.start < rec.end
        assert rec.is_risky == (rec.harm_kind is not None)


def test_risky_labels_are_complete(small_run: SimRun) -> None:
    for lab in small_run.labels.labels.values():
        assert lab.event_time.tzinfo is not None
        if lab.is_risky:
            assert lab.entity_type and lab.entity_id and lab.harm_kind and lab.expected_detectors
            assert set(lab.expected_detectors) <= set(DETECTOR_IDS)
        else:
            assert lab.harm_kind is None and not lab.expected_detectors


def test_every_record_round_trips_through_the_contract(small_run: SimRun) -> None:
    for topic, key, rec in small_run.events:
        assert isinstance(rec, TOPIC_TYPES[topic])
        assert decode(encode(rec), type(rec)) == rec
        assert key in (getattr(rec, "listing_id", None), getattr(rec, "creator_id", None),
                       getattr(rec, "recall_id", None))


def test_event_times_non_decreasing_aware_and_in_window(small_run: SimRun) -> None:
    times = [rec.event_time for _, _, rec in small_run.events]
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in times)
    assert times == sorted(times)
    assert SMALL.start <= times[0] and times[-1] < SMALL.end


def test_honest_viral_product_is_a_real_unrisky_surge(small_run: SimRun) -> None:
    (viral,) = [s for s in small_run.labels.scenarios if s.kind == "viral_product"]
    assert not viral.is_risky and not viral.opens_incident
    labs = [lab for lab in small_run.labels.labels.values() if lab.scenario == viral.scenario_id]
    assert not any(lab.is_risky for lab in labs)
    kinds = Counter(lab.kind for lab in labs)
    assert kinds["listing"] > 100 and kinds["review"] > 100


def test_background_is_mostly_honest(small_run: SimRun) -> None:
    background = [lab for lab in small_run.labels.labels.values() if lab.scenario is None]
    risky = sum(lab.is_risky for lab in background)
    assert 0 < risky < 0.03 * len(background)


def test_scenario_listings_use_obfuscation_and_stay_matchable(small_run: SimRun) -> None:
    from riskstream.detectors.text import TermMatcher

    matcher = TermMatcher(PROHIBITED_TERMS["EU"])
    (surge,) = [s for s in small_run.labels.scenarios if s.kind == "prohibited_surge"]
    titles = [rec.title for _, _, rec in small_run.events
              if small_run.labels.labels[rec.event_id].scenario == surge.scenario_id and rec.kind == "listing"]
    assert titles and all(matcher.find(t) for t in titles)
    assert any(t.lower() != t.lower().translate(str.maketrans("", "", "0134.")) for t in titles)


def test_disabling_scenarios_keeps_background_identical() -> None:
    a = run(SimConfig(duration_hours=3, events_per_hour=100, scenarios=()))
    b = run(SimConfig(duration_hours=3, events_per_hour=100, scenarios=default_scenarios("prohibited_surge")))
    honest_b = [rec for _, _, rec in b.events if b.labels.labels[rec.event_id].scenario is None]
    assert [rec for _, _, rec in a.events] == honest_b


def test_files_read_back(tmp_path: Path, small_run: SimRun) -> None:
    events_path, labels_path = write_run(small_run, tmp_path / "run.jsonl")
    assert [rec for _, _, rec in read_events(events_path)] == [rec for _, _, rec in small_run.events]
    back = read_labels(labels_path)
    assert back.labels == small_run.labels.labels
    assert back.scenarios == small_run.labels.scenarios


def test_default_run_size() -> None:
    res = run()
    assert 20_000 <= len(res.events) <= 40_000


# ------------------------------------------------------------------ category and burst scenarios


def _policies() -> dict[str, object]:
    from detectors.registry import default_registry
    from riskstream.policy import load_policy
    from riskstream.policy.load import iter_policy_files
    from tests.paths import REPO

    registry = default_registry()
    out = {}
    for path in iter_policy_files(REPO / "policies"):
        policy = load_policy(path.read_text(encoding="utf-8"), registry)
        out[policy.region] = policy
    return out


def test_category_scenarios_break_the_shipped_rules_and_near_misses_do_not(small_run: SimRun) -> None:
    """Every planted listing breaks its region's category rule; no honest listing does (licensed
    sellers of restricted goods, look-alike categories)."""
    from riskstream.detectors.category_rules import CategoryRulesDetector
    from riskstream.regions import region_of

    policies = _policies()
    detectors = {r: CategoryRulesDetector(p.rule("category_rules").params)  # type: ignore[attr-defined]
                 for r, p in policies.items()}
    kinds = {s.scenario_id: s.kind for s in small_run.labels.scenarios}
    planted = honest_regulated = 0
    for _, _, rec in small_run.events:
        if rec.kind != "listing":
            continue
        lab = small_run.labels.labels[rec.event_id]
        _, signals = detectors[region_of(rec.region) or ""].detect(rec, None)
        kind = kinds.get(lab.scenario or "")
        if kind in ("banned_category", "unlicensed_seller"):
            planted += 1
            assert lab.is_risky and "category_rules" in lab.expected_detectors
            want = {"category_banned"} if kind == "banned_category" else {"licence_missing", "licence_invalid"}
            assert [s.code for s in signals] and {s.code for s in signals} <= want, (rec.region, rec.category)
        elif not lab.is_risky:
            assert not signals, (rec.region, rec.category, rec.attributes)
            honest_regulated += "/" in rec.category or "_" in rec.category
    assert planted > 20 and honest_regulated > 5


def test_regulated_title_terms_are_the_policies_own() -> None:
    """The simulator labels a planted title `prohibited_terms`' finding too when it names one of these."""
    from riskstream.sim.catalog import REGULATED_TITLE_TERMS

    policies = _policies()
    for region, terms in REGULATED_TITLE_TERMS.items():
        params = policies[region].rule("prohibited_terms").params  # type: ignore[attr-defined]
        # Restricted for everyone, or unless licensed: a planted listing carries no valid licence.
        listed = {t.casefold() for t in (*params.restricted, *(t for g in params.licensed_terms for t in g.terms))}
        assert {t.casefold() for t in terms} <= listed, region


def test_fake_shop_is_one_new_seller_bursting_labelled_about_the_seller() -> None:
    sim = run(SimConfig(seed=3, scenarios=default_scenarios("fake_shop")))
    shop = [(lab, rec) for _, _, rec in sim.events
            if (lab := sim.labels.labels[rec.event_id]).scenario == "fake_shop-1"]
    by_seller: dict[str, list[object]] = {}
    for lab, rec in shop:
        assert lab.is_risky and lab.expected_detectors == ("new_seller_burst",)
        assert (lab.entity_type, lab.entity_id) == ("seller", rec.seller_id) and rec.seller_age_days < 7
        by_seller.setdefault(rec.seller_id, []).append(rec.event_time)
    assert {rec.region for _, rec in shop} == {"US", "GB"} and len(by_seller) == 2
    for times in by_seller.values():
        assert len(times) > 25 and max(times) - min(times) < timedelta(hours=1)  # type: ignore[operator]


def test_bulk_listing_near_misses_are_honest() -> None:
    """An established shop and a seller just past the age limit list many items in the hour."""
    sim = run(SimConfig(seed=3, scenarios=()))
    per_seller = Counter((rec.seller_id, rec.seller_age_days) for _, _, rec in sim.events
                         if rec.kind == "listing" and rec.op == "created")
    bulk = [(sid, age) for (sid, age), n in per_seller.items() if n >= 25]
    assert any(age >= 30 for _, age in bulk) and any(7 <= age < 14 for _, age in bulk)
    # (Background listings carry rare unscripted violations, a missing mark: never a burst.)
    assert not any("new_seller_burst" in lab.expected_detectors for lab in sim.labels.labels.values())
