from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import msgspec
import orjson
import pytest

from riskstream.contracts import ContentEvent, ListingEvent, Signal, parse_time
from riskstream.detectors.new_seller_burst import NewSellerBurstDetector, NewSellerBurstParams, unpack

T0 = parse_time("2026-03-01T10:00:00+07:00")
K3 = NewSellerBurstParams(max_seller_age_days=7, max_listings=3, window_minutes=10, cooldown_minutes=10)


def listing(i: int, minute: float, **kw: Any) -> ListingEvent:
    base: dict[str, Any] = dict(
        event_id=f"e{i}", event_time=T0 + timedelta(minutes=minute), region="TH", op="created",
        listing_id=f"l{i}", seller_id="s1", category="phones", title="iPhone 15 Pro Max",
        price=9000.0, currency="THB", seller_age_days=2,
    )
    base.update(kw)
    return ListingEvent(**base)


def run(d: NewSellerBurstDetector, events: list[ListingEvent]) -> tuple[dict[str, Any], list[list[Signal]]]:
    state = d.initial_state()
    out = []
    for ev in events:
        state, signals = d.detect(ev, state)
        out.append(signals)
    return state, out


def fired_at(d: NewSellerBurstDetector, events: list[ListingEvent]) -> list[int]:
    return [i for i, s in enumerate(run(d, events)[1]) if s]


@pytest.mark.parametrize(
    ("minutes", "expected"),
    [
        ([0, 1, 2, 3], [3]),              # K+1 within the window
        ([0, 1, 2], []),                  # exactly K is allowed
        ([0, 4, 8, 12], []),              # steady pace, never more than 3 per 10 minutes
        ([0, 1, 2, 10], []),              # boundary: the window is (t - 10 min, t]
        ([0, 1, 2, 9.99], [3]),
        ([5, 1, 3, 2], [3]),              # out of order in event time
        ([0, 1, 2, 60, 61, 62, 63], [6]), # a second burst an hour later
        ([100, 101, 102, 103, 0], [3]),   # far too late to fall in any held window
        ([100, 102, 104, 95], [3]),       # late: completes the window (94, 104], not one ending at 95
        ([100, 102, 104, 94], []),        # late and just outside it
    ],
)
def test_window(minutes: list[float], expected: list[int]) -> None:
    events = [listing(i, m) for i, m in enumerate(minutes)]
    assert fired_at(NewSellerBurstDetector(K3), events) == expected


@pytest.mark.parametrize(
    ("age", "params", "fires"),
    [
        (0, K3, True),
        (6, K3, True),
        (7, K3, False),     # boundary: "younger than 7 days"
        (400, K3, False),   # an established seller may list in bulk
        (None, K3, False),
        (None, NewSellerBurstParams(max_listings=3, window_minutes=10, unknown_age_is_new=True), True),
    ],
)
def test_seller_age(age: int | None, params: NewSellerBurstParams, fires: bool) -> None:
    d = NewSellerBurstDetector(params)
    events = [listing(i, i, seller_age_days=age) for i in range(4)]
    assert bool(fired_at(d, events)) is fires
    assert (d.state_key(events[0]) == "s1") is fires


def test_signal_evidence_and_score() -> None:
    d = NewSellerBurstDetector(K3)
    _, out = run(d, [listing(i, i, seller_age_days=0) for i in range(4)])
    (s,) = out[3]
    assert (s.code, s.entity_type, s.entity_id, s.event_id) == ("new_seller_burst", "seller", "s1", "e3")
    assert s.score == 1.0
    ev = s.evidence
    assert ev["listing_ids"] == ["l0", "l1", "l2", "l3"]
    assert ev["listings_in_window"] == 4 and ev["listings_as_new_seller"] == 4 and ev["max_listings"] == 3
    assert parse_time(ev["window_start"]) == T0
    _, out = run(d, [listing(i, i, seller_age_days=6) for i in range(4)])
    assert 0.5 < out[3][0].score < 0.6


def test_cooldown_gives_one_signal_per_burst() -> None:
    events = [listing(i, i * 0.1) for i in range(50)]
    assert fired_at(NewSellerBurstDetector(K3), events) == [3]
    no_cooldown = NewSellerBurstParams(max_listings=3, window_minutes=10, cooldown_minutes=0)
    assert fired_at(NewSellerBurstDetector(no_cooldown), events) == list(range(3, 50))
    # Still bursting after the cooldown: a fresh signal.
    events = [listing(i, i * 0.5) for i in range(30)]
    assert fired_at(NewSellerBurstDetector(K3), events) == [3, 23]


def test_redelivery_and_updates_do_not_count() -> None:
    d = NewSellerBurstDetector(K3)
    dupes = [listing(0, 0)] * 6
    assert fired_at(d, dupes) == []
    updates = [listing(0, 0)] + [listing(0, m, op="updated") for m in (1, 2, 3, 4)]
    assert fired_at(d, updates) == []
    assert d.state_key(listing(0, 0, op="updated")) is None
    assert d.state_key(listing(0, 0, op="removed")) is None


def test_memory_is_constant_per_seller() -> None:
    d = NewSellerBurstDetector(K3)
    state, _ = run(d, [listing(i, i * 7.0) for i in range(1000)])
    total, _, recent = unpack(state)
    assert len(recent) == K3.max_listings + 1
    assert total == 1000


def test_state_round_trips_through_json_and_input_is_not_mutated() -> None:
    d = NewSellerBurstDetector(K3)
    state, _ = run(d, [listing(i, i) for i in range(3)])
    frozen = copy.deepcopy(state)
    restored = orjson.loads(orjson.dumps(state))
    assert restored == state
    assert d.detect(listing(3, 3), restored) == d.detect(listing(3, 3), state)
    assert state == frozen


def test_state_key_is_the_seller_and_other_kinds_are_ignored() -> None:
    d = NewSellerBurstDetector(K3)
    assert d.state_key(listing(0, 0, seller_id="seller-42")) == "seller-42"
    content = ContentEvent(event_id="c", event_time=T0, region="TH", content_id="c1", creator_id="s1",
                           content_kind="live", text="flash sale")
    assert d.state_key(content) is None
    assert d.detect(content, d.initial_state()) == (d.initial_state(), [])
    assert d.detect(content, None)[1] == []  # the engine passes None for events without a key
    state, _ = d.detect(listing(0, 0), None)
    assert unpack(state) == (1, None, [(T0.timestamp(), "l0")])


def test_state_in_the_older_form_is_read() -> None:
    d = NewSellerBurstDetector(K3)
    state, _ = run(d, [listing(i, i) for i in range(3)])
    total, last_fired, recent = unpack(state)
    older = {"recent": [[t, lid] for t, lid in recent], "last_fired": last_fired, "total": total}
    for probe in (listing(3, 3), listing(1, 1)):  # a new listing, and one held already
        assert d.detect(probe, older) == d.detect(probe, state)


@pytest.mark.parametrize("bad", [{"max_listings": 0}, {"window_minutes": 0}, {"cooldown_minutes": -1}])
def test_rejects_bad_params(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        NewSellerBurstDetector(NewSellerBurstParams(**bad))


def test_params_load_from_plain_policy_data() -> None:
    params = msgspec.convert({"max_listings": 5, "window_minutes": 30}, NewSellerBurstParams)
    assert (params.max_listings, params.window_minutes, params.max_seller_age_days) == (5, 30.0, 7)
