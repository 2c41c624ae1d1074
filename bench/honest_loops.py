"""The two honest ceilings `bench_pipeline.py` measures the worker against, as plain aiokafka loops.

* ``raw_loop``: consume the three input topics -> ``orjson.loads`` -> produce one small record per
  event -> await the batch's send futures together -> commit.  What the client library and the
  broker cost with no work at all: the ceiling for any Kafka consumer in Python on this machine.
* ``full_loop``: the worker's complete work (per-worker state, the default) without Faust: the same
  engine (decode once, ``Engine.process``, outputs pseudonymised), the same outputs (signals, actions, violations, dead
  letters, escalations), the same Prometheus metrics (children bound once per label tuple), an
  idempotency dedupe dict and a ledger dict, each written to a changelog topic like Faust's tables,
  incident aggregation through `riskstream.stream.incidents.IncidentRuntime` (``observe`` per
  event, its ``run`` task folding and scoring windows), the follower that feeds enforced actions
  back into the engine (``note_actioned``), and commits only after the outputs are acknowledged:
  a batch's send futures are awaited together, then its idempotency keys are remembered and its
  keys' and ledgers' changelog records awaited, then its offsets are committed.  Pipelined by one
  batch: the next batch is processed while the previous one is being acknowledged (commits stay
  in order; a key enforced in a batch not yet acknowledged is already suppressed).

Both are timed from the first fetched batch to the N-th input event, with ``time.process_time()``
(the whole bench process: every thread) over the same window.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from riskstream.contracts import (
    DeadLetter,
    EnforcementAction,
    IncidentCandidate,
    Signal,
    decode,
    encode,
    stable_id,
)
from riskstream.decisions import Ledger, subject_of
from riskstream.engine import Engine, Outcome
from riskstream.regions import COUNTRIES, REGIONS, region_of
from riskstream.settings import Settings
from riskstream.stream import metrics as m
from riskstream.stream.incidents import IncidentRuntime
from riskstream.stream.producer import ensure_topics, producer
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS

KINDS = {"listings": "listing", "reviews": "review", "content": "content"}


@dataclass
class LoopRun:
    """What one loop did: events timed, wall and CPU seconds over the same window, output counts."""

    events: int
    seconds: float
    cpu_seconds: float
    counts: dict[str, int]
    complete: bool


def _name(settings: Settings, key: str) -> str:
    return settings.kafka.topic_prefix + TOPICS[key].name


def _consumer(settings: Settings, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(*topics, **client_kwargs(settings), group_id=settings.kafka.app_id,
                            enable_auto_commit=False, auto_offset_reset="earliest", max_poll_records=1000)


# --------------------------------------------------------------------------- (raw)


async def raw_loop(settings: Settings, n: int, timeout: float) -> LoopRun:
    """Consume -> decode -> produce one small record per event; ack the batch, then commit."""
    inputs = [_name(settings, k) for k in KINDS]
    out_topic = _name(settings, "signals")  # any output topic: records of ~40 bytes
    await ensure_topics(settings)
    consumer = _consumer(settings, *inputs)
    prod = producer(settings)
    await consumer.start()
    await prod.start()
    done, started, cpu0 = 0, 0.0, 0.0
    deadline = time.monotonic() + timeout
    try:
        while done < n and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200, max_records=1000)
            if not batch:
                continue
            if not done:
                started, cpu0 = time.perf_counter(), time.process_time()
            futures = []
            for records in batch.values():
                for rec in records:
                    obj = orjson.loads(rec.value or b"null")
                    eid = obj.get("event_id", "") if isinstance(obj, dict) else ""
                    futures.append(await prod.send(out_topic, orjson.dumps({"event_id": eid}), key=rec.key))
                    done += 1
            await asyncio.gather(*futures)
            await consumer.commit()
        return LoopRun(done, time.perf_counter() - started, time.process_time() - cpu0,
                       {"records_out": done}, done >= n)
    finally:
        await consumer.stop()
        await prod.stop()


# --------------------------------------------------------------------------- (b) the worker's work


class _Children:
    """Prometheus children bound once per label tuple (what a hot path should do)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, tuple[str, ...]], Any] = {}

    def __call__(self, metric: Any, *labels: str) -> Any:
        key = (id(metric), labels)
        child = self._cache.get(key)
        if child is None:
            child = self._cache[key] = metric.labels(*labels)
        return child


def _region(value: str) -> str:
    return value if value in REGIONS else (region_of(value) or m.OTHER)


def _country(value: str) -> str:
    return value if value in COUNTRIES else m.OTHER


def _dead_letter(topic: str, partition: int, offset: int, raw: bytes, reason: str, detail: str,
                 measured: int | None) -> DeadLetter:
    """The same record the worker writes to the dead-letter topic."""
    country = ""
    try:
        obj = orjson.loads(raw)
        if isinstance(obj, dict) and isinstance(obj.get("region"), str):
            country = obj["region"]
    except orjson.JSONDecodeError:
        pass
    return DeadLetter(event_id=stable_id("dlq", topic, str(partition), str(offset)), event_time=datetime.now(UTC),
                      region=country, topic=topic, partition=partition, offset=offset, reason=reason,
                      detail=detail[:2000], original_b64=base64.b64encode(raw).decode(),
                      original_preview=raw[:512].decode("utf-8", errors="replace"), measured=measured)


class FullLoop:
    """The worker's per-event work in one plain aiokafka consumer loop."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.child = _Children()
        self.incidents = IncidentRuntime(settings)
        self.enforced: dict[bytes, bytes] = {}  # idempotency key -> event id (the dedupe table)
        self.ledgers: dict[bytes, bytes] = {}  # seller/creator -> ledger JSON (the ledger table)
        self.unacked: dict[bytes, bytes] = {}  # enforced in a batch whose outputs are not acknowledged yet
        self.t = {k: _name(settings, k) for k in TOPICS}
        self.changelog = {"enforced": settings.kafka.topic_prefix + "bench-enforced-actions-changelog",
                          "ledgers": settings.kafka.topic_prefix + "bench-violation-ledgers-changelog"}
        self.kind_of = {self.t[k]: kind for k, kind in KINDS.items()}
        self.counts = dict.fromkeys(("signals", "actions", "violations", "dead_letters", "escalations",
                                     "duplicates", "incidents", "decided", "inputs"), 0)
        self.prod: AIOKafkaProducer | None = None

    # ---------------------------------------------------------------- sending

    async def _send(self, futures: list[Awaitable[Any]], topic: str, value: bytes, key: bytes | None) -> None:
        assert self.prod is not None
        futures.append(await self.prod.send(topic, value, key=key))
        self.child(m.EVENTS_OUT, topic).inc()

    async def _dead(self, futures: list[Awaitable[Any]], rec: Any, reason: str, detail: str,
                    measured: int | None = None) -> None:
        dl = _dead_letter(rec.topic, rec.partition, rec.offset, rec.value or b"", reason, detail, measured)
        await self._send(futures, self.t["deadletter"], encode(dl), rec.topic.encode())
        self.child(m.DEAD_LETTERS, rec.topic, reason).inc()
        self.counts["dead_letters"] += 1

    async def _action(self, futures: list[Awaitable[Any]], pending: dict[bytes, bytes],
                      action: EnforcementAction) -> bool:
        """Send an action unless its idempotency key was seen (or enforced in a batch not yet acknowledged)."""
        if action.mode == "enforced":
            key = action.idempotency_key.encode()
            if key in self.enforced or key in self.unacked:
                self.child(m.DUPLICATES, _region(action.region), _country(action.region)).inc()
                self.counts["duplicates"] += 1
                return False
            pending[key] = self.unacked[key] = action.event_id.encode()  # remembered once acknowledged
        await self._send(futures, self.t["actions"], encode(action), action.entity_id.encode())
        region = _region(action.region)
        self.child(m.ACTIONS, action.action, action.mode, region, _country(action.region)).inc()
        rules = action.evidence.get("detectors") if isinstance(action.evidence, dict) else None
        for rule in rules if isinstance(rules, list) else []:
            self.child(m.RULE_HITS, str(rule), action.mode, region).inc()
        self.counts["actions"] += 1
        return True

    # ---------------------------------------------------------------- per record

    async def _input(self, futures: list[Awaitable[Any]], pending: dict[bytes, bytes], rec: Any) -> None:
        kind = self.kind_of[rec.topic]
        raw: bytes = rec.value or b""
        self.child(m.EVENTS_IN, rec.topic).inc()
        self.counts["inputs"] += 1
        started = time.perf_counter()
        try:
            decoded = self.engine.decode_raw(kind, raw)
            if decoded.event is None:
                assert decoded.dead_letter is not None
                await self._dead(futures, rec, *decoded.dead_letter, decoded.measured)
                return
            outcome: Outcome = self.engine.process(decoded.event)
            if outcome.dead_letter is not None:
                await self._dead(futures, rec, *outcome.dead_letter)
                return
            event = decoded.event
            self.child(m.EVENTS_VALID, kind, region_of(event.region) or "").inc()
            for sig in outcome.signals:
                await self._send(futures, self.t["signals"], encode(sig), sig.entity_id.encode())
                self._count_signal(sig)
            record_time = rec.timestamp / 1000 if rec.timestamp else None
            for action in outcome.actions:
                if not await self._action(futures, pending, action):
                    continue
                if record_time:
                    self.child(m.END_TO_END_LATENCY, kind).observe(max(0.0, time.time() - record_time))
                subject = subject_of(action) if action.mode == "enforced" else None
                if subject is not None:
                    await self._send(futures, self.t["violations"], encode(action),
                                     f"{subject[0]}:{subject[1]}".encode())
                    self.counts["violations"] += 1
            self.incidents.observe(outcome)
            self.child(m.EVENTS_DECIDED, kind).inc()
            self.counts["decided"] += 1
        except Exception as exc:  # as in the worker: a bug dead-letters the event
            self.child(m.ERRORS, kind).inc()
            await self._dead(futures, rec, "processing_error", f"{type(exc).__name__}: {exc}")
        finally:
            self.child(m.PROCESSING, kind).observe(time.perf_counter() - started)

    def _count_signal(self, sig: Signal) -> None:
        self.child(m.SIGNALS, sig.detector, sig.code, _region(sig.region), _country(sig.region)).inc()
        self.counts["signals"] += 1

    async def _violation(self, futures: list[Awaitable[Any]], pending: dict[bytes, bytes],
                         dirty: set[bytes], rec: Any) -> None:
        """Graduated enforcement: the seller's/creator's ledger, escalations through the dedupe."""
        raw: bytes = rec.value or b""
        try:
            action = decode(raw, EnforcementAction)
            key = rec.key or b""
            current = self.ledgers.get(key)
            ledger = Ledger.from_json(orjson.loads(current)) if current is not None else None
            new, esc, escalated = self.engine.on_violation(ledger, action)
            if new is not None:
                self.ledgers[key] = orjson.dumps(new.to_json())
                dirty.add(key)
            if esc is not None:
                self.child(m.ESCALATIONS, esc.subject_type, esc.level, _region(action.region)).inc()
                self.counts["escalations"] += 1
            if escalated is not None:
                await self._action(futures, pending, escalated)
        except Exception as exc:
            await self._dead(futures, rec, "processing_error", f"{type(exc).__name__}: {exc}")

    # ---------------------------------------------------------------- tasks beside the loop

    async def _send_incident(self, candidate: IncidentCandidate) -> None:
        assert self.prod is not None
        await self.prod.send(self.t["incidents"], encode(candidate), key=candidate.incident_id.encode())
        self.child(m.EVENTS_OUT, self.t["incidents"]).inc()
        self.counts["incidents"] += 1

    async def _follow_actions(self) -> None:
        """Every worker reads the actions topic and tells the engine which listings were actioned."""
        consumer = AIOKafkaConsumer(**client_kwargs(self.settings), group_id=None, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition(self.t["actions"], p) for p in range(self.settings.kafka.partitions)])
            while True:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for rec in records:
                        if rec.value is not None:
                            self.engine.note_actioned(decode(rec.value, EnforcementAction))
        finally:
            await consumer.stop()

    # ---------------------------------------------------------------- the loop

    async def run(self, n: int, timeout: float) -> LoopRun:
        await ensure_topics(self.settings)
        admin = AIOKafkaAdminClient(**client_kwargs(self.settings))
        await admin.start()
        try:
            await admin.create_topics([NewTopic(t, self.settings.kafka.partitions, 1,
                                                topic_configs={"cleanup.policy": "compact"})
                                       for t in self.changelog.values()])
        finally:
            await admin.close()
        consumer = _consumer(self.settings, *self.kind_of, self.t["violations"])
        self.prod = producer(self.settings)
        await consumer.start()
        await self.prod.start()
        tasks = [asyncio.create_task(self.incidents.run(self._send_incident)),
                 asyncio.create_task(self._follow_actions())]
        started, cpu0 = 0.0, 0.0
        deadline = time.monotonic() + timeout
        try:
            # Pipelined by one batch: while batch k's outputs are being acknowledged (and then its
            # keys remembered and its offsets committed, in order), batch k+1 is processed.
            settling: asyncio.Task[None] | None = None
            while self.counts["inputs"] < n and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200, max_records=1000)
                if not batch:
                    continue
                if not started:
                    started, cpu0 = time.perf_counter(), time.process_time()
                offsets = {tp: records[-1].offset + 1 for tp, records in batch.items() if records}
                futures, keys, dirty = await self._process(batch)
                previous = settling
                settling = asyncio.create_task(self._settle(previous, futures, keys, dirty, offsets, consumer))
                if previous is not None:
                    await previous
            if settling is not None:
                await settling
            done = self.counts["inputs"]
            return LoopRun(min(done, n), time.perf_counter() - started, time.process_time() - cpu0,
                           dict(self.counts), done >= n)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await consumer.stop()
            await self.prod.stop()

    async def _process(self, batch: dict[TopicPartition, list[Any]],
                       ) -> tuple[list[Awaitable[Any]], dict[bytes, bytes], set[bytes]]:
        """Process a batch; its sends are enqueued, not awaited.  Returns the send futures, the
        idempotency keys it enforced and the ledgers it changed (both remembered once acknowledged)."""
        futures: list[Awaitable[Any]] = []
        keys: dict[bytes, bytes] = {}
        dirty: set[bytes] = set()
        for tp, records in batch.items():
            if tp.topic == self.t["violations"]:
                for rec in records:
                    await self._violation(futures, keys, dirty, rec)
            else:
                for rec in records:
                    await self._input(futures, keys, rec)
        return futures, keys, dirty

    async def _settle(self, previous: asyncio.Task[None] | None, futures: list[Awaitable[Any]],
                      keys: dict[bytes, bytes], dirty: set[bytes], offsets: dict[TopicPartition, int],
                      consumer: AIOKafkaConsumer) -> None:
        """No loss: the outputs are on the broker before the keys are remembered, the keys' and
        ledgers' changelog records before the offsets are committed, and batches commit in order."""
        await asyncio.gather(*futures)
        changelog: list[Awaitable[Any]] = []
        for key, value in keys.items():
            self.enforced[key] = value
            self.unacked.pop(key, None)
            await self._send(changelog, self.changelog["enforced"], value, key)
        for key in dirty:
            await self._send(changelog, self.changelog["ledgers"], self.ledgers[key], key)
        await asyncio.gather(*changelog)
        if previous is not None:
            await previous
        await consumer.commit(offsets)


async def full_loop(settings: Settings, engine: Engine, n: int, timeout: float) -> LoopRun:
    return await FullLoop(settings, engine).run(n, timeout)
