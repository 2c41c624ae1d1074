"""Fixtures for integration tests: a real Kafka broker and real riskstream workers.

The broker is, in order of preference: the cluster in KAFKA_BOOTSTRAP_SERVERS;
testcontainers' Kafka where a Docker engine answers (Apache's image,
configured by hand); otherwise Apache Kafka started from its jars by
`riskstream.stream.kafka_local` (the case on machines without Docker).  Each test gets a
fresh topic prefix and app id, so tests never read each other's messages.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer

from riskstream.settings import Settings
from riskstream.stream.kafka_local import LocalKafka, free_port
from riskstream.stream.producer import produce
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS
from tests.paths import REPO

FIXTURE_POLICIES = REPO / "tests" / "fixtures" / "policies"
# For a worker fed a simulated day (event times in the past): the event-time window's back side off.
HISTORIC = {"RISKSTREAM_MAX_EVENT_AGE_DAYS": "off"}


# Counts the CI log should show (the fuzz, appeal and SASL tests report theirs): printed in the
# terminal summary, so they appear even though pytest captures the tests' output.
_REPORT: list[str] = []


@pytest.fixture
def report() -> Any:
    """`report("...")`: one line for the run's "riskstream counts" summary section."""
    return _REPORT.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _REPORT:
        terminalreporter.section("riskstream counts")
        for line in _REPORT:
            terminalreporter.write_line(line)


def _docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield os.environ["KAFKA_BOOTSTRAP_SERVERS"]
        return
    if os.environ.get("RISKSTREAM_TEST_DOCKER") == "1" and _docker_available():
        yield from _testcontainers_kafka()
        return
    broker = LocalKafka(data_dir=tmp_path_factory.mktemp("kafka")).start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


def _testcontainers_kafka() -> Iterator[str]:  # pragma: no cover - needs a Docker engine
    # KafkaContainer.with_kraft() expects Confluent's image; Apache's image is configured by hand.
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import wait_for_logs

    port = free_port()
    c = (
        DockerContainer("apache/kafka:4.1.1")
        .with_bind_ports(port, port)
        .with_env("KAFKA_NODE_ID", "1")
        .with_env("KAFKA_PROCESS_ROLES", "broker,controller")
        .with_env("KAFKA_LISTENERS", f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://0.0.0.0:9093")
        .with_env("KAFKA_ADVERTISED_LISTENERS", f"PLAINTEXT://127.0.0.1:{port}")
        .with_env("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER")
        .with_env("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093")
        .with_env("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
    )
    c.start()
    try:
        wait_for_logs(c, "Kafka Server started", timeout=90)
        yield f"127.0.0.1:{port}"
    finally:
        c.stop()


class Worker:
    """A `riskstream worker` subprocess with its own app id, topics, port and policies."""

    def __init__(self, bootstrap: str, workdir: Path, prefix: str, app_id: str,
                 extra_env: dict[str, str] | None = None) -> None:
        self.bootstrap = bootstrap
        self.extra_env = dict(extra_env or {})
        self.workdir = workdir
        self.prefix = prefix
        self.app_id = app_id
        self.port = free_port()
        self.policy_dir = workdir / "policies"
        if not self.policy_dir.exists():
            shutil.copytree(FIXTURE_POLICIES, self.policy_dir)
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"worker-{self.port}.log"

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "RISKSTREAM_TOPIC_PREFIX": self.prefix,
            "RISKSTREAM_APP_ID": self.app_id,
            "RISKSTREAM_METRICS_PORT": str(self.port),
            "RISKSTREAM_POLICY_DIR": str(self.policy_dir),
            "RISKSTREAM_DATA_DIR": str(self.workdir / "data"),
            **self.extra_env,
        }

    @property
    def settings(self) -> Settings:
        return Settings.from_env(self.env)

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"

    loglevel = "info"

    def start(self) -> Worker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "riskstream.cli", "worker", "-l", self.loglevel],
            env=self.env, cwd=REPO, stdout=self.log.open("ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"worker exited early:\n{self.tail()}"
            if self.metric("riskstream_policy_info") is not None:
                return self
            time.sleep(0.5)
        raise AssertionError(f"worker did not serve /metrics in 60s:\n{self.tail()}")

    def tail(self, n: int = 60) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def metrics_text(self) -> str:
        import urllib.request

        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as r:
                return str(r.read().decode())
        except OSError:
            return ""

    def metric(self, name: str, **labels: str) -> float | None:
        """Sum of a metric's samples whose labels include `labels`; None if absent."""
        total = None
        for line in self.metrics_text().splitlines():
            if not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            if head.split("{")[0] != name:
                continue
            if all(f'{k}="{v}"' in head for k, v in labels.items()):
                total = (total or 0.0) + float(value)
        return total

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.proc = None

    # -------------------------------------------------------------- topics

    def topic(self, key: str) -> str:
        return self.prefix + TOPICS[key].name

    def produce(self, key: str, records: list[tuple[str, bytes]]) -> None:
        asyncio.run(produce(self.settings, [(key, k, v) for k, v in records]))

    def wait_control_topics_read(self, timeout: float = 60) -> None:
        """Until /healthz says the broadcast topics (policies, recalls, actions) were read whole."""
        import json
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    if json.loads(r.read()).get("control_topics_read"):
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise AssertionError(f"control topics not read in {timeout:.0f} s:\n{self.tail()}")

    def produce_many(self, records: list[tuple[str, str, bytes]]) -> None:
        """(topic key, record key, value) triples, in order."""
        asyncio.run(produce(self.settings, records))

    def collect(self, key: str, until: Any, timeout: float = 60.0) -> list[dict[str, Any]]:
        """Read `key`'s topic from the start until `until(records)` is true or timeout."""
        return asyncio.run(_collect(self.settings, self.topic(key), until, timeout))


async def _collect(settings: Settings, topic: str, until: Any, timeout: float) -> list[dict[str, Any]]:
    consumer = AIOKafkaConsumer(topic, **client_kwargs(settings), group_id=None,
                                auto_offset_reset="earliest", metadata_max_age_ms=1000)
    await consumer.start()
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and not until(out):
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(orjson.loads(r.value) for r in records if r.value is not None)
        return out
    finally:
        await consumer.stop()


@pytest.fixture
def worker_factory(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Any]:
    """Start workers sharing one fresh topic prefix and app id (one consumer group)."""
    run = uuid.uuid4().hex[:8]
    prefix, app_id = f"t{run}.", f"riskstream-test-{run}"
    workers: list[Worker] = []

    def make(start: bool = True, env: dict[str, str] | None = None) -> Worker:
        w = Worker(kafka_bootstrap, tmp_path, prefix, app_id, extra_env=env)
        workers.append(w)
        return w.start() if start else w

    yield make
    for w in workers:
        w.stop()


@pytest.fixture
def worker(worker_factory: Any) -> Worker:
    w: Worker = worker_factory()
    return w
