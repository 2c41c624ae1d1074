"""Gathering the parts of a fanned-out event at its decide owner.

An event whose partitioned detector steps are owned by several partitions of
``risk.detect.v1`` is sent to all of them at once, one *part* per partition
(`Envelope.part` of `Envelope.parts`), instead of hopping from one owner to the
next: its latency is one detect hop, not one per owner.  Each part goes on to
``risk.decide.v1`` (keyed by event id) with the signals its steps found; the
decide agent gathers the parts and decides the event once all are there, on
their signals concatenated in part order (part 0 carries what the ingest agent
found), which is the order the hop-by-hop path gave, so the decision is the same.

Nothing is held only in memory.  A part that arrives while others are missing is
kept in the changelog-backed ``decide-gather`` table (key: event id), written
with the batch's other outputs, so its input offset is committed only once the
broker has it.  When the last part arrives, the event is decided; if earlier
parts were in the table, their entry becomes a *decided* marker, written only
after the broker has the decision's outputs (a crash in between redelivers the
last part, which finds the parts still there and decides again: actions are
suppressed by their idempotency keys).  A part delivered again after its event
was decided meets the marker and is dropped (``riskstream_fanout_events_total
{outcome="late_part"}``).  Entries are `DedupeRecord`s: kept for `HORIZON` (the
hop topics' retention, twice: a part cannot arrive later), then swept; a sweep
that removes parts that never completed logs it and counts ``outcome="expired"``.

>>> from riskstream.contracts import Signal
>>> g = Gathering()
>>> g.add(b"e1", None, 0, 2, [])  # part 0 of 2: not complete
>>> g.add(b"e1", None, 0, 2, [])  # the same part again: ignored
>>> g.add(b"e1", None, 1, 2, [])  # the last part: its signals, in part order
[]
>>> g.pending()
[]
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from riskstream.contracts import Signal
from riskstream.stream.dedupe import DAY, DedupeRecord

HORIZON: Final = 2 * DAY  # twice the hop topics' retention (risk.detect.v1, risk.decide.v1: one day)
DECIDED: Final = b"D"  # the payload of an event's entry once decided


class _WireParts(msgspec.Struct, array_like=True):
    """The parts of an event kept so far: ``[parts, [[index, signals], ...]]``."""

    n: int
    p: list[tuple[int, list[Signal]]]


_DECODER: Final = msgspec.json.Decoder(_WireParts)
_ENCODER: Final = msgspec.json.Encoder()


@dataclass(slots=True)
class Pending:
    """One event's parts in a batch: loaded from the table on first touch."""

    n: int
    parts: dict[int, list[Signal]] = field(default_factory=dict)
    stored: bool = False  # the table holds parts of it (written by an earlier batch)
    decided: bool = False
    source: Any = None  # the input event (Faust) of its latest part: the table's partition

    def dump(self, now: float) -> bytes:
        return DedupeRecord.dump(_ENCODER.encode(_WireParts(self.n, sorted(self.parts.items()))), now)


def load(value: bytes | None, n: int) -> Pending | None:
    """The table's entry as `Pending` (None for a decided marker); a missing entry is a new event."""
    if value is None:
        return Pending(n=n)
    payload = DedupeRecord.payload(value)
    if payload == DECIDED:
        return None
    wire = _DECODER.decode(payload)
    return Pending(n=wire.n, parts=dict(wire.p), stored=True)


def is_parts(value: bytes) -> bool:
    """Whether a table entry holds parts still waiting (not a decided marker)."""
    return DedupeRecord.payload(value) != DECIDED


def decided_marker(now: float) -> bytes:
    return DedupeRecord.dump(DECIDED, now)


class Gathering:
    """One decide batch's gathers: event id -> `Pending`.

    `add` takes a part; it returns the event's signals in part order when the part
    completes it, else None (waiting, a part seen before, or the event already
    decided).  `stored` reads the table's entry for a key the batch has not seen.
    """

    __slots__ = ("_by_key", "late")

    def __init__(self) -> None:
        self._by_key: dict[bytes, Pending | None] = {}  # None: decided before this batch
        self.late = 0  # parts dropped because their event was decided

    def add(self, key: bytes, stored: bytes | None, part: int, parts: int, signals: list[Signal],
            source: Any = None) -> list[Signal] | None:
        if key in self._by_key:
            pending = self._by_key[key]
        else:
            pending = self._by_key[key] = load(stored, parts)
        if pending is None or pending.decided:
            self.late += 1
            return None
        pending.parts.setdefault(part, signals)  # a part delivered twice counts once
        pending.source = source
        if len(pending.parts) < pending.n:
            return None
        pending.decided = True
        return [s for i in sorted(pending.parts) for s in pending.parts[i]]

    def seen(self, key: bytes) -> bool:
        return key in self._by_key

    def pending(self) -> list[tuple[bytes, Pending]]:
        """Events still waiting for parts at the batch's end: their parts go to the table."""
        return [(k, p) for k, p in self._by_key.items() if p is not None and not p.decided]

    def decided_stored(self) -> list[tuple[bytes, Pending]]:
        """Events decided in this batch whose parts were in the table: they become decided markers."""
        return [(k, p) for k, p in self._by_key.items() if p is not None and p.decided and p.stored]
