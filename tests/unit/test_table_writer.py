"""The table writer: store at once, changelog with the batch, the newest value always last."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from aiokafka.errors import RequestTimedOutError

from riskstream.stream.outbox import Outbox
from riskstream.stream.table_writer import TableWriter


@dataclass
class Metadata:
    partition: int
    offset: int


class FakeStore(dict[bytes, bytes]):
    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[Any, int] = {}

    def set_persisted_offset(self, tp: Any, offset: int) -> None:
        self.persisted[tp] = offset


class FakeTopic:
    def __init__(self, wrap: bool = False) -> None:
        self.wrap = wrap  # a serializer that does not leave bytes as they are

    def get_topic_name(self) -> str:
        return "app-detector-state-changelog"

    def prepare_key(self, key: bytes, serializer: Any) -> tuple[bytes, None]:
        return key, None

    def prepare_value(self, value: bytes, serializer: Any) -> tuple[bytes, None]:
        return (b"<" + value + b">" if self.wrap else value), None


class FakeTable:
    key_serializer = value_serializer = "raw"

    def __init__(self, wrap: bool = False) -> None:
        self.data = FakeStore()
        self.changelog_topic = FakeTopic(wrap)


class Broker:
    """Appends each record to its partition's log; `fail` makes given (value, attempt) fail retriably."""

    def __init__(self, fail: set[tuple[bytes, int]] | None = None) -> None:
        self.log: dict[int, list[tuple[bytes, bytes]]] = {}
        self.fail = fail or set()
        self.attempts: dict[bytes, int] = {}

    async def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None,
                   timestamp: float | None, headers: Any) -> asyncio.Future[Any]:
        assert key is not None and partition is not None
        n = self.attempts[value] = self.attempts.get(value, 0) + 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if (value, n) in self.fail:
            fut.set_exception(RequestTimedOutError())
        else:
            log = self.log.setdefault(partition, [])
            log.append((key, value))
            fut.set_result(Metadata(partition, len(log) - 1))
        return fut

    def last(self, partition: int, key: bytes) -> bytes:
        return [v for k, v in self.log[partition] if k == key][-1]


def test_a_batch_sends_one_record_per_key_with_its_newest_value_and_the_offset_once() -> None:
    table, broker = FakeTable(), Broker()
    writer = TableWriter(table)

    async def go() -> None:
        box = Outbox(broker.send)
        written: dict[bytes, int] = {}
        writer.set(written, b"a", b"a1", 0)
        writer.set(written, b"b", b"b1", 1)
        writer.set(written, b"a", b"a2", 0)
        assert table.data == {b"a": b"a2", b"b": b"b1"}  # the store has the value at once
        await writer.send(box, written)
        assert await box.flush() == []

    asyncio.run(go())
    assert broker.log == {0: [(b"a", b"a2")], 1: [(b"b", b"b1")]}
    assert sorted(table.data.persisted.values()) == [0, 0]
    assert {tp.partition for tp in table.data.persisted} == {0, 1}
    assert writer.pending_keys() == 0  # nothing held once delivered


def test_two_agents_writing_one_key_never_leave_the_older_value_last() -> None:
    """A wrote k=v1, then B wrote k=v2; A's batch is sent first: both records carry v2."""
    table, broker = FakeTable(), Broker()
    writer = TableWriter(table)

    async def go() -> None:
        box_a, box_b = Outbox(broker.send), Outbox(broker.send)
        wa: dict[bytes, int] = {}
        wb: dict[bytes, int] = {}
        writer.set(wa, b"k", b"v1", 2)
        writer.set(wb, b"k", b"v2", 2)
        await writer.send(box_a, wa)
        await box_a.flush()
        assert writer.pending_keys() == 1  # B's batch has not sent it yet: the newest value is kept
        writer.set(wb, b"j", b"j1", 2)
        await writer.send(box_b, wb)
        await box_b.flush()

    asyncio.run(go())
    assert [v for k, v in broker.log[2] if k == b"k"] == [b"v2", b"v2"]
    assert broker.last(2, b"k") == table.data[b"k"] == b"v2"
    assert writer.pending_keys() == 0


def test_a_resend_after_a_broker_error_carries_the_newest_value() -> None:
    """A's record (v1) times out; meanwhile B writes v2 and is delivered; A's resend is v2, not v1."""
    table, broker = FakeTable(), Broker(fail={(b"v1", 1)})
    writer = TableWriter(table)

    async def go() -> None:
        box_a = Outbox(broker.send, first_backoff=0.01)
        box_b = Outbox(broker.send)
        wa: dict[bytes, int] = {}
        wb: dict[bytes, int] = {}
        writer.set(wa, b"k", b"v1", 0)
        await writer.send(box_a, wa)  # queued (and failed) before B writes
        writer.set(wb, b"k", b"v2", 0)
        await writer.send(box_b, wb)
        await box_b.flush()
        await box_a.flush()

    asyncio.run(go())
    assert broker.log[0] == [(b"k", b"v2"), (b"k", b"v2")]
    assert broker.attempts[b"v1"] == 1


async def _one_batch(writer: TableWriter, broker: Broker, key: bytes, value: bytes) -> None:
    box = Outbox(broker.send)
    written: dict[bytes, int] = {}
    writer.set(written, key, value, 0)
    await writer.send(box, written)
    await box.flush()


def test_serialized_values_go_through_the_tables_serializers() -> None:
    table, broker = FakeTable(wrap=True), Broker()
    writer = TableWriter(table)

    asyncio.run(_one_batch(writer, broker, b"k", b"v"))
    assert broker.log[0] == [(b"k", b"<v>")]
    assert table.data[b"k"] == b"v"  # the store holds the value, Faust's store encodes it itself


def test_without_bulk_every_write_takes_fausts_own_path() -> None:
    """Exactly-once: ``table[key] = value`` (its changelog record goes in Faust's transaction)."""

    class Table(FakeTable):
        def __init__(self) -> None:
            super().__init__()
            self.assigned: list[tuple[bytes, bytes]] = []

        def __setitem__(self, key: bytes, value: bytes) -> None:
            self.assigned.append((key, value))

    table, broker = Table(), Broker()
    writer = TableWriter(table, bulk=False)

    asyncio.run(_one_batch(writer, broker, b"k", b"v"))
    assert table.assigned == [(b"k", b"v")] and broker.log == {} and writer.pending_keys() == 0
