"""Static checks of deploy/ and docker-compose.yml (no Docker engine here), and promtool."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from riskstream.stream.metrics import REGISTRY
from tests.paths import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
DEPLOY = REPO / "deploy"
KNOWN = {m.name for m in REGISTRY.collect()}


def _needs_promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("promtool missing in CI: scripts/setup.sh should have installed Debian's prometheus")
        pytest.skip("promtool not installed (scripts/setup.sh installs it as root)")
    return path


def test_compose_has_the_whole_stack() -> None:
    services = COMPOSE["services"]
    assert {"kafka", "worker-1", "worker-2", "prometheus", "grafana", "generator"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.")


def test_compose_mounts_and_build_files_exist() -> None:
    for name, svc in COMPOSE["services"].items():
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (REPO / src).exists(), f"{name} mounts missing {src}"
        build = svc.get("build")
        if build:
            assert (REPO / build["context"] / build["dockerfile"]).exists()


def test_compose_host_ports_are_unique() -> None:
    ports = [p.split(":")[0] for svc in COMPOSE["services"].values() for p in svc.get("ports", [])]
    assert len(ports) == len(set(ports))


def test_prometheus_scrapes_every_compose_worker() -> None:
    cfg = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {t for sc in cfg["scrape_configs"] for s in sc["static_configs"] for t in s["targets"]}
    workers = {f"{n}:{s['environment']['RISKSTREAM_METRICS_PORT']}" for n, s in COMPOSE["services"].items()
               if n.startswith("worker-")}
    assert workers == targets


def _metric_names(expr: str) -> set[str]:
    return {n for n in re.findall(r"\b(riskstream_[a-z_]+)", expr)}


def _base(name: str) -> str:
    for suffix in ("_bucket", "_count", "_sum", "_total"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


@pytest.mark.parametrize("source", ["alerts", "dashboard"])
def test_every_metric_referenced_is_exported(source: str) -> None:
    if source == "alerts":
        text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    else:
        text = "".join(p.read_text() for p in sorted((DEPLOY / "grafana" / "dashboards").glob("*.json")))
    names = _metric_names(text)
    assert names
    unknown = {n for n in names if _base(n) not in KNOWN}
    assert not unknown, f"{source} references metrics nobody exports: {unknown}"


def test_generated_dashboards_are_provisioned_in_compose() -> None:
    files = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
    assert len(files) == 4 and all(json.loads(f.read_text())["uid"] for f in files)
    prov = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "dashboards" / "riskstream.yml").read_text())
    path = prov["providers"][0]["options"]["path"]
    assert f"./deploy/grafana/dashboards:{path}:ro" in COMPOSE["services"]["grafana"]["volumes"]
    ds = yaml.safe_load((DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    assert ds["datasources"][0]["uid"] == "prometheus"  # the uid every generated panel names


def test_compose_prometheus_loads_the_rules_and_grafana_the_dashboards() -> None:
    prom = COMPOSE["services"]["prometheus"]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in prom["volumes"]
    cfg = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    assert "/etc/prometheus/alerts.yml" in cfg["rule_files"]
    grafana = COMPOSE["services"]["grafana"]
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"] and "3000:3000" in grafana["ports"]
    assert COMPOSE["services"]["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_promtool_checks_the_rules() -> None:
    promtool = _needs_promtool()
    out = subprocess.run([promtool, "check", "rules", str(DEPLOY / "prometheus" / "alerts.yml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    promtool = _needs_promtool()
    out = subprocess.run([promtool, "test", "rules", "alerts_test.yml"], cwd=DEPLOY / "prometheus",
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_promtool_checks_the_prometheus_config(tmp_path: Path) -> None:
    promtool = _needs_promtool()
    cfg = (DEPLOY / "prometheus" / "prometheus.yml").read_text().replace(
        "/etc/prometheus/alerts.yml", str(DEPLOY / "prometheus" / "alerts.yml"))
    (tmp_path / "prometheus.yml").write_text(cfg)
    out = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_kraft_cluster_ids_never_look_like_an_option() -> None:
    """1 in 64 random ids began with "-", which the storage tool took for a flag (a broker that failed to start)."""
    from riskstream.stream.kafka_local import _cluster_id

    ids = [_cluster_id() for _ in range(5_000)]
    assert not any(i.startswith("-") for i in ids)
    assert all(len(i) == 22 for i in ids) and len(set(ids)) == len(ids)
