"""`riskstream deadletters replay`: re-inject dead letters into their source topic, once each.

After a fix (a limit raised, a bug fixed, a policy published), the inputs that
were dead-lettered for a reason can be sent again.  The dead-letter topic is
read up to its end as of the start of the replay (a replayed input that fails
again becomes a new dead letter after that point and is not re-read), the
matching ones (reason, dead-lettered at or after `since`) are produced to
their source topic with their original bytes and key, each with the header
``riskstream-replay-of: <dead letter id>``, and each replay is recorded on
the compacted topic ``risk.deadletter.replays.v1`` keyed by the dead letter's
id.  A second replay skips what that topic already holds, so replaying twice
re-injects nothing twice.  A crash between the send and its record can
re-inject one input once more on the next replay: at least once, and the
engine's idempotency keys suppress a repeated enforced action.

>>> from datetime import UTC, datetime
>>> parse_since("2h", now=datetime(2026, 1, 1, 12, tzinfo=UTC)).isoformat()
'2026-01-01T10:00:00+00:00'
>>> key_of(b'{"listing_id": "l1", "title": "x"}', "listing_id")
b'l1'
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from riskstream.contracts import DeadLetter, InvalidEvent, decode, parse_time
from riskstream.settings import Settings
from riskstream.stream.producer import ensure_topics
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS

REPLAY_HEADER: Final = "riskstream-replay-of"
ANY_REASON: Final = "all"
_RELATIVE: Final = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")
_UNITS: Final = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO-8601 time with a zone, or a duration back from now: ``90m``, ``2h``, ``3d``."""
    m = _RELATIVE.match(text.strip())
    if m:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    return parse_time(text)


def key_of(raw: bytes, field_name: str) -> bytes | None:
    """The record key the source topic is partitioned by, read from the original bytes if it parses."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    value = obj.get(field_name) if isinstance(obj, dict) else None
    return value.encode() if isinstance(value, str) and value else None


def matches(dl: DeadLetter, reason: str, since: datetime) -> bool:
    return (reason == ANY_REASON or dl.reason == reason) and dl.event_time >= since


@dataclass
class ReplayReport:
    scanned: int = 0
    matched: int = 0
    replayed: int = 0
    already_replayed: int = 0
    unreadable: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return (f"scanned {self.scanned} dead letters, {self.matched} matched, {self.replayed} re-injected, "
                f"{self.already_replayed} already replayed, {self.unreadable} unreadable")


def _key_field(settings: Settings, topic: str) -> str | None:
    for spec in TOPICS.values():
        if settings.kafka.topic_prefix + spec.name == topic:
            return spec.key
    return None


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    parts = consumer.partitions_for_topic(topic)
    if not parts:  # a group-less consumer has no metadata for a topic it was never assigned
        consumer._client.add_topic(topic)
        await consumer._client.force_metadata_update()
        parts = consumer.partitions_for_topic(topic)
    return set(parts or ())


async def _read_to_end(consumer: AIOKafkaConsumer, topic: str, start: dict[TopicPartition, int] | None = None
                       ) -> Any:
    """Yield the records of `topic` from `start` (default: the beginning) up to its end offsets now."""
    parts = await _partitions(consumer, topic)
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    if not tps:
        return
    consumer.assign(tps)
    end = await consumer.end_offsets(tps)
    first = await consumer.beginning_offsets(tps)
    for tp in tps:
        consumer.seek(tp, max(first[tp], (start or {}).get(tp, 0)))
    remaining = {tp for tp in tps if end[tp] > 0}
    while remaining:
        for tp in list(remaining):
            if await consumer.position(tp) >= end[tp]:
                remaining.discard(tp)
        if not remaining:
            return
        batch = await consumer.getmany(*remaining, timeout_ms=1000)
        for tp, records in batch.items():
            for rec in records:
                if rec.offset < end[tp]:
                    yield rec


async def replay_dead_letters(settings: Settings, reason: str, since: datetime, *, dry_run: bool = False,
                              progress: Callable[[ReplayReport], None] | None = None,
                              progress_every: float = 1.0) -> ReplayReport:
    """Re-inject the dead letters with `reason` (or ``all``) dead-lettered at or after `since`."""
    prefix = settings.kafka.topic_prefix
    dl_topic, log_topic = prefix + TOPICS["deadletter"].name, prefix + TOPICS["replays"].name
    await ensure_topics(settings, ["deadletter", "replays"])
    report = ReplayReport()
    consumer = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", metadata_max_age_ms=1000)
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all", enable_idempotence=True)
    await consumer.start()
    await producer.start()
    last = time.monotonic()
    try:
        done = {rec.key for rec in [r async for r in _read_to_end(consumer, log_topic)] if rec.key is not None}
        start: dict[TopicPartition, int] = {}
        parts = await _partitions(consumer, dl_topic)
        if parts:  # skip what was dead-lettered before `since` (dead letters are produced when they happen)
            found = await consumer.offsets_for_times(
                {TopicPartition(dl_topic, p): int(since.timestamp() * 1000) for p in parts})
            start = {tp: ot.offset for tp, ot in found.items() if ot is not None}
            start |= {tp: (await consumer.end_offsets([tp]))[tp] for tp, ot in found.items() if ot is None}
        async for rec in _read_to_end(consumer, dl_topic, start):
            report.scanned += 1
            try:
                dl = decode(rec.value or b"", DeadLetter)
                raw = base64.b64decode(dl.original_b64, validate=True)
            except (InvalidEvent, ValueError):
                report.unreadable += 1
                continue
            if not matches(dl, reason, since):
                continue
            report.matched += 1
            if dl.event_id.encode() in done:
                report.already_replayed += 1
                continue
            if not dry_run:
                key_field = _key_field(settings, dl.topic)
                await producer.send_and_wait(dl.topic, raw, key=key_of(raw, key_field) if key_field else None,
                                             headers=[(REPLAY_HEADER, dl.event_id.encode())])
                marker = {"dead_letter_id": dl.event_id, "topic": dl.topic, "partition": dl.partition,
                          "offset": dl.offset, "reason": dl.reason, "replayed_at": datetime.now(UTC).isoformat()}
                await producer.send_and_wait(log_topic, orjson.dumps(marker), key=dl.event_id.encode())
                done.add(dl.event_id.encode())
            report.replayed += 1
            report.by_topic[dl.topic] = report.by_topic.get(dl.topic, 0) + 1
            if progress is not None and time.monotonic() - last >= progress_every:
                last = time.monotonic()
                progress(report)
    finally:
        await producer.stop()
        await consumer.stop()
    if progress is not None:
        progress(report)
    return report
