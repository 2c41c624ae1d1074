"""The appeals index expires after the replay horizon, and the agents' shared batch loop (`Pipeline.process_batches`).

A real `Pipeline` on a Faust app that never connects: its tables are replaced by dicts, the
producer by a fake that acknowledges every record, and a stream by a fake whose
``take_events`` yields the test's batches and, like Faust's, acknowledges a batch's inputs
when it is asked for the next batch.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime
from typing import Any

import orjson

from riskstream.contracts import encode
from riskstream.settings import Settings
from riskstream.stream import metrics as m
from riskstream.stream.agents import Pipeline
from riskstream.stream.app import build_faust_app
from riskstream.stream.dedupe import DAY, DedupeRecord
from riskstream.stream.table_writer import TableWriter
from riskstream.stream.topics import Topics
from tests.unit.test_appeals_wiring import EU, appeal, removal


class FakeTable(dict[bytes, bytes]):
    """A table's interface as the agents and the sweep use it: a mapping, its name and its local store."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name

    @property
    def data(self) -> FakeTable:
        return self


class Message:
    def __init__(self, topic: str, offset: int, value: bytes, key: bytes | None = None,
                 timestamp: float | None = None) -> None:
        self.topic, self.partition, self.offset = topic, 0, offset
        self.key, self.value, self.timestamp = key, value, timestamp


class Source:  # a Faust event: what the agents read of it
    def __init__(self, message: Message) -> None:
        self.message = message


class FakeStream:
    """``take_events`` yields the given batches; a batch is acknowledged when the next one is asked for.

    `delivered` holds the records the broker acknowledged (the outbox awaited their delivery).
    """

    def __init__(self, batches: list[list[Source]], delivered: list[tuple[str, bytes]]) -> None:
        self.batches = batches
        self.delivered = delivered
        self.acked: list[tuple[int, int]] = []  # (offset, records on the broker when it was acknowledged)

    async def take_events(self, n: int, within: float) -> AsyncIterator[list[Source]]:
        for events in self.batches:
            yield events
            self.acked += [(e.message.offset, len(self.delivered)) for e in events]


def pipeline(horizon_days: float = 31.0) -> tuple[Pipeline, list[tuple[str, bytes]]]:
    settings = Settings.from_env({"RISKSTREAM_STORE": "memory://", "RISKSTREAM_DEDUPE_HORIZON_DAYS": str(horizon_days),
                                  "RISKSTREAM_APPEAL_WINDOW_DAYS": "0",  # the replay horizon is the longer
                                  "RISKSTREAM_GUARD_ENABLED": "0",
                                  "RISKSTREAM_BATCH_SENDS": "0"})  # the fake producer takes records one by one
    app = build_faust_app(settings)
    p = Pipeline(app, Topics(app, settings), settings)
    p.register()  # tables, agents and timers (nothing starts)
    p.engine.set_policy(EU)
    p.enforced_keys, p.ledgers = FakeTable("enforced-actions"), FakeTable("violation-ledgers")
    p.appeals.index, p.feedback_stats.table = FakeTable("appealable-actions"), FakeTable("rule-feedback")
    # Faust's own path (table[key] = value) into the fakes: the bulk path is tests/unit/test_table_writer.py's
    p.enforced_writer, p.ledger_writer = TableWriter(p.enforced_keys, bulk=False), TableWriter(p.ledgers, bulk=False)
    p.appeals.writer = TableWriter(p.appeals.index, bulk=False)
    p._tables_checked = True  # no broker: no changelog metadata to wait for
    delivered: list[tuple[str, bytes]] = []

    async def send(topic: str, key: bytes | None, value: bytes, partition: int | None, timestamp: float | None,
                   headers: Any) -> Awaitable[None]:
        async def acknowledged() -> None:  # the delivery future: on the broker once the outbox awaits it
            delivered.append((topic, value))

        return acknowledged()

    p._send = send  # type: ignore[method-assign]
    return p, delivered


def out(p: Pipeline, delivered: list[tuple[str, bytes]], key: str) -> list[dict[str, Any]]:
    return [orjson.loads(v) for t, v in delivered if t == p.names[key]]


def appeals_total(result: str) -> float:
    return float(m.APPEALS.labels(result, "EU")._value.get())


def test_an_appeal_within_the_horizon_reverses_and_one_after_it_is_dead_lettered_unknown_action() -> None:
    p, delivered = pipeline(horizon_days=31)
    topic = p.names["appealable"]
    now = time.time()
    fresh, stale = removal(1), removal(2)
    old = now - 40 * DAY  # enforced 40 days ago: beyond the 31-day horizon
    batches = [[Source(Message(topic, 0, encode(fresh), timestamp=now - DAY)),
                Source(Message(topic, 1, encode(stale), timestamp=old))],
               [Source(Message(topic, 2, encode(appeal(action_id="a1")))),
                Source(Message(topic, 3, encode(appeal(action_id="a2"))))]]
    stream = FakeStream(batches, delivered)
    reversed_before, unknown_before = appeals_total("reversed"), appeals_total("unknown_action")
    asyncio.run(p.appeals.index_actions(stream))

    # stamped with the time each was enforced (its record's time), the action kept as it came
    assert DedupeRecord.enforced_at(p.appeals.index[b"a2"]) == int(old)
    assert orjson.loads(DedupeRecord.payload(p.appeals.index[b"a1"]))["action_id"] == "a1"
    reversals = out(p, delivered, "actions")
    assert [(a["action"], a["evidence"]["reverses"]) for a in reversals] == [("allow", "a1")]
    (dead,) = out(p, delivered, "deadletter")
    assert (dead["reason"], dead["offset"]) == ("unknown_action", 3)
    assert "expired" in dead["detail"] and "31 days" in dead["detail"]
    assert appeals_total("reversed") == reversed_before + 1
    assert appeals_total("unknown_action") == unknown_before + 1

    # the sweep takes the expired entry out of the local store, and counts it under its table
    swept_before = m.DEDUPE_EXPIRED.labels("appealable-actions")._value.get()
    asyncio.run(p.expire_tables())
    assert set(p.appeals.index) == {b"a1"}
    assert m.DEDUPE_EXPIRED.labels("appealable-actions")._value.get() == swept_before + 1

    # once swept, the same appeal again: absent, the same reason, the generic detail
    again = FakeStream([[Source(Message(topic, 4, encode(appeal(action_id="a2"))))]], delivered)
    asyncio.run(p.appeals.index_actions(again))
    last = out(p, delivered, "deadletter")[-1]
    assert (last["reason"], last["offset"]) == ("unknown_action", 4) and "not indexed yet" in last["detail"]


def test_an_entry_indexed_before_entries_had_a_time_is_still_appealable() -> None:
    p, delivered = pipeline()
    topic = p.names["appealable"]
    p.appeals.index[b"a1"] = encode(removal(1))  # the unstamped value an older worker wrote
    asyncio.run(p.appeals.index_actions(FakeStream([[Source(Message(topic, 0, encode(appeal())))]], delivered)))
    assert [a["evidence"]["reverses"] for a in out(p, delivered, "actions")] == ["a1"]
    asyncio.run(p.expire_tables())
    assert b"a1" in p.appeals.index


def test_the_batch_loop_dead_letters_a_failing_record_and_acks_only_after_the_outputs_are_sent() -> None:
    p, delivered = pipeline()
    topic = p.names["feedback_rules"]
    fb = appeal("overturned")
    batches = [[Source(Message(topic, 0, encode(fb))), Source(Message(topic, 1, b"{not json"))],
               [Source(Message(topic, 2, encode(fb))),  # a replay: counted once
                Source(Message(topic, 3, encode(appeal("confirmed"))))]]
    stream = FakeStream(batches, delivered)
    asyncio.run(p.feedback_stats.count_feedback(stream))
    (dead,) = out(p, delivered, "deadletter")
    assert (dead["reason"], dead["offset"]) == ("processing_error", 1)
    counts = orjson.loads(p.feedback_stats.table[b"prohibited_terms|EU"])
    assert (counts["overturned"], counts["confirmed"]) == (1, 1)
    # every input acknowledged once, after its batch's outputs (here: the one dead letter) were on the broker
    assert stream.acked == [(0, 1), (1, 1), (2, 1), (3, 1)]


def test_the_violations_loop_counts_points_per_subject_and_dead_letters_what_it_cannot_read() -> None:
    p, delivered = pipeline()
    topic = p.names["violations"]
    batches = [[Source(Message(topic, 0, encode(removal(1)), key=b"seller:s1")),
                Source(Message(topic, 1, b"[]", key=b"seller:s1")),
                Source(Message(topic, 2, encode(removal(2)), key=b"seller:s1"))]]
    asyncio.run(p.track_violations(FakeStream(batches, delivered)))
    ledger = orjson.loads(p.ledgers[b"seller:s1"])
    assert len(ledger["violations"]) == 2
    assert [(d["reason"], d["offset"]) for d in out(p, delivered, "deadletter")] == [("processing_error", 1)]


def test_feedback_is_routed_to_its_two_owners_and_invalid_feedback_keeps_its_reason() -> None:
    p, delivered = pipeline()
    topic = p.names["feedback"]
    fb = dataclasses.replace(appeal(), event_time=datetime.now(UTC))  # within the input limits' age window
    bad = orjson.dumps({**orjson.loads(encode(fb)), "outcome": "maybe"})
    batches = [[Source(Message(topic, 0, encode(fb))), Source(Message(topic, 1, bad))]]
    asyncio.run(p.track_feedback(FakeStream(batches, delivered)))
    assert [f["action_id"] for f in out(p, delivered, "feedback_rules")] == ["a1"]
    assert [f["action_id"] for f in out(p, delivered, "appealable")] == ["a1"]
    assert [(d["reason"], d["offset"]) for d in out(p, delivered, "deadletter")] == [("wrong_type", 1)]


def test_the_appeal_window_outlives_the_replay_horizon_by_default() -> None:
    settings = Settings.from_env({})
    app = build_faust_app(settings)
    p = Pipeline(app, Topics(app, settings), settings)
    assert p.appeal_horizon == 183 * 86_400 > p.dedupe_horizon == 31 * 86_400
    settings = Settings.from_env({"RISKSTREAM_APPEAL_WINDOW_DAYS": "7", "RISKSTREAM_DEDUPE_HORIZON_DAYS": "31"})
    app = build_faust_app(settings)
    assert Pipeline(app, Topics(app, settings), settings).appeal_horizon == 31 * 86_400  # never shorter
