from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from riskstream.contracts import ContentEvent, ListingEvent, Signal, parse_time
from riskstream.detectors.new_seller_wave import NewSellerWaveDetector, NewSellerWaveParams, unpack

T0 = parse_time("2026-03-01T10:00:00Z")
P = NewSellerWaveParams(min_sellers=4, min_listings=6, window_minutes=60, max_tracked=16)
D = NewSellerWaveDetector(P)


def listing(i: int, minute: float, seller: str, **kw: Any) -> ListingEvent:
    base: dict[str, Any] = dict(
        event_id=f"e{i}", event_time=T0 + timedelta(minutes=minute), region="GB", op="created",
        listing_id=f"l{i}", seller_id=seller, category="luxury_bags", title="Classic flap bag",
        brand="Maison Ferrac", price=390.0, currency="GBP", seller_age_days=2,
    )
    base.update(kw)
    return ListingEvent(**base)


def run(events: list[ListingEvent], d: NewSellerWaveDetector = D) -> list[list[Signal]]:
    states: dict[str, Any] = {}
    out = []
    for ev in events:
        key = d.state_key(ev)
        if key is None:
            out.append(d.detect(ev, None)[1])
            continue
        states[key], signals = d.detect(ev, states.get(key) or d.initial_state())
        out.append(signals)
    return out


def flagged(out: list[list[Signal]]) -> list[str]:
    return [s.entity_id for signals in out for s in signals]


def test_a_wave_over_many_new_accounts_flags_every_listing_once() -> None:
    # Eight fresh accounts, two listings each, over 40 minutes: no seller bursts alone.
    events = [listing(i, i * 2.5, f"s{i % 8}") for i in range(16)]
    out = run(events)
    assert sorted(flagged(out)) == sorted(f"l{i}" for i in range(16))  # each once, the early ones back-filled
    first = next(i for i, s in enumerate(out) if s)
    assert first == 5  # the sixth listing, by the fourth distinct seller, completes the wave
    assert {s.entity_type for s in out[first]} == {"listing"} and out[first][0].entity_id == "l5"
    ev = out[first][0].evidence
    assert ev["sellers_in_window"] == 6 and ev["listings_in_window"] == 6
    assert ev["group"] == "GB|luxury_bags|maison ferrac"


@pytest.mark.parametrize(
    ("name", "events"),
    [
        # One new seller listing a lot: new_seller_burst's business, not a wave.
        ("one seller", [listing(i, i, "s1") for i in range(20)]),
        # Established sellers restocking the same bag: not new accounts.
        ("established", [listing(i, i, f"s{i}", seller_age_days=400) for i in range(20)]),
        # New sellers, but spread over a day: a slow trickle is not a wave.
        ("slow", [listing(i, i * 90.0, f"s{i}") for i in range(20)]),
        # A viral plush toy: new sellers in three countries and two languages, each country below the bar.
        ("viral, three countries", [
            listing(i, i * 3.0, f"s{i}", region=("SG", "MY", "TH")[i % 3], category="toys", brand="Puffle",
                    title=("CloudBun plush bunny", "Patung CloudBun arnab", "ตุ๊กตา CloudBun กระต่าย")[i % 3],
                    currency=("SGD", "MYR", "THB")[i % 3])
            for i in range(12)]),
        # Same country and category, different brands: not the same item.
        ("different brands", [listing(i, i, f"s{i}", brand=f"House {i}") for i in range(20)]),
    ],
)
def test_honest_look_alikes_stay_clean(name: str, events: list[ListingEvent]) -> None:
    assert flagged(run(events)) == [], name


def test_brand_spelling_variants_group_together() -> None:
    # Case and accents folded by the shared text normalisation: one brand, one group.
    brands = ["Maison Ferrac", "MAISON FERRAC", "maison ferrac", "Maison Ferrac "]
    events = [listing(i, i, f"s{i}", brand=brands[i % 4]) for i in range(6)]
    assert len(flagged(run(events))) == 6


def test_redelivery_updates_and_late_events() -> None:
    events = [listing(i, i, f"s{i % 4}") for i in range(5)]
    dupes = events + [events[0]] * 3  # redelivered: not counted twice
    assert flagged(run(dupes)) == []
    assert D.state_key(listing(0, 0, "s1", op="updated")) is None
    assert D.state_key(listing(0, 0, "s1", seller_age_days=None)) is None
    # A listing more than lateness_minutes behind the newest of its group is too late: not counted.
    d = NewSellerWaveDetector(NewSellerWaveParams(min_sellers=4, min_listings=6, lateness_minutes=30))
    wave = [listing(i, 100 + i, f"s{i % 4}") for i in range(5)]
    assert flagged(run([*wave, listing(9, 69, "s9")], d)) == []  # 35 minutes behind 104: too late
    assert sorted(flagged(run([*wave, listing(9, 75, "s9")], d))) == sorted(f"l{i}" for i in (0, 1, 2, 3, 4, 9))


@pytest.mark.parametrize("order", ["time", "reversed", "interleaved"])
def test_the_same_wave_in_any_order(order: str) -> None:
    # Two ingest partitions hours apart in event time: the second one's listings come late.
    events = [listing(i, i * 2.5, f"s{i % 8}") for i in range(16)] + [listing(20, 300, "s1")]
    arrived = {"time": events, "reversed": events[::-1],
               "interleaved": events[1::2] + events[0::2]}[order]
    out = run(arrived, NewSellerWaveDetector(replace(P, max_tracked=32)))
    assert sorted(flagged(out)) == sorted(f"l{i}" for i in range(16))  # the lone l20 is no wave; each once
    if order == "reversed":  # past the cap (16 of 17 kept) the oldest is forgotten: l0 arrives too late
        assert sorted(flagged(run(arrived))) == sorted(f"l{i}" for i in range(1, 16))
    # A listing that arrives after its wave was found is signalled on its own arrival.
    late_own = [s for signals, ev in zip(out, arrived, strict=True) for s in signals if s.entity_id == ev.listing_id]
    assert late_own and all(s.event_id == f"e{s.entity_id[1:]}" for s in late_own)


def test_a_late_listing_completes_a_wave_of_earlier_and_later_ones() -> None:
    # Five listings of four sellers; the sixth, by a fourth-or-later seller, lands in the middle.
    events = [listing(i, m, f"s{i}") for i, m in enumerate((0, 10, 20, 40, 50))]
    middle = listing(9, 30, "s9")
    out = run([*events, middle])
    assert [s.entity_id for s in out[-1]] == ["l9", "l0", "l1", "l2", "l3", "l4"]  # its own first, then by time
    assert {s.event_id for s in out[-1]} == {"e9"}  # back-fills carry the event that completed the wave
    assert out[-1][0].evidence["listings_in_window"] == 6


def test_state_is_kept_by_event_time() -> None:
    d = NewSellerWaveDetector(NewSellerWaveParams(window_minutes=60, lateness_minutes=120))
    state = d.initial_state()
    for i, minute in enumerate((0, 10, 100, 185, 200)):
        state, _ = d.detect(listing(i, minute, f"s{i}"), state)
    # window + lateness = 180 minutes behind the newest (200): the listings at 0 and 10 are gone.
    assert [e[2] for e in unpack(state)] == ["l2", "l3", "l4"]


def test_state_is_bounded_round_trips_and_is_not_mutated() -> None:
    d = NewSellerWaveDetector(NewSellerWaveParams(min_sellers=2, min_listings=2, max_tracked=8))
    state = d.initial_state()
    for i in range(100):
        state, _ = d.detect(listing(i, i * 0.1, f"s{i % 3}"), state)
    assert len(unpack(state)) == 8
    frozen = copy.deepcopy(state)
    restored = orjson.loads(orjson.dumps(state))
    ev = listing(500, 11.0, "s9")
    assert d.detect(ev, restored) == d.detect(ev, state)
    assert state == frozen


def test_other_kinds_and_invalid_params() -> None:
    content = ContentEvent(event_id="c", event_time=T0, region="GB", content_id="c1", creator_id="s1",
                           content_kind="live", text="flash sale")
    assert D.state_key(content) is None and D.detect(content, None) == ([], [])
    for bad in ({"min_sellers": 1}, {"min_sellers": 5, "min_listings": 4}, {"window_minutes": 0},
                {"max_tracked": 3}, {"lateness_minutes": -1}):
        with pytest.raises(ValueError):
            NewSellerWaveDetector(NewSellerWaveParams(**bad))
