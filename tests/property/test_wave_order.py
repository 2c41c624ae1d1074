"""`new_seller_wave` signals a function of the set of listings, whatever their arrival order (issue 9).

Hypothesis draws a few groups' listings (times with ties, a handful of new
sellers, some established sellers and updates mixed in) and the detector's
parameters, then feeds the same listings in several orders through the
engine's keyed-state loop.  Each run must signal exactly the listings that an
independent brute-force reading of the definition finds (a listing is in a
wave iff some window of ``window_minutes`` containing it holds ``min_sellers``
new sellers and ``min_listings`` listings), each listing once:

* any shuffle, when the lateness bound covers the whole span;
* any order within the lateness bound (every listing arrives at most
  ``lateness_minutes`` behind the newest of its group seen before it), when
  the span is several times the bound;
* with redeliveries mixed in.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from riskstream.contracts import ListingEvent, Signal, parse_time
from riskstream.detectors.new_seller_wave import NewSellerWaveDetector, NewSellerWaveParams

T0 = parse_time("2026-03-01T10:00:00Z")
GROUPS = [("GB", "luxury_bags", "Maison Ferrac"), ("GB", "luxury_bags", "Casa Gorac"), ("FR", "toys", "")]


@st.composite
def listings(draw: st.DrawFn) -> list[ListingEvent]:
    n = draw(st.integers(0, 45))
    out = []
    for i in range(n):
        region, category, brand = draw(st.sampled_from(GROUPS))
        out.append(ListingEvent(
            event_id=f"e{i}", event_time=T0 + timedelta(minutes=draw(st.integers(0, 600)) / 2),
            region=region, op=draw(st.sampled_from(["created"] * 9 + ["updated"])), listing_id=f"l{i}",
            seller_id=f"s{draw(st.integers(0, 7))}", category=category, title="Classic flap bag", brand=brand,
            price=390.0, currency="GBP", seller_age_days=draw(st.sampled_from([0, 3, 6, 400]))))
    return out


@st.composite
def params(draw: st.DrawFn, lateness_minutes: float) -> NewSellerWaveParams:
    min_sellers = draw(st.integers(2, 4))
    return NewSellerWaveParams(min_sellers=min_sellers, min_listings=draw(st.integers(min_sellers, 6)),
                               window_minutes=draw(st.sampled_from([10.0, 30.0, 45.5, 60.0])),
                               lateness_minutes=lateness_minutes, max_tracked=64)


def run(d: NewSellerWaveDetector, events: list[ListingEvent]) -> list[Signal]:
    """The engine's loop: one state per key, events in the given order."""
    states: dict[str, Any] = {}
    out: list[Signal] = []
    for ev in events:
        key = d.state_key(ev)
        if key is None:
            out.extend(d.detect(ev, None)[1])
            continue
        states[key], found = d.detect(ev, states.get(key) or d.initial_state())
        out.extend(found)
    return out


def in_a_wave(d: NewSellerWaveDetector, events: list[ListingEvent]) -> set[str]:
    """The definition, read directly: every window [t, t + w) that starts at a listing, per group."""
    p, w = d.params, timedelta(minutes=d.params.window_minutes)
    by_group: dict[str, list[ListingEvent]] = {}
    for ev in events:
        key = d.state_key(ev)
        if key is not None:
            by_group.setdefault(key, []).append(ev)
    found: set[str] = set()
    for group in by_group.values():
        for first in group:
            window = [ev for ev in group if first.event_time <= ev.event_time < first.event_time + w]
            if len(window) >= p.min_listings and len({ev.seller_id for ev in window}) >= p.min_sellers:
                found |= {ev.listing_id for ev in window}
    return found


def check(d: NewSellerWaveDetector, order: list[ListingEvent], want: set[str]) -> None:
    signals = run(d, order)
    ids = Counter(s.entity_id for s in signals)
    assert set(ids) == want
    assert all(n == 1 for n in ids.values()), ids  # each listing once
    assert all(s.entity_type == "listing" and s.code == "new_seller_wave" for s in signals)


@given(listings(), params(lateness_minutes=360.0), st.randoms(use_true_random=False))
def test_any_shuffle_within_the_lateness_bound_signals_the_same_listings(
    events: list[ListingEvent], p: NewSellerWaveParams, rng: Any,
) -> None:
    d = NewSellerWaveDetector(p)
    want = in_a_wave(d, events)
    check(d, sorted(events, key=lambda ev: ev.event_time), want)  # event-time order
    check(d, sorted(events, key=lambda ev: ev.event_time, reverse=True), want)  # newest first
    for _ in range(3):
        order = list(events)
        rng.shuffle(order)
        check(d, order, want)
    # Redelivered listings (some events twice or more, anywhere): nothing more.
    again = list(events) + [rng.choice(events) for _ in range(len(events) // 3)] if events else []
    rng.shuffle(again)
    check(d, again, want)


@given(listings(), params(lateness_minutes=40.0), st.randoms(use_true_random=False))
def test_orders_that_keep_to_a_short_lateness_bound_signal_the_same_listings(
    events: list[ListingEvent], p: NewSellerWaveParams, rng: Any,
) -> None:
    # Times span 300 minutes, the bound is 40: arrival order is event time plus a delay of at
    # most 40 minutes, so each listing arrives at most 40 minutes behind any that came before.
    d = NewSellerWaveDetector(p)
    want = in_a_wave(d, events)
    for _ in range(3):
        delay = {ev.event_id: timedelta(minutes=rng.uniform(0, p.lateness_minutes)) for ev in events}
        check(d, sorted(events, key=lambda ev: ev.event_time + delay[ev.event_id]), want)
