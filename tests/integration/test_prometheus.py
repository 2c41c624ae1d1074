"""Real Prometheus (Debian's package) scrapes a running worker; the counters move."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from riskstream.sim import SimConfig, run, write_run
from riskstream.stream.kafka_local import free_port
from riskstream.stream.producer import replay_file
from tests.integration.conftest import HISTORIC, Worker
from tests.integration.test_pipeline import listing
from tests.paths import REPO

pytestmark = pytest.mark.integration
DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def prometheus(worker: Worker, tmp_path: Path) -> Iterator[str]:
    with _prometheus(worker, tmp_path) as url:
        yield url


@contextlib.contextmanager
def _prometheus(worker: Worker, tmp_path: Path) -> Iterator[str]:
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


# ---------------------------------------------------------------------------- every panel, every alert


def query_range(url: str, promql: str, start: float, end: float, step: float = 2.0) -> dict[str, Any]:
    params = urllib.parse.urlencode({"query": promql, "start": start, "end": end, "step": step})
    try:
        with urllib.request.urlopen(f"{url}/api/v1/query_range?{params}", timeout=10) as r:
            body: dict[str, Any] = json.loads(r.read())
    except urllib.error.HTTPError as exc:  # 400: the query does not parse or evaluate
        body = json.loads(exc.read())
    return body


def _has_finite_point(body: dict[str, Any]) -> bool:
    return any(math.isfinite(float(v)) for series in body["data"]["result"] for _, v in series["values"])


def _panel_problems(url: str, start: float) -> list[str]:
    from riskstream.dashboards import build_all, queries

    problems = []
    for uid, dash in build_all().items():
        for title, expr in queries(dash):
            promql = expr.replace("$__rate_interval", "1m")
            body = query_range(url, promql, start, time.time())
            if body.get("status") != "success":
                problems.append(f"{uid} / {title}: error {body.get('error')}: {promql}")
            elif not _has_finite_point(body):
                names = sorted(set(re.findall(r"\b(riskstream_[a-z_]+)", promql)))
                absent = [n for n in names if not query(url, f"count({{__name__=~'{n}'}})")]
                problems.append(f"{uid} / {title}: no data; series never scraped: {absent or 'none'}: {promql}")
    return problems


def _feedback(i: int, outcome: str) -> tuple[str, bytes]:
    return f"a{i}", orjson.dumps({
        "kind": "feedback", "event_id": f"fb-{i}", "event_time": datetime.now(UTC).isoformat(),
        "region": "DE", "action_id": f"a{i}", "rule": "prohibited_terms", "outcome": outcome})


@pytest.mark.timeout(900)
def test_every_panel_query_returns_data_and_every_alert_evaluates(worker_factory: Any, tmp_path: Path) -> None:
    """A worker fed a simulated marketplace day, scraped by Debian's Prometheus.

    Conditions that only exist during an incident are injected: malformed input
    (dead letters), moderator feedback with overturns (overturn rate), a policy
    document that does not validate (refused policy); the simulated day's surges
    open incident candidates (open incidents, time to detect).
    """
    w: Worker = worker_factory(start=False, env=HISTORIC)
    shutil.rmtree(w.policy_dir)
    shutil.copytree(REPO / "policies", w.policy_dir, ignore=shutil.ignore_patterns("*.md", "*.json"))
    w.start()
    with _prometheus(w, tmp_path) as url:
        _check_every_panel_and_alert(w, url, tmp_path)


def _check_every_panel_and_alert(w: Worker, url: str, tmp_path: Path) -> None:
    start = time.time()
    wait_for(url, 'up{job="riskstream"}', lambda r: r and r[0]["value"][1] == "1")

    sim = run(SimConfig(events_per_hour=300.0))  # a quieter day: the surges stay, the backlog is short
    events_path, _ = write_run(sim, tmp_path / "day.jsonl")
    w.produce("listings", [("bad", b"not json"), ("bad2", b"[1, 2]")])
    w.produce("feedback", [_feedback(i, "overturned" if i % 2 else "confirmed") for i in range(30)])
    w.produce("policies", [("UK", orjson.dumps({"region": "UK", "yaml": "region: UK\nversion: [broken"}))])
    # The day in two halves, a few scrapes apart: a histogram panel is a rate, which needs its counts
    # to grow between scrapes, and a fast worker can close every region window of the day between two.
    lines = events_path.read_bytes().splitlines(keepends=True)
    halves = [tmp_path / "day-1.jsonl", tmp_path / "day-2.jsonl"]
    halves[0].write_bytes(b"".join(lines[:len(lines) // 2]))
    halves[1].write_bytes(b"".join(lines[len(lines) // 2:]))
    sent = 0
    for half in halves:
        sent += asyncio.run(replay_file(w.settings, half, speed=0))
        deadline = time.monotonic() + 420
        while (w.metric("riskstream_events_in_total") or 0) < sent and time.monotonic() < deadline:
            time.sleep(2)
        time.sleep(4)
    wait_for(url, "sum(riskstream_incidents_total)", lambda r: bool(r), timeout=120)
    time.sleep(20)  # a lag collection and a table sample after the backlog, a few scrapes

    problems = _panel_problems(url, start)
    # "Open by harm kind" (riskstream_incidents_open > 0) has data only while an incident is open.
    # On this fast-replayed day an incident can open and resolve between two scrapes since the
    # batched hot path and the policy rules (known issue, closing note of the third session): then
    # accept it only if the gauge was scraped and incidents were opened.
    transient = [p for p in problems if "Open by harm kind" in p and "series never scraped: none" in p]
    if transient and query(url, "sum(riskstream_incidents_total)"):
        problems = [p for p in problems if p not in transient]
    lead_owned = [p for p in problems if "riskstream_worker_stall" in p]
    assert not problems, (
        "panels without data against a live worker:\n  " + "\n  ".join(problems)
        + (f"\n(stall watchdog series: {lead_owned})" if lead_owned else "") + f"\n{w.tail(20)}")

    # every alert expression evaluates; the injected refusal fires its alert
    with urllib.request.urlopen(f"{url}/api/v1/rules", timeout=5) as r:
        groups = json.loads(r.read())["data"]["groups"]
    rules = [rule for g in groups for rule in g["rules"]]
    assert all(rule["health"] == "ok" for rule in rules), [r for r in rules if r["health"] != "ok"]
    for rule in rules:
        body = query_range(url, rule["query"], start, time.time())
        assert body["status"] == "success", (rule["name"], body)
    firing = {a["labels"]["alertname"] for a in query_alerts(url)}
    assert "RiskstreamPolicyRejected" in firing, firing


def query_alerts(url: str) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{url}/api/v1/alerts", timeout=5) as r:
        alerts: list[dict[str, Any]] = json.loads(r.read())["data"]["alerts"]
    return alerts
