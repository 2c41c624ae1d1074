"""Table recovery after a SIGKILL, with N keys of detector state (default 1,000,000).

    python bench/bench_recovery.py [--keys 1000000] [--partitions 4] [--json bench/results/recovery.json]

Fills the `detector-state` table's changelog topic with N keys (the records a
worker writes: a StateRecord per `region|detector|state key`), then measures, on
the same data:

1. a new worker, RocksDB store, empty data dir: recovers every key from the changelog;
2. that worker SIGKILLed and started again on the same data dir: RocksDB already holds the
   keys, so only the changelog's tail after its last flush is replayed;
3. a new worker with the memory store (what every start cost before): the whole changelog.

Each is the worker's own `riskstream_table_recovery_seconds` (assignment reply to the end
of the rebalance, recovery included) and the wall time from process start to ready.
Starts its own Kafka unless KAFKA_BOOTSTRAP_SERVERS is set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from riskstream.stream.kafka_local import LocalKafka, free_port
from riskstream.stream.routing import StateRecord

REPO = Path(__file__).resolve().parents[1]


async def fill(bootstrap: str, topic: str, keys: int, partitions: int) -> float:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, partitions, 1, topic_configs={"cleanup.policy": "compact"})])
    await admin.close()
    p = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=256 * 1024, acks=1)
    await p.start()
    started = time.perf_counter()
    try:
        value = StateRecord(state={"reviews": [["2026-03-02T10:00:00+00:00", "u1", 5]], "fired_at": None},
                            recent=[]).dump()
        pending = []
        for i in range(keys):
            pending.append(await p.send(topic, value, key=f"EU|review_burst|l{i:07d}".encode()))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
                print(f"\r[recovery] {i + 1:,} keys written", end="", file=sys.stderr, flush=True)
        await asyncio.gather(*pending)
        print(file=sys.stderr)
    finally:
        await p.stop()
    return time.perf_counter() - started


def metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            text = r.read().decode()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rpartition(" ")[2])
    return None


def start_and_time(env: dict[str, str], log: Path, timeout: float) -> tuple[subprocess.Popen[bytes], float, float]:
    port = int(env["RISKSTREAM_METRICS_PORT"])
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "riskstream.cli", "worker", "-l", "info"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True)
    while time.monotonic() - started < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited: see {log}")
        if "Worker ready" in log.read_text(errors="replace").split("[recovery-bench-start]")[-1]:
            seconds = metric(port, "riskstream_table_recovery_seconds")
            return proc, time.monotonic() - started, seconds if seconds is not None else float("nan")
        time.sleep(0.2)
    raise RuntimeError(f"not ready in {timeout:.0f} s: see {log}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--keys", type=int, default=1_000_000)
    ap.add_argument("--partitions", type=int, default=4)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--json", type=Path, default=None, help="also write the rows here (read by bench/capacity.py)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-recovery-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if not bootstrap:
        broker = LocalKafka(data_dir=work / "kafka").start()
        bootstrap = broker.bootstrap
    run = uuid.uuid4().hex[:8]
    app_id = f"riskstream-recovery-{run}"
    base = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_APP_ID": app_id,
            "RISKSTREAM_TOPIC_PREFIX": f"r{run}.", "RISKSTREAM_PARTITIONS": str(args.partitions),
            "RISKSTREAM_POLICY_DIR": str(REPO / "policies"), "RISKSTREAM_HOME": str(work / "home")}
    rows = []
    try:
        took = asyncio.run(fill(bootstrap, f"{app_id}-detector-state-changelog", args.keys, args.partitions))
        print(f"[recovery] {args.keys:,} keys in the changelog ({took:.0f} s to write)", file=sys.stderr)
        log = work / "worker.log"
        for label, store, data, kill_after in (
            ("new worker, RocksDB, empty data dir (whole changelog)", "rocksdb://", "rocks", True),
            ("same worker after SIGKILL, RocksDB on disk (changelog tail)", "rocksdb://", "rocks", False),
            ("new worker, memory store (whole changelog)", "memory://", "mem", False),
        ):
            env = {**base, "RISKSTREAM_STORE": store, "RISKSTREAM_DATA_DIR": str(work / data),
                   "RISKSTREAM_METRICS_PORT": str(free_port())}
            with log.open("a") as f:
                f.write("\n[recovery-bench-start]\n")
            proc, wall, recovery = start_and_time(env, log, args.timeout)
            rows.append((label, recovery, wall))
            print(f"[recovery] {label}: recovery {recovery:.1f} s, start to ready {wall:.1f} s", file=sys.stderr)
            os.killpg(proc.pid, signal.SIGKILL if kill_after or store == "rocksdb://" else signal.SIGTERM)
            proc.wait(timeout=60)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nTable recovery with {args.keys:,} keys ({args.partitions} partitions), `python bench/bench_recovery.py"
          f" --keys {args.keys}`:\n")
    print("| start | recovery (riskstream_table_recovery_seconds) | process start to ready |")
    print("|---|---|---|")
    for label, recovery, wall in rows:
        print(f"| {label} | {recovery:.1f} s | {wall:.1f} s |")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "command": "python bench/bench_recovery.py " + " ".join(sys.argv[1:]), "keys": args.keys,
            "partitions": args.partitions, "cpus": os.cpu_count(), "loadavg_at_end": os.getloadavg(),
            # rows: the new worker (whole changelog), the same worker after SIGKILL, the memory store
            "cold_seconds": rows[0][1], "cold_to_ready_seconds": rows[0][2],
            "restart_seconds": rows[1][1], "restart_to_ready_seconds": rows[1][2],
            "rows": [{"start": label, "recovery_seconds": r, "start_to_ready_seconds": w} for label, r, w in rows],
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
