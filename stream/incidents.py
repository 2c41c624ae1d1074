"""Incident candidates in the worker: aggregates, region models, the incident manager.

Off the hot path: agents only `observe()` an outcome (a queue put); a task
folds outcomes into windowed aggregates and, when windows close, scores them
with the region's model in a worker thread (so scikit-learn never blocks
the event loop and starves Faust's timers), then runs the incident manager
and sends open / update / resolve records to `risk.incidents.v1` keyed by
incident id.  A new model version in the model directory is picked up
without restart.

Scope: this runtime serves per-worker state (``RISKSTREAM_PARTITIONED_STATE``
off): the aggregates are per worker and in memory.  With one worker (the demo,
a small marketplace) they cover the whole stream; with several, each worker
sees the regions' traffic of its own partitions.  It runs the evaluation
harness's core (`riskstream.models.region_windows.InProcessWindows`, one
incident manager per region, their open and resolve records through one
`SpreadLinker` for cross-region spread).  With partitioned state (the default) incidents
go through the two-phase merge of `riskstream.stream.incident_agents`, exact
with any number of workers and durable (see docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

from riskstream.engine import Outcome
from riskstream.models.aggregates import AggregatorConfig, ClosedWindow
from riskstream.models.incident_links import SpreadLinker
from riskstream.models.incidents import IncidentManager
from riskstream.models.region_model import RegionScorer, latest_models, list_models
from riskstream.models.region_windows import InProcessWindows, MergeConfig
from riskstream.regions import REGIONS
from riskstream.settings import Settings
from riskstream.stream import metrics as m
from riskstream.stream.observe import OpenIncidentGauge

log = logging.getLogger("riskstream.incidents")


class ReorderBuffer:
    """Releases outcomes in event-time order across sources that run at different speeds.

    Listings, reviews and content are consumed by separate agents; during a
    replay or a catch-up one of them can be hours of event time ahead of the
    others, and the aggregates would drop the laggards as late.  The low
    watermark is the smallest "latest event time" over the sources that have
    been active in the last `idle_seconds` of wall time; outcomes at or below
    it are released, oldest first.

    An outcome is also held for `hold_seconds` of wall time after it arrived:
    one kind's events reach the aggregates through several partitions (and,
    with partitioned state, through the detect / decide hops), so an event can
    arrive a few batches after a later one of its kind; the hold gives the slower
    paths time to catch up before the watermark moves past them.  It adds that
    much to an incident's latency (windows are minutes long).

    >>> from datetime import UTC, datetime
    >>> b = ReorderBuffer(idle_seconds=60, hold_seconds=0)
    >>> t = lambda m: datetime(2026, 1, 1, 0, m, tzinfo=UTC)
    >>> b.push("review", t(1), "r1", now=0)
    ['r1']
    >>> b.push("listing", t(5), "l5", now=0)  # held: reviews are only at minute 1
    []
    >>> b.push("review", t(6), "r6", now=1)
    ['l5']
    >>> b.release(now=120)  # every source idle: flush
    ['r6']
    """

    def __init__(self, idle_seconds: float = 30.0, max_items: int = 200_000, hold_seconds: float = 2.0) -> None:
        self.idle_seconds = idle_seconds
        self.hold_seconds = hold_seconds
        self.max_items = max_items
        self._heap: list[tuple[float, int, float, Any]] = []  # (event time, seq, arrival, item)
        self._latest: dict[str, tuple[float, float]] = {}  # source -> (event ts, wall time seen)
        self._seq = 0

    def push(self, source: str, event_time: Any, item: Any, now: float) -> list[Any]:
        ts = event_time.timestamp()
        prev = self._latest.get(source)
        self._latest[source] = (max(ts, prev[0]) if prev else ts, now)
        self._seq += 1
        heapq.heappush(self._heap, (ts, self._seq, now, item))
        return self.release(now)

    def release(self, now: float) -> list[Any]:
        active = [t for t, seen in self._latest.values() if now - seen <= self.idle_seconds]
        low = min(active) if active else float("inf")
        out = []
        heap, hold = self._heap, self.hold_seconds
        while heap and (len(heap) > self.max_items or (heap[0][0] <= low and now - heap[0][2] >= hold)):
            out.append(heapq.heappop(heap)[3])
        return out

    def wake_after(self) -> float:
        """How long the consumer of this buffer may sleep before something may be due."""
        return min(self.idle_seconds, max(0.2, self.hold_seconds / 2))


class IncidentRuntime:
    def __init__(self, settings: Settings, ignored: Callable[[str], Collection[str]] | None = None) -> None:
        self.settings = settings
        minutes = max(1, settings.models.window_seconds // 60)
        agg = AggregatorConfig(window_minutes=minutes)
        self.aggregator = InProcessWindows(MergeConfig(window_s=minutes * 60, allowed_lateness_s=agg.allowed_lateness_s),
                                           agg, ignored_for=ignored)
        self.managers: dict[str, IncidentManager] = {}
        self.linker = SpreadLinker()  # cross-region spread, as link_incidents links it (in memory here)
        self.open_gauge = OpenIncidentGauge()
        self.queue: asyncio.Queue[list[Outcome]] = asyncio.Queue(maxsize=2_000)  # batches
        self.reorder = ReorderBuffer()
        self._model_versions: dict[str, str] = {}
        self.scorer = RegionScorer({})
        self._last_model_check = 0.0
        self.reload_models()

    def observe(self, outcome: Outcome) -> None:
        """One decided event (see `observe_many`)."""
        self.observe_many([outcome])

    def observe_many(self, outcomes: list[Outcome]) -> None:
        """Called by agents once per batch of decided events: cheap, never blocks."""
        try:
            self.queue.put_nowait(outcomes)
        except asyncio.QueueFull:
            m.INCIDENT_BACKLOG_DROPPED.inc(len(outcomes))

    def reload_models(self) -> None:
        directory = self.settings.models.directory
        versions = {meta.region: meta.version for meta in list_models(directory)} if directory.exists() else {}
        if versions != self._model_versions:
            models = latest_models(directory) if versions else {}
            self.scorer = RegionScorer(models)
            self._model_versions = versions
            log.info("region models: %s", versions or "none (streaming fallback everywhere)")
        for region in REGIONS:
            m.MODEL_FALLBACK.labels(region).set(0 if region in versions else 1)
        m.MODEL_INFO.clear()  # a region's old version must not linger next to the new one
        for region in REGIONS:
            m.MODEL_INFO.labels(region, versions.get(region, "streaming")).set(1)

    async def run(self, send: Any) -> None:
        while True:
            try:
                first = await asyncio.wait_for(self.queue.get(), timeout=self.reorder.wake_after())
            except TimeoutError:  # quiet for a moment: release what the watermark and the hold now allow
                flushed: list[ClosedWindow] = []
                for o in self.reorder.release(time.monotonic()):
                    assert o.event is not None
                    flushed.extend(self.aggregator.add(o.event, o.signals, o.actions))
                if flushed:
                    await self._on_windows(flushed, send)
                continue
            batch = list(first)
            while not self.queue.empty() and len(batch) < 1000:
                batch.extend(self.queue.get_nowait())
            closed: list[ClosedWindow] = []
            now = time.monotonic()
            ready: list[Outcome] = []
            for o in batch:
                if o.event is not None:
                    ready.extend(self.reorder.push(o.event.kind, o.event.event_time, o, now))
            for o in ready:
                assert o.event is not None
                closed.extend(self.aggregator.add(o.event, o.signals, o.actions))
            if time.monotonic() - self._last_model_check > 30:
                self._last_model_check = time.monotonic()
                self.reload_models()
            if closed:
                await self._on_windows(closed, send)

    async def _on_windows(self, windows: list[ClosedWindow], send: Any) -> None:
        scores = await asyncio.to_thread(self.scorer.score, windows)
        for window, score in zip(windows, scores, strict=True):
            labels = (m.region_label(score.region), m.source_label(score.source))
            m.MODEL_SCORE.labels(*labels).observe(score.score)
            if score.anomalous:
                m.MODEL_ANOMALOUS_WINDOWS.labels(*labels).inc()
            manager = self.managers.get(window.region)
            if manager is None:
                manager = self.managers[window.region] = IncidentManager()
            for candidate in manager.process(window, score):
                await send(candidate)
                m.count_incident(candidate)
                self.open_gauge.record(candidate)
                if candidate.status in ("open", "resolve"):
                    for link in self.linker.process(candidate):
                        await send(link)
                        m.count_incident(link)
