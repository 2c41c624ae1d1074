"""`riskstream deadletters replay` on a real broker: re-injects matching dead letters, once."""

from __future__ import annotations

import asyncio
import base64
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from riskstream.contracts import DeadLetter, encode, stable_id
from riskstream.settings import Settings
from riskstream.stream.producer import ensure_topics
from riskstream.stream.replay import REPLAY_HEADER, replay_dead_letters
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS

pytestmark = pytest.mark.integration


def _dead_letter(topic: str, offset: int, reason: str, raw: bytes, when: datetime) -> DeadLetter:
    return DeadLetter(event_id=stable_id("dlq", topic, "0", str(offset)), event_time=when, region="DE",
                      topic=topic, partition=0, offset=offset, reason=reason, detail="test",
                      original_b64=base64.b64encode(raw).decode(), original_preview=raw[:80].decode())


async def _seed(settings: Settings, dls: list[DeadLetter]) -> None:
    await ensure_topics(settings)
    p = AIOKafkaProducer(**client_kwargs(settings), acks="all")
    await p.start()
    try:
        for dl in dls:
            await p.send_and_wait(settings.kafka.topic_prefix + TOPICS["deadletter"].name, encode(dl),
                                  key=dl.topic.encode())
    finally:
        await p.stop()


async def _read(settings: Settings, topic: str) -> list[Any]:
    c = AIOKafkaConsumer(topic, **client_kwargs(settings), group_id=None, auto_offset_reset="earliest")
    await c.start()
    out: list[Any] = []
    try:
        while True:
            batch = await c.getmany(timeout_ms=2000)
            if not batch:
                return out
            out.extend(r for rs in batch.values() for r in rs)
    finally:
        await c.stop()


def test_replay_reinjects_matching_dead_letters_once(kafka_bootstrap: str) -> None:
    prefix = f"r{uuid.uuid4().hex[:8]}."
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "RISKSTREAM_TOPIC_PREFIX": prefix})
    listings = prefix + TOPICS["listings"].name
    now = datetime.now(UTC)
    raws = [orjson.dumps({"kind": "listing", "listing_id": f"l{i}", "title": "x" * 20}) for i in range(4)]
    dls = [
        _dead_letter(listings, 0, "too_large", raws[0], now),
        _dead_letter(listings, 1, "too_large", raws[1], now),
        _dead_letter(listings, 2, "bad_json", raws[2], now),  # another reason: left alone
        _dead_letter(listings, 3, "too_large", raws[3], now - timedelta(days=2)),  # before --since
    ]
    asyncio.run(_seed(settings, dls))
    seen: list[str] = []

    first = asyncio.run(replay_dead_letters(settings, "too_large", now - timedelta(hours=1),
                                            progress=lambda r: seen.append(r.line())))
    assert (first.matched, first.replayed, first.already_replayed) == (2, 2, 0), first.line()
    assert seen and "2 re-injected" in seen[-1]  # progress was shown
    second = asyncio.run(replay_dead_letters(settings, "too_large", now - timedelta(hours=1)))
    assert (second.matched, second.replayed, second.already_replayed) == (2, 0, 2), second.line()

    records = asyncio.run(_read(settings, listings))
    assert sorted(r.value for r in records) == sorted(raws[:2])  # once each, original bytes
    assert sorted(r.key for r in records) == [b"l0", b"l1"]  # keyed like the source topic
    assert {dict(r.headers)[REPLAY_HEADER].decode() for r in records} == {dls[0].event_id, dls[1].event_id}

    everything = asyncio.run(replay_dead_letters(settings, "all", now - timedelta(days=3), dry_run=True))
    assert (everything.matched, everything.replayed, everything.already_replayed) == (4, 2, 2)
