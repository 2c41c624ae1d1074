"""Producing to the input and control topics: generator, replay, policy publish."""

from __future__ import annotations

import asyncio
import itertools
import sys
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, TopicAlreadyExistsError

from riskstream.contracts import encode
from riskstream.settings import Settings
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS


def _topic(settings: Settings, key: str) -> str:
    return settings.kafka.topic_prefix + TOPICS[key].name


async def ensure_topics(settings: Settings, keys: Iterable[str] | None = None) -> None:
    """Create the project's topics with their settings if they do not exist yet."""
    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = []
        for key in keys or TOPICS:
            spec = TOPICS[key]
            name = _topic(settings, key)
            if name in existing:
                continue
            new.append(NewTopic(name, spec.partitions or settings.kafka.partitions,
                                settings.kafka.replication_factor, topic_configs=spec.kafka_config()))
        if new:
            response = await admin.create_topics(new)
            failed = [(name, code, msg) for name, code, msg in _topic_errors(response)
                      if code not in (0, TopicAlreadyExistsError.errno)]  # another worker won the race: fine
            if failed:
                raise RuntimeError("could not create topics: " + "; ".join(
                    f"{name}: error {code} {msg or ''}".strip() for name, code, msg in failed))
    finally:
        await admin.close()


def _topic_errors(response: Any) -> list[tuple[str, int, str | None]]:
    """(topic, error code, message) from any CreateTopics response version."""
    return [(err[0], err[1], err[2] if len(err) > 2 else None) for err in response.topic_errors]


async def prepare_topics(settings: Settings, wait_seconds: float = 120.0) -> None:
    """Before a worker starts: every topic it reads or writes exists, with its declared settings.

    Faust creates the topics its agents read when it starts, but the topics a
    worker only writes were declared by a task running beside the agents: an
    agent's first send to one of them could reach the broker first, and a
    broker with automatic topic creation then made it with the broker's defaults
    (partitions, retention, compaction) instead of the topic table's, while
    Faust's own create request raced it.  Creating them all here, first, leaves
    no such race.  A broker that is not up yet is waited for, with a line every
    few seconds, then reported.
    """
    started = time.monotonic()
    say_at = started  # the next "waiting for the broker" line
    while True:
        try:
            await ensure_topics(settings)
            return
        except (KafkaConnectionError, KafkaTimeoutError, OSError) as exc:
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                raise RuntimeError(f"the broker at {settings.kafka.bootstrap_servers} did not answer for "
                                   f"{waited:.0f} s ({type(exc).__name__}: {exc})") from exc
            if time.monotonic() >= say_at:
                say_at = time.monotonic() + 5
                print(f"[riskstream] waiting for the broker at {settings.kafka.bootstrap_servers} "
                      f"({type(exc).__name__}); {waited:.0f} s so far", file=sys.stderr, flush=True)
            await asyncio.sleep(1.0)


def producer(settings: Settings) -> AIOKafkaProducer:
    # acks=all + idempotence: a broker failover neither loses nor duplicates a write.
    return AIOKafkaProducer(**client_kwargs(settings), acks="all", enable_idempotence=True, linger_ms=5)


async def publish_policy(settings: Settings, path: Path) -> str:
    """Validate locally, then publish on the compacted control topic keyed by region."""
    from riskstream.detectors.registry import default_registry
    from riskstream.policy import load_policy

    text = path.read_text()
    policy = load_policy(text, default_registry())  # raises PolicyError with file:line reasons
    await ensure_topics(settings, ["policies"])
    p = producer(settings)
    await p.start()
    try:
        doc = {"region": policy.region, "version": policy.version, "yaml": text,
               "published_at": datetime.now(UTC).isoformat()}
        await p.send_and_wait(_topic(settings, "policies"), orjson.dumps(doc), key=policy.region.encode())
    finally:
        await p.stop()
    return policy.version


async def reenable_rule(settings: Settings, region: str, rule: str, by: str) -> None:
    """Tell the blast-radius guard's owner of `region` to re-enable `rule` (riskstream.stream.guard)."""
    from riskstream.stream.guard import reenable_command

    await ensure_topics(settings, ["guard", "policies"])
    p = producer(settings)
    await p.start()
    try:
        await p.send_and_wait(_topic(settings, "guard"), reenable_command(rule, by), key=region.encode())
    finally:
        await p.stop()


async def produce(settings: Settings, records: AsyncIterator[tuple[str, str, bytes]] | Iterable[tuple[str, str, bytes]],
                  rate: float = 0.0, count: int = 0, progress_every: float = 5.0) -> int:
    """Send (topic key, record key, value) triples at `rate` per second (0: as fast as possible)."""
    await ensure_topics(settings)
    p = producer(settings)
    await p.start()
    sent = 0
    started = last = time.monotonic()
    try:
        async for topic_key, key, value in _aiter(records):
            await p.send(_topic(settings, topic_key), value, key=key.encode())
            sent += 1
            if rate > 0:
                ahead = sent / rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            now = time.monotonic()
            if now - last >= progress_every:
                last = now
                print(f"[generate] {sent} events sent ({sent / (now - started):.0f}/s)", file=sys.stderr, flush=True)
            if count and sent >= count:
                break
        await p.flush()
    finally:
        await p.stop()
    return sent


async def _aiter(records: Any) -> AsyncIterator[tuple[str, str, bytes]]:
    if hasattr(records, "__aiter__"):
        async for r in records:
            yield r
    else:
        for r in records:
            yield r


def live_stream(seed: int) -> Iterator[tuple[str, str, bytes]]:
    """The simulator's marketplace, simulated day after simulated day, re-timed to 'now'.

    Each day is a seeded simulation (seed, seed+1, ...) with the default risk
    scenarios injected, so the feed always carries a known share of risky events.
    """
    from riskstream.sim import SimConfig, simulate

    by_name = {s.name: k for k, s in TOPICS.items()}
    for day in itertools.count():
        for topic_name, key, record in simulate(SimConfig(seed=seed + day)):
            yield by_name[topic_name], key, encode(replace(record, event_time=datetime.now(UTC)))


async def run_generator(settings: Settings, rate: float, count: int, seed: int) -> int:
    print(f"[generate] producing to {settings.kafka.bootstrap_servers} at "
          f"{'max' if rate <= 0 else rate} events/s", file=sys.stderr, flush=True)
    return await produce(settings, live_stream(seed), rate=rate, count=count)


async def replay_file(settings: Settings, path: Path, speed: float) -> int:
    """Play a simulator JSONL file into the topics; `speed` x original pace (0: as fast as possible)."""
    from riskstream.sim import read_events

    by_name = {s.name: k for k, s in TOPICS.items()}

    async def paced() -> AsyncIterator[tuple[str, str, bytes]]:
        first: datetime | None = None
        started = time.monotonic()
        for topic_name, key, record in read_events(path):
            if speed > 0:
                first = first or record.event_time
                due = (record.event_time - first).total_seconds() / speed
                ahead = due - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(ahead)
            yield by_name[topic_name], key, encode(record)

    return await produce(settings, paced())
