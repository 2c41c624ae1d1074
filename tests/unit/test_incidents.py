"""Incident manager on hand-made windows: open once, update, resolve, spread, no alarm on honest surges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from riskstream.contracts import IncidentCandidate, encode
from riskstream.models.aggregates import ClosedWindow, SeriesWindow
from riskstream.models.incidents import IncidentConfig, IncidentManager, poisson_surprise
from riskstream.models.timeseries import Threshold, TimeSeriesAnomalyDetector, TimeSeriesConfig
from riskstream.models.ts_range import RangeAwareConfig

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def series(harm: str, cluster: str, n: int, tag: str, code: str = "prohibited_terms/prohibited_item",
           country: str = "DE") -> SeriesWindow:
    actors = tuple(f"seller:{tag}-{k}" for k in range(n))
    return SeriesWindow(harm, cluster, n, {code: n}, n, n, 0, 0, (country,),
                        tuple(f"l-{tag}-{k}" for k in range(min(n, 3))), actors)


def window(i: int, region: str, *items: SeriesWindow) -> ClosedWindow:
    start = T0 + timedelta(minutes=10 * i)
    return ClosedWindow(region, start, start + timedelta(minutes=10), {}, tuple(s for s in items if s.count), 50)


def run(mgr: IncidentManager, plan: list[tuple[str, list[SeriesWindow]]], offset: int = 0) -> list[IncidentCandidate]:
    out: list[IncidentCandidate] = []
    for i, (region, items) in enumerate(plan):
        out.extend(mgr.process(window(offset + i, region, *items)))
    return out


def surge(counts: list[int], harm: str = "illegal_goods", cluster: str = "term:dmaa",
          region: str = "EU") -> list[tuple[str, list[SeriesWindow]]]:
    return [(region, [series(harm, cluster, n, f"{region}{i}")]) for i, n in enumerate(counts)]


def test_surge_opens_exactly_one_incident_then_updates_then_resolves() -> None:
    out = run(IncidentManager(), surge([0] * 8 + [3, 6, 9, 12, 8, 5] + [0] * 10))
    statuses = [c.status for c in out]
    assert statuses.count("open") == 1
    assert "update" in statuses and statuses[-1] == "resolve"
    assert len({c.incident_id for c in out}) == 1
    first = out[0]
    assert first.harm_kind == "illegal_goods" and first.cluster == "term:dmaa" and first.region == "EU"
    assert first.severity in ("high", "critical")  # illegal goods never below high
    assert first.onset_time <= first.event_time and first.runbook
    assert first.detectors == ["prohibited_terms"] and first.sample_entity_ids
    assert out[-1].reach["listings"] >= first.reach["listings"]
    encode(first)  # wire-encodable


def test_deterministic_ids() -> None:
    a = run(IncidentManager(), surge([0] * 8 + [5, 9, 0, 0, 0, 0, 0, 0]))
    b = run(IncidentManager(), surge([0] * 8 + [5, 9, 0, 0, 0, 0, 0, 0]))
    assert [(c.incident_id, c.event_id) for c in a] == [(c.incident_id, c.event_id) for c in b]


def test_nothing_opens_during_warmup() -> None:
    assert run(IncidentManager(), surge([9, 9, 9])) == []


def test_steady_background_opens_nothing() -> None:
    assert run(IncidentManager(), surge([1, 2, 1, 0, 2, 1, 1, 2, 1, 0] * 10, harm="non_compliance",
                                        cluster="category:toys")) == []


@pytest.mark.parametrize("harm", ["illegal_goods", "fake_reviews"])
def test_single_actor_is_not_a_surge(harm: str) -> None:
    plan = [("EU", [SeriesWindow(harm, "c", n, {"x/y": n}, 1, 1, 0, 0, ("DE",), ("l1",), ("seller:s1",))])
            for n in [0] * 8 + [9, 9, 9]]
    assert run(IncidentManager(), plan) == []


def test_spread_to_second_region_links_to_first() -> None:
    mgr = IncidentManager()
    quiet: list[tuple[str, list[SeriesWindow]]] = [("EU", []), ("UK", [])] * 8
    first = run(mgr, quiet + [("EU", [series("illegal_goods", "term:dmaa", 8, "eu")]), ("UK", [])] * 2)
    eu_open = [c for c in first if c.status == "open"]
    assert len(eu_open) == 1 and eu_open[0].region == "EU"
    later = run(mgr, [("UK", [series("illegal_goods", "term:dmaa", 8, "uk", country="GB")]), ("EU", [])] * 2,
                offset=40)
    uk_open = [c for c in later if c.status == "open"]
    assert len(uk_open) == 1 and uk_open[0].region == "UK"
    assert uk_open[0].evidence["spread_from"] == eu_open[0].incident_id
    assert uk_open[0].regions_affected == ["EU", "UK"]
    eu_updates = [c for c in later if c.incident_id == eu_open[0].incident_id and c.status == "update"]
    assert eu_updates and eu_updates[0].regions_affected == ["EU", "UK"]


def test_series_sharing_actors_join_one_incident() -> None:
    mgr = IncidentManager()
    shared = ("seller:a", "seller:b", "seller:c", "seller:d")

    def s(cluster: str, n: int) -> SeriesWindow:
        return SeriesWindow("non_compliance", cluster, n, {"m/a": n}, n, 4, 0, 0, ("FR",), ("l",), shared)

    plan = [("EU", [])] * 8 + [("EU", [s("category:toys", 6), s("category:electronics", 6)])] * 3
    out = run(mgr, plan)
    assert [c.status for c in out].count("open") == 1
    assert len(out[-1].series) == 2


def product_series(cluster: str, n: int, tag: str, products: tuple[str, ...], country: str) -> SeriesWindow:
    """An illegal-goods product series whose listings also showed the product keys `products`."""
    actors = tuple(f"seller:{tag}-{k}" for k in range(n))
    return SeriesWindow("illegal_goods", cluster, n, {"prohibited_terms/prohibited_item": n}, n, n, 0, 0,
                        (country,), (f"l-{tag}",), actors, tuple(sorted({cluster, *products})))


def test_same_product_under_another_name_joins_the_open_incident() -> None:
    """A recall covering one country, the product listed elsewhere under a translated name: the translated
    cluster's listings also show a term the recall cluster's listings show, so it is one incident."""
    mgr = IncidentManager()
    recall = ("term:inclined sleeper", "term:schrägschläfer")
    plan: list[tuple[str, list[SeriesWindow]]] = [("EU", [])] * 8
    for i, (a, b) in enumerate([(4, 0), (6, 1), (8, 4), (8, 6), (6, 6), (4, 3)]):
        plan.append(("EU", [product_series("recall:rc1", a, f"de{i}", recall, "DE"),
                            product_series("term:hamaca inclinada", b, f"es{i}", ("term:inclined sleeper",), "ES")]))
    out = run(mgr, [*plan, *[("EU", [])] * 8])
    opens = [c for c in out if c.status == "open"]
    assert [c.cluster for c in opens] == ["recall:rc1"]
    assert out[-1].status == "resolve" and out[-1].series == ["EU/illegal_goods/recall:rc1",
                                                             "EU/illegal_goods/term:hamaca inclinada"]
    assert out[-1].evidence["countries"] == ["DE", "ES"]


def test_different_products_of_one_harm_stay_apart() -> None:
    mgr = IncidentManager()
    plan: list[tuple[str, list[SeriesWindow]]] = [("EU", [])] * 8
    for i, n in enumerate([4, 6, 8, 6]):
        plan.append(("EU", [product_series("term:dmaa", n, f"a{i}", ("brand:blastlab",), "DE"),
                            product_series("term:ivory", n, f"b{i}", ("brand:tusk",), "FR")]))
    opens = [c for c in run(mgr, plan) if c.status == "open"]
    assert sorted(c.cluster for c in opens) == ["term:dmaa", "term:ivory"]
    no_link = IncidentManager(IncidentConfig(link_products=False))
    plan = [("EU", [])] * 8 + [("EU", [product_series("recall:rc1", n, f"d{n}", ("term:x",), "DE"),
                                       product_series("term:y", n, f"e{n}", ("term:x",), "ES")]) for n in (5, 7)]
    assert len([c for c in run(no_link, plan) if c.status == "open"]) == 2


def test_viral_honest_listing_surge_without_signals_opens_nothing() -> None:
    """An honest viral product: many listings, reviews, posts; a couple of stray signals, no surge of them."""
    mgr = IncidentManager()
    out = []
    for i in range(60):
        viral = 30 <= i < 50
        start = T0 + timedelta(minutes=10 * i)
        feats = {"toys": {"listings_new": 40.0 if viral else 4.0, "listings_updated": 0.0,
                          "listings_removed": 0.0, "_new_seller_listings": 12.0 if viral else 1.0,
                          "_flagged_listings": 0.0, "enforced_removals": 0.0, "_priced": 0.0,
                          "_logratio_sum": 0.0, "_logratio_sq": 0.0, "_deep_discount": 0.0,
                          "reviews": 80.0 if viral else 10.0, "_low_ratings": 1.0, "safety_complaints": 0.0,
                          "content_posts": 5.0, "restricted_promotions": 0.0, "signals": 0.0}}
        stray = (series("fake_reviews", "seller:x", 1, f"v{i}", code="review_near_duplicate/near_duplicate_reviews"),
                 ) if viral and i % 4 == 0 else ()
        out += mgr.process(ClosedWindow("SEA", start, start + timedelta(minutes=10), feats, stray, 200))
    assert out == []


def test_state_round_trip_continues_identically() -> None:
    plan = surge([0] * 8 + [3, 6, 9, 12, 8, 5] + [0] * 10)
    a = IncidentManager()
    run(a, plan[:10])
    b = IncidentManager.from_state(a.state_dict())
    assert run(a, plan[10:], offset=10) == run(b, plan[10:], offset=10)


def test_state_keeps_custom_prototype_and_threshold() -> None:
    plan = surge([0] * 8 + [3, 6, 9, 12, 8, 5] + [0] * 10)
    proto = TimeSeriesAnomalyDetector(TimeSeriesConfig(warmup=2))
    a = IncidentManager(IncidentConfig(warmup_windows=3), detector=proto, threshold=Threshold(0.1))
    run(a, plan[:10])
    b = IncidentManager.from_state(a.state_dict(), a.config)
    assert b.prototype.config == proto.config and b.prototype.n == 0 and b.threshold == Threshold(0.1)
    assert run(a, plan[10:], offset=10) == run(b, plan[10:], offset=10)
    c = IncidentManager.from_state(a.state_dict(), a.config, threshold=Threshold(0.9))
    assert c.threshold == Threshold(0.9) and c.prototype.config == proto.config
    legacy = {k: v for k, v in a.state_dict().items() if k not in ("prototype", "threshold")}
    d = IncidentManager.from_state(legacy)
    # A state from before the prototype was recorded falls back to the default detector (now range-aware).
    assert d.prototype.config == RangeAwareConfig() and d.threshold == Threshold()


def test_poisson_surprise_monotone() -> None:
    assert poisson_surprise(0, 1.0) == 0.0
    assert poisson_surprise(6, 0.3) > poisson_surprise(5, 0.3) > poisson_surprise(5, 1.0)
