"""One batch's output records: sent together, acknowledged together, retried until the broker has them.

The ingest agents process a batch of input events (``stream.take_events``) and
put every output record (signals, actions, violations, dead letters, envelopes
for the next hop) into an :class:`Outbox`.  ``add`` hands the record to the
producer's accumulator at once (aiokafka batches it with the others per
partition); ``flush`` then awaits all of the batch's delivery futures together.
Only after ``flush`` returns does the agent remember idempotency keys and let
Faust acknowledge the batch's input events, so an offset is never committed
before the records it produced are on the broker: a crash replays, it never
loses.  Awaiting each action's acknowledgement on its own capped a worker at a
few hundred enforced actions per second, exactly during an attack.

A record the broker refuses with a retriable error (a leader election, a
broker restart, a request timeout) is sent again with capped exponential
backoff, counted by ``riskstream_send_retries_total`` and logged; the agent
does not read further until every record of its batch is delivered (back
pressure, not loss), and the stall watchdog makes a worker that stays stuck
loud.  A record that can never be delivered (larger than the topic accepts)
raises :class:`UndeliverableRecord` so the agent dead-letters the event that
produced it.

With a :class:`BatchSender` (the worker's, unless exactly-once) ``add`` only
queues the record, and ``flush`` hands the batch's records to the producer as
one record batch per topic partition (aiokafka's ``send_batch``) and awaits one
delivery future per record batch, instead of a partitioner call, a metadata
check and a future per record (about a fifth of the worker's samples went
there).  A record batch is retried whole; one refused as too large is split
into single records before anything is given up.

Counts per output topic are kept per batch and added to the Prometheus counter
once per batch (binding a labelled child per record was a measurable share of
the worker's time).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka.errors import MessageSizeTooLargeError

from riskstream.stream import metrics as m

log = logging.getLogger("riskstream.outbox")

# (topic, key, value, partition, timestamp seconds, headers) -> awaitable of the delivery future
SendFn = Callable[[str, bytes | None, bytes, int | None, float | None, Any], Awaitable[Awaitable[Any]]]


class BatchSender(Protocol):
    """The producer's record-batch path (`riskstream.stream.batch_send`; a fake in the unit tests)."""

    async def partitions(self, topic: str) -> int:
        """How many partitions `topic` has (from the producer's metadata)."""
        ...

    def partition(self, key: bytes | None, partitions: int) -> int:
        """The partition the producer's default partitioner gives `key`."""
        ...

    async def send(self, topic: str, partition: int,
                   records: list[tuple[bytes | None, bytes]]) -> list[tuple[Awaitable[Any], int]]:
        """Queue `records` in order as record batches; per batch, its delivery future and its record count.

        The future's result is the first record's metadata (its offset; the others follow it).
        """
        ...


# A flush waiting longer than this logs what the producer is waiting for (riskstream.stream.diagnose).
SLOW_FLUSH_SECONDS = 20.0


class UndeliverableRecord(Exception):
    """The broker will never take this record (for example larger than the topic's limit)."""


@dataclass(slots=True)
class _Pending:
    topic: str
    key: bytes | None
    value: bytes
    partition: int | None
    future: Awaitable[Any] | None
    tag: Any  # what the agent wants back if this record fails for good
    refresh: Callable[[], bytes] | None = None  # the value to send again instead of `value`
    on_sent: Callable[[Any], None] | None = None  # called with the record's metadata once delivered
    alone: bool = False  # batched: in a record batch of its own (its batch was refused as too large)


def _permanent(exc: BaseException) -> bool:
    """Only a record too large for the topic is refused for good; anything else is sent again."""
    return isinstance(exc, MessageSizeTooLargeError)


class Outbox:
    """Collects a batch's sends; ``flush`` awaits them all, retrying what the broker refused."""

    def __init__(self, send: SendFn, *, max_backoff: float = 5.0, first_backoff: float = 0.1,
                 describe: Callable[[], str] | None = None, slow_after: float = SLOW_FLUSH_SECONDS,
                 batches: BatchSender | None = None) -> None:
        self._send = send
        self._batches = batches
        self._describe = describe
        self._slow_after = slow_after
        self._pending: list[_Pending] = []
        self._after: list[Callable[[], None]] = []
        self._max_backoff = max_backoff
        self._first_backoff = first_backoff
        self.sent: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._pending)

    async def add(self, topic: str, key: bytes | None, value: bytes, *, partition: int | None = None,
                  tag: Any = None, refresh: Callable[[], bytes] | None = None,
                  on_sent: Callable[[Any], None] | None = None) -> None:
        """Queue one record.  `refresh` gives the value to send if it must be sent again (a table's
        changelog record resends the key's current value, so an older value never lands last);
        `on_sent` is called with the record's metadata once the broker has it."""
        pending = _Pending(topic, key, value, partition, None, tag, refresh, on_sent)
        if self._batches is not None:  # sent at flush, with the batch's other records for its partition
            self._pending.append(pending)
            return
        try:
            pending.future = await self._send(topic, key, value, partition, None, None)
        except Exception as exc:  # refused before it was queued: retried (or failed) in flush
            if _permanent(exc):
                raise UndeliverableRecord(f"{topic}: {type(exc).__name__}: {exc}") from exc
            log.warning("send to %s not queued (%s: %s); retrying at flush", topic, type(exc).__name__, exc)
        self._pending.append(pending)

    def after_flush(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the next `flush` has every record delivered (or refused for good)."""
        self._after.append(callback)

    async def flush(self) -> list[Any]:
        """Wait until the broker has every record; returns the tags of records it refused for good."""
        pending, self._pending = self._pending, []
        after, self._after = self._after, []
        undeliverable: list[Any] = []
        backoff = self._first_backoff
        attempt = 0
        while pending:
            if self._batches is not None:
                results = iter(await self._send_batched(pending, self._batches))
            else:
                futures = [p.future for p in pending if p.future is not None]
                delivered = iter(await self._gather(futures, pending))
                results = iter([next(delivered) if p.future is not None else ConnectionError("not queued")
                                for p in pending])
            retry: list[_Pending] = []
            for p in pending:
                result = next(results)
                if not isinstance(result, BaseException):
                    self.sent[p.topic] = self.sent.get(p.topic, 0) + 1
                    if p.on_sent is not None:
                        p.on_sent(result)
                elif isinstance(result, asyncio.CancelledError):
                    raise result
                elif _permanent(result) and self._batches is not None and not p.alone:
                    p.alone = True  # its record batch was too large: sent again in one of its own
                    retry.append(p)
                elif _permanent(result):
                    log.error("record to %s refused for good: %s: %s", p.topic, type(result).__name__, result)
                    undeliverable.append(p.tag)
                else:
                    retry.append(p)
            if not retry:
                break
            attempt += 1
            log.warning("%d record(s) not acknowledged (attempt %d, e.g. to %s); resending in %.1f s",
                        len(retry), attempt, retry[0].topic, backoff)
            for p in retry:
                m.SEND_RETRIES.labels(p.topic).inc()
            await asyncio.sleep(backoff)
            backoff = min(self._max_backoff, backoff * 2)
            pending = []
            for p in retry:
                if p.refresh is not None:
                    p.value = p.refresh()
                if self._batches is not None:
                    pending.append(p)
                    continue
                try:
                    p.future = await self._send(p.topic, p.key, p.value, p.partition, None, None)
                except Exception as exc:
                    if _permanent(exc):
                        undeliverable.append(p.tag)
                        continue
                    p.future = None  # not queued either: tried again on the next round
                pending.append(p)
        for callback in after:
            callback()
        return undeliverable

    async def _send_batched(self, pending: list[_Pending], batches: BatchSender) -> list[Any]:
        """Every record of `pending` sent as record batches per topic partition; per record, its
        metadata or the exception its record batch failed with (aligned with `pending`)."""
        results: list[Any] = [None] * len(pending)
        counts: dict[str, int] = {}
        groups: dict[tuple[str, int, int], list[int]] = {}  # (topic, partition, alone) -> record indexes
        for i, p in enumerate(pending):
            part = p.partition
            if part is None:
                n = counts.get(p.topic)
                if n is None:
                    n = counts[p.topic] = await batches.partitions(p.topic)
                part = batches.partition(p.key, n)
            groups.setdefault((p.topic, part, i if p.alone else -1), []).append(i)
        waits: list[tuple[Awaitable[Any], list[int]]] = []
        for (topic, part, _), idx in groups.items():
            try:
                queued = await batches.send(topic, part, [(pending[i].key, pending[i].value) for i in idx])
            except Exception as exc:  # not queued: retried (or given up if too large) like a failed batch
                if not _permanent(exc):
                    log.warning("send to %s not queued (%s: %s); retrying", topic, type(exc).__name__, exc)
                for i in idx:
                    results[i] = exc
                continue
            start = 0
            for future, count in queued:
                waits.append((future, idx[start:start + count]))
                start += count
        delivered = await self._gather([f for f, _ in waits], pending) if waits else []
        for result, (_, idx) in zip(delivered, waits, strict=True):
            for j, i in enumerate(idx):
                if isinstance(result, BaseException):
                    results[i] = result
                else:  # the record batch's first offset; its records follow it
                    results[i] = result._replace(offset=result.offset + j) if j else result
        return results

    async def _gather(self, futures: list[Awaitable[Any]], pending: list[_Pending]) -> list[Any]:
        """All delivery results; a wait longer than ``slow_after`` is logged with the producer's state."""
        gathered = asyncio.gather(*futures, return_exceptions=True)
        waited = 0.0
        while True:
            done, _ = await asyncio.wait({gathered}, timeout=self._slow_after)
            if done:
                return gathered.result()
            waited += self._slow_after
            m.SLOW_FLUSHES.inc()
            log.warning("%d record(s) not acknowledged after %.0f s (e.g. to %s); the batch waits for them; %s",
                        len(futures), waited, pending[0].topic,
                        self._describe() if self._describe is not None else "")

    def count_sent(self) -> None:
        """Add this outbox's delivered records to ``riskstream_events_out_total`` (once per batch)."""
        for topic, n in self.sent.items():
            m.EVENTS_OUT.labels(topic).inc(n)
        self.sent.clear()
