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


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def evaluate_through_broker(config: SimConfig, policies_dir: Path, settle_seconds: float = 40.0,
                            workers: int = 1) -> QualityReport:
    """The labeled day through `workers` worker processes in one consumer group, scored.

    With several workers every event is read by one of them and its partitioned
    detector state is owned by one of them (the partition of its key), so the
    scores should not depend on `workers`; comparing 1 and N is how that is checked.
    """
    if workers < 1:
        raise click.BadParameter("--workers must be at least 1")
    work = Path(tempfile.mkdtemp(prefix="riskstream-eval-"))
    broker: LocalKafka | None = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        click.echo("[eval] starting a local Kafka ...", err=True)
        broker = LocalKafka(data_dir=work / "kafka").start()
        bootstrap = broker.bootstrap
    run_id = uuid.uuid4().hex[:8]
    base = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_TOPIC_PREFIX": f"eval{run_id}.",
            "RISKSTREAM_APP_ID": f"riskstream-eval-{run_id}", "RISKSTREAM_POLICY_DIR": str(policies_dir),
            # the simulated day is in the past: no event-age window (the hard date bounds still hold)
            "RISKSTREAM_MAX_EVENT_AGE_DAYS": "off"}
    settings = Settings.from_env(base)
    ports = [free_port() for _ in range(workers)]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for i, port in enumerate(ports):
            env = {**base, "RISKSTREAM_METRICS_PORT": str(port), "RISKSTREAM_DATA_DIR": str(work / f"worker{i}")}
            log_path = work / f"worker{i}.log"
            procs.append(subprocess.Popen([sys.executable, "-m", "riskstream.cli", "worker", "-l", "warn"], env=env,
                                          stdout=log_path.open("wb"), stderr=subprocess.STDOUT,
                                          start_new_session=True))
        if workers > 1:  # every member in the group before the first event, as in production
            _wait_members(ports, procs, work)
        sim = run(config)
        events_path, _ = write_run(sim, work / "day.jsonl")
        click.echo(f"[eval] replaying {len(sim.events)} events through {workers} worker(s) "
                   f"(logs in {work}) ...", err=True)
        sent = asyncio.run(replay_file(settings, events_path, speed=0))
        _wait_consumed(ports, procs, sent, work)
        click.echo(f"[eval] all {sent} events consumed and decided; letting incident windows settle "
                   f"({settle_seconds:.0f} s) ...", err=True)
        time.sleep(settle_seconds)
        prefix = settings.kafka.topic_prefix
        actions = asyncio.run(_read_all(settings, prefix + TOPICS["actions"].name, EnforcementAction))
        incidents = asyncio.run(_read_all(settings, prefix + TOPICS["incidents"].name, IncidentCandidate))
        # escalations act on sellers/creators, not on the labelled events: score event-level actions
        actions = [a for a in actions if not a.reason_codes[0].startswith("escalation_")]
        return evaluate(sim.labels, actions, incidents)
    finally:
        for proc in procs:
            _stop(proc)
        if broker is not None:
            broker.stop()


def _total(ports: list[int], name: str) -> float:
    return sum(_metric(port, name) for port in ports)


def _check_alive(procs: list[subprocess.Popen[bytes]], work: Path) -> None:
    for i, proc in enumerate(procs):
        if proc.poll() is not None:
            raise click.ClickException(f"worker {i} exited with status {proc.returncode}; see {work / f'worker{i}.log'}")


def _wait_members(ports: list[int], procs: list[subprocess.Popen[bytes]], work: Path, timeout: float = 120) -> None:
    """Until every worker serves metrics and holds partitions of the input topics."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _check_alive(procs, work)
        if all(_metric(port, "riskstream_partitions_assigned") > 0 for port in ports):
            time.sleep(3)  # let the last rebalance settle
            return
        time.sleep(1)
    raise click.ClickException(f"not every worker joined the group in {timeout:.0f} s; see the logs in {work}")


def _wait_consumed(ports: list[int], procs: list[subprocess.Popen[bytes]], sent: int, work: Path,
                   timeout: float = 900) -> None:
    """Until every record is read and every valid event is through its hops and decided, with progress."""
    deadline, last_report = time.monotonic() + timeout, 0.0
    while True:
        _check_alive(procs, work)
        seen = _total(ports, "riskstream_events_in_total")
        valid = _total(ports, "riskstream_events_valid_total")
        decided = _total(ports, "riskstream_events_decided_total")
        if seen >= sent and decided >= valid > 0:
            return
        if time.monotonic() > deadline:
            raise click.ClickException(f"stalled: read {seen:.0f} of {sent}, decided {decided:.0f} of "
                                       f"{valid:.0f} valid; see the logs in {work}")
        if time.monotonic() - last_report > 10:
            last_report = time.monotonic()
            click.echo(f"[eval] read {seen:.0f}/{sent}, decided {decided:.0f}/{valid:.0f}", err=True)
        time.sleep(1)
