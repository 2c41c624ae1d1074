"""`riskstream demo`: the main job on one machine.

Starts (or uses, with KAFKA_BOOTSTRAP_SERVERS) a broker, publishes the sample
policies, starts a worker, streams a generated marketplace into the input
topics, and prints enforcement actions, incidents and dead letters as they
happen, with a status line and the metrics URL.  Ctrl-C (or --duration) stops
everything cleanly: generator, worker, then the broker it started.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import click
import orjson
from aiokafka import AIOKafkaConsumer

from riskstream.cli.tail import render
from riskstream.settings import Settings
from riskstream.stream.kafka_local import LocalKafka, free_port
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS

MALFORMED = [
    b'{"kind": "listing", "event_id": "bad-1", oops',  # bad JSON
    b'{"kind": "listing", "event_id": "bad-2", "event_time": "2026-01-01T00:00:00Z", "region": "DE",'
    b' "op": "created", "listing_id": "l", "seller_id": "s", "category": "toys", "title": "x",'
    b' "price": "cheap", "currency": "EUR"}',  # wrong type
    b'{"kind": "listing", "event_id": "bad-3", "region": "DE"}',  # missing fields
    b'{"kind": "listing", "event_id": "bad-4", "event_time": "2026-01-01T00:00:00Z", "region": "ZZ",'
    b' "op": "created", "listing_id": "l", "seller_id": "s", "category": "toys", "title": "x",'
    b' "price": 1.0, "currency": "EUR"}',  # unknown region
]


def run_demo(rate: float, duration: float) -> int:
    return asyncio.run(_demo(rate, duration))


async def _demo(rate: float, duration: float) -> int:
    demo_dir = Settings.from_env().home / "demo"
    demo_dir.mkdir(parents=True, exist_ok=True)
    broker: LocalKafka | None = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    worker: subprocess.Popen[bytes] | None = None
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        if not bootstrap:
            data = demo_dir / "kafka"
            if data.exists():
                import shutil

                shutil.rmtree(data)
            click.secho("[demo] starting a local Apache Kafka (KRaft) ...", fg="cyan")
            broker = await asyncio.to_thread(LocalKafka(data_dir=data).start)
            bootstrap = broker.bootstrap
        click.secho(f"[demo] Kafka at {bootstrap}", fg="cyan")
        port = free_port()
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_METRICS_PORT": str(port),
               "RISKSTREAM_DATA_DIR": str(demo_dir / "worker"), "RISKSTREAM_APP_ID": f"riskstream-demo-{port}",
               # one-minute windows so incident candidates can open within minutes of a live demo
               "RISKSTREAM_INCIDENT_WINDOW_SECONDS": os.environ.get("RISKSTREAM_INCIDENT_WINDOW_SECONDS", "60")}
        settings = Settings.from_env(env)

        from riskstream.stream.producer import ensure_topics, live_stream, produce, publish_policy

        await ensure_topics(settings)
        for path in sorted(settings.policies.directory.glob("*.yaml")):
            version = await publish_policy(settings, path)
            click.secho(f"[demo] published policy {path.name} version {version}", fg="cyan")

        log = (demo_dir / "worker.log").open("wb")
        worker = subprocess.Popen([sys.executable, "-m", "riskstream.cli", "worker", "-l", "warn"],
                                  env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        metrics_url = f"http://127.0.0.1:{port}/metrics"
        click.secho(f"[demo] worker pid {worker.pid}, log {demo_dir / 'worker.log'}", fg="cyan")
        click.secho(f"[demo] metrics: curl -s {metrics_url} | grep ^riskstream_", fg="green", bold=True)
        click.secho("[demo] actions (red = enforced, yellow = shadow), incidents and dead letters follow; "
                    "Ctrl-C stops", fg="cyan")

        counts: dict[str, int] = {"sent": 0}
        tasks = [
            asyncio.create_task(_follow(settings, counts)),
            asyncio.create_task(_generate(settings, rate, counts, produce, live_stream)),
            asyncio.create_task(_status(counts, metrics_url, worker)),
        ]
        await _send_malformed(settings)
        waiters: list[asyncio.Task[Any]] = [asyncio.create_task(stop.wait())]
        if duration > 0:
            waiters.append(asyncio.create_task(asyncio.sleep(duration)))
        waiters.append(asyncio.create_task(_wait_process(worker)))
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks + waiters:
            t.cancel()
        await asyncio.gather(*tasks, *waiters, return_exceptions=True)
        if worker.poll() is not None:
            click.secho(f"[demo] worker exited with {worker.returncode}; see {demo_dir / 'worker.log'}", fg="red")
            return 1
        click.secho(f"[demo] stopping: {counts}", fg="cyan")
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.wait(timeout=30)
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
        if broker is not None:
            await asyncio.to_thread(broker.stop)
            click.secho("[demo] Kafka stopped", fg="cyan")


async def _wait_process(proc: subprocess.Popen[bytes]) -> None:
    while proc.poll() is None:
        await asyncio.sleep(0.5)


async def _send_malformed(settings: Settings) -> None:
    from riskstream.stream.producer import produce

    await produce(settings, [("listings", "bad", raw) for raw in MALFORMED])


async def _generate(settings: Settings, rate: float, counts: dict[str, int], produce: Any, live_stream: Any) -> None:
    def counted() -> Any:
        for rec in live_stream(seed=int(time.time()) % 10_000):
            counts["sent"] += 1
            yield rec

    await produce(settings, counted(), rate=rate, progress_every=1e9)


async def _follow(settings: Settings, counts: dict[str, int]) -> None:
    names = {settings.kafka.topic_prefix + TOPICS[k].name: k for k in ("actions", "incidents", "deadletter")}
    consumer = AIOKafkaConsumer(*names, **client_kwargs(settings), group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        async for msg in consumer:
            what = names[msg.topic]
            counts[what] = counts.get(what, 0) + 1
            if msg.value is not None:
                click.echo(render(what, orjson.loads(msg.value)))
    finally:
        await consumer.stop()


async def _status(counts: dict[str, int], metrics_url: str, worker: subprocess.Popen[bytes]) -> None:
    while True:
        await asyncio.sleep(10)
        click.secho(f"[demo] sent={counts.get('sent', 0)} actions={counts.get('actions', 0)} "
                    f"incidents={counts.get('incidents', 0)} dead_letters={counts.get('deadletter', 0)} "
                    f"| metrics {metrics_url}", fg="green")
