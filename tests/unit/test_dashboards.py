"""The provisioned dashboards are exactly what riskstream.dashboards generates, and sound."""

from __future__ import annotations

import json

import pytest

from riskstream.dashboards import build_all, queries, render
from riskstream.dashboards.spec import DASHBOARDS
from tests.paths import REPO

DIR = REPO / "deploy" / "grafana" / "dashboards"


def test_checked_in_dashboards_equal_the_generated_ones() -> None:
    generated = build_all()
    on_disk = {p.stem for p in DIR.glob("*.json")}
    assert on_disk == set(generated), "run `python -m riskstream.dashboards`"
    for uid, dash in generated.items():
        assert (DIR / f"{uid}.json").read_text() == render(dash), (
            f"{uid}.json differs from the generated one: run `python -m riskstream.dashboards`")


@pytest.mark.parametrize("uid", [d.uid for d in DASHBOARDS])
def test_dashboard_is_sound(uid: str) -> None:
    dash = json.loads((DIR / f"{uid}.json").read_text())
    assert dash["uid"] == uid and dash["title"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    panels = [p for p in dash["panels"] if p["type"] != "row"]
    assert panels and all(p["datasource"]["uid"] == "prometheus" for p in panels)
    assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in panels)
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles))


def test_the_four_views_cover_the_on_call_questions() -> None:
    text = {d.uid: " ".join(e for _, e in queries(build_all()[d.uid])) for d in DASHBOARDS}
    for uid, needed in {
        "riskstream-pipeline": ["riskstream_events_in_total", "riskstream_consumer_lag_records",
                                "riskstream_end_to_end_latency_seconds_bucket", "riskstream_dead_letters_total",
                                "riskstream_worker_stalled"],
        "riskstream-enforcement": ["riskstream_actions_total", "riskstream_rule_hits_total",
                                   "riskstream_rule_overturn_rate"],
        "riskstream-incidents": ["riskstream_incidents_open", "riskstream_incident_time_to_detect_seconds_bucket"],
        "riskstream-models": ["riskstream_model_score_bucket", "riskstream_model_fallback", "riskstream_model_info"],
    }.items():
        assert all(n in text[uid] for n in needed), (uid, [n for n in needed if n not in text[uid]])
