"""Incidents with partitioned state: partial aggregates per decide partition, merged per region.

Phase 1 (in ``decide_events``): each decided event becomes a compact fact
(`riskstream.models.region_windows.fact_of`); a batch's facts go out as one
record per (source partition, region) on ``risk.aggregates.v1``, keyed by
region, in the batch's outbox, so they are on the broker before the batch's
inputs are acknowledged (a SIGKILL replays them, never loses them).  Every
``HEARTBEAT_S`` each worker also sends, for each decide partition it owns,
the partition's *settled* watermark (see `send_watermarks`) and whether it is
idle to every region.

Phase 2 (``merge_aggregates``, one owner per region): partials merge into the
region's pending windows in the ``incident-state`` table (facts keyed by event
id: a replayed partial changes nothing); a window closes once, when every
decide partition's watermark is past its end plus the allowed lateness (an
idle partition, silent for ``IDLE_S``, stops holding windows back) and
``HOLD_S`` of wall time has passed.  The closed window is scored with the
region model (in a thread) and goes through the region's incident manager,
whose state is in the same table; candidates go to ``risk.incidents.v1``
keyed by incident id.  Incident ids come from (region, harm, cluster, onset),
so one surge opens one incident whatever the number of workers.

Phase 3 (``link_incidents``, `stream/incident_links.py`): once a region's
candidates are on the broker, its open and resolve records go again, keyed by
harm|cluster, to ``risk.incident.links.v1``, whose owner links the same harm on
the same cluster across regions (cross-region spread).
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import zlib
from typing import TYPE_CHECKING, Any, Final

import orjson
from aiokafka.partitioner import murmur2

from riskstream.contracts import IncidentCandidate, encode
from riskstream.engine import Outcome
from riskstream.models.aggregates import AggregatorConfig, ClosedWindow
from riskstream.models.incidents import IncidentManager
from riskstream.models.region_windows import MergeConfig, RegionWindows, SourceClock, fact_of
from riskstream.regions import REGIONS, region_of
from riskstream.stream import metrics as m
from riskstream.stream.faust_fixes import set_current_event
from riskstream.stream.incident_links import IncidentLinks
from riskstream.stream.incidents import IncidentRuntime

if TYPE_CHECKING:
    from riskstream.stream.agents import Pipeline

log = logging.getLogger("riskstream.incidents")

HEARTBEAT_S: Final = 2.0  # how often a worker reports its decide partitions' watermarks
IDLE_S: Final = 30.0  # a decide partition (or one event kind in it) silent this long no longer holds windows
HOLD_S: Final = 3.0  # wall time a window waits after the watermark passed it (events still in a hop)
PARTIAL_RECORD_BYTES: Final = 256 * 1024
SETTLE_HOPS: Final = 6
"""Successive notes a watermark waits for: an event crosses at most an input, a detect hop per
partitioned step (at most four today) and the decide hop, each forwarding past the previous note's end."""


def _pack(obj: Any) -> bytes:
    return zlib.compress(orjson.dumps(obj), 1)


def _unpack(raw: bytes | None) -> Any:
    return orjson.loads(zlib.decompress(raw)) if raw is not None else None


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a bare key (as ``Pipeline._forward`` routes)."""
    return int((murmur2(key.encode()) & 0x7FFFFFFF) % partitions)


class IncidentStages:
    """Both phases, wired onto the pipeline's app (see the module docstring)."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline
        settings = pipeline.settings
        self.parts = settings.kafka.partitions
        minutes = max(1, settings.models.window_seconds // 60)
        self.agg_config = AggregatorConfig(window_minutes=minutes)
        self.merge_config = MergeConfig(window_s=minutes * 60, allowed_lateness_s=self.agg_config.allowed_lateness_s,
                                        sources=self.parts, hold_s=HOLD_S)
        self.clocks: dict[int, SourceClock] = {}
        # Models, the model-version metrics and the open-incidents gauge, as the per-worker runtime has them.
        self.runtime: IncidentRuntime = pipeline.incidents
        self.state: Any = None
        self.links = IncidentLinks(pipeline)  # phase 3: cross-region spread

    def register(self) -> None:
        app = self.p.app
        self.state = app.Table("incident-state", default=None, key_type=bytes, value_type=bytes,
                               partitions=self.parts)
        app.agent(self.p.topics.aggregates, name="riskstream.merge_aggregates", concurrency=1)(self.merge_aggregates)
        app.task(self.send_watermarks)
        self.links.register()

    # ------------------------------------------------------------ phase 1

    async def send_partials(self, batch: Any) -> None:
        """The batch's decided events as facts, one record per (decide partition, region), into its outbox."""
        if not batch.decided:
            return
        groups: dict[tuple[int, str], list[bytes]] = {}
        for outcome in batch.decided:
            event = outcome.event
            region = region_of(event.region) if event is not None else None
            if event is None or region is None:
                continue
            src = partition_of(event.event_id, self.parts)
            fact = fact_of(event, outcome.signals, outcome.actions, self.p._shadow_rules(region))
            groups.setdefault((src, region), []).append(orjson.dumps(fact))
        for (src, region), facts in sorted(groups.items()):
            # Watermarks move only with the heartbeat (once what was in flight has been decided).
            head = orjson.dumps({"src": src, "wm": None, "idle": False})[:-1]
            chunk: list[bytes] = []
            size = 0
            for i, f in enumerate(facts):
                chunk.append(f)
                size += len(f) + 1
                if size >= PARTIAL_RECORD_BYTES or i == len(facts) - 1:
                    value = head + b',"facts":[' + b",".join(chunk) + b"]}"
                    await batch.outbox.add(self.p.names["aggregates"], region.encode(), value,
                                           partition=partition_of(region, self.parts))
                    batch.tally.inc(m.INCIDENT_PARTIALS, "facts")
                    chunk, size = [], 0

    def observed(self, decided: list[Outcome]) -> None:
        """After the batch's outputs (its partials included) are on the broker: move the clocks on."""
        now = time.monotonic()
        for outcome in decided:
            event = outcome.event
            if event is not None:
                self._clock(partition_of(event.event_id, self.parts), now).see(
                    event.kind, event.event_time.timestamp(), now)

    def _clock(self, src: int, now: float) -> SourceClock:
        clock = self.clocks.get(src)
        if clock is None:
            clock = self.clocks[src] = SourceClock(IDLE_S)
            clock.touch(now)  # a partition just taken over is not idle before IDLE_S has passed
        return clock

    def _owned(self) -> list[int]:
        try:
            assignment = self.p.app.consumer.assignment()
        except Exception:  # consumer not started yet
            return []
        name = self.p.names["decide"]
        return sorted(tp.partition for tp in assignment if tp.topic == name)

    def _upstream(self) -> set[str]:
        names = self.p.names
        return {names[k] for k in ("listings", "reviews", "content", "detect", "decide")}

    async def send_watermarks(self) -> None:
        """Heartbeat: every owned decide partition's *settled* watermark (and idleness) to every region.

        A decide partition's clock is only a claim about the events decided so far; events still in a
        hop (an input, risk.detect.v1, risk.decide.v1) can be older.  So each heartbeat notes the
        upstream topics' end offsets with the clocks' watermarks; once the group has committed past
        them, the records forwarded meanwhile lie past them, so the note is renewed with the current end
        offsets, ``SETTLE_HOPS`` times (one per hop an event can take).  Only then is the watermark sent:
        everything produced before the note is decided and its partials are on the broker (the owner
        sent them before committing).  In
        live traffic that is a commit interval or two; in a catch-up it holds windows until the backlog
        before them is worked off, so a replay closes exactly the windows an uninterrupted run closes.
        """
        from aiokafka import AIOKafkaConsumer
        from aiokafka.admin import AIOKafkaAdminClient

        from riskstream.stream.lag import collect
        from riskstream.stream.security import client_kwargs

        kw = client_kwargs(self.p.settings)
        admin = AIOKafkaAdminClient(**kw)
        reader = AIOKafkaConsumer(**kw, group_id=None, enable_auto_commit=False)
        started: list[Any] = []
        noted: list[tuple[dict[tuple[str, int], int], dict[int, tuple[float | None, bool]], int]] = []
        settled: dict[int, tuple[float | None, bool]] = {}
        upstream = self._upstream()
        try:
            while True:
                await asyncio.sleep(HEARTBEAT_S)
                try:
                    for client in (admin, reader):
                        if client not in started:
                            await client.start()
                            started.append(client)
                    now = time.monotonic()
                    owned = self._owned()
                    marks = {src: (self._clock(src, now).watermark(now), self._clock(src, now).idle(now))
                             for src in owned}
                    lags = [x for x in await collect(admin, reader, self.p.settings.kafka.app_id, sorted(upstream))
                            if x.topic in upstream]
                    committed = {(x.topic, x.partition): x.committed for x in lags}
                    ends = {(x.topic, x.partition): x.end for x in lags}
                    kept: list[tuple[dict[tuple[str, int], int], dict[int, tuple[float | None, bool]], int]] = []
                    for noted_ends, noted_marks, hops in noted:
                        if not all(committed.get(tp, -1) >= end for tp, end in noted_ends.items()):
                            kept.append((noted_ends, noted_marks, hops))
                        elif hops <= 1:
                            for src, mark in noted_marks.items():
                                prev = settled.get(src)
                                if prev is None or prev[0] is None or (mark[0] or -math.inf) >= prev[0]:
                                    settled[src] = mark
                        else:  # what the note's records forwarded lies past its end offsets: note again
                            kept.append((ends, noted_marks, hops - 1))
                    noted = [*kept, (ends, marks, SETTLE_HOPS)][-64:]  # a long catch-up: watermarks wait longer
                    await self._heartbeat({src: settled[src] for src in owned if src in settled})
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("watermark heartbeat failed; retrying")
        finally:  # the admin client closes, the consumer stops (aiokafka names them differently)
            for client in started:
                await (client.close() if isinstance(client, AIOKafkaAdminClient) else client.stop())

    async def _heartbeat(self, marks: dict[int, tuple[float | None, bool]]) -> None:
        outbox = self.p.new_outbox()
        for src, (wm, idle) in sorted(marks.items()):
            value = orjson.dumps({"src": src, "wm": wm, "idle": idle, "facts": []})
            for region in REGIONS:
                await outbox.add(self.p.names["aggregates"], region.encode(), value,
                                 partition=partition_of(region, self.parts))
                m.INCIDENT_PARTIALS.labels("watermark").inc()
        await outbox.flush()
        outbox.count_sent()

    # ------------------------------------------------------------ phase 2

    async def merge_aggregates(self, stream: Any) -> None:
        """Partials -> merged region windows -> scored once -> incident manager -> candidates."""
        settings = self.p.settings
        async for events in stream.take_events(settings.batch_events, within=settings.batch_seconds):
            await self.p.tables_ready()  # a table write before its changelog's metadata would fail
            by_region: dict[str, list[tuple[Any, dict[str, Any]]]] = {}
            batch = self.p.new_outbox()
            for source in events:
                msg = source.message
                raw: bytes = msg.value or b""
                region = (msg.key or b"").decode("utf-8", errors="replace")
                try:
                    partial = orjson.loads(raw)
                    if region not in REGIONS or not isinstance(partial, dict) or "src" not in partial:
                        raise ValueError(f"not a partial for a policy region (key {region!r})")
                except Exception as exc:
                    await self.p.dead_letter_to(batch, msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")
                    continue
                by_region.setdefault(region, []).append((source, partial))
            for region, items in sorted(by_region.items()):
                try:
                    await self._merge_region(region, items, batch)
                except Exception as exc:  # a bug must not stop the merge: the region's records go to dead letters
                    log.exception("region merge failed for %s", region)
                    m.ERRORS.labels("merge_aggregates").inc()
                    for source, partial in items:
                        await self.p.dead_letter_to(batch, source.message, orjson.dumps(partial),
                                                    "processing_error", f"{type(exc).__name__}: {exc}")
            await batch.flush()
            batch.count_sent()
            if time.monotonic() - self.runtime._last_model_check > 30:
                self.runtime._last_model_check = time.monotonic()
                self.runtime.reload_models()

    def _load(self, region: str) -> tuple[RegionWindows, dict[int, int], bool]:
        """The region's header (open windows, watermarks) and each open window's chunk count.

        A window's facts are stored apart, one chunk per batch that touched it (``_chunk_key``), and
        read back only when the window closes: a batch costs what it merges, not what is open (in a
        backlog, windows stay open until the watermark settles, and rewriting them all per batch made
        the merge quadratic).  State written by an older version (one ``<region>|windows`` value with
        every fact) is read once and stored in chunks.
        """
        meta = _unpack(self.state.get(f"{region}|meta".encode()))
        if meta is not None:
            rw = RegionWindows.from_state(region, meta["windows"], None, self.merge_config, self.agg_config)
            return rw, {int(s): int(n) for s, n in meta["chunks"]}, False
        old = _unpack(self.state.get(f"{region}|windows".encode()))
        return RegionWindows.from_state(region, old, None, self.merge_config, self.agg_config), {}, old is not None

    @staticmethod
    def _chunk_key(region: str, start: int, n: int) -> bytes:
        return f"{region}|c|{start}|{n}".encode()

    def _facts(self, region: str, start: int, chunks: int) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n in range(chunks):
            out.extend(_unpack(self.state.get(self._chunk_key(region, start, n))) or ())
        return out

    async def _merge_region(self, region: str, items: list[tuple[Any, dict[str, Any]]], outbox: Any) -> None:
        last = items[-1][0]
        set_current_event(last)  # reads and writes of this region's state use its partition
        rw, chunks, migrated = self._load(region)
        late = sum(rw.merge(partial) for _, partial in items)
        if late:
            m.INCIDENT_LATE_FACTS.labels(region).inc(late)
        now = time.time()  # wall clock: the hold survives a restart (it is kept in the table)
        closed: list[ClosedWindow] = []
        closing: list[int] = []
        if rw.ready(now):
            closing = rw.closable(now)
            for start in closing:
                rw.fill(start, self._facts(region, start, chunks.get(start, 0)))
            rw.aggregator = RegionWindows.from_state(
                region, None, _unpack(self.state.get(f"{region}|context".encode())),
                self.merge_config, self.agg_config).aggregator
            closed = rw.close(now)
        if closed:
            log.info("%s: %d window(s) closed, through %s", region, len(closed), closed[-1].end.isoformat())
            await self._score_and_manage(region, closed, outbox)
            set_current_event(last)
            self.state[f"{region}|context".encode()] = _pack(rw.context_state())
        # What is still pending holds this batch's facts only (windows loaded from the header are empty
        # unless they closed): one new chunk per window it touched.
        for start, facts in sorted(rw.pending.items()):
            if facts:
                n = chunks.get(start, 0)
                self.state[self._chunk_key(region, start, n)] = _pack(list(facts.values()))
                chunks[start] = n + 1
        gone = {start: chunks.pop(start) for start in closing if start not in rw.pending and start in chunks}
        # The header before the deletes: a crash in between leaves unread chunks, never a header that
        # names a deleted one (its facts would be lost).
        self.state[f"{region}|meta".encode()] = _pack(
            {"windows": rw.header_state(), "chunks": sorted(chunks.items())})
        for start, n_chunks in gone.items():
            for n in range(n_chunks):
                self.state.pop(self._chunk_key(region, start, n), None)
        if migrated:  # its facts are in chunks now
            self.state.pop(f"{region}|windows".encode(), None)

    async def _score_and_manage(self, region: str, windows: list[ClosedWindow], outbox: Any) -> None:
        saved = _unpack(self.state.get(f"{region}|manager".encode()))
        manager = IncidentManager.from_state(saved["manager"]) if saved else IncidentManager()
        scorer = self.runtime.scorer
        scorer.restore_region(region, saved["scorer"] if saved else {})
        scores = await asyncio.to_thread(scorer.score, windows)
        candidates: list[IncidentCandidate] = []
        for window, score in zip(windows, scores, strict=True):
            m.INCIDENT_WINDOWS_CLOSED.labels(region).inc()
            labels = (m.region_label(score.region), m.source_label(score.source))
            m.MODEL_SCORE.labels(*labels).observe(score.score)
            if score.anomalous:
                m.MODEL_ANOMALOUS_WINDOWS.labels(*labels).inc()
            candidates.extend(manager.process(window, score))
        for candidate in candidates:
            await outbox.add(self.p.names["incidents"], candidate.incident_id.encode(), encode(candidate))
        # The candidates are on the broker before the state that produced them is written: a crash in
        # between closes the same windows again and re-sends the same records (same event ids).
        refused = await outbox.flush()
        if refused:
            log.error("%d record(s) refused for good by the broker while closing %s windows", len(refused), region)
        # Then their open and resolve records to the linker (after them: a link record follows its inputs).
        await self.links.route(outbox, candidates)
        refused = await outbox.flush()
        if refused:
            log.error("%d record(s) refused for good by the broker while routing %s to the linker",
                      len(refused), region)
        for candidate in candidates:
            m.count_incident(candidate)
            self.runtime.open_gauge.record(candidate)
        self.state[f"{region}|manager".encode()] = _pack(
            {"manager": manager.state_dict(), "scorer": scorer.region_state(region)})

