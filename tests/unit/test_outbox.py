"""The outbox: a batch's records are queued together, acknowledged together, retried, never dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError, NotLeaderForPartitionError, RequestTimedOutError
from aiokafka.structs import RecordMetadata

from riskstream.stream import metrics as m
from riskstream.stream.outbox import Outbox


class FakeProducer:
    """Delivery futures resolved by the test; `fail` says which attempts of which values fail and how."""

    def __init__(self, fail: dict[tuple[bytes, int], BaseException] | None = None,
                 refuse: dict[tuple[bytes, int], BaseException] | None = None) -> None:
        self.fail = fail or {}
        self.refuse = refuse or {}
        self.attempts: dict[bytes, int] = {}
        self.futures: list[tuple[bytes, asyncio.Future[Any]]] = []
        self.delivered: list[tuple[str, bytes]] = []

    async def send(self, topic: str, key: bytes | None, value: bytes, partition: int | None,
                   timestamp: float | None, headers: Any) -> asyncio.Future[Any]:
        n = self.attempts.get(value, 0) + 1
        self.attempts[value] = n
        if (value, n) in self.refuse:
            raise self.refuse[(value, n)]
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        exc = self.fail.get((value, n))
        if exc is not None:
            fut.set_exception(exc)
        else:
            self.delivered.append((topic, value))
            fut.set_result(("metadata", topic))
        self.futures.append((value, fut))
        return fut


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_every_record_is_delivered_before_flush_returns() -> None:
    producer = FakeProducer()

    async def go() -> list[Any]:
        box = Outbox(producer.send)
        for i in range(5):
            await box.add("out", b"k", f"v{i}".encode())
        assert len(box) == 5
        return await box.flush()

    assert run(go()) == []
    assert [v for _, v in producer.delivered] == [f"v{i}".encode() for i in range(5)]


def test_a_retriable_failure_is_sent_again_until_acknowledged_and_counted() -> None:
    producer = FakeProducer(fail={(b"v1", 1): NotLeaderForPartitionError(), (b"v1", 2): RequestTimedOutError()})
    before = m.child(m.SEND_RETRIES, ("out",))._value.get()

    async def go() -> list[Any]:
        box = Outbox(producer.send, first_backoff=0.001, max_backoff=0.002)
        for i in range(3):
            await box.add("out", None, f"v{i}".encode())
        undeliverable = await box.flush()
        box.count_sent()
        return undeliverable

    assert run(go()) == []
    assert producer.attempts[b"v1"] == 3 and producer.attempts[b"v0"] == 1
    assert sorted(v for _, v in producer.delivered) == [b"v0", b"v1", b"v2"]
    assert m.child(m.SEND_RETRIES, ("out",))._value.get() - before == 2


def test_a_send_refused_before_queueing_is_retried_at_flush() -> None:
    producer = FakeProducer(refuse={(b"v0", 1): ConnectionError("broker gone")})

    async def go() -> list[Any]:
        box = Outbox(producer.send, first_backoff=0.001)
        await box.add("out", None, b"v0")
        return await box.flush()

    assert run(go()) == []
    assert producer.delivered == [("out", b"v0")]


def test_a_record_the_broker_never_takes_is_returned_with_its_tag_not_dropped() -> None:
    producer = FakeProducer(fail={(b"big", 1): MessageSizeTooLargeError()})

    async def go() -> list[Any]:
        box = Outbox(producer.send, first_backoff=0.001)
        await box.add("out", None, b"small", tag="event-1")
        await box.add("out", None, b"big", tag="event-2")
        return await box.flush()

    assert run(go()) == ["event-2"]
    assert producer.delivered == [("out", b"small")]


def test_count_sent_adds_per_topic_once() -> None:
    producer = FakeProducer()
    before = m.child(m.EVENTS_OUT, ("t-count",))._value.get()

    async def go() -> None:
        box = Outbox(producer.send)
        for _ in range(4):
            await box.add("t-count", None, b"x")
        await box.flush()
        box.count_sent()
        box.count_sent()  # nothing twice

    run(go())
    assert m.child(m.EVENTS_OUT, ("t-count",))._value.get() - before == 4


def test_tally_adds_each_labelled_child_once_per_flush() -> None:
    tally = m.Tally()
    before = m.child(m.EVENTS_IN, ("tally-topic",))._value.get()
    for _ in range(7):
        tally.inc(m.EVENTS_IN, "tally-topic")
    assert m.child(m.EVENTS_IN, ("tally-topic",))._value.get() == before  # nothing until flush
    tally.flush()
    tally.flush()
    assert m.child(m.EVENTS_IN, ("tally-topic",))._value.get() - before == 7


def test_a_flush_that_waits_long_says_what_the_producer_waits_for_and_still_delivers(caplog: Any) -> None:
    described: list[int] = []

    def describe() -> str:
        described.append(1)
        return "producer: in flight to nodes [1]"

    async def go() -> list[Any]:
        loop = asyncio.get_running_loop()
        late: asyncio.Future[Any] = loop.create_future()

        async def send(*_: Any) -> asyncio.Future[Any]:
            return late

        box = Outbox(send, describe=describe, slow_after=0.05)
        await box.add("out", b"k", b"v")
        loop.call_later(0.18, late.set_result, ("metadata", "out"))
        before = m.SLOW_FLUSHES._value.get()
        undeliverable = await box.flush()
        assert m.SLOW_FLUSHES._value.get() - before == len(described) >= 2
        assert box.sent == {"out": 1}
        return undeliverable

    with caplog.at_level("WARNING", logger="riskstream.outbox"):
        assert run(go()) == []
    assert "not acknowledged after" in caplog.text and "in flight to nodes [1]" in caplog.text


# --------------------------------------------------------------------------- the record-batch path


class FakeBatches:
    """A `BatchSender`: record batches of at most `per_batch` records; `fail` says which attempts of
    which record batch (by its first value) fail and how; `too_large` is refused in any batch."""

    def __init__(self, partitions: int = 4, per_batch: int = 3, fail: dict[tuple[bytes, int], BaseException]
                 | None = None, too_large: bytes | None = None) -> None:
        self.n, self.per_batch = partitions, per_batch
        self.fail = fail or {}
        self.too_large = too_large
        self.attempts: dict[bytes, int] = {}
        self.batches: list[tuple[str, int, list[bytes]]] = []  # as sent
        self.delivered: list[tuple[str, int, bytes, int]] = []  # topic, partition, value, offset
        self.offsets: dict[tuple[str, int], int] = {}

    async def partitions(self, topic: str) -> int:
        return self.n

    def partition(self, key: bytes | None, partitions: int) -> int:
        return 0 if key is None else len(key) % partitions

    async def send(self, topic: str, partition: int,
                   records: list[tuple[bytes | None, bytes]]) -> list[tuple[asyncio.Future[Any], int]]:
        out = []
        loop = asyncio.get_running_loop()
        for start in range(0, len(records), self.per_batch):
            values = [v for _, v in records[start:start + self.per_batch]]
            self.batches.append((topic, partition, values))
            n = self.attempts[values[0]] = self.attempts.get(values[0], 0) + 1
            fut: asyncio.Future[Any] = loop.create_future()
            exc = self.fail.get((values[0], n))
            if exc is None and self.too_large in values:
                exc = MessageSizeTooLargeError()
            if exc is not None:
                fut.set_exception(exc)
            else:
                base = self.offsets.get((topic, partition), 0)
                self.offsets[topic, partition] = base + len(values)
                self.delivered += [(topic, partition, v, base + i) for i, v in enumerate(values)]
                fut.set_result(RecordMetadata(topic, partition, None, base, -1, 0, 0))
            out.append((fut, len(values)))
        return out


def test_batched_records_go_per_partition_in_order_and_each_learns_its_offset() -> None:
    batches = FakeBatches()
    seen: list[tuple[bytes, int, int]] = []

    async def go() -> list[Any]:
        box = Outbox(FakeProducer().send, batches=batches)
        for i in range(7):
            value = f"v{i}".encode()
            await box.add("out", b"k" * (i % 2 + 1), value,
                          on_sent=lambda md, value=value: seen.append((value, md.partition, md.offset)))
        await box.add("hop", None, b"h", partition=3)
        assert batches.batches == []  # nothing is sent before the flush
        return await box.flush()

    assert run(go()) == []
    by_partition: dict[int, list[bytes]] = {}
    for topic, partition, value, _ in batches.delivered:
        if topic == "out":
            by_partition.setdefault(partition, []).append(value)
    assert by_partition == {1: [b"v0", b"v2", b"v4", b"v6"], 2: [b"v1", b"v3", b"v5"]}  # key's partition, in order
    assert ("hop", 3, b"h", 0) in batches.delivered
    # every record's metadata names its own offset: the batch's first offset plus its place in it
    assert sorted(seen) == sorted((v, p, off) for t, p, v, off in batches.delivered if t == "out")
    assert [len(v) for _, _, v in batches.batches] == [3, 1, 3, 1]  # 4 records of partition 1 in 3 + 1


def test_a_failed_record_batch_is_sent_again_whole() -> None:
    batches = FakeBatches(fail={(b"v0", 1): NotLeaderForPartitionError()})

    async def go() -> list[Any]:
        box = Outbox(FakeProducer().send, first_backoff=0.001, batches=batches)
        for i in range(5):
            await box.add("out", b"k", f"v{i}".encode())
        undeliverable = await box.flush()
        box.count_sent()
        return undeliverable

    assert run(go()) == []
    assert sorted(v for _, _, v, _ in batches.delivered) == [f"v{i}".encode() for i in range(5)]
    assert batches.attempts[b"v0"] == 2


def test_a_record_batch_refused_as_too_large_is_split_before_a_record_is_given_up() -> None:
    batches = FakeBatches(too_large=b"big")

    async def go() -> list[Any]:
        box = Outbox(FakeProducer().send, first_backoff=0.001, batches=batches)
        await box.add("out", b"k", b"small", tag="event-1")
        await box.add("out", b"k", b"big", tag="event-2")
        await box.add("out", b"k", b"after", tag="event-3")
        return await box.flush()

    assert run(go()) == ["event-2"]  # only the record that is too large on its own
    assert sorted(v for _, _, v, _ in batches.delivered) == [b"after", b"small"]


def test_the_batch_partitioner_is_the_producers_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    from riskstream.stream.batch_send import AiokafkaBatches, default_partition

    ours = AiokafkaBatches(lambda: None)
    theirs = DefaultPartitioner()
    for key in [b"listing-1", b"s-42", b"", "ünïcode".encode(), bytes(range(40))]:
        for n in (1, 4, 12):
            assert ours.partition(key, n) == theirs(key, list(range(n)), list(range(n)))
            assert default_partition(key, n) == ours.partition(key, n)  # the hops' partitioner too
