"""The stall watchdog: a worker that silently stops consuming is made loud.

Every ``interval`` seconds the watchdog reads, for the input and internal
partitions this worker is assigned, the group's committed offset and the
partition's end offset (from the broker, not from the consumer's own fetch
state, which is exactly what goes stale when a partition is never fetched).
A partition with lag whose committed offset has not moved for
``stall_seconds`` is stalled; time spent rebalancing or recovering tables does
not count.  A stall sets ``riskstream_worker_stalled`` to 1, makes
``/healthz`` answer 503, logs CRITICAL with the partitions and offsets, and
after ``exit_grace`` seconds (one Prometheus scrape) the worker exits with
status 70 so its supervisor restarts it.  Nothing is lost by that exit: offsets
are committed only after an event's outputs were flushed.

The decision itself is the pure ``StallDetector``:

>>> d = StallDetector(stall_seconds=60)
>>> d.observe({("t", 0): (5, 10)}, now=0.0)
[]
>>> d.observe({("t", 0): (5, 12)}, now=61.0)  # lag, and no progress for 61 s
[('t', 0)]
>>> d.observe({("t", 0): (12, 12)}, now=62.0)  # progress clears it
[]
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from riskstream.stream import diagnose
from riskstream.stream import metrics as m

log = logging.getLogger("riskstream.watchdog")

Partition = tuple[str, int]
EXIT_STALLED = 70  # EX_SOFTWARE


@dataclass
class StallDetector:
    """Which partitions have lag and made no progress for ``stall_seconds``."""

    stall_seconds: float
    # committed offset, and since when it has had lag without moving (None: no lag last time)
    _since: dict[Partition, tuple[int, float | None]] = field(default_factory=dict)

    def observe(self, offsets: Mapping[Partition, tuple[int, int]], now: float) -> list[Partition]:
        """``offsets``: partition -> (committed, end).  Returns the stalled partitions."""
        stalled = []
        for tp, (committed, end) in offsets.items():
            prev = self._since.get(tp)
            if committed >= end:
                self._since[tp] = (committed, None)  # caught up
            elif prev is None or committed != prev[0] or prev[1] is None:
                self._since[tp] = (committed, now)  # moved, lag just appeared, or first seen
            elif now - prev[1] >= self.stall_seconds:
                stalled.append(tp)
        for tp in set(self._since) - set(offsets):  # revoked
            del self._since[tp]
        return sorted(stalled)

    def pause(self, now: float) -> None:
        """Rebalancing or recovering: restart every clock."""
        self._since = {tp: (c, None if t is None else now) for tp, (c, t) in self._since.items()}


class Watchdog:
    """Runs the detector against the broker's offsets for the app's assigned partitions."""

    def __init__(self, app: Any, topics: Iterable[str], bootstrap: str, group: str, stall_seconds: float,
                 interval: float = 5.0, exit_grace: float = 20.0,
                 exit: Callable[[int], None] = os._exit, kafka: dict[str, Any] | None = None) -> None:
        self.app = app
        self.topics = set(topics)
        self.bootstrap = bootstrap
        self.kafka = dict(kafka) if kafka else {"bootstrap_servers": bootstrap}  # client kwargs, with security
        self.group = group
        self.detector = StallDetector(stall_seconds)
        self.interval = interval
        self.exit_grace = exit_grace
        self._exit = exit
        self.stalled: list[Partition] = []
        self.last_check: float | None = None

    def _assigned(self) -> list[Any]:
        return [tp for tp in self.app.consumer.assignment() if tp.topic in self.topics]

    def _busy(self) -> bool:
        recovery = getattr(self.app.tables, "recovery", None)
        return bool(self.app.rebalancing or (recovery is not None and getattr(recovery, "in_recovery", False)))

    async def run(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        m.WORKER_STALLED.set(0)
        admin = AIOKafkaAdminClient(**self.kafka)
        ends = AIOKafkaConsumer(**self.kafka, group_id=None, enable_auto_commit=False)
        await admin.start()
        await ends.start()
        try:
            while True:
                await asyncio.sleep(self.interval)
                try:
                    await self.check(admin, ends)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the broker may be away; the watchdog itself must not die
                    log.warning("stall check failed; retrying", exc_info=True)
        finally:
            await ends.stop()
            await admin.close()

    async def check(self, admin: Any, ends: Any) -> None:
        now = time.monotonic()
        if self._busy():
            self.detector.pause(now)
            return
        tps = self._assigned()
        if not tps:
            self.detector.observe({}, now)
            return
        committed = await admin.list_consumer_group_offsets(self.group, partitions=tps)
        end = await ends.end_offsets(tps)
        offsets = {(tp.topic, tp.partition): (max(committed[tp].offset, 0) if tp in committed else 0, end[tp])
                   for tp in tps}
        self.last_check = now
        self.stalled = self.detector.observe(offsets, now)
        m.set_worker_stalled(bool(self.stalled))
        if self.stalled:
            detail = ", ".join(f"{t}[{p}] committed={offsets[(t, p)][0]} end={offsets[(t, p)][1]}"
                               for t, p in self.stalled)
            log.critical("STALLED: no progress for %.0f s on partitions with lag: %s; exiting with status %d "
                         "in %.0f s so that the supervisor restarts this worker",
                         self.detector.stall_seconds, detail, EXIT_STALLED, self.exit_grace)
            log.critical("while stalled: %s\ntasks:\n%s", diagnose.producer_state(self.app), diagnose.task_stacks())
            await asyncio.sleep(self.exit_grace)
            logging.shutdown()
            self._exit(EXIT_STALLED)
