"""Re-keying an event to the owners of its detectors' state, and the state records they keep.

An event crosses the stream layer as an *envelope*: the validated input, the
signals found so far, the partitioned detector steps still to run, and the
input record's timestamp.  ``risk.detect.v1`` is keyed by the next step's
state key, so each key's state has one owner, a partition of that topic (the
same partition an input keyed by it is on), and lives in the changelog-backed
``detector-state`` table under ``country|detector|state key``;
``risk.decide.v1`` is keyed by event id, so one owner decides the event's
actions and remembers their idempotency keys.

A state record also remembers the last events it applied, with their signals
up to a byte budget: when an event is delivered again (a worker died after
updating the state but before its offset was committed), the state is not
updated twice and the same signals are forwarded again, so a restart gives the
answers an uninterrupted run gives; for an event whose signals no longer fit
the budget (a hot key), the signals of the key's current state are forwarded.

>>> rec = StateRecord.load(None)
>>> rec = rec.applied("e1", {"n": 1}, [])
>>> rec.replayed("e1"), rec.replayed("e2")
([], None)
>>> StateRecord.load(rec.dump()).state
{'n': 1}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from riskstream.contracts import EVENT_TYPES, Event, Signal

REPLAY_MEMORY: Final = 64  # events per key remembered as applied, for redelivery after a crash
# Signal bytes per key kept with those events, newest first.  An older event's signals are dropped
# (it is still remembered as applied): during a surge a hot key's record otherwise carried 64 events'
# signals (4 KB for a photo band bucket, 40 KB for a new-seller wave), written to the changelog on every
# step.  A redelivered event whose signals were dropped is not applied twice; its signals are
# recomputed from the key's current state (`REPLAY_RECOMPUTED`).
REPLAY_SIGNAL_BYTES: Final = 1024
REPLAY_EXACT: Final = "exact"
REPLAY_RECOMPUTED: Final = "recomputed"
ENVELOPE_KINDS: Final = ("listing", "review", "content")  # the inputs that are screened, so hop


def _wire_envelope(kind: str) -> type[msgspec.Struct]:
    """The envelope on the wire for one kind: ``{"k": kind, "e": event, "s": signals, "st": steps, "t": ts}``.

    A msgspec struct tagged by ``k``, so a hop record (a JSON array of envelopes of
    any kinds) is decoded from its bytes in one pass, events and signals typed.
    A part of a fanned-out event adds ``"pi"`` and ``"pn"`` (part index, parts); a
    whole event leaves them out (``omit_defaults``), so its bytes are as before.
    """
    return msgspec.defstruct(f"_{kind.title()}Envelope", [
        ("e", EVENT_TYPES[kind]), ("s", list[Signal]), ("st", list[tuple[str, str]]),
        ("t", float | None, None), ("pi", int, 0), ("pn", int, 1)], tag_field="k", tag=kind, omit_defaults=True)


_WIRE: Final[dict[str, type[msgspec.Struct]]] = {kind: _wire_envelope(kind) for kind in ENVELOPE_KINDS}
_WireEnvelope: Any = _WIRE["listing"] | _WIRE["review"] | _WIRE["content"]  # built at import: a runtime union
_HOP_DECODER: Final = msgspec.json.Decoder(list[_WireEnvelope] | _WireEnvelope)
_ENCODER: Final = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: str
    event: Event
    signals: list[Signal]
    steps: list[tuple[str, str]]  # (detector id, state key), next first
    record_time: float | None = None  # the input record's timestamp (s), for end-to-end latency
    # Part `part` of `parts` of an event whose steps fan out to several partitions at once
    # (stream/gather.py); a whole event is part 0 of 1.
    part: int = 0
    parts: int = 1

    def dump(self) -> bytes:
        return _ENCODER.encode(_WIRE[self.kind](self.event, self.signals, self.steps, self.record_time,
                                                self.part, self.parts))

    @classmethod
    def load(cls, raw: bytes) -> Envelope:
        (env,) = cls.load_many(raw)
        return env

    @classmethod
    def load_many(cls, raw: bytes) -> list[Envelope]:
        """A hop record: a JSON array of envelopes bound for one partition (or a single envelope).

        Raises `msgspec.DecodeError` (a `ValueError`) for a record that is not one.
        """
        obj = _HOP_DECODER.decode(raw)
        items = obj if isinstance(obj, list) else [obj]
        return [cls(kind=item.__struct_config__.tag, event=item.e, signals=item.s, steps=item.st,
                    record_time=item.t, part=item.pi, parts=item.pn) for item in items]


def state_key(event: Event, det_id: str, key: str) -> str:
    """A detector state's key in the `detector-state` table: country|detector|state key."""
    return f"{event.region}|{det_id}|{key}"


class _WireRecord(msgspec.Struct):
    """A state record on the wire: ``{"s": state, "r": [[event id, signals], ...]}``.

    The remembered signals stay raw JSON: they are decoded only when an event is
    delivered again, which is rare, not on every load and dump of the record.
    """

    s: Any = None
    r: list[tuple[str, msgspec.Raw]] = msgspec.field(default_factory=list)  # JSON null: signals dropped


_RECORD_DECODER: Final = msgspec.json.Decoder(_WireRecord)
_SIGNALS_DECODER: Final = msgspec.json.Decoder(list[Signal])
_NO_SIGNALS: Final = msgspec.Raw(b"[]")
_DROPPED: Final = msgspec.Raw(b"null")


def _dropped(raw: msgspec.Raw) -> bool:
    return len(raw) == 4 and bytes(raw) == b"null"


@dataclass(frozen=True, slots=True)
class StateRecord:
    """One key's detector state, plus the signals of the last events applied to it."""

    state: Any = None
    # (event id, its signals as JSON, or JSON null once dropped for REPLAY_SIGNAL_BYTES), oldest first
    recent: list[tuple[str, msgspec.Raw]] = field(default_factory=list)

    @classmethod
    def load(cls, raw: bytes | None) -> StateRecord:
        if raw is None:
            return cls()
        obj = _RECORD_DECODER.decode(raw)
        return cls(state=obj.s, recent=obj.r)

    def dump(self) -> bytes:
        return _ENCODER.encode(_WireRecord(self.state, self.recent))

    def replayed(self, event_id: str) -> list[Signal] | None:
        """The signals this event produced here before, or None if it is new or they were dropped."""
        for eid, sigs in self.recent:
            if eid == event_id:
                return None if _dropped(sigs) else _SIGNALS_DECODER.decode(sigs)
        return None

    def seen(self, event_id: str) -> str | None:
        """`REPLAY_EXACT` (applied, signals kept), `REPLAY_RECOMPUTED` (applied, signals dropped), or None."""
        for eid, sigs in self.recent:
            if eid == event_id:
                return REPLAY_RECOMPUTED if _dropped(sigs) else REPLAY_EXACT
        return None

    def applied(self, event_id: str, state: Any, signals: list[Signal]) -> StateRecord:
        sigs = msgspec.Raw(_ENCODER.encode(signals)) if signals else _NO_SIGNALS
        recent = [*self.recent[-(REPLAY_MEMORY - 1):], (event_id, sigs)]
        budget = REPLAY_SIGNAL_BYTES
        for i in range(len(recent) - 1, -1, -1):  # newest first; the newest event's signals are always kept
            eid, raw = recent[i]
            if len(raw) <= 4:  # [] or null: nothing to drop
                continue
            if budget < 0:
                recent[i] = (eid, _DROPPED)
            budget -= len(raw)
        return StateRecord(state=state, recent=recent)
