"""Agents: decode, call the pure engine, send.  No business logic here.

``Pipeline.register()`` declares the tables and registers the agents and tasks
on the app it is given (nothing happens on import).  Every agent runs with
``concurrency=1``: with more, Faust can commit an offset past a message still
in flight (faust-streaming #606) and lose it on a crash.  Nothing an input
contains can crash an agent: invalid input and unexpected errors go to the
dead-letter topic with the reason, counted by ``riskstream_dead_letters_total``.
Offsets are committed only after the producer has flushed what the message
produced (Faust flushes before it commits), so a crash replays rather than
loses; replayed enforced actions are suppressed by their idempotency key.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import faust
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from riskstream.contracts import (
    EVENT_TYPES,
    DeadLetter,
    EnforcementAction,
    Event,
    IncidentCandidate,
    ModerationFeedback,
    Signal,
    decode,
    encode,
    from_obj,
    stable_id,
)
from riskstream.decisions import Ledger, subject_of
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine, Outcome
from riskstream.regions import region_of
from riskstream.settings import Settings
from riskstream.stream import metrics as m
from riskstream.stream.control import PolicyRuntime
from riskstream.stream.incidents import IncidentRuntime
from riskstream.stream.routing import Envelope, StateRecord, state_key
from riskstream.stream.security import client_kwargs
from riskstream.stream.topics import Topics
from riskstream.stream.watchdog import Watchdog

log = logging.getLogger("riskstream")


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


class _RuleStats:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], dict[str, int]] = {}

    def add(self, fb: ModerationFeedback) -> None:
        region = region_of(fb.region) or fb.region
        c = self.counts.setdefault((fb.rule, region), {"confirmed": 0, "overturned": 0, "appeal_granted": 0})
        c[fb.outcome] += 1
        total = sum(c.values())
        m.RULE_FEEDBACK.labels(fb.rule, region, fb.outcome).inc()
        m.RULE_PRECISION.labels(fb.rule, region).set(c["confirmed"] / total)
        m.RULE_OVERTURN_RATE.labels(fb.rule, region).set((c["overturned"] + c["appeal_granted"]) / total)


class Pipeline:
    """The worker's engine and the state that the stream layer owns, wired onto one Faust app."""

    def __init__(self, app: faust.App, topics: Topics, settings: Settings) -> None:
        self.app = app
        self.topics = topics
        self.settings = settings
        self.registry = default_registry()
        self.engine = Engine(self.registry, limits=settings.limits, pseudonym_key=settings.privacy.key)
        if settings.privacy.ephemeral:
            log.warning("RISKSTREAM_PSEUDONYM_KEY is not set: pseudonyms on output topics use a random "
                        "per-process key and differ between workers and restarts")
        self.policies = PolicyRuntime(self.registry, self.engine)
        self.policies_ready = asyncio.Event()
        self.incidents = IncidentRuntime(settings)
        self.rule_stats = _RuleStats()
        self.enforced_keys: Any = None
        self.ledgers: Any = None
        self.detector_state: Any = None
        self.watchdog: Watchdog | None = None

    # ------------------------------------------------------------ wiring

    def register(self) -> None:
        app, topics, parts = self.app, self.topics, self.settings.kafka.partitions
        self.policies.load_files(self.settings)
        self.enforced_keys = app.Table("enforced-actions", default=None, key_type=bytes, value_type=bytes,
                                       partitions=parts)
        self.ledgers = app.Table("violation-ledgers", default=None, key_type=bytes, value_type=bytes,
                                 partitions=parts)
        # Every partitioned detector's state, keyed by region|detector|state key (risk.detect.v1's key).
        self.detector_state = app.Table("detector-state", default=None, key_type=bytes, value_type=bytes,
                                        partitions=parts)

        async def screen_listings(stream: Any) -> None:
            await self._screen(stream, "listing")

        async def screen_reviews(stream: Any) -> None:
            await self._screen(stream, "review")

        async def screen_content(stream: Any) -> None:
            await self._screen(stream, "content")

        for fun, topic in ((screen_listings, topics.listings), (screen_reviews, topics.reviews),
                           (screen_content, topics.content), (self.detect_keyed, topics.detect),
                           (self.decide_events, topics.decide), (self.track_violations, topics.violations),
                           (self.track_feedback, topics.feedback)):
            app.agent(topic, name=f"riskstream.{fun.__name__}", concurrency=1)(fun)
        app.task(self.detect_incidents)
        app.task(self.follow_control_topics)
        consumed = [t.get_topic_name() for t in (topics.listings, topics.reviews, topics.content, topics.detect,
                                                 topics.decide, topics.violations, topics.feedback)]
        self.watchdog = Watchdog(app, consumed, self.settings.kafka.bootstrap_servers, self.settings.kafka.app_id,
                                 self.settings.stall_seconds, kafka=client_kwargs(self.settings))
        app.task(self.watchdog.run)

    def health(self) -> dict[str, Any]:
        stalled = self.watchdog.stalled if self.watchdog is not None else []
        return {"ok": not stalled, "stalled_partitions": [f"{t}[{p}]" for t, p in stalled],
                "policies": self.policies.versions(), "control_topics_read": self.policies_ready.is_set()}

    # ------------------------------------------------------------ sending

    async def _send_dead_letter(self, msg: Any, raw: bytes, reason: str, detail: str,
                                measured: int | None = None) -> None:
        dl = _dead_letter(msg.topic, msg.partition, msg.offset, raw, reason, detail, measured)
        await self.topics.deadletter.send(key=msg.topic.encode(), value=encode(dl))
        m.DEAD_LETTERS.labels(msg.topic, reason).inc()
        m.EVENTS_OUT.labels(self.topics.deadletter.get_topic_name()).inc()

    async def _emit(self, outcome: Outcome, kind: str, *, in_stream: bool = True,
                    record_time: float | None = None) -> None:
        topics = self.topics
        for sig in outcome.signals:
            await topics.signals.send(key=sig.entity_id.encode(), value=encode(sig))
            m.count_signal(sig)
        if outcome.signals:
            m.EVENTS_OUT.labels(topics.signals.get_topic_name()).inc(len(outcome.signals))
        for action in outcome.actions:
            # Outside an agent (the broadcast task) there is no source partition to
            # write the dedupe table's changelog to; consumers dedupe by key there.
            dedupe = in_stream and action.mode == "enforced"
            if dedupe and self._already_enforced(action):
                m.count_duplicate(action)
                continue
            await self._send_action(action, confirmed=dedupe)
            if dedupe:
                self._remember(action)
            m.observe_end_to_end(kind, record_time, time.time())
            subject = subject_of(action) if action.mode == "enforced" else None
            if subject is not None:  # re-key by seller/creator for graduated enforcement
                await topics.violations.send(key=f"{subject[0]}:{subject[1]}".encode(), value=encode(action))

    async def _send_action(self, action: EnforcementAction, confirmed: bool = False) -> None:
        fut = await self.topics.actions.send(key=action.entity_id.encode(), value=encode(action))
        if confirmed:
            # The broker has the action before we remember its key: a crash in
            # between re-sends it (same key) on replay instead of losing it.
            await fut
        m.count_action(action)
        m.EVENTS_OUT.labels(self.topics.actions.get_topic_name()).inc()

    def _already_enforced(self, action: EnforcementAction) -> bool:
        """Seen this idempotency key before? (a changelog-backed table survives restarts)"""
        return self.enforced_keys.get(action.idempotency_key.encode()) is not None

    def _remember(self, action: EnforcementAction) -> None:
        self.enforced_keys[action.idempotency_key.encode()] = action.event_id.encode()

    # ------------------------------------------------------------ agents

    async def _screen(self, stream: Any, kind: str) -> None:
        """Decode and validate; run the stateless detectors; route the event to its state owners."""
        async for event in stream.events():
            msg = event.message
            raw: bytes = msg.value if msg.value is not None else b""
            m.EVENTS_IN.labels(msg.topic).inc()
            started = time.perf_counter()
            try:
                outcome = self.engine.decode_raw(kind, raw)
                if outcome.dead_letter is not None:
                    await self._send_dead_letter(msg, raw, *outcome.dead_letter, outcome.measured)
                    continue
                assert outcome.event is not None
                if not self.settings.partitioned_state:  # per-worker state: detect and decide here
                    await self._decide_here(outcome.event, kind, msg)
                    continue
                prepared = self.engine.prepare(outcome.event)
                if prepared.dead_letter is not None:
                    await self._send_dead_letter(msg, raw, *prepared.dead_letter)
                    continue
                m.EVENTS_VALID.labels(kind, region_of(outcome.event.region) or "").inc()
                record_time = msg.timestamp or None  # faust gives the record's timestamp in seconds
                # A step whose state key is this record's own key (review_burst, rating_skew: keyed
                # by listing, as reviews are) is owned by this very partition: no hop for it.
                signals, remote = list(prepared.signals), []
                own_key = msg.key.decode("utf-8", errors="replace") if msg.key else None
                for det_id, key in prepared.steps:
                    if key == own_key:
                        signals.extend(self._step(outcome.event, det_id, key))
                    else:
                        remote.append((det_id, key))
                await self._forward(Envelope(kind, outcome.event, signals, remote, record_time))
            except Exception as exc:  # a bug must not stop the stream or lose the event
                log.exception("processing failed for %s[%s]@%s", msg.topic, msg.partition, msg.offset)
                m.ERRORS.labels(kind).inc()
                await self._send_dead_letter(msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")
            finally:
                m.PROCESSING.labels(kind).observe(time.perf_counter() - started)

    async def _decide_here(self, event: Event, kind: str, msg: Any) -> None:
        """Without partitioned state: the engine's in-process state, decided in the ingest agent."""
        outcome = self.engine.process(event)
        if outcome.dead_letter is not None:
            await self._send_dead_letter(msg, msg.value or b"", *outcome.dead_letter)
            return
        m.EVENTS_VALID.labels(kind, region_of(event.region) or "").inc()
        await self._emit(outcome, kind, record_time=msg.timestamp)
        self.incidents.observe(outcome)
        m.EVENTS_DECIDED.labels(kind).inc()

    async def _forward(self, env: Envelope) -> None:
        """To the owner of the next partitioned detector's state, or, when none is left, to decide."""
        if env.steps:
            # Partitioned by the bare state key: the partition an input keyed by it would be on.
            # All these topics and the table's changelog have one partition count and faust assigns
            # them co-partitioned, so a key has one owner whether its step runs here or in the
            # ingest agent of a topic keyed by it (the shortcut in `_screen`).
            await self.topics.detect.send(key=env.steps[0][1].encode(), value=env.dump())
        else:
            await self.topics.decide.send(key=env.event.event_id.encode(), value=env.dump())

    async def detect_keyed(self, stream: Any) -> None:
        """One partitioned detector step, with its key's state from the `detector-state` table."""
        async for event in stream.events():
            msg = event.message
            raw: bytes = msg.value or b""
            try:
                env = Envelope.load(raw, EVENT_TYPES)
                det_id, key = env.steps[0]
                found = self._step(env.event, det_id, key)
                await self._forward(replace(env, signals=[*env.signals, *found], steps=env.steps[1:]))
            except Exception as exc:
                log.exception("keyed detection failed for %s[%s]@%s", msg.topic, msg.partition, msg.offset)
                await self._send_dead_letter(msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")

    def _step(self, event: Event, det_id: str, key: str) -> list[Signal]:
        """One partitioned detector on the state its key owns, in the `detector-state` table.

        Called on the partition that owns the key (its changelog goes to that partition).
        An event delivered again after a crash gets the signals it got the first time and
        leaves the state as it is.
        """
        table_key = state_key(event, det_id, key).encode()
        record = StateRecord.load(self.detector_state.get(table_key))
        replay = record.replayed(event.event_id)
        if replay is not None:
            m.STATE_REPLAYS.labels(det_id).inc()
            return [from_obj(s, Signal) for s in replay]
        state, found = self.engine.step(event, det_id, record.state)
        self.detector_state[table_key] = record.applied(event.event_id, state, found).dump()
        return found

    async def decide_events(self, stream: Any) -> None:
        """All of an event's signals -> actions (deduplicated by idempotency key), signals, incidents."""
        async for event in stream.events():
            msg = event.message
            raw: bytes = msg.value or b""
            try:
                env = Envelope.load(raw, EVENT_TYPES)
                outcome = self.engine.finish(env.event, env.signals)
                if outcome.dead_letter is not None:
                    await self._send_dead_letter(msg, raw, *outcome.dead_letter)
                    continue
                await self._emit(outcome, env.kind, record_time=env.record_time)
                self.incidents.observe(outcome)
                m.EVENTS_DECIDED.labels(env.kind).inc()
            except Exception as exc:
                log.exception("decision failed for %s[%s]@%s", msg.topic, msg.partition, msg.offset)
                m.ERRORS.labels("decide").inc()
                await self._send_dead_letter(msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")

    async def track_violations(self, stream: Any) -> None:
        """Graduated enforcement: one ledger per seller/creator in a changelog-backed table."""
        async for event in stream.events():
            msg = event.message
            raw: bytes = msg.value or b""
            try:
                action = decode(raw, EnforcementAction)
                key = msg.key or b""
                current = self.ledgers.get(key)
                ledger = Ledger.from_json(orjson.loads(current)) if current is not None else None
                new, esc, escalated = self.engine.on_violation(ledger, action)
                if new is not None:
                    self.ledgers[key] = orjson.dumps(new.to_json())
                if esc is not None:
                    m.ESCALATIONS.labels(esc.subject_type, esc.level, m.region_label(action.region)).inc()
                    log.info("escalation %s %s -> %s (%d points)", esc.subject_type, esc.subject_id, esc.level,
                             esc.points)
                if escalated is not None and not self._already_enforced(escalated):
                    await self._send_action(escalated, confirmed=True)
                    self._remember(escalated)
            except Exception as exc:
                log.exception("violation processing failed")
                await self._send_dead_letter(msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")

    async def track_feedback(self, stream: Any) -> None:
        """Moderator outcomes -> per-rule, per-region precision and overturn rate."""
        async for event in stream.events():
            msg = event.message
            raw: bytes = msg.value or b""
            m.EVENTS_IN.labels(msg.topic).inc()
            outcome = self.engine.handle_raw("feedback", raw)
            if outcome.dead_letter is not None:
                await self._send_dead_letter(msg, raw, *outcome.dead_letter, outcome.measured)
                continue
            assert isinstance(outcome.event, ModerationFeedback)
            self.rule_stats.add(outcome.event)

    # ------------------------------------------------------------ tasks

    async def detect_incidents(self) -> None:
        """Aggregates -> region models (in a thread) -> incident candidates, off the agents' path."""

        async def send(candidate: IncidentCandidate) -> None:
            await self.topics.incidents.send(key=candidate.incident_id.encode(), value=encode(candidate))
            m.EVENTS_OUT.labels(self.topics.incidents.get_topic_name()).inc()

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
        for topic in (self.topics.policies, self.topics.recalls, self.topics.actions):
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
        try:
            outcome = self.engine.handle_raw("recall", rec.value)
            if outcome.dead_letter is not None:
                await self._send_dead_letter(rec, rec.value, *outcome.dead_letter, outcome.measured)
                return
            await self._emit(outcome, "recall", in_stream=False, record_time=rec.timestamp / 1000)
        except Exception as exc:
            log.exception("recall processing failed")
            await self._send_dead_letter(rec, rec.value, "processing_error", f"{type(exc).__name__}: {exc}")
