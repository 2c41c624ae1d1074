"""Aggregator: event-time windows, watermark and lateness, clusters, aggregate findings, state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from riskstream.contracts import ContentEvent, ListingEvent, ReviewEvent, Signal
from riskstream.models.aggregates import Aggregator, AggregatorConfig, ClosedWindow

T0 = datetime(2026, 3, 2, tzinfo=UTC)


def listing(i: int, minute: float, *, country: str = "DE", brand: str | None = "Kidora", price: float = 30.0,
            seller_age: int = 400, seller: str | None = None, category: str = "toys") -> ListingEvent:
    return ListingEvent(event_id=f"e{i}", event_time=T0 + timedelta(minutes=minute), region=country, op="created",
                        listing_id=f"l{i}", seller_id=seller or f"s{i}", category=category, title="x",
                        price=price, currency="EUR" if country != "GB" else "GBP", brand=brand,
                        seller_age_days=seller_age)


def signal(ev: ListingEvent | ReviewEvent | ContentEvent, code: str, detector: str, **evidence: object) -> Signal:
    entity = ev.listing_id if not isinstance(ev, ContentEvent) else ev.content_id
    return Signal(detector=detector, code=code, entity_type="listing", entity_id=entity, region=ev.region,
                  score=0.9, event_id=ev.event_id, event_time=ev.event_time, evidence=dict(evidence))


def test_windows_close_on_watermark_in_order_and_late_events_are_counted() -> None:
    agg = Aggregator(AggregatorConfig(window_minutes=10, allowed_lateness_s=60))
    assert agg.add(listing(1, 1), [], []) == []
    assert agg.add(listing(2, 5, country="GB"), [], []) == []
    assert agg.add(listing(3, 10.5), [], []) == []  # watermark 9:30, nothing closes yet
    closed = agg.add(listing(4, 11.5), [], [])  # watermark 10:30
    assert [(w.region, w.start) for w in closed] == [("EU", T0), ("UK", T0)]
    assert agg.add(listing(5, 3), [], []) == []  # too late for its window
    rest = agg.flush()
    assert rest[0].late_events == 1 and rest[0].features["listings_new"] == 2.0


def test_one_product_across_sellers_and_languages_is_one_cluster() -> None:
    agg = Aggregator(AggregatorConfig(allowed_lateness_s=0))
    a = listing(1, 1, brand="DreamNest")
    b = listing(2, 2, brand=None)
    c = listing(3, 3, brand=None)
    agg.add(a, [signal(a, "recalled_product", "recall_match", recall_id="rc1", matched_terms=["inclined sleeper"])])
    agg.add(b, [signal(b, "prohibited_item", "prohibited_terms", terms=["inclined sleeper"])])
    agg.add(c, [signal(c, "recalled_product", "recall_match", recall_id="rc1", matched_terms=["schrägschläfer"])])
    (w,) = agg.flush()
    assert [(s.harm_kind, s.cluster, s.count, s.sellers) for s in w.series] == [
        ("illegal_goods", "recall:rc1", 3, 3)]


def test_series_list_the_product_keys_their_listings_showed() -> None:
    """A translated name seen first is a cluster of its own; its listings still show the shared keys."""
    agg = Aggregator(AggregatorConfig(allowed_lateness_s=0))
    a, b, c = listing(1, 1, brand=None), listing(2, 2, brand="DreamNest"), listing(3, 3, brand=None)
    agg.add(a, [signal(a, "prohibited_item", "prohibited_terms", terms=["hamaca inclinada"])])
    agg.add(b, [signal(b, "recalled_product", "recall_match", recall_id="rc1", matched_terms=["inclined sleeper"])])
    agg.add(c, [signal(c, "prohibited_item", "prohibited_terms", terms=["hamaca inclinada", "inclined sleeper"])])
    restored = Aggregator.from_state(json.loads(json.dumps(agg.state_dict())), agg.config)
    for w in (agg.flush(), restored.flush()):
        assert [(s.cluster, s.count, s.products) for s in w[0].series] == [
            ("recall:rc1", 1, ("brand:dreamnest", "recall:rc1", "term:inclined sleeper")),
            ("term:hamaca inclinada", 2, ("term:hamaca inclinada", "term:inclined sleeper")),
        ]


def test_non_compliance_is_clustered_by_category_and_reviews_by_seller() -> None:
    agg = Aggregator()
    a = listing(1, 1)
    agg.add(a, [signal(a, "attribute_missing", "mandatory_attributes")])
    r = ReviewEvent(event_id="r1", event_time=T0 + timedelta(minutes=2), region="DE", review_id="rv1",
                    listing_id="l1", buyer_id="b1", rating=1, text="bad", language="en", verified_purchase=False,
                    account_age_days=1, seller_id="s1")
    agg.add(r, [signal(r, "rating_bombing", "rating_skew")])
    (w,) = agg.flush()
    assert {(s.harm_kind, s.cluster) for s in w.series} == {("non_compliance", "category:toys"),
                                                            ("fake_reviews", "seller:s1")}
    assert w.by_category["toys"]["reviews"] == 1.0 and w.by_category["toys"]["low_rating_share"] == 1.0


def test_deep_discount_from_new_sellers_is_an_aggregate_counterfeit_finding() -> None:
    agg = Aggregator(AggregatorConfig(allowed_lateness_s=0))
    for i in range(20):
        agg.add(listing(i, i, brand="Castellane", price=2800.0 * (1 + 0.05 * (i % 3)), category="luxury_bags"))
    fake = listing(99, 25, brand="Castellane", price=300.0, seller_age=2, category="luxury_bags")
    honest_new = listing(98, 26, brand="Castellane", price=2500.0, seller_age=2, category="luxury_bags")
    agg.add(fake)
    agg.add(honest_new)
    last = agg.flush()[-1]
    (s,) = last.series
    assert (s.harm_kind, s.cluster, s.codes) == ("counterfeit", "brand:castellane",
                                                 {"aggregates/deep_discount_new_seller": 1})


def test_honest_listings_produce_no_series() -> None:
    agg = Aggregator()
    for i in range(50):
        agg.add(listing(i, i, brand="Puffle", price=24.0 + i % 5, seller_age=3 if i % 3 == 0 else 300))
    assert all(w.series == () for w in agg.flush())


def test_feature_vector_order_and_state_round_trip() -> None:
    agg = Aggregator()
    events = [listing(i, i * 3) for i in range(12)]
    for ev in events[:6]:
        agg.add(ev, [signal(ev, "certification_missing", "mandatory_attributes")])
    restored = Aggregator.from_state(json.loads(json.dumps(agg.state_dict())), agg.config)

    def finish(a: Aggregator) -> list[ClosedWindow]:
        out = [w for ev in events[6:] for w in a.add(ev)]
        return out + a.flush()

    wa, wb = finish(agg), finish(restored)
    assert wa == wb and len(wa[0].vector()) == len(wa[0].features) - 7


@pytest.mark.parametrize("country", ["XX"])
def test_unknown_region_is_ignored(country: str) -> None:
    ev = listing(1, 1)
    object.__setattr__(ev, "region", country)
    assert Aggregator().add(ev) == [] and Aggregator().flush() == []
