"""Run the failure scenarios of tests/integration/test_failures.py N times and count passes.

    .venv/bin/python bench/failure_loop.py --runs 20 --scenario kill --scenario two
    .venv/bin/python bench/failure_loop.py --runs 20 --scenario kill --loglevel debug --keep /tmp/stall-runs

One local broker (stream.kafka_local) serves every run; each run gets a fresh
topic prefix and app id, like the pytest fixtures.  The scenarios are the
tests' own steps (same Worker class, same event counts); a failed run keeps
its workers' logs plus the group's committed offsets and the topics'
highwaters under --keep/<scenario>-<run>/.  `--load N` runs N busy-loop
processes alongside to make timing races likelier.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskstream.stream.kafka_local import LocalKafka
from tests.integration.conftest import Worker
from tests.integration.test_failures import N, _duplicates_accounted, _enforced_ids, _keys_consistent, _risky

LOGLEVEL = "info"
TRACE = False
TRACE_DIR = Path(__file__).resolve().parent / "trace"


class LoopWorker(Worker):
    """The tests' Worker with a configurable log level."""

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        if TRACE:  # bench/trace/sitecustomize.py: logs the records faust's fetcher discards
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TRACE_DIR), env.get("PYTHONPATH", "")]))
        return env

    @property  # type: ignore[override]
    def loglevel(self) -> str:
        return LOGLEVEL


async def _diagnostics(bootstrap: str, app_id: str, prefix: str) -> dict[str, Any]:
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(app_id)
    finally:
        await admin.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        tps = list(committed)
        ends = await consumer.end_offsets(tps) if tps else {}
    finally:
        await consumer.stop()
    return {f"{tp.topic}:{tp.partition}": {"committed": m.offset, "end": ends.get(tp)}
            for tp, m in sorted(committed.items())}


def scenario_kill(make: Any, first_env: dict[str, str] | None = None) -> None:
    """test_killing_a_worker_mid_stream_loses_no_event."""
    first = make(env=first_env)
    produced = threading.Thread(target=first.produce, args=("listings", _risky("k", N)))
    produced.start()
    deadline = time.monotonic() + 60
    while (first.metric("riskstream_actions_total") or 0) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.stop(sig=signal.SIGKILL)
    produced.join()
    second = make()
    actions = second.collect("actions", until=lambda rs: len(_enforced_ids(rs, "k-")) >= N, timeout=120)
    missing = {f"k-{i}" for i in range(N)} - _enforced_ids(actions, "k-")
    assert not missing, f"{len(missing)} of {N} listings never enforced"
    _keys_consistent(actions)


def scenario_two(make: Any) -> None:
    """test_two_workers_share_the_partitions_and_each_event_is_enforced_once."""
    a = make()
    b = make()
    time.sleep(10)
    a.produce("listings", _risky("s", N))
    actions = a.collect("actions", until=lambda rs: len(_enforced_ids(rs, "s-")) >= N, timeout=120)
    got = _enforced_ids(actions, "s-")
    assert got == {f"s-{i}" for i in range(N)}, (
        f"{N - len(got)} of {N} never enforced; events_in a={a.metric('riskstream_events_in_total')} "
        f"b={b.metric('riskstream_events_in_total')}")
    enforced = [x for x in actions if x["mode"] == "enforced" and x["entity_id"].startswith("s-")]
    assert len(enforced) == N, "an event enforced twice"

    def seen() -> float:
        return (a.metric("riskstream_events_in_total") or 0) + (b.metric("riskstream_events_in_total") or 0)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and seen() < N:
        time.sleep(0.5)
    in_a = a.metric("riskstream_events_in_total") or 0
    in_b = b.metric("riskstream_events_in_total") or 0
    assert in_a > 0 and in_b > 0, (in_a, in_b)
    _duplicates_accounted(a, b, actions)


def scenario_kill_nocommit(make: Any) -> None:
    """test_killing_a_worker_before_its_first_commit_loses_no_event: the first worker never commits."""
    scenario_kill(make, first_env={"BROKER_COMMIT_INTERVAL": "3600"})


SCENARIOS = {"kill": scenario_kill, "kill_nocommit": scenario_kill_nocommit, "two": scenario_two}


def _burn() -> None:  # pragma: no cover - CPU load
    while True:
        pass


def run_once(name: str, i: int, bootstrap: str, keep: Path) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix=f"loop-{name}-{i}-"))
    run = uuid.uuid4().hex[:8]
    prefix, app_id = f"t{run}.", f"riskstream-loop-{run}"
    workers: list[LoopWorker] = []

    def make(env: dict[str, str] | None = None) -> LoopWorker:
        w = LoopWorker(bootstrap, workdir, prefix, app_id, extra_env=env)
        workers.append(w)
        w.start()
        return w

    started = time.monotonic()
    ok, why = True, ""
    try:
        SCENARIOS[name](make)
    except Exception as exc:
        ok, why = False, f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, AssertionError):
            why += "\n" + traceback.format_exc()
    diag: dict[str, Any] = {}
    if not ok:
        try:
            diag = asyncio.run(_diagnostics(bootstrap, app_id, prefix))
        except (Exception, asyncio.CancelledError) as exc:
            diag = {"error": repr(exc)}
    for w in workers:
        w.stop()
    took = time.monotonic() - started
    print(f"[{name} {i}] {'PASS' if ok else 'FAIL'} {took:.0f}s {why[:300]}", flush=True)
    if not ok:
        dest = keep / f"{name}-{i}-{run}"
        dest.mkdir(parents=True, exist_ok=True)
        for w in workers:
            shutil.copy(w.log, dest / w.log.name)
        (dest / "diagnostics.json").write_text(json.dumps({"why": why, "offsets": diag}, indent=1))
        print(f"    logs kept in {dest}", flush=True)
    shutil.rmtree(workdir, ignore_errors=True)
    return ok


def main() -> None:
    global LOGLEVEL, TRACE
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=10)
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    p.add_argument("--loglevel", default="info")
    p.add_argument("--keep", type=Path, default=Path("/tmp/stall-runs"))
    p.add_argument("--load", type=int, default=0, help="busy-loop processes to run alongside")
    p.add_argument("--trace", action="store_true", help="log the records faust's fetcher discards")
    p.add_argument("--bootstrap", default="", help="an existing broker (default: start one)")
    args = p.parse_args()
    LOGLEVEL, TRACE = args.loglevel, args.trace
    scenarios = args.scenario or ["kill", "kill_nocommit", "two"]
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.load)]
    for b in burners:
        b.start()
    broker = None
    bootstrap = args.bootstrap
    if not bootstrap:
        broker = LocalKafka(data_dir=Path(tempfile.mkdtemp(prefix="loop-kafka-"))).start()
        bootstrap = broker.bootstrap
    passes = {s: 0 for s in scenarios}
    try:
        for i in range(args.runs):
            for s in scenarios:
                passes[s] += run_once(s, i, bootstrap, args.keep)
            print("    so far: " + ", ".join(f"{s} {passes[s]}/{i + 1}" for s in scenarios), flush=True)
    finally:
        if broker is not None:
            broker.stop()
        for b in burners:
            b.terminate()
    print("RESULT: " + ", ".join(f"{s} {passes[s]}/{args.runs}" for s in scenarios), flush=True)
    if any(passes[s] < args.runs for s in scenarios):
        sys.exit(1)


if __name__ == "__main__":
    main()
