"""Re-keying an event to the owners of its detectors' state, and the state records they keep.

An event crosses the stream layer as an *envelope*: the validated input, the
signals found so far, the partitioned detector steps still to run, and the
input record's timestamp.  ``risk.detect.v1`` is keyed by the next step's
state key, so each key's state has one owner, a partition of that topic (the
same partition an input keyed by it is on), and lives in the changelog-backed
``detector-state`` table under ``country|detector|state key``;
``risk.decide.v1`` is keyed by event id, so one owner decides the event's
actions and remembers their idempotency keys.

A state record also remembers the signals of the last few events it applied:
when an event is delivered again (a worker died after updating the state but
before its offset was committed), the state is not updated twice and the same
signals are forwarded again, so a restart gives the answers an uninterrupted
run gives.

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

import orjson

from riskstream.contracts import Event, Signal, encode, from_obj

REPLAY_MEMORY: Final = 64  # events per key whose signals are kept for redelivery (about a commit interval)


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: str
    event: Event
    signals: list[Signal]
    steps: list[tuple[str, str]]  # (detector id, state key), next first
    record_time: float | None = None  # the input record's timestamp (s), for end-to-end latency

    def dump(self) -> bytes:
        return orjson.dumps({
            "k": self.kind, "e": orjson.Fragment(encode(self.event)),
            "s": [orjson.Fragment(encode(s)) for s in self.signals],
            "st": self.steps, "t": self.record_time,
        })

    @classmethod
    def load(cls, raw: bytes, event_types: dict[str, type[Any]]) -> Envelope:
        return cls._from(orjson.loads(raw), event_types)

    @classmethod
    def load_many(cls, raw: bytes, event_types: dict[str, type[Any]]) -> list[Envelope]:
        """A hop record: a JSON array of envelopes bound for one partition (or a single envelope)."""
        obj = orjson.loads(raw)
        items = obj if isinstance(obj, list) else [obj]
        return [cls._from(item, event_types) for item in items]

    @classmethod
    def _from(cls, obj: Any, event_types: dict[str, type[Any]]) -> Envelope:
        kind = obj["k"]
        return cls(kind=kind, event=from_obj(obj["e"], event_types[kind]),
                   signals=[from_obj(s, Signal) for s in obj["s"]],
                   steps=[(d, k) for d, k in obj["st"]], record_time=obj.get("t"))

def state_key(event: Event, det_id: str, key: str) -> str:
    """A detector state's key in the `detector-state` table: country|detector|state key."""
    return f"{event.region}|{det_id}|{key}"


@dataclass(frozen=True, slots=True)
class StateRecord:
    """One key's detector state, plus the signals of the last events applied to it."""

    state: Any = None
    recent: list[tuple[str, list[Any]]] = field(default_factory=list)  # (event id, signals as JSON)

    @classmethod
    def load(cls, raw: bytes | None) -> StateRecord:
        if raw is None:
            return cls()
        obj = orjson.loads(raw)
        return cls(state=obj["s"], recent=[(e, sigs) for e, sigs in obj["r"]])

    def dump(self) -> bytes:
        return orjson.dumps({"s": self.state, "r": self.recent})

    def replayed(self, event_id: str) -> list[Any] | None:
        """The signals (as JSON objects) this event produced here before, or None if it is new."""
        for eid, sigs in self.recent:
            if eid == event_id:
                return sigs
        return None

    def applied(self, event_id: str, state: Any, signals: list[Signal]) -> StateRecord:
        sigs = [orjson.loads(encode(s)) for s in signals]
        return StateRecord(state=state, recent=[*self.recent[-(REPLAY_MEMORY - 1):], (event_id, sigs)])
