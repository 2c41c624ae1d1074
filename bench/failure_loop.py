"""Run each failure scenario N times on one real broker and print the pass count.

    python bench/failure_loop.py --runs 20             # kill -9 and two-worker scenarios
    python bench/failure_loop.py --runs 5 -k broker    # another scenario of tests/integration/test_failures.py

Each run is a fresh pytest process (fresh topics and consumer group; the broker
is shared and started here unless KAFKA_BOOTSTRAP_SERVERS is set).  Exits
non-zero unless every run of every scenario passed; the logs of failed runs
are kept under RISKSTREAM_HOME/failure-loop/.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCENARIOS = {
    "kill": "tests/integration/test_failures.py::test_killing_a_worker_mid_stream_loses_no_event",
    "two-workers": "tests/integration/test_failures.py::"
                   "test_two_workers_share_the_partitions_and_each_event_is_enforced_once",
    "broker": "tests/integration/test_failures.py::test_killing_the_broker_mid_stream_loses_no_event",
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("-k", "--scenario", action="append", choices=sorted(SCENARIOS),
                    help="scenario to run (repeatable; default: kill and two-workers)")
    args = ap.parse_args()
    chosen = args.scenario or ["kill", "two-workers"]
    from riskstream.resources import state_home
    from riskstream.stream.kafka_local import LocalKafka

    logs = state_home() / "failure-loop"
    logs.mkdir(parents=True, exist_ok=True)
    broker = None
    env = dict(os.environ)
    if not env.get("KAFKA_BOOTSTRAP_SERVERS"):
        broker = LocalKafka(data_dir=Path(tempfile.mkdtemp(prefix="failure-loop-kafka-"))).start()
        env["KAFKA_BOOTSTRAP_SERVERS"] = broker.bootstrap
    failed = 0
    try:
        for name in chosen:
            passed = 0
            for i in range(1, args.runs + 1):
                started = time.monotonic()
                proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                       SCENARIOS[name]], env=env, capture_output=True, text=True)
                ok = proc.returncode == 0
                passed += ok
                if not ok:
                    log = logs / f"{name}-{i}.log"
                    log.write_text(proc.stdout + proc.stderr)
                print(f"[failure-loop] {name} run {i}/{args.runs}: {'pass' if ok else 'FAIL (' + str(log) + ')'}"
                      f" in {time.monotonic() - started:.0f} s", flush=True)
            print(f"[failure-loop] {name}: {passed} of {args.runs} passed", flush=True)
            failed += args.runs - passed
    finally:
        if broker is not None:
            broker.stop()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
