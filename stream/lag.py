"""Consumer lag: the group's committed offsets against the partitions' high watermarks.

On-call's first question is "is it keeping up?".  Every `interval` seconds the
collector asks the group coordinator for the group's committed offsets (an
`AIOKafkaAdminClient`) and the brokers for each partition's end offset (an
`AIOKafkaConsumer` without a group, which commits nothing), and publishes

* ``riskstream_consumer_lag_records{group,topic,partition}`` = end - committed,
* ``riskstream_consumer_committed_offset`` and ``riskstream_topic_end_offset``.

A partition of a watched topic with nothing committed yet counts from its
beginning offset (the workers start at ``earliest``), so a group that never
committed shows its whole backlog instead of no series.  Every worker may run
the collector: the series are the same on each; dashboards take ``max``.

>>> lags = compute_lag("g", {("t", 0): 10, ("t", 1): 5}, {("t", 0): 7}, {("t", 0): 0, ("t", 1): 2})
>>> [(p.topic, p.partition, p.committed, p.lag) for p in lags]
[('t', 0, 7, 3), ('t', 1, 2, 3)]
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from riskstream.stream import metrics as m

log = logging.getLogger("riskstream.lag")

Partition = tuple[str, int]


class GroupOffsetsAdmin(Protocol):
    """What the collector needs from an admin client (AIOKafkaAdminClient has it)."""

    async def list_consumer_group_offsets(self, group_id: str) -> dict[TopicPartition, Any]: ...

    async def list_topics(self) -> list[str]: ...

    async def describe_topics(self, topics: list[str] | None = None) -> list[Any]: ...


class OffsetsReader(Protocol):
    """What the collector needs from a consumer without a group (AIOKafkaConsumer has it)."""

    async def end_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]: ...

    async def beginning_offsets(self, partitions: list[TopicPartition]) -> dict[TopicPartition, int]: ...


@dataclass(frozen=True, slots=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(0, self.end - self.committed)


def compute_lag(group: str, end: Mapping[Partition, int], committed: Mapping[Partition, int],
                beginning: Mapping[Partition, int]) -> list[PartitionLag]:
    """Pure: one PartitionLag per partition in `end`, sorted; no commit yet counts from `beginning`."""
    out = []
    for tp in sorted(end):
        done = committed.get(tp, beginning.get(tp, 0))
        out.append(PartitionLag(group, tp[0], tp[1], done, end[tp]))
    return out


async def collect(admin: GroupOffsetsAdmin, reader: OffsetsReader, group: str,
                  topics: Iterable[str] = ()) -> list[PartitionLag]:
    """The lag of every partition the group committed to, and of every partition of `topics`."""
    raw = await admin.list_consumer_group_offsets(group)
    committed = {(tp.topic, tp.partition): int(meta.offset) for tp, meta in raw.items()
                 if meta is not None and meta.offset is not None and meta.offset >= 0}
    existing = set(await admin.list_topics())
    wanted = sorted(({t for t, _ in committed} | set(topics)) & existing)
    if not wanted:
        return []
    described = await admin.describe_topics(wanted)  # fresh metadata: new partitions are seen
    tps = [TopicPartition(d["topic"], p["partition"]) for d in described if not d.get("error_code")
           for p in sorted(d["partitions"], key=lambda p: int(p["partition"]))]
    if not tps:
        return []
    end = {(tp.topic, tp.partition): o for tp, o in (await reader.end_offsets(tps)).items()}
    missing = [tp for tp in tps if (tp.topic, tp.partition) not in committed]
    beginning = ({(tp.topic, tp.partition): o for tp, o in (await reader.beginning_offsets(missing)).items()}
                 if missing else {})
    return compute_lag(group, end, committed, beginning)


class LagGauges:
    """Publishes collections; drops the series of partitions that went away."""

    def __init__(self) -> None:
        self._seen: set[tuple[str, str, str]] = set()

    def publish(self, lags: Iterable[PartitionLag]) -> None:
        now: set[tuple[str, str, str]] = set()
        for p in lags:
            key = (p.group, p.topic, str(p.partition))
            now.add(key)
            m.CONSUMER_LAG.labels(*key).set(p.lag)
            m.COMMITTED_OFFSET.labels(*key).set(p.committed)
            m.END_OFFSET.labels(p.topic, str(p.partition)).set(p.end)
        for key in self._seen - now:
            m.CONSUMER_LAG.remove(*key)
            m.COMMITTED_OFFSET.remove(*key)
            m.END_OFFSET.remove(key[1], key[2])
        self._seen = now


async def run_lag_collector(bootstrap_servers: str, group: str, topics: Iterable[str] = (),
                            interval: float = 15.0, *, admin: GroupOffsetsAdmin | None = None,
                            reader: OffsetsReader | None = None, kafka: dict[str, Any] | None = None) -> None:
    """Collect and publish forever (an app task); a failed round is counted and retried.

    Pass `admin` / `reader` to reuse clients (they are then neither started nor
    stopped here); otherwise both are created from `kafka` (client kwargs with
    security, `riskstream.stream.security.client_kwargs`) or `bootstrap_servers`.
    """
    watched = list(topics)
    kw = dict(kafka) if kafka else {"bootstrap_servers": bootstrap_servers}
    own_admin = AIOKafkaAdminClient(**kw) if admin is None else None
    own_reader = (AIOKafkaConsumer(**kw, group_id=None, enable_auto_commit=False)
                  if reader is None else None)
    gauges = LagGauges()
    started: list[Any] = []
    try:
        while True:
            try:
                for client in (own_admin, own_reader):
                    if client is not None and client not in started:
                        await client.start()
                        started.append(client)
                a = admin if admin is not None else own_admin
                r = reader if reader is not None else own_reader
                assert a is not None and r is not None
                lags = await collect(a, r, group, watched)
                gauges.publish(lags)
                m.LAG_COLLECTIONS.labels("ok").inc()
                m.LAG_COLLECTED_AT.set(time.time())
            except asyncio.CancelledError:
                raise
            except Exception:
                m.LAG_COLLECTIONS.labels("error").inc()
                log.warning("lag collection for group %s failed; retrying in %.0f s", group, interval,
                            exc_info=True)
            await asyncio.sleep(interval)
    finally:
        if own_reader is not None and own_reader in started:
            await own_reader.stop()
        if own_admin is not None and own_admin in started:
            await own_admin.close()
