"""Agents: decode, call the pure engine, send.  No business logic here.

``Pipeline.register()`` declares the tables and registers the agents and tasks
on the app it is given (nothing happens on import).  Every agent runs with
``concurrency=1``: with more, Faust can commit an offset past a message still
in flight (faust-streaming #606) and lose it on a crash.  Nothing an input
contains can crash an agent: invalid input and unexpected errors go to the
dead-letter topic with the reason, counted by ``riskstream_dead_letters_total``.
Agents work batch by batch (``stream.take_events``): every output record of a
batch is queued on the producer at once and the broker's acknowledgements are
awaited together (`riskstream.stream.outbox`); only then are idempotency keys
remembered and the batch's inputs acknowledged, so an offset is never committed
before what its message produced is on the broker: a crash replays rather than
loses, and replayed enforced actions are suppressed by their idempotency key.
Metric increments are tallied per batch and added once per labelled child.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from riskstream.contracts import (
    DeadLetter,
    EnforcementAction,
    Event,
    IncidentCandidate,
    ModerationFeedback,
    Signal,
    decode,
    encode,
    stable_id,
)
from riskstream.decisions import Ledger, subject_of
from riskstream.detectors.bounded_cache import ShortKeyMemo
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine, Outcome
from riskstream.regions import region_of
from riskstream.settings import Settings
from riskstream.stream import diagnose, gather
from riskstream.stream import metrics as m
from riskstream.stream.appeals import Appeals
from riskstream.stream.batch_send import AiokafkaBatches, default_partition
from riskstream.stream.control import PolicyRuntime
from riskstream.stream.dedupe import DedupeRecord, changelog_configs, horizon_seconds, sweep
from riskstream.stream.faust_fixes import set_current_event
from riskstream.stream.feedback_stats import FeedbackStats
from riskstream.stream.guard import Guard
from riskstream.stream.incident_agents import IncidentStages
from riskstream.stream.incidents import IncidentRuntime
from riskstream.stream.metrics import Tally
from riskstream.stream.outbox import BatchSender, Outbox
from riskstream.stream.routing import REPLAY_EXACT, Envelope, StateRecord, state_key
from riskstream.stream.security import client_kwargs
from riskstream.stream.table_writer import TableWriter
from riskstream.stream.topics import Topics
from riskstream.stream.watchdog import Watchdog

log = logging.getLogger("riskstream")

HOP_RECORD_BYTES = 256 * 1024  # a hop record (envelopes for one partition) stays well under a topic's 1 MB


def _dead_letter(topic: str, partition: int, offset: int, raw: bytes, reason: str, detail: str,
                 measured: int | None = None) -> DeadLetter:
    preview = raw[:512].decode("utf-8", errors="replace")
    country = ""
    try:
        obj = orjson.loads(raw)
        if isinstance(obj, dict) and isinstance(obj.get("region"), str):
            country = obj["region"]
    except orjson.JSONDecodeError:
        pass
    return DeadLetter(
        event_id=stable_id("dlq", topic, str(partition), str(offset)),
        event_time=datetime.now(UTC),
        region=country,
        topic=topic,
        partition=partition,
        offset=offset,
        reason=reason,
        detail=detail[:2000],
        original_b64=base64.b64encode(raw).decode(),
        original_preview=preview,
        measured=measured,
    )


class _Batch:
    """One agent batch: its outbox, its metric tally, and what to do once the broker has the outputs."""

    __slots__ = ("decided", "gathering", "hops", "latencies", "now", "outbox", "remember", "seen_keys",
                 "table_writes", "tally")

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self.now = time.time()  # what "within the dedupe horizon" is measured against
        self.tally = Tally()
        self.remember: list[tuple[Any, bytes, bytes]] = []  # (input event, idempotency key, event id)
        self.decided: list[Outcome] = []  # for the incident aggregates
        self.latencies: list[tuple[str, float | None]] = []  # (kind, input record time) per action
        self.seen_keys: set[bytes] = set()  # idempotency keys enforced earlier in this batch
        self.hops: dict[tuple[str, int], list[tuple[Any, bytes]]] = {}  # (topic, partition) -> (source, envelope)
        # the tables' writes in this batch (`Pipeline.write_table`): id(writer) -> (writer, key -> changelog partition)
        self.table_writes: dict[int, tuple[TableWriter, dict[bytes, int]]] = {}
        self.gathering: gather.Gathering | None = None  # decide: the parts of fanned-out events (stream/gather.py)


class Pipeline:
    """The worker's engine and the state that the stream layer owns, wired onto one Faust app."""

    def __init__(self, app: faust.App, topics: Topics, settings: Settings) -> None:
        self.app = app
        self.topics = topics
        self.settings = settings
        self.registry = default_registry()
        self.engine = Engine(self.registry, limits=settings.limits, pseudonym_key=settings.privacy.key)
        # the outboxes' record-batch path (stream/outbox.py); exactly-once sends record by record
        self._batches: BatchSender | None = (
            None if settings.kafka.processing_guarantee == "exactly_once" or not settings.kafka.batch_sends
            else AiokafkaBatches(lambda: app.producer._producer))  # type: ignore[attr-defined]
        if settings.privacy.ephemeral:
            log.warning("RISKSTREAM_PSEUDONYM_KEY is not set: pseudonyms on output topics use a random "
                        "per-process key and differ between workers and restarts")
        self.policies = PolicyRuntime(self.registry, self.engine)
        self.policies_ready = asyncio.Event()
        self.incidents = IncidentRuntime(settings, ignored=self._shadow_rules)
        self.incident_stages: IncidentStages | None = None
        self.appeals = Appeals(self)  # appeals index and reversals (stream/appeals.py)
        self.feedback_stats = FeedbackStats(self)  # rule-feedback table (stream/feedback_stats.py)
        self.guard = Guard(self, settings.guard)  # blast-radius guard (stream/guard.py)
        self.enforced_keys: Any = None
        self.ledgers: Any = None
        self.detector_state: Any = None
        self.gather_table: Any = None
        self.watchdog: Watchdog | None = None
        self.names = {key: topic.get_topic_name() for key, topic in topics.by_key.items()}
        self._by_name = {topic.get_topic_name(): topic for topic in topics.by_key.values()}
        self._partitions = settings.kafka.partitions
        self._partition_memo = ShortKeyMemo(self._murmur_partition, max_entries=1 << 16, max_key_chars=256)
        self._changelogs: list[str] = []  # every table's changelog topic (see `tables_ready`)
        self._tables_checked = False
        self.dedupe_horizon = horizon_seconds(settings.limits.max_event_age_days, settings.dedupe_horizon_days)
        # The appeals index outlives the idempotency keys: appeals come for months (RISKSTREAM_APPEAL_WINDOW_DAYS).
        self.appeal_horizon = max(self.dedupe_horizon, settings.appeal_window_days * 86_400)

    def _shadow_rules(self, region: str) -> frozenset[str]:
        """A region's shadow rules (``rule:<id>``): their hits are left out of the incident aggregates."""
        policy = self.engine.policy(region)
        return policy.shadow_rule_detectors() if policy is not None else frozenset()

    # ------------------------------------------------------------ wiring

    def register(self) -> None:
        app, topics, parts = self.app, self.topics, self.settings.kafka.partitions
        self.policies.load_files(self.settings)
        self.enforced_keys = app.Table("enforced-actions", default=None, key_type=bytes, value_type=bytes,
                                       partitions=parts,
                                       extra_topic_configs=changelog_configs(self.dedupe_horizon))
        self.ledgers = app.Table("violation-ledgers", default=None, key_type=bytes, value_type=bytes,
                                 partitions=parts)
        # Their changelog records go with the batch too (one per key and batch, `TableWriter`): through
        # Faust's buffer, one record at a time, a surge's enforced actions filled it ("producer buffer
        # full") and every input then drained it record by record.
        self.enforced_writer = self.table_writer(self.enforced_keys)
        self.ledger_writer = self.table_writer(self.ledgers)
        agents: list[tuple[Any, Any]] = [(self.screen_listings, topics.listings),
                                         (self.screen_reviews, topics.reviews),
                                         (self.screen_content, topics.content),
                                         (self.track_violations, topics.violations),
                                         (self.track_feedback, topics.feedback)]
        if self.settings.partitioned_state:
            # Every partitioned detector's state, keyed by region|detector|state key (risk.detect.v1's key).
            self.detector_state = app.Table("detector-state", default=None, key_type=bytes, value_type=bytes,
                                            partitions=parts)
            # Its changelog goes with each batch (exactly-once: in Faust's transaction, record by record).
            self.state_writer = self.table_writer(self.detector_state)
            # The parts of fanned-out events still waiting for the others, keyed by event id (stream/gather.py).
            self.gather_table = app.Table("decide-gather", default=None, key_type=bytes, value_type=bytes,
                                          partitions=parts, extra_topic_configs=changelog_configs(gather.HORIZON))
            self.gather_writer = self.table_writer(self.gather_table)
            agents += [(self.detect_keyed, topics.detect), (self.decide_events, topics.decide)]
        agents += [*self.appeals.register(), *self.feedback_stats.register(), *self.guard.register()]
        for fun, topic in agents:
            app.agent(topic, name=f"riskstream.{fun.__name__}", concurrency=1)(fun)
        if self.settings.partitioned_state:  # two-phase incident aggregates (stream/incident_agents.py)
            self.incident_stages = IncidentStages(self)
            self.incident_stages.register()
            consumed_extra = [self.topics.aggregates, self.topics.incident_links]
        else:
            app.task(self.detect_incidents)
            consumed_extra = []
        self._changelogs = [t.changelog_topic.get_topic_name() for t in
                            (self.enforced_keys, self.ledgers, self.detector_state, self.gather_table,
                             self.appeals.index,
                             self.feedback_stats.table, self.guard.table,
                             self.incident_stages.state if self.incident_stages is not None else None,
                             self.incident_stages.links.table if self.incident_stages is not None else None)
                            if t is not None]
        app.task(self.follow_control_topics)
        app.timer(self.settings.dedupe_sweep_seconds)(self.expire_tables)
        consumed = [t.get_topic_name() for _, t in agents] + [t.get_topic_name() for t in consumed_extra]
        self.watchdog = Watchdog(app, consumed, self.settings.kafka.bootstrap_servers, self.settings.kafka.app_id,
                                 self.settings.stall_seconds, kafka=client_kwargs(self.settings))
        app.task(self.watchdog.run)

    def health(self) -> dict[str, Any]:
        stalled = self.watchdog.stalled if self.watchdog is not None else []
        return {"ok": not stalled, "stalled_partitions": [f"{t}[{p}]" for t, p in stalled],
                "policies": self.policies.versions(), "control_topics_read": self.policies_ready.is_set()}

    async def tables_ready(self) -> None:
        """Until the consumer's metadata shows every table's changelog with all of its partitions.

        A new worker on new topics starts consuming while Faust is still creating the
        changelog topics; a table write before the consumer's metadata has their
        partitions raises PartitionsMismatch ("0 partitions"), which is not the input's
        fault. The batch waits here instead (its inputs are not acknowledged, so nothing
        is lost), for one metadata refresh or two; once ready it costs one attribute read.
        A wait that never ends makes the stall watchdog loud.
        """
        if self._tables_checked:
            return
        started, warned = time.monotonic(), False
        while True:
            counts = {name: self.app.consumer.topic_partitions(name) for name in self._changelogs}
            # Faust's check (PartitionsMismatch) fails only on a known count that differs; a changelog
            # this consumer has no metadata for (None) passes it, so only a wrong count is waited out.
            # Checked again at the next batch until every count is known (a few dict reads).
            if all(n is None or n == self._partitions for n in counts.values()):
                self._tables_checked = all(n == self._partitions for n in counts.values())
                return
            waited = time.monotonic() - started
            if waited > 5 and not warned:
                warned = True
                log.warning("waiting for the changelog topics' metadata before writing tables: %s", counts)
            await asyncio.sleep(0.25)

    # ------------------------------------------------------------ sending

    async def _send(self, topic: str, key: bytes | None, value: bytes, partition: int | None,
                    timestamp: float | None, headers: Any) -> Any:
        """Queue one record on the producer; returns its delivery future (awaited by the outbox)."""
        if self.settings.kafka.processing_guarantee == "exactly_once":  # Faust's transactional producers
            return await self._by_name[topic].send(key=key, value=value, partition=partition)
        return await self.app.producer.send(topic, key, value, partition, timestamp, headers)

    def new_outbox(self) -> Outbox:
        return Outbox(self._send, describe=self._producer_state, batches=self._batches)

    def _producer_state(self) -> str:
        return diagnose.producer_state(self.app)

    def new_batch(self) -> _Batch:
        return _Batch(self.new_outbox())

    def table_writer(self, table: Any) -> TableWriter:
        """A table's writer; exactly-once keeps Faust's per-record path (the records go in its transaction)."""
        return TableWriter(table, bulk=self.settings.kafka.processing_guarantee != "exactly_once")

    def write_table(self, batch: _Batch, writer: TableWriter, key: bytes, value: bytes, partition: int) -> None:
        """``table[key] = value`` on `partition` (the current event's): its changelog record goes with the batch."""
        entry = batch.table_writes.get(id(writer))
        if entry is None:
            entry = batch.table_writes[id(writer)] = (writer, {})
        writer.set(entry[1], key, value, partition)

    async def _dead_letter_into(self, batch: _Batch, msg: Any, raw: bytes, reason: str, detail: str,
                                measured: int | None = None) -> None:
        dl = _dead_letter(msg.topic, msg.partition, msg.offset, raw, reason, detail, measured)
        await batch.outbox.add(self.names["deadletter"], msg.topic.encode(), encode(dl))
        batch.tally.inc(m.DEAD_LETTERS, msg.topic, reason)

    async def dead_letter_to(self, outbox: Outbox, msg: Any, raw: bytes, reason: str, detail: str) -> None:
        """A dead letter into `outbox`, counted at once: for the incident agents, which keep no `_Batch`."""
        dl = _dead_letter(msg.topic, msg.partition, msg.offset, raw, reason, detail)
        await outbox.add(self.names["deadletter"], msg.topic.encode(), encode(dl))
        m.DEAD_LETTERS.labels(msg.topic, reason).inc()

    async def _emit_into(self, batch: _Batch, source: Any, outcome: Outcome, kind: str,
                         record_time: float | None, *, in_stream: bool = True, to_violations: bool = True) -> None:
        """An outcome's signals and actions into the batch's outbox (enforced ones deduplicated)."""
        outbox, tally, names = batch.outbox, batch.tally, self.names
        for sig in outcome.signals:
            await outbox.add(names["signals"], sig.entity_id.encode(), encode(sig), tag=source)
            tally.signal(sig)
        for action in outcome.actions:
            # Outside an agent (the control-topic task) there is no source partition to write
            # the dedupe table's changelog to; consumers dedupe by key there.
            if in_stream and action.mode == "enforced":
                key = action.idempotency_key.encode()
                if key in batch.seen_keys or DedupeRecord.live(self.enforced_keys.get(key), batch.now,
                                                               self.dedupe_horizon):
                    tally.duplicate(action)
                    continue
                batch.seen_keys.add(key)
                # Remembered only after the broker has the action: a crash in between re-sends it
                # (same idempotency key) on replay instead of losing it.
                batch.remember.append((source, key, action.event_id.encode()))
            value = encode(action)
            await outbox.add(names["actions"], action.entity_id.encode(), value, tag=source)
            tally.action(action)
            batch.latencies.append((kind, record_time))
            if action.mode == "enforced":  # the original an appeal would reverse (stream/appeals.py)
                await self.appeals.index_into(batch, source, action)
            subject = subject_of(action) if to_violations and action.mode == "enforced" else None
            if subject is not None:  # re-key by seller/creator for graduated enforcement
                await outbox.add(names["violations"], f"{subject[0]}:{subject[1]}".encode(), value, tag=source)

    async def process_batches(self, stream: Any, agent: str, handle: Callable[[_Batch, Any, bytes], Awaitable[None]],
                              *, failure: str, errors: str | None = None, tables: bool = True) -> None:
        """The batch loop of an agent that handles its input records one by one.

        Per batch of ``stream.take_events``: `tables_ready` (unless `tables` is False: the
        agent writes no table), a new `_Batch`; per record, its event made current (table
        reads and writes go to its partition) and ``handle(batch, source, raw)``.  An
        exception dead-letters the record as ``processing_error`` (logged as `failure`,
        counted in ``riskstream_processing_errors_total`` under `errors` when given).  Then
        `_complete`: Faust acknowledges the batch's inputs when the loop takes the next
        batch, after the broker has every output.
        """
        async for events in stream.take_events(self.settings.batch_events, within=self.settings.batch_seconds):
            if tables:
                await self.tables_ready()  # a table write before its changelog's metadata would fail
            batch = self.new_batch()
            for source in events:
                set_current_event(source)
                msg = source.message
                raw: bytes = msg.value or b""
                try:
                    await handle(batch, source, raw)
                except Exception as exc:  # a bug must not stop the stream or lose the event
                    log.exception("%s: %s[%s]@%s", failure, msg.topic, msg.partition, msg.offset)
                    if errors is not None:
                        batch.tally.inc(m.ERRORS, errors)
                    await self._dead_letter_into(batch, msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")
            await self._complete(batch, agent, len(events))

    async def _complete(self, batch: _Batch, agent: str, n_events: int) -> None:
        """Await the batch's sends together; then remember keys, count, and feed the incident task.

        Returns only when the broker has every output (or an output was refused for
        good and its input is dead-lettered), so Faust acknowledges the batch's inputs
        only after their outputs are safe.
        """
        await self.guard.partials_into(batch)  # per-batch rule counts for the blast-radius guard
        for writer, written in batch.table_writes.values():
            await writer.send(batch.outbox, written)
        batch.table_writes.clear()
        undeliverable = await batch.outbox.flush()
        failed: set[int] = set()
        if undeliverable:
            retry = self.new_outbox()
            flat = [s for tag in undeliverable for s in (tag if isinstance(tag, list) else [tag])]
            for source in {id(s): s for s in flat if s is not None}.values():
                failed.add(id(source))
                msg = source.message
                dl = _dead_letter(msg.topic, msg.partition, msg.offset, msg.value or b"", "undeliverable_output",
                                  "an output record of this event was refused by the broker for good")
                await retry.add(self.names["deadletter"], msg.topic.encode(), encode(dl))
                batch.tally.inc(m.DEAD_LETTERS, msg.topic, "undeliverable_output")
            await retry.flush()
            retry.count_sent()
        now = time.time()
        if batch.remember or batch.gathering is not None:
            await self._remember_keys(batch, failed, now)
        for kind, record_time in batch.latencies:
            m.observe_end_to_end(kind, record_time, now)
        batch.outbox.count_sent()
        batch.tally.flush()
        if batch.decided and self.incident_stages is not None:
            self.incident_stages.observed(batch.decided)
        elif batch.decided:
            self.incidents.observe_many(batch.decided)
        m.child(m.BATCH_EVENTS, (agent,)).observe(n_events)

    async def _remember_keys(self, batch: _Batch, failed: set[int], now: float) -> None:
        """The idempotency keys of the batch's delivered enforced actions, into `enforced-actions`.

        Only after the broker has the actions (a crash in between re-sends them on replay,
        under the same keys); their changelog records are awaited before the batch's inputs
        are acknowledged, one round trip for the batch.  A record the broker refuses for good
        leaves the key in this worker's store only: after a restart a replay may send its
        action again, under its idempotency key.
        """
        written: dict[bytes, int] = {}
        for source, key, event_id in batch.remember:
            if id(source) not in failed:
                set_current_event(source)  # the store of the input's partition
                self.enforced_writer.set(written, key, DedupeRecord.dump(event_id, now), source.message.partition)
        # Fanned-out events decided in this batch whose earlier parts were in `decide-gather`: marked
        # decided only now that the broker has the decision (stream/gather.py), in the same round trip.
        marked: dict[bytes, int] = {}
        if batch.gathering is not None:
            for key, pending in batch.gathering.decided_stored():
                if id(pending.source) in failed:  # its input is dead-lettered: a replay must find the parts
                    continue
                set_current_event(pending.source)
                self.gather_writer.set(marked, key, gather.decided_marker(now), pending.source.message.partition)
        if not written and not marked:
            return
        outbox = self.new_outbox()
        await self.enforced_writer.send(outbox, written)
        await self.gather_writer.send(outbox, marked)
        if await outbox.flush():
            log.warning("idempotency keys or decided markers of a batch of %d not on the changelog (refused by the "
                        "broker): kept in this worker's store only", len(written) + len(marked))
        outbox.count_sent()

    # ------------------------------------------------------------ agents

    async def screen_listings(self, stream: Any) -> None:
        await self._screen(stream, "listing")

    async def screen_reviews(self, stream: Any) -> None:
        await self._screen(stream, "review")

    async def screen_content(self, stream: Any) -> None:
        await self._screen(stream, "content")

    async def _screen(self, stream: Any, kind: str) -> None:
        """Decode and validate; detect and decide (or route to the state owners); batch by batch."""
        async for events in stream.take_events(self.settings.batch_events, within=self.settings.batch_seconds):
            await self.tables_ready()
            batch = _Batch(self.new_outbox())
            processing = m.child(m.PROCESSING, (kind,))
            for source in events:
                started = time.perf_counter()
                set_current_event(source)
                await self._screen_one(batch, source, kind)
                processing.observe(time.perf_counter() - started)
            await self._send_hops(batch)
            await self._complete(batch, f"screen_{kind}", len(events))

    async def _screen_one(self, batch: _Batch, source: Any, kind: str) -> None:
        msg = source.message
        raw: bytes = msg.value if msg.value is not None else b""
        batch.tally.inc(m.EVENTS_IN, msg.topic)
        try:
            outcome = self.engine.decode_raw(kind, raw)
            if outcome.dead_letter is not None:
                await self._dead_letter_into(batch, msg, raw, *outcome.dead_letter, outcome.measured)
                return
            event = outcome.event
            assert event is not None
            record_time = msg.timestamp or None  # faust gives the record's timestamp in seconds
            if not self.settings.partitioned_state:  # per-worker state: detect and decide here
                decided = self.engine.process(event)
                if decided.dead_letter is not None:
                    await self._dead_letter_into(batch, msg, raw, *decided.dead_letter)
                    return
                batch.tally.inc(m.EVENTS_VALID, kind, region_of(event.region) or "")
                await self._emit_into(batch, source, decided, kind, record_time)
                batch.decided.append(decided)
                batch.tally.inc(m.EVENTS_DECIDED, kind)
                return
            prepared = self.engine.prepare(event)
            if prepared.dead_letter is not None:
                await self._dead_letter_into(batch, msg, raw, *prepared.dead_letter)
                return
            batch.tally.inc(m.EVENTS_VALID, kind, region_of(event.region) or "")
            # A step whose state key is owned by this very partition (review_burst, rating_skew:
            # keyed by listing, as reviews are; a near-duplicate band bucket that hashes here) runs
            # here: no hop for it.  The others go in partition order, one hop per partition.
            signals, remote = list(prepared.signals), []
            for det_id, key in prepared.steps:
                if self._partition_of(key) == msg.partition:
                    signals.extend(self._step(batch, msg.partition, event, det_id, key))
                else:
                    remote.append((det_id, key))
            remote.sort(key=lambda step: self._partition_of(step[1]))
            if self.settings.fanout and len(remote) > 1:
                # Several owners: one part to each at once, gathered at decide (stream/gather.py).
                groups: dict[int, list[tuple[str, str]]] = {}
                for step in remote:
                    groups.setdefault(self._partition_of(step[1]), []).append(step)
                if len(groups) > 1:
                    n = len(groups)
                    for i, steps in enumerate(groups.values()):  # in partition order: part order is hop order
                        self._forward(batch, source, Envelope(kind, event, signals if i == 0 else [], steps,
                                                              record_time, i, n))
                    return
            self._forward(batch, source, Envelope(kind, event, signals, remote, record_time))
        except Exception as exc:  # a bug must not stop the stream or lose the event
            log.exception("processing failed for %s[%s]@%s", msg.topic, msg.partition, msg.offset)
            batch.tally.inc(m.ERRORS, kind)
            await self._dead_letter_into(batch, msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")

    def _forward(self, batch: _Batch, source: Any, env: Envelope) -> None:
        """To the owner of the next partitioned detector's state, or, when none is left, to decide.

        Envelopes bound for one partition of one topic travel together, as one record
        per batch (a JSON array): the hop costs a record per partition, not per event.
        The partition is the one Kafka's default partitioner gives the bare state key
        (or the event id), the partition an input keyed by it is on; all these topics
        and the table's changelog have one partition count and Faust assigns them
        co-partitioned, so a key has one owner whether its step runs here or in the
        ingest agent of a topic keyed by it (the shortcut in `_screen_one`).
        """
        if env.steps:
            topic, key = self.names["detect"], env.steps[0][1]
        else:
            topic, key = self.names["decide"], env.event.event_id
        partition = self._partition_of(key)
        batch.hops.setdefault((topic, partition), []).append((source, env.dump()))

    def _partition_of(self, key: str) -> int:
        """The partition Kafka's default partitioner gives `key` (its state's owner).

        Memoised: aiokafka's murmur2 is pure Python (7 % of the worker's samples), and the
        band bucket keys recur (a few thousand per country and detector).
        """
        return self._partition_memo(key)

    def _murmur_partition(self, key: str) -> int:
        return default_partition(key.encode(), self._partitions)

    async def _send_hops(self, batch: _Batch) -> None:
        """One record per destination partition, split where it would exceed HOP_RECORD_BYTES."""
        for (topic, partition), items in batch.hops.items():
            chunk: list[bytes] = []
            sources: list[Any] = []
            size = 0
            for i, (source, envelope) in enumerate(items):
                chunk.append(envelope)
                sources.append(source)
                size += len(envelope) + 1
                if size >= HOP_RECORD_BYTES or i == len(items) - 1:
                    await batch.outbox.add(topic, None, b"[" + b",".join(chunk) + b"]", partition=partition,
                                           tag=sources)
                    chunk, sources, size = [], [], 0
        batch.hops.clear()

    async def _screen_hops(self, stream: Any, agent: str, handle: Any, failed: Any = None) -> None:
        """Shared loop of the hop agents: each record is a JSON array of envelopes (or one envelope).

        An envelope whose `handle` raises is dead-lettered, then given to `failed` (if any).
        """
        async for events in stream.take_events(self.settings.batch_events, within=self.settings.batch_seconds):
            await self.tables_ready()
            batch = _Batch(self.new_outbox())
            n = 0
            for source in events:
                set_current_event(source)
                msg = source.message
                raw: bytes = msg.value or b""
                try:
                    envelopes = Envelope.load_many(raw)
                except Exception as exc:
                    log.exception("unreadable envelope record %s[%s]@%s", msg.topic, msg.partition, msg.offset)
                    await self._dead_letter_into(batch, msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")
                    continue
                for env in envelopes:
                    n += 1
                    try:
                        await handle(batch, source, env)
                    except Exception as exc:
                        log.exception("%s failed for %s[%s]@%s", agent, msg.topic, msg.partition, msg.offset)
                        batch.tally.inc(m.ERRORS, agent)
                        # A failed detect part is dead-lettered whole-event (part info cleared): its
                        # replay is decided on its own, since its event is decided on the other parts.
                        body = replace(env, part=0, parts=1) if agent == "detect" and env.parts > 1 else env
                        await self._dead_letter_into(batch, msg, body.dump(), "processing_error",
                                                     f"{type(exc).__name__}: {exc}")
                        if failed is not None:
                            failed(batch, source, env)
            if batch.gathering is not None:
                self._keep_parts(batch, batch.gathering)
            await self._send_hops(batch)
            if agent == "decide" and self.incident_stages is not None:
                await self.incident_stages.send_partials(batch)
            await self._complete(batch, agent, n)

    async def detect_keyed(self, stream: Any) -> None:
        """One partitioned detector step, with its key's state from the `detector-state` table."""

        async def handle(batch: _Batch, source: Any, env: Envelope) -> None:
            # This step, and the next ones this partition also owns (band buckets), with no hop between.
            here = source.message.partition
            signals, steps = list(env.signals), env.steps
            while True:
                det_id, key = steps[0]
                signals.extend(self._step(batch, here, env.event, det_id, key))
                steps = steps[1:]
                if not steps or self._partition_of(steps[0][1]) != here:
                    break
            self._forward(batch, source, replace(env, signals=signals, steps=steps))

        def failed(batch: _Batch, source: Any, env: Envelope) -> None:
            # A part of a fanned-out event still goes to decide, with the signals it carried, so the
            # event is decided on its other parts (fail open for this part's detectors); the dead
            # letter above holds the part, whose replay would decide it alone.
            if env.parts > 1:
                self._forward(batch, source, replace(env, steps=[]))

        await self._screen_hops(stream, "detect", handle, failed)

    def _step(self, batch: _Batch, partition: int, event: Event, det_id: str, key: str) -> list[Signal]:
        """One partitioned detector on the state its key owns, in the `detector-state` table.

        Called on the `partition` that owns the key (its changelog goes to that partition,
        with the batch's other outputs: `TableWriter`).
        An event delivered again after a crash leaves the state as it is and gets the signals
        it got the first time, or, when the key's record no longer holds them (`routing.
        REPLAY_SIGNAL_BYTES`), the signals of the key's current state (not written back).
        """
        table_key = state_key(event, det_id, key).encode()
        record = StateRecord.load(self.detector_state.data.get(table_key))  # the store: no Faust sensor per read
        seen = record.seen(event.event_id)
        if seen is not None:
            m.STATE_REPLAYS.labels(det_id, seen).inc()
            if seen == REPLAY_EXACT:
                return record.replayed(event.event_id) or []
            return self.engine.step(event, det_id, record.state, key)[1]
        state, found = self.engine.step(event, det_id, record.state, key)
        self.write_table(batch, self.state_writer, table_key, record.applied(event.event_id, state, found).dump(),
                         partition)
        return found

    async def decide_events(self, stream: Any) -> None:
        """All of an event's signals -> actions (deduplicated by idempotency key), signals, incidents."""

        async def handle(batch: _Batch, source: Any, env: Envelope) -> None:
            if env.parts > 1:  # a part of a fanned-out event: decided once all of its parts are here
                if batch.gathering is None:  # only batches that carry parts gather (fan-out is opt-in)
                    batch.gathering = gather.Gathering()
                key = env.event.event_id.encode()
                gathering = batch.gathering
                stored = None if gathering.seen(key) else self.gather_table.data.get(key)
                late = gathering.late
                signals = gathering.add(key, stored, env.part, env.parts, env.signals, source)
                if gathering.late > late:
                    batch.tally.inc(m.FANOUT, "late_part")
                if signals is None:
                    return
                env = replace(env, signals=signals, part=0, parts=1)
                try:
                    await decide(batch, source, env)
                except Exception as exc:  # dead-letter the whole event (its parts' signals), not the last part
                    log.exception("decide failed for %s", env.event.event_id)
                    batch.tally.inc(m.ERRORS, "decide")
                    await self._dead_letter_into(batch, source.message, env.dump(), "processing_error",
                                                 f"{type(exc).__name__}: {exc}")
                batch.tally.inc(m.FANOUT, "decided")
                return
            await decide(batch, source, env)

        async def decide(batch: _Batch, source: Any, env: Envelope) -> None:
            outcome = self.engine.finish(env.event, env.signals)
            if outcome.dead_letter is not None:
                await self._dead_letter_into(batch, source.message, env.dump(), *outcome.dead_letter)
                return
            await self._emit_into(batch, source, outcome, env.kind, env.record_time)
            batch.decided.append(outcome)
            batch.tally.inc(m.EVENTS_DECIDED, env.kind)

        await self._screen_hops(stream, "decide", handle)

    def _keep_parts(self, batch: _Batch, gathering: gather.Gathering) -> None:
        """The parts of events still waiting at the batch's end, into `decide-gather` with the batch."""
        for key, pending in gathering.pending():
            set_current_event(pending.source)  # the table's partition: the event's decide partition
            self.write_table(batch, self.gather_writer, key, pending.dump(batch.now), pending.source.message.partition)

    async def track_violations(self, stream: Any) -> None:
        """Graduated enforcement: one ledger per seller/creator in a changelog-backed table."""
        await self.process_batches(stream, "track_violations", self._track_violation,
                                   failure="violation processing failed")

    async def _track_violation(self, batch: _Batch, source: Any, raw: bytes) -> None:
        action = decode(raw, EnforcementAction)
        key = source.message.key or b""
        current = self.ledgers.get(key)
        ledger = Ledger.from_json(orjson.loads(current)) if current is not None else None
        new, esc, escalated = self.engine.on_violation(ledger, action)
        if new is not None:
            self.write_table(batch, self.ledger_writer, key, orjson.dumps(new.to_json()), source.message.partition)
        if esc is not None:
            batch.tally.inc(m.ESCALATIONS, esc.subject_type, esc.level, m.region_label(action.region))
            log.info("escalation %s %s -> %s (%d points)", esc.subject_type, esc.subject_id, esc.level, esc.points)
        if escalated is not None:
            await self._emit_into(batch, source, Outcome(actions=[escalated]), "violation", None, to_violations=False)

    async def track_feedback(self, stream: Any) -> None:
        """Moderator outcomes -> the rule-feedback owner (re-keyed) and, when one overturns, a reversal."""
        await self.process_batches(stream, "track_feedback", self._track_feedback, failure="feedback processing failed",
                                   errors="feedback", tables=False)  # it only re-keys: no table written

    async def _track_feedback(self, batch: _Batch, source: Any, raw: bytes) -> None:
        msg = source.message
        batch.tally.inc(m.EVENTS_IN, msg.topic)
        outcome = self.engine.handle_raw("feedback", raw)
        if outcome.dead_letter is not None:
            await self._dead_letter_into(batch, msg, raw, *outcome.dead_letter, outcome.measured)
            return
        assert isinstance(outcome.event, ModerationFeedback)
        # counts to the rule|region owner; an overturn reverses its action (stream/appeals.py)
        await self.feedback_stats.route(batch, source, outcome.event)
        await self.appeals.route(batch, source, outcome.event)

    # ------------------------------------------------------------ tasks

    async def expire_tables(self, _app: Any = None) -> None:  # Faust passes the app to a timer
        """Entries older than the replay horizon out of this worker's local stores (stream/dedupe.py).

        The idempotency keys (`enforced-actions`, the replay horizon) and the appeals index
        (`appealable-actions`, the appeal window). A failed sweep is logged and tried again at
        the next tick: it must not stop the worker.
        """
        tables: list[tuple[Any, float]] = [(self.enforced_keys, self.dedupe_horizon),
                                           (self.appeals.index, self.appeal_horizon)]
        if self.gather_table is not None:
            tables.append((self.gather_table, gather.HORIZON))
        for table, horizon in tables:
            started = time.monotonic()
            try:
                removed = await sweep(table.data, time.time(), horizon,
                                      on_removed=self._parts_expired if table is self.gather_table else None)
            except Exception:
                log.exception("could not sweep expired entries from %s", table.name)
                continue
            m.DEDUPE_EXPIRED.labels(table.name).inc(removed)
            if removed:
                log.info("expired %d entries of %s older than %.0f days in %.1f s", removed, table.name,
                         horizon / 86_400, time.monotonic() - started)

    def _parts_expired(self, key: bytes, value: bytes) -> None:
        """An event whose parts never all reached decide within the horizon: never decided.  Loud."""
        if gather.is_parts(value):
            m.FANOUT.labels("expired").inc()
            log.warning("event %s: its detector parts never all arrived within %.0f h; it was not decided "
                        "(a detect partition's records lost or dead-lettered without forwarding)",
                        key.decode(errors="replace"), gather.HORIZON / 3600)

    async def detect_incidents(self) -> None:
        """Aggregates -> region models (in a thread) -> incident candidates, off the agents' path."""

        async def send(candidate: IncidentCandidate) -> None:
            outbox = self.new_outbox()
            await outbox.add(self.names["incidents"], candidate.incident_id.encode(), encode(candidate))
            await outbox.flush()
            outbox.count_sent()

        while True:
            try:
                await self.incidents.run(send)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("incident detection failed; continuing with the next windows")

    async def follow_control_topics(self) -> None:
        """Every worker reads the whole policy, recall and action topics (no consumer group).

        Agents do not wait for it (they start with the policy files; gating them
        filled the queues faust cleared after recovery, see stream/faust_fixes.py):
        workers converge on the topic's versions within
        a second of start, and `/healthz` says when the topics were read.  A broken
        connection restarts the follower (it re-reads from the start: applying a
        policy or recall twice is harmless).
        """
        for topic in self.topics.by_key.values():  # outputs too: agents send to them by name
            await topic.maybe_declare()
        while True:
            try:
                await self._follow_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("control-topic follower failed; restarting in 2 s")
                await asyncio.sleep(2)

    async def _follow_once(self) -> None:
        topics, settings = self.topics, self.settings
        names = [topics.policies.get_topic_name(), topics.recalls.get_topic_name()]
        actions_name = topics.actions.get_topic_name()
        consumer = AIOKafkaConsumer(
            **client_kwargs(settings), enable_auto_commit=False, group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            tps = [TopicPartition(n, 0) for n in names]
            action_tps = [TopicPartition(actions_name, p) for p in range(settings.kafka.partitions)]
            consumer.assign(tps + action_tps)  # no committed offsets: starts at the beginning
            # "Read" means policies, recalls and the actions enforced so far: until then an event
            # sees the policy files' versions and may miss a link to an already actioned listing.
            end = await asyncio.wait_for(consumer.end_offsets(tps + action_tps), timeout=30)
            caught_up = False
            while True:
                if not caught_up:
                    positions = {tp: await consumer.position(tp) for tp in end}
                    if all(positions[tp] >= end[tp] for tp in end):
                        caught_up = True
                        self.policies_ready.set()
                        log.info("control topics read; policies %s", self.policies.versions())
                batch = await consumer.getmany(timeout_ms=500)
                for tp, records in batch.items():
                    for rec in records:
                        if rec.value is None:
                            continue
                        if tp.topic == names[0]:
                            self.policies.apply_document(rec.value)
                        elif tp.topic == names[1]:
                            await self._handle_recall(rec)
                        else:  # every worker learns which listings were actioned (content linking to them)
                            try:
                                self.engine.note_actioned(decode(rec.value, EnforcementAction))
                            except Exception:
                                log.exception("could not read action record")
        finally:
            await consumer.stop()

    async def _handle_recall(self, rec: Any) -> None:
        m.EVENTS_IN.labels(rec.topic).inc()
        batch = _Batch(self.new_outbox())
        try:
            outcome = self.engine.handle_raw("recall", rec.value)
            if outcome.dead_letter is not None:
                await self._dead_letter_into(batch, rec, rec.value, *outcome.dead_letter, outcome.measured)
            else:
                await self._emit_into(batch, None, outcome, "recall", rec.timestamp / 1000, in_stream=False)
        except Exception as exc:
            log.exception("recall processing failed")
            await self._dead_letter_into(batch, rec, rec.value, "processing_error", f"{type(exc).__name__}: {exc}")
        await self._complete(batch, "recalls", 1)
