"""Real Prometheus (Debian's package) scrapes a running worker; the counters move."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riskstream.stream.kafka_local import free_port
from tests.integration.conftest import Worker
from tests.integration.test_pipeline import listing

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def prometheus(worker: Worker, tmp_path: Path) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus missing in CI: scripts/setup.sh should have installed it")
        pytest.skip("Debian's prometheus package is not installed (scripts/setup.sh installs it as root)")
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"rule_files: ['{DEPLOY / 'prometheus' / 'alerts.yml'}']\n"
        "scrape_configs:\n"
        "  - job_name: riskstream\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{worker.port}']}}]\n"
    )
    proc = subprocess.Popen(
        [binary, f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=(tmp_path / "prometheus.log").open("wb"), stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(60):
            try:
                urllib.request.urlopen(f"{url}/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def query(url: str, promql: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/query?query={urllib.parse.quote(promql)}", timeout=5) as r:
        body = json.loads(r.read())
    assert body["status"] == "success"
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def wait_for(url: str, promql: str, pred: Any, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    res: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        res = query(url, promql)
        if pred(res):
            return res
        time.sleep(1)
    raise AssertionError(f"{promql} never satisfied; last result {res}")


def test_prometheus_scrapes_the_worker_and_the_counters_move(worker: Worker, prometheus: str) -> None:
    wait_for(prometheus, 'up{job="riskstream"}', lambda r: r and r[0]["value"][1] == "1")
    worker.produce("listings", [listing("p1", "ivory bangle"), listing("p2", "oak table")])
    worker.produce("listings", [("bad", b"not json")])
    res = wait_for(prometheus, "sum(riskstream_events_in_total)", lambda r: r and float(r[0]["value"][1]) >= 3)
    assert float(res[0]["value"][1]) >= 3
    wait_for(prometheus, 'sum(riskstream_actions_total{action="remove",mode="enforced"})',
             lambda r: r and float(r[0]["value"][1]) >= 1)
    wait_for(prometheus, 'sum(riskstream_dead_letters_total{reason="bad_json"})',
             lambda r: r and float(r[0]["value"][1]) == 1)
    # the alert rules are loaded and evaluated against the live series
    with urllib.request.urlopen(f"{prometheus}/api/v1/rules", timeout=5) as r:
        groups = json.loads(r.read())["data"]["groups"]
    assert {g["name"] for g in groups} == {"riskstream.pipeline", "riskstream.trust_and_safety"}
    assert all(rule["health"] != "err" for g in groups for rule in g["rules"])
