"""The worker's record-batch path on aiokafka's producer (`riskstream.stream.outbox.BatchSender`).

aiokafka's ``send`` costs, per record: a metadata wait, a partition check that
builds a set of the topic's partitions, the default partitioner (murmur2 in
pure Python), a delivery future and its callbacks.  An outbox already holds a
batch's records when it flushes, so it can give the producer one record batch
per topic partition instead (``create_batch`` / ``send_batch``): one future per
record batch, the partition computed here as the default partitioner would
(murmur2 of the key; Faust's tables and the re-keying hops rely on that), and
memoised for the keys that recur.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiokafka.partitioner import murmur2

# The producer's record-batch size (Faust's producer_max_batch_size, stream/app.py): a record larger
# than this still goes, alone in its batch; a topic's default limit is 1 MB.
RECORD_BATCH_BYTES: Final = 256 * 1024
# Keys whose hash is remembered (entity ids, band buckets, idempotency keys): about 100 bytes each.
HASH_MEMO: Final = 65_536


def default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a keyed record (murmur2, as aiokafka and Java do)."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


@functools.lru_cache(maxsize=HASH_MEMO)
def _hash(key: bytes) -> int:
    return int(murmur2(key) & 0x7FFFFFFF)  # default_partition's hash, memoised for any partition count


class AiokafkaBatches:
    """`BatchSender` over the aiokafka producer that `producer()` returns (Faust's, once started)."""

    def __init__(self, producer: Callable[[], Any]) -> None:
        self._producer = producer
        self._round_robin = itertools.count()

    async def partitions(self, topic: str) -> int:
        return len(await self._producer().partitions_for(topic))

    def partition(self, key: bytes | None, partitions: int) -> int:
        if key is None:  # as aiokafka's partitioner does for a record without a key: any partition
            return next(self._round_robin) % partitions
        return _hash(key) % partitions

    async def send(self, topic: str, partition: int,
                   records: list[tuple[bytes | None, bytes]]) -> list[tuple[Awaitable[Any], int]]:
        producer = self._producer()
        out: list[tuple[Awaitable[Any], int]] = []
        builder, n = producer.create_batch(), 0
        for key, value in records:
            if builder.append(key=key, value=value, timestamp=None) is None:  # full: send it, start another
                out.append((await producer.send_batch(builder, topic, partition=partition), n))
                builder, n = producer.create_batch(), 0
                builder.append(key=key, value=value, timestamp=None)  # an empty batch takes any one record
            n += 1
        out.append((await producer.send_batch(builder, topic, partition=partition), n))
        return out
