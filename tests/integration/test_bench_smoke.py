"""The benchmark harnesses run end to end on the test broker and write their JSON.

A smoke of a few hundred events: it checks that every measurement produced numbers,
never how fast anything was (performance is measured in bench/, not asserted).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.integration


def _run(script: str, out: Path, bootstrap: str, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    proc = subprocess.run([sys.executable, str(REPO / "bench" / script), "--smoke", "--json", str(out), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "| derived |" in proc.stdout or "| mix |" in proc.stdout  # the markdown table was printed
    data: dict[str, Any] = json.loads(out.read_text())
    return data


def test_pipeline_bench_smoke(kafka_bootstrap: str, tmp_path: Path) -> None:
    data = _run("bench_pipeline.py", tmp_path / "pipeline.json", kafka_bootstrap)
    by = {r["name"]: r for r in data["results"]}
    assert {"a", "raw", "b", "c", "d"} <= set(by)
    for name in ("a", "raw", "b", "c", "d"):
        assert by[name]["events"] > 0 and by[name]["events_per_s"] > 0, by[name]
        assert by[name]["cpu_us_per_event"] > 0, by[name]
        assert by[name]["extra"].get("complete", True), by[name]
    # (b) did the worker's work: every input decided, as the worker's own counter says for (d)
    assert by["b"]["extra"]["decided"] == data["events"]
    assert set(data["derived"]) >= {"worker_vs_b_rate", "worker_vs_raw_rate", "glue_cpu_us"}


def test_latency_bench_smoke(kafka_bootstrap: str, tmp_path: Path) -> None:
    data = _run("bench_latency.py", tmp_path / "latency.json", kafka_bootstrap)
    assert data["max_rate"]["5"]["events_per_s"] > 0
    runs = data["fixed_rates"]
    assert runs and all(r["offered_per_s"] > 0 and r["sent"] > 0 for r in runs)
    # the risky share produced actions, and each was matched to its input by event id
    assert any(r["latency_ms"].get("count", 0) > 0 for r in runs), runs
    for r in runs:
        if r["latency_ms"].get("count"):
            lat = r["latency_ms"]
            assert lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
            # each acted-on event's latency was split at its hop records: every one went through
            # decide, and every listing through at least one detect hop (image_reuse's bands)
            st = r["stages_ms"]
            assert st["decide_to_action"]["n"] == st["input_to_first_hop"]["n"] == lat["count"], st
            assert st["detect_hops_per_event"]["p50"] >= 1, st
    assert data["flat_lag"], data
