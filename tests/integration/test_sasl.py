"""SASL (SCRAM-SHA-512) over TLS: a broker with a SASL_SSL listener, certificates made at test time.

Shows that a client configured by the environment (KAFKA_SECURITY_PROTOCOL,
KAFKA_SASL_*, KAFKA_SSL_CAFILE) produces and consumes through it, that wrong
credentials and an untrusted connection are refused, and that the password
appears in no log line and no metric.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from riskstream.settings import Settings
from riskstream.stream.kafka_local import LocalKafka
from riskstream.stream.security import client_kwargs, redacted

pytestmark = pytest.mark.integration

USER = "riskstream-test"
PASSWORD = secrets.token_urlsafe(18)


@pytest.fixture(scope="module")
def secure_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(data_dir=tmp_path_factory.mktemp("kafka-sasl"), sasl_users={USER: PASSWORD}).start()
    try:
        yield broker
    finally:
        broker.stop()


def _settings(broker: LocalKafka, password: str = PASSWORD, **over: str) -> Settings:
    return Settings.from_env({**broker.client_env(USER, password), **over})


async def _round_trip(settings: Settings, topic: str, n: int) -> list[bytes]:
    producer = AIOKafkaProducer(**client_kwargs(settings), acks="all", enable_idempotence=True)
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, f"record-{i}".encode(), key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, **client_kwargs(settings), group_id=f"g-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest")
    await consumer.start()
    out: list[bytes] = []
    try:
        while len(out) < n:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=30)
            out.extend(r.value for rs in batch.values() for r in rs if r.value is not None)
    finally:
        await consumer.stop()
    return out


def test_produce_and_consume_over_sasl_ssl(secure_broker: LocalKafka, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    settings = _settings(secure_broker)
    assert settings.kafka.security.security_protocol == "SASL_SSL"
    got = asyncio.run(_round_trip(settings, f"sasl.{uuid.uuid4().hex[:6]}", 5))
    assert got == [f"record-{i}".encode() for i in range(5)]
    logged = "\n".join(r.getMessage() for r in caplog.records) + repr(settings) + str(redacted(client_kwargs(settings)))
    assert PASSWORD not in logged
    assert "SASL_SSL" in repr(settings)  # the settings are printable, the secret is not


async def _try_produce(settings: Settings) -> None:
    producer = AIOKafkaProducer(**client_kwargs(settings), request_timeout_ms=5000)
    try:
        await asyncio.wait_for(producer.start(), timeout=20)
        await asyncio.wait_for(producer.send_and_wait("refused", b"x"), timeout=10)
    finally:
        await producer.stop()


def _broker_says(broker: LocalKafka, text: str) -> int:
    return broker.log_file.read_text(errors="replace").count(text)


def _refused(broker: LocalKafka, settings: Settings, because: str) -> None:
    """The client fails, and the broker's log says why (not a mere timeout)."""
    before = _broker_says(broker, because)
    with pytest.raises((KafkaError, KafkaConnectionError, TimeoutError)):
        asyncio.run(_try_produce(settings))
    deadline = time.monotonic() + 10
    while _broker_says(broker, because) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _broker_says(broker, because) > before, f"broker did not log {because!r}"


def test_wrong_password_is_refused(secure_broker: LocalKafka) -> None:
    _refused(secure_broker, _settings(secure_broker, password="not-the-password"), "invalid credentials")


def test_unknown_user_is_refused(secure_broker: LocalKafka) -> None:
    _refused(secure_broker, Settings.from_env(secure_broker.client_env("mallory", PASSWORD)), "invalid credentials")


def test_plaintext_client_is_refused(secure_broker: LocalKafka) -> None:
    _refused(secure_broker, Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": secure_broker.bootstrap}),
             "SSL handshake failed")


def test_broker_certificate_from_another_ca_is_refused(secure_broker: LocalKafka, tmp_path: Path) -> None:
    other = LocalKafka(data_dir=tmp_path / "other")
    other.tls_dir.mkdir(parents=True)
    other._make_certificates()  # a second, unrelated CA
    with pytest.raises((KafkaError, KafkaConnectionError, TimeoutError, OSError)):
        asyncio.run(_try_produce(_settings(secure_broker, KAFKA_SSL_CAFILE=str(other.ca_file))))


def test_broker_log_and_files_do_not_leak_the_client_password(secure_broker: LocalKafka) -> None:
    asyncio.run(_round_trip(_settings(secure_broker), f"sasl.{uuid.uuid4().hex[:6]}", 1))
    assert PASSWORD not in secure_broker.log_file.read_text(errors="replace")


def test_the_worker_runs_the_pipeline_over_sasl_ssl(secure_broker: LocalKafka, tmp_path: Path, report: Any) -> None:
    """A listing in, its enforcement action out, every client of the worker on SASL_SSL."""
    from tests.integration.conftest import Worker
    from tests.integration.test_pipeline import listing

    run = uuid.uuid4().hex[:8]
    worker = Worker(secure_broker.bootstrap, tmp_path, f"s{run}.", f"riskstream-sasl-{run}",
                    extra_env=secure_broker.client_env(USER, PASSWORD))
    worker.start()
    try:
        worker.produce("listings", [listing("risky-sasl", "Inclined b.a.b.y sl33per, like new"),
                                    listing("bad-sasl", "x" * 20_000)])
        actions = worker.collect("actions", until=lambda rs: len(rs) >= 1, timeout=90)
        assert [a["entity_id"] for a in actions] == ["risky-sasl"], worker.tail()
        dead = worker.collect("deadletter", until=lambda rs: len(rs) >= 1, timeout=30)
        # Only the oversized listing is refused as input.  (A send failing while the fresh
        # broker elects leaders can add a `processing_error` today: issue 13, item 7.)
        refused = [(d["reason"], d["measured"]) for d in dead if d["reason"] != "processing_error"]
        assert refused == [("too_large", 20_000)], [d["detail"] for d in dead]
        assert PASSWORD not in worker.metrics_text()
    finally:
        worker.stop()
    assert PASSWORD not in worker.log.read_text(errors="replace")
    report(f"SASL_SSL: worker pipeline {len(actions)} action, {len(refused)} too_large dead letter, password in no "
           f"log or metric (wrong password, unknown user, plaintext and foreign-CA clients: refused tests)")
