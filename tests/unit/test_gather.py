"""Gathering a fanned-out event's parts at decide (stream/gather.py): order, duplicates, the table's entries."""

from __future__ import annotations

from riskstream.contracts import Signal, parse_time
from riskstream.stream import gather
from riskstream.stream.dedupe import DedupeRecord

T = parse_time("2026-03-02T10:00:00Z")


def _sig(detector: str) -> Signal:
    return Signal(detector=detector, code="c", entity_type="listing", entity_id="l1", region="DE", score=0.5,
                  event_id="e1", event_time=T, evidence={})


def test_parts_in_any_order_give_the_signals_in_part_order() -> None:
    g = gather.Gathering()
    assert g.add(b"e1", None, 2, 3, [_sig("c")]) is None
    assert g.add(b"e1", None, 0, 3, [_sig("a0"), _sig("a1")]) is None
    assert g.pending() and g.pending()[0][1].parts.keys() == {0, 2}
    got = g.add(b"e1", None, 1, 3, [_sig("b")])
    assert got is not None and [s.detector for s in got] == ["a0", "a1", "b", "c"]
    assert g.pending() == [] and g.decided_stored() == []  # decided within the batch: nothing to write
    assert g.late == 0


def test_a_part_delivered_twice_counts_once_and_a_part_after_the_decision_is_late() -> None:
    g = gather.Gathering()
    assert g.add(b"e1", None, 0, 2, [_sig("a")]) is None
    assert g.add(b"e1", None, 0, 2, [_sig("again")]) is None  # redelivered: the first copy is kept
    got = g.add(b"e1", None, 1, 2, [])
    assert got is not None and [s.detector for s in got] == ["a"]
    assert g.add(b"e1", None, 1, 2, []) is None
    assert g.late == 1


def test_parts_kept_by_one_batch_complete_in_the_next_and_then_become_a_decided_marker() -> None:
    first = gather.Gathering()
    assert first.add(b"e1", None, 1, 2, [_sig("b")]) is None
    ((key, pending),) = first.pending()
    assert key == b"e1"
    stored = pending.dump(now=1000.0)
    assert DedupeRecord.enforced_at(stored) == 1000.0 and gather.is_parts(stored)

    second = gather.Gathering()
    assert not second.seen(b"e1")
    got = second.add(b"e1", stored, 0, 2, [_sig("a")])
    assert got is not None and [s.detector for s in got] == ["a", "b"]
    assert [k for k, _ in second.decided_stored()] == [b"e1"]  # its entry must become a marker

    marker = gather.decided_marker(now=1001.0)
    assert not gather.is_parts(marker)
    third = gather.Gathering()  # a part delivered again after a crash, once the event was decided
    assert third.add(b"e1", marker, 0, 2, [_sig("a")]) is None
    assert third.late == 1 and third.pending() == []
