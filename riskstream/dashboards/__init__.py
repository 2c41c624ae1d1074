"""Grafana dashboards as code: one source, built with grafana-foundation-sdk.

The panels are data (`riskstream.dashboards.spec`): a title, a kind and its
PromQL queries.  `build_all()` turns them into Grafana dashboard JSON;
`python -m riskstream.dashboards` rewrites ``deploy/grafana/dashboards/*.json``
(provisioned by Grafana in docker-compose.yml), and a unit test checks the
checked-in files equal what this code generates.  The integration test runs
every panel query against a real Prometheus scraping a real worker.

>>> dashboards = build_all()
>>> sorted(dashboards)
['riskstream-enforcement', 'riskstream-incidents', 'riskstream-models', 'riskstream-pipeline']
>>> all(p["targets"] for d in dashboards.values() for p in d["panels"] if p["type"] != "row")
True
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common as gcommon
from grafana_foundation_sdk.builders import dashboard as gdash
from grafana_foundation_sdk.builders import heatmap, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement
from grafana_foundation_sdk.models.dashboard import DataSourceRef, GridPos
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from riskstream.dashboards.spec import DASHBOARDS, DashboardSpec, PanelSpec

DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
"""The datasource provisioned in deploy/grafana/provisioning/datasources/prometheus.yml."""

_BUILDERS: dict[str, Any] = {
    "timeseries": timeseries.Panel, "stat": stat.Panel, "table": table.Panel, "heatmap": heatmap.Panel,
}


def _panel(spec: PanelSpec, grid: GridPos) -> Any:
    panel = _BUILDERS[spec.kind]().title(spec.title).description(spec.description)
    panel = panel.datasource(DATASOURCE).grid_pos(grid)
    if spec.unit:
        panel = panel.unit(spec.unit)
    for i, q in enumerate(spec.queries):
        target = prometheus.Dataquery().expr(q.expr).ref_id(chr(ord("A") + i)).datasource(DATASOURCE)
        if q.legend:
            target = target.legend_format(q.legend)
        if spec.kind == "table":
            target = target.instant().format(PromQueryFormat.TABLE)
        elif spec.kind == "heatmap":
            target = target.format(PromQueryFormat.HEATMAP)
        panel = panel.with_target(target)
    if spec.kind == "timeseries":
        panel = panel.legend(gcommon.VizLegendOptions().show_legend(True).display_mode(LegendDisplayMode.TABLE)
                             .placement(LegendPlacement.BOTTOM).calcs(["lastNotNull", "max"]))
    if spec.kind == "stat":
        panel = panel.reduce_options(gcommon.ReduceDataOptions().calcs(["lastNotNull"]))
    return panel


def build(spec: DashboardSpec) -> dict[str, Any]:
    """One dashboard as Grafana JSON (a dict)."""
    d = (gdash.Dashboard(spec.title).uid(spec.uid).description(spec.description)
         .tags(["riskstream", "generated"]).refresh("10s").time("now-1h", "now").editable())
    y = 0
    for row in spec.rows:
        d = d.with_row(gdash.Row(row.title))
        y += 1
        x, height = 0, 8
        for p in row.panels:
            if x + p.width > 24:
                x, y = 0, y + height
            d = d.with_panel(_panel(p, GridPos(h=height, w=p.width, x=x, y=y)))
            x += p.width
        y += height
    out: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True, indent=2).encode(d.build()))
    # Grafana needs unique panel ids within a dashboard; the builder leaves them to us.
    for i, panel in enumerate(out.get("panels", []), start=1):
        panel["id"] = i
    return out


def build_all() -> dict[str, dict[str, Any]]:
    return {spec.uid: build(spec) for spec in DASHBOARDS}


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, sort_keys=True) + "\n"


def write(directory: Path) -> list[Path]:
    """Write every dashboard into `directory` (one file per uid) and remove stale generated ones."""
    directory.mkdir(parents=True, exist_ok=True)
    dashboards = build_all()
    for stale in directory.glob("riskstream*.json"):
        if stale.stem not in dashboards:
            stale.unlink()
    paths = []
    for uid, dash in dashboards.items():
        path = directory / f"{uid}.json"
        path.write_text(render(dash))
        paths.append(path)
    return paths


def queries(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """(panel title, PromQL) for every target of every panel."""
    return [(p["title"], t["expr"]) for p in dashboard.get("panels", []) if p.get("type") != "row"
            for t in p.get("targets", [])]
