"""The outbox: a batch's records are queued together, acknowledged together, retried, never dropped."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError, NotLeaderForPartitionError, RequestTimedOutError

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
