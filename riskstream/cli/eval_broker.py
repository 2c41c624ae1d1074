"""`riskstream eval run --broker`: the labeled stream through a real broker and a real worker.

Starts a broker (or uses KAFKA_BOOTSTRAP_SERVERS), a worker subprocess on a
fresh topic prefix and consumer group, replays the simulated day as fast as
the broker takes it, waits until the worker has consumed every event, reads
the actions and incident candidates back from their topics and scores them
with the same functions as the in-process harness.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import click
from aiokafka import AIOKafkaConsumer

from riskstream.contracts import EnforcementAction, IncidentCandidate, decode
from riskstream.evaluation.quality import QualityReport, evaluate
from riskstream.settings import Settings
from riskstream.sim import SimConfig, run, write_run
from riskstream.stream.kafka_local import LocalKafka, free_port
from riskstream.stream.producer import replay_file
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS


def _metric(port: int, name: str) -> float:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rpartition(" ")[2]) for line in text.splitlines()
               if line.startswith(name) and line.split("{")[0].split(" ")[0] == name)


async def _read_all(settings: Settings, topic: str, cls: type[Any]) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, **client_kwargs(settings), group_id=None, auto_offset_reset="earliest")
    await consumer.start()
    out: list[Any] = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=3000)
            if not batch:
                return out
            for records in batch.values():
                out.extend(decode(r.value, cls) for r in records if r.value is not None)
    finally:
        await consumer.stop()


def evaluate_through_broker(config: SimConfig, policies_dir: Path, settle_seconds: float = 40.0) -> QualityReport:
    work = Path(tempfile.mkdtemp(prefix="riskstream-eval-"))
    broker: LocalKafka | None = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        click.echo("[eval] starting a local Kafka ...", err=True)
        broker = LocalKafka(data_dir=work / "kafka").start()
        bootstrap = broker.bootstrap
    run_id = uuid.uuid4().hex[:8]
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_TOPIC_PREFIX": f"eval{run_id}.",
           "RISKSTREAM_APP_ID": f"riskstream-eval-{run_id}", "RISKSTREAM_METRICS_PORT": str(port),
           "RISKSTREAM_POLICY_DIR": str(policies_dir), "RISKSTREAM_DATA_DIR": str(work / "worker"),
           # the simulated day is in the past: no event-age window (the hard date bounds still hold)
           "RISKSTREAM_MAX_EVENT_AGE_DAYS": "off"}
    settings = Settings.from_env(env)
    worker = subprocess.Popen([sys.executable, "-m", "riskstream.cli", "worker", "-l", "warn"], env=env,
                              stdout=(work / "worker.log").open("wb"), stderr=subprocess.STDOUT,
                              start_new_session=True)
    try:
        sim = run(config)
        events_path, _ = write_run(sim, work / "day.jsonl")
        click.echo(f"[eval] replaying {len(sim.events)} events (worker log {work / 'worker.log'}) ...", err=True)
        sent = asyncio.run(replay_file(settings, events_path, speed=0))
        deadline = time.monotonic() + 600
        while _metric(port, "riskstream_events_in_total") < sent:
            if worker.poll() is not None or time.monotonic() > deadline:
                raise click.ClickException(f"worker stopped or stalled; see {work / 'worker.log'}")
            time.sleep(1)
        click.echo(f"[eval] all {sent} events consumed; letting incident windows settle "
                   f"({settle_seconds:.0f} s) ...", err=True)
        time.sleep(settle_seconds)
        prefix = settings.kafka.topic_prefix
        actions = asyncio.run(_read_all(settings, prefix + TOPICS["actions"].name, EnforcementAction))
        incidents = asyncio.run(_read_all(settings, prefix + TOPICS["incidents"].name, IncidentCandidate))
        # escalations act on sellers/creators, not on the labelled events: score event-level actions
        actions = [a for a in actions if not a.reason_codes[0].startswith("escalation_")]
        return evaluate(sim.labels, actions, incidents)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        if broker is not None:
            broker.stop()
