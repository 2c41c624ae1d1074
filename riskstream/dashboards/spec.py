"""The panels of riskstream's four dashboards, as data: the one source the JSON is generated from.

Conventions: ``$__rate_interval`` for rates on the fast-moving counters; a
fixed window (``[1h]``) or the cumulative series for rare events (incidents,
policy refusals), whose rate over a short window would be empty.  Lag series
are reported identically by every worker, so they are aggregated with
``max`` first.  ``region`` is the policy region, ``country`` the ISO code.

>>> sum(len(r.panels) for d in DASHBOARDS for r in d.rows) >= 30
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

PanelKind = Literal["timeseries", "stat", "table", "heatmap"]


@dataclass(frozen=True, slots=True)
class Query:
    expr: str
    legend: str = ""


@dataclass(frozen=True, slots=True)
class PanelSpec:
    title: str
    kind: PanelKind
    queries: tuple[Query, ...]
    description: str = ""
    unit: str = ""
    width: int = 12
    needs: str = ""
    """What must have happened for the panel to show data (an incident, a refused policy...);
    the integration test injects it.  Empty: any running worker fed by the generator."""


@dataclass(frozen=True, slots=True)
class RowSpec:
    title: str
    panels: tuple[PanelSpec, ...]


@dataclass(frozen=True, slots=True)
class DashboardSpec:
    uid: str
    title: str
    description: str
    rows: tuple[RowSpec, ...] = field(default_factory=tuple)


def q(expr: str, legend: str = "") -> Query:
    return Query(expr, legend)


RI = "$__rate_interval"
LAG = "max by (group, topic, partition) (riskstream_consumer_lag_records)"

PIPELINE = DashboardSpec(
    "riskstream-pipeline", "riskstream / pipeline health",
    "Is the stream keeping up? Throughput, consumer lag, latency, dead letters, stalls, rebalances, state.",
    (
        RowSpec("Throughput", (
            PanelSpec("Events in by topic", "timeseries",
                      (q(f"sum by (topic) (rate(riskstream_events_in_total[{RI}]))", "{{topic}}"),),
                      "Input records consumed per second, valid or not.", "reqps"),
            PanelSpec("Records out by topic", "timeseries",
                      (q(f"sum by (topic) (rate(riskstream_events_out_total[{RI}]))", "{{topic}}"),),
                      "Records produced per second (signals, actions, incidents, dead letters).", "reqps"),
        )),
        RowSpec("Lag", (
            PanelSpec("Consumer lag by topic", "timeseries",
                      (q(f"sum by (topic) ({LAG})", "{{topic}}"),),
                      "High watermark minus committed offset, summed over partitions.", "short"),
            PanelSpec("Consumer lag by partition", "table",
                      (q(LAG),), "The partitions behind right now.", "short"),
            PanelSpec("Lag collector", "stat",
                      (q("time() - max(riskstream_lag_last_collected_timestamp_seconds)"),),
                      "Seconds since the lag was last collected (stale lag is no lag).", "s", 6),
            PanelSpec("Lag collection errors", "stat",
                      (q('sum(increase(riskstream_lag_collections_total{outcome="error"}[1h])) or vector(0)'),),
                      "Failed lag collections in the last hour.", "short", 6),
        )),
        RowSpec("Latency", (
            PanelSpec("End-to-end latency (input record to action)", "timeseries", tuple(
                q(f"histogram_quantile({p}, sum by (le) (rate(riskstream_end_to_end_latency_seconds_bucket[{RI}])))",
                  f"p{round(p * 100)}") for p in (0.5, 0.95, 0.99)),
                      "From the input record's Kafka timestamp to its action record being produced.", "s"),
            PanelSpec("Processing time p99 by kind", "timeseries",
                      (q(f"histogram_quantile(0.99, sum by (le, kind) (rate(riskstream_processing_seconds_bucket[{RI}])))",
                         "{{kind}}"),), "Decode, detect and decide one event.", "s"),
        )),
        RowSpec("Errors and stalls", (
            PanelSpec("Dead letters by reason", "timeseries",
                      (q(f"sum by (reason) (rate(riskstream_dead_letters_total[{RI}]))", "{{reason}}"),),
                      "Inputs sent to risk.deadletter.v1; inspect with `riskstream tail deadletter`.", "reqps",
                      needs="bad input"),
            PanelSpec("Workers up", "stat", (q('sum(up{job="riskstream"})'),), "Scraped workers answering.",
                      "short", 6),
            PanelSpec("Stalled workers", "stat", (q("sum(riskstream_worker_stalled)"),),
                      "Workers whose stall watchdog sees lag and no progress.", "short", 6),
            PanelSpec("Stall state per worker", "timeseries",
                      (q("max by (instance) (riskstream_worker_stalled)", "{{instance}}"),), "", "short"),
            PanelSpec("Rebalances (1h)", "timeseries",
                      (q("sum by (instance) (increase(riskstream_rebalances_total[1h]))", "{{instance}}"),),
                      "Consumer group rebalances each worker went through.", "short"),
        )),
        RowSpec("Assignment and state", (
            PanelSpec("Partitions assigned", "timeseries",
                      (q("sum by (instance, topic) (riskstream_partitions_assigned)", "{{instance}} {{topic}}"),),
                      "Active partitions per worker and topic.", "short"),
            PanelSpec("Table keys", "timeseries",
                      (q("sum by (table) (riskstream_table_keys)", "{{table}}"),), "Keys in each state table.",
                      "short"),
            PanelSpec("Last table recovery", "stat",
                      (q("max(riskstream_table_recovery_seconds)"),),
                      "Seconds the last rebalance spent restoring tables.", "s", 6),
            PanelSpec("Rebalance duration p95", "stat",
                      (q("histogram_quantile(0.95, sum by (le) (riskstream_rebalance_duration_seconds_bucket))"),),
                      "Since the workers started, recovery included.", "s", 6),
        )),
    ),
)

ENFORCEMENT = DashboardSpec(
    "riskstream-enforcement", "riskstream / enforcement",
    "What the pipeline does: actions per rule and region, shadow against enforced, moderator outcomes, policies.",
    (
        RowSpec("Actions", (
            PanelSpec("Actions by kind and mode", "timeseries",
                      (q(f"sum by (action, mode) (rate(riskstream_actions_total[{RI}]))", "{{action}} {{mode}}"),),
                      "", "reqps"),
            PanelSpec("Actions by region", "timeseries",
                      (q(f"sum by (region, mode) (rate(riskstream_actions_total[{RI}]))", "{{region}} {{mode}}"),),
                      "Policy region (EU, UK, US, SEA).", "reqps"),
            PanelSpec("Top countries by actions", "timeseries",
                      (q(f"topk(10, sum by (country) (rate(riskstream_actions_total[{RI}])))", "{{country}}"),),
                      "ISO country code of the actioned entity.", "reqps"),
            PanelSpec("Signals by detector", "timeseries",
                      (q(f"sum by (detector) (rate(riskstream_signals_total[{RI}]))", "{{detector}}"),), "", "reqps"),
        )),
        RowSpec("Rules: shadow against enforced", (
            PanelSpec("Rule hits, shadow vs enforced", "timeseries",
                      (q(f"sum by (rule, mode) (rate(riskstream_rule_hits_total[{RI}]))", "{{rule}} {{mode}}"),),
                      "Actions each rule contributed to; a shadow rule shows what it would do.", "reqps"),
            PanelSpec("Rule hits by region (1h)", "table",
                      (q("sum by (rule, region, mode) (increase(riskstream_rule_hits_total[1h]))"),), "", "short"),
            PanelSpec("Overturn rate by rule", "timeseries",
                      (q("max by (rule, region) (riskstream_rule_overturn_rate)", "{{rule}} {{region}}"),),
                      "Share of reviewed actions overturned or won on appeal.", "percentunit",
                      needs="moderator feedback"),
            PanelSpec("Precision by rule", "timeseries",
                      (q("max by (rule, region) (riskstream_rule_precision)", "{{rule}} {{region}}"),),
                      "Share of reviewed actions moderators confirmed.", "percentunit", needs="moderator feedback"),
        )),
        RowSpec("Policies", (
            PanelSpec("Active policy versions", "table",
                      (q("count by (region, version) (riskstream_policy_info)"),),
                      "Workers per region and version: more than one version per region is a skew.", "short"),
            PanelSpec("Policies refused (24h)", "stat",
                      (q("sum(increase(riskstream_policy_rejected_total[24h])) or vector(0)"),),
                      "Published policies that did not validate; workers kept the previous one.", "short", 6),
            PanelSpec("Policies refused by region", "table",
                      (q("sum by (region) (riskstream_policy_rejected_total)"),), "Since the workers started.",
                      "short", 6, needs="a refused policy"),
        )),
    ),
)

INCIDENTS = DashboardSpec(
    "riskstream-incidents", "riskstream / incidents",
    "Incident candidates: what is open now, by severity and region, and how long surges took to detect.",
    (
        RowSpec("Open now", (
            PanelSpec("SEV1 (critical) open", "stat",
                      (q('sum(riskstream_incidents_open{severity="critical"})'),), "Page-worthy.", "short", 6),
            PanelSpec("High open", "stat", (q('sum(riskstream_incidents_open{severity="high"})'),), "", "short", 6),
            PanelSpec("Open by severity and region", "timeseries",
                      (q("sum by (severity, region) (riskstream_incidents_open)", "{{severity}} {{region}}"),),
                      "", "short"),
            PanelSpec("Open by harm kind", "table",
                      (q("sum by (harm_kind, region, severity) (riskstream_incidents_open) > 0"),),
                      "Follow with `riskstream incidents tail`.", "short", needs="an incident"),
        )),
        RowSpec("Records and detection", (
            PanelSpec("Incident records since start", "table",
                      (q("sum by (status, harm_kind, region, severity) (riskstream_incidents_total)"),),
                      "Open, update and resolve records produced.", "short", needs="an incident"),
            PanelSpec("Time to detect by harm kind", "timeseries",
                      (q("histogram_quantile(0.5, sum by (le, harm_kind) "
                         "(riskstream_incident_time_to_detect_seconds_bucket))", "p50 {{harm_kind}}"),
                       q("histogram_quantile(0.95, sum by (le, harm_kind) "
                         "(riskstream_incident_time_to_detect_seconds_bucket))", "p95 {{harm_kind}}")),
                      "Event time from a surge's onset to the window that opened its incident.", "s",
                      needs="an incident"),
        )),
    ),
)

MODELS = DashboardSpec(
    "riskstream-models", "riskstream / models",
    "Region models: score distributions, anomalous windows, fallback to the streaming detector, versions.",
    (
        RowSpec("Scores", (
            PanelSpec("Window score distribution", "heatmap",
                      (q(f"sum by (le) (increase(riskstream_model_score_bucket[{RI}]))", "{{le}}"),),
                      "Scores of closed windows, all regions.", "", 12),
            PanelSpec("Score p50 / p95 by region", "timeseries",
                      (q("histogram_quantile(0.5, sum by (le, region) (rate(riskstream_model_score_bucket[1h])))",
                         "p50 {{region}}"),
                       q("histogram_quantile(0.95, sum by (le, region) (rate(riskstream_model_score_bucket[1h])))",
                         "p95 {{region}}")), "", "short"),
            PanelSpec("Windows scored by source (1h)", "timeseries",
                      (q("sum by (region, source) (increase(riskstream_model_score_count[1h]))",
                         "{{region}} {{source}}"),), "isolation_forest or streaming.", "short"),
        )),
        RowSpec("Fallback and versions", (
            PanelSpec("Regions on the streaming fallback", "stat",
                      (q("sum(max by (region) (riskstream_model_fallback))"),),
                      "Regions without a trained model.", "short", 6),
            PanelSpec("Fallback by region", "table", (q("max by (region) (riskstream_model_fallback)"),), "",
                      "short", 6),
            PanelSpec("Model versions", "table", (q("count by (region, version) (riskstream_model_info)"),),
                      "The version each region's workers use (streaming = no trained model).", "short"),
        )),
    ),
)

DASHBOARDS: Final[tuple[DashboardSpec, ...]] = (PIPELINE, ENFORCEMENT, INCIDENTS, MODELS)


def panels() -> list[PanelSpec]:
    return [p for d in DASHBOARDS for r in d.rows for p in r.panels]
