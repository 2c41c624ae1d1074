"""The wire formats of the re-keying hops: envelopes and detector-state records."""

from __future__ import annotations

import msgspec
import orjson
import pytest

from riskstream.contracts import ContentEvent, ListingEvent, ReviewEvent, Signal, encode, parse_time
from riskstream.stream.routing import REPLAY_MEMORY, Envelope, StateRecord

T = parse_time("2026-03-02T10:00:00Z")


def _events() -> list[ListingEvent | ReviewEvent | ContentEvent]:
    return [
        ListingEvent(event_id="e-l", event_time=T, region="DE", op="created", listing_id="l1", seller_id="s1",
                     category="toys", title="Holzeisenbahn ✓ ünïcödé", price=12.5, currency="EUR",
                     image_hashes=["00ff00ff00ff00ff"], attributes={"ce_marking": "yes"}),
        ReviewEvent(event_id="e-r", event_time=T, region="GB", review_id="r1", listing_id="l1", buyer_id="u1",
                    rating=5, text="great", language="en", verified_purchase=False, account_age_days=3),
        ContentEvent(event_id="e-c", event_time=T, region="US", content_id="c1", creator_id="k1",
                     content_kind="video", text="buy now #ad", language="en"),
    ]


def _signal(event_id: str) -> Signal:
    return Signal(detector="image_reuse", code="photo_reused", entity_type="listing", entity_id="l1", region="DE",
                  score=0.9, event_id=event_id, event_time=T, evidence={"sellers": ["s2", "s3"], "d": 2})


def test_a_hop_record_of_mixed_kinds_round_trips() -> None:
    envs = [Envelope(ev.kind, ev, [_signal(ev.event_id)], [("image_reuse", "DE:0:17"), ("price_outlier", "x")], 1.5)
            for ev in _events()]
    raw = b"[" + b",".join(e.dump() for e in envs) + b"]"
    assert Envelope.load_many(raw) == envs
    assert Envelope.load(envs[1].dump()) == envs[1]


def test_a_part_of_a_fanned_out_event_round_trips_and_a_whole_one_carries_no_part_fields() -> None:
    ev = _events()[0]
    part = Envelope(ev.kind, ev, [], [("image_reuse", "DE:0:17")], 1.5, part=2, parts=3)
    assert Envelope.load(part.dump()) == part
    (wire,) = [orjson.loads(part.dump())]
    assert (wire["pi"], wire["pn"]) == (2, 3)
    whole = orjson.loads(Envelope(ev.kind, ev, [], [], 1.5).dump())
    assert "pi" not in whole and "pn" not in whole  # a whole event's bytes are the previous release's
    assert Envelope.load(orjson.dumps(whole)).parts == 1


def test_the_previous_orjson_wire_format_still_decodes() -> None:
    """Records written by the previous release (orjson, ``+00:00`` times) decode the same."""
    ev = _events()[0]
    old = orjson.dumps({"k": "listing", "e": orjson.Fragment(encode(ev)), "s": [orjson.Fragment(encode(_signal("e-l")))],
                        "st": [["image_reuse", "DE:0:17"]], "t": None})
    (env,) = Envelope.load_many(old)
    assert env == Envelope("listing", ev, [_signal("e-l")], [("image_reuse", "DE:0:17")], None)
    old_record = orjson.dumps({"s": {"n": 1}, "r": [["e1", [orjson.Fragment(encode(_signal("e1")))]], ["e2", []]]})
    rec = StateRecord.load(old_record)
    assert rec.state == {"n": 1}
    assert rec.replayed("e1") == [_signal("e1")]
    assert rec.replayed("e2") == []


@pytest.mark.parametrize("raw", [b"", b"{", b"[1]", b'{"k": "recall", "e": {}}', b'[{"k": "listing", "e": {}}]',
                                 b'{"k": "listing", "s": [], "st": []}'])
def test_a_record_that_is_not_an_envelope_is_refused(raw: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):  # a ValueError: the hop agent dead-letters the record
        Envelope.load_many(raw)


def test_state_record_replays_the_signals_it_gave_and_forgets_beyond_its_memory() -> None:
    rec = StateRecord.load(None)
    rec = rec.applied("e0", {"n": 0}, [_signal("e0")])
    for i in range(1, REPLAY_MEMORY + 5):
        rec = StateRecord.load(rec.applied(f"e{i}", {"n": i}, []).dump())
    assert rec.state == {"n": REPLAY_MEMORY + 4}
    assert len(rec.recent) == REPLAY_MEMORY
    assert rec.replayed("e0") is None  # beyond the replay memory
    assert rec.replayed(f"e{REPLAY_MEMORY + 4}") == []
    fresh = StateRecord.load(StateRecord().applied("x", [1, "a"], [_signal("x")]).dump())
    assert fresh.replayed("x") == [_signal("x")] and fresh.state == [1, "a"]


def test_older_signals_beyond_the_byte_budget_are_dropped_but_the_event_stays_applied() -> None:
    from riskstream.stream.routing import REPLAY_EXACT, REPLAY_RECOMPUTED, REPLAY_SIGNAL_BYTES

    one = len(msgspec.json.encode([_signal("e0")]))
    n = REPLAY_SIGNAL_BYTES // one + 3  # more signalling events than the budget holds
    rec = StateRecord.load(None)
    for i in range(n):
        rec = StateRecord.load(rec.applied(f"e{i}", {"n": i}, [_signal(f"e{i}")]).dump())
    rec = StateRecord.load(rec.applied("quiet", {"n": n}, []).dump())
    kept = [eid for eid, raw in rec.recent if len(raw) > 4]
    assert kept and kept[-1] == f"e{n - 1}"  # the newest signals are kept
    assert sum(len(raw) for _, raw in rec.recent if len(raw) > 4) <= REPLAY_SIGNAL_BYTES + one
    assert rec.seen("e0") == REPLAY_RECOMPUTED and rec.replayed("e0") is None  # applied: not applied twice
    assert rec.seen(f"e{n - 1}") == REPLAY_EXACT and rec.replayed(f"e{n - 1}") == [_signal(f"e{n - 1}")]
    assert rec.seen("quiet") == REPLAY_EXACT and rec.replayed("quiet") == []
    assert rec.seen("never") is None
    one_big = StateRecord().applied("big", None, [_signal("big")] * 20)  # larger than the budget alone
    assert one_big.replayed("big") == [_signal("big")] * 20
