"""The project's Prometheus metrics, exported with prometheus-client directly.

(faust's own Prometheus sensor breaks Prometheus naming conventions, so it is
not used.)  Names follow the conventions: `riskstream_` prefix, base units in
the name (`_seconds`, `_records`), `_total` for counters.  Label values are
bounded: topics, partitions, kinds, detector ids, reason codes, actions,
modes, severities - never entity ids.  ``region`` is always a policy region
(EU, UK, US, SEA, or ``other``) and ``country`` an ISO code that some region
claims (or ``other``): the helpers below are the only way an agent turns a
record into labels, so the two cannot be mixed up again.

One line per metric: docs/metrics.md (generated: ``python -m riskstream.stream.metrics``).

>>> region_label("DE"), region_label("EU"), region_label("XX"), country_label("XX")
('EU', 'EU', 'other', 'other')
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from riskstream.contracts import EnforcementAction, IncidentCandidate, Signal
from riskstream.regions import COUNTRIES, REGIONS, region_of

REGISTRY = CollectorRegistry(auto_describe=True)
OTHER = "other"

# ------------------------------------------------------------------ throughput and errors

EVENTS_IN = Counter(
    "riskstream_events_in_total", "Input events consumed, valid or not.",
    ["topic"], registry=REGISTRY,
)
EVENTS_VALID = Counter(
    "riskstream_events_valid_total", "Input events that passed validation, by kind and policy region.",
    ["kind", "region"], registry=REGISTRY,
)
EVENTS_OUT = Counter(
    "riskstream_events_out_total", "Records produced, by output topic.",
    ["topic"], registry=REGISTRY,
)
DEAD_LETTERS = Counter(
    "riskstream_dead_letters_total", "Inputs sent to the dead-letter topic, by source topic and reason.",
    ["topic", "reason"], registry=REGISTRY,
)
ERRORS = Counter(
    "riskstream_processing_errors_total",
    "Unexpected errors while processing a valid event (the event is dead-lettered).",
    ["kind"], registry=REGISTRY,
)
PROCESSING = Histogram(
    "riskstream_processing_seconds", "Time to decode, detect and decide one input event.",
    ["kind"], registry=REGISTRY,
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
SLOW_FLUSHES = Counter(
    "riskstream_slow_flushes_total",
    "Times a batch's outputs were still not acknowledged after 20 s (the log says what the producer waits for).",
    registry=REGISTRY,
)
SEND_RETRIES = Counter(
    "riskstream_send_retries_total",
    "Output records the broker did not acknowledge and that were sent again (the batch waits for them).",
    ["topic"], registry=REGISTRY,
)
BATCH_EVENTS = Histogram(
    "riskstream_batch_events", "Input events per batch an agent processed (sends acknowledged together).",
    ["agent"], registry=REGISTRY, buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
END_TO_END_LATENCY = Histogram(
    "riskstream_end_to_end_latency_seconds",
    "Wall-clock time from an input record's Kafka timestamp to its action record being produced.",
    ["kind"], registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)

# ------------------------------------------------------------------ Kafka: lag, rebalances, stalls, tables

CONSUMER_LAG = Gauge(
    "riskstream_consumer_lag_records",
    "High watermark minus the consumer group's committed offset, per topic and partition.",
    ["group", "topic", "partition"], registry=REGISTRY,
)
COMMITTED_OFFSET = Gauge(
    "riskstream_consumer_committed_offset",
    "The consumer group's committed offset (the beginning offset when nothing was committed yet).",
    ["group", "topic", "partition"], registry=REGISTRY,
)
END_OFFSET = Gauge(
    "riskstream_topic_end_offset", "The partition's high watermark (next offset to be written).",
    ["topic", "partition"], registry=REGISTRY,
)
LAG_COLLECTIONS = Counter(
    "riskstream_lag_collections_total", "Lag collector runs, by outcome (ok, error).",
    ["outcome"], registry=REGISTRY,
)
LAG_COLLECTED_AT = Gauge(
    "riskstream_lag_last_collected_timestamp_seconds", "Unix time of the lag collector's last successful run.",
    registry=REGISTRY,
)
REBALANCES = Counter(
    "riskstream_rebalances_total", "Consumer group rebalances this worker took part in.",
    registry=REGISTRY,
)
REBALANCE_DURATION = Histogram(
    "riskstream_rebalance_duration_seconds", "Time from a rebalance's start to its end, table recovery included.",
    registry=REGISTRY, buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0),
)
PARTITIONS_ASSIGNED = Gauge(
    "riskstream_partitions_assigned", "Partitions actively assigned to this worker, by topic.",
    ["topic"], registry=REGISTRY,
)
EVENTS_DECIDED = Counter(
    "riskstream_events_decided_total",
    "Valid events whose actions were decided (after every partitioned detector step).",
    ["kind"], registry=REGISTRY,
)
DEDUPE_EXPIRED = Counter(
    "riskstream_dedupe_keys_expired_total",
    "Entries removed from a table's local store after the replay horizon, by table: enforced-actions "
    "(idempotency keys of enforced actions), appealable-actions (the appeals index), decide-gather "
    "(fanned-out events' parts and decided markers, after two days).",
    ["table"], registry=REGISTRY,
)

FANOUT = Counter(
    "riskstream_fanout_events_total",
    "Events whose detector steps went to several partitions at once, by how their parts were gathered "
    "at decide: decided (all parts arrived), late_part (a part delivered again after its event was "
    "decided: dropped), expired (parts that waited past the horizon: the event was never decided).",
    ["outcome"], registry=REGISTRY,
)
STATE_REPLAYS = Counter(
    "riskstream_state_replays_total",
    "Events delivered again to a detector's state owner (after a crash): state not updated twice; "
    "signals as the first time (replay=exact) or from the key's current state (replay=recomputed).",
    ["detector", "replay"], registry=REGISTRY,
)
WORKER_STALLED = Gauge(
    "riskstream_worker_stalled",
    "1 while the worker holds partitions with lag and made no progress on them for RISKSTREAM_STALL_SECONDS.",
    registry=REGISTRY,
)
WORKER_STALLS = Counter(
    "riskstream_worker_stalls_total", "Times the stall watchdog declared this worker stalled.",
    registry=REGISTRY,
)
TABLE_KEYS = Gauge(
    "riskstream_table_keys", "Keys held in a state table on this worker (its active partitions).",
    ["table"], registry=REGISTRY,
)
TABLE_RECOVERY = Gauge(
    "riskstream_table_recovery_seconds",
    "Duration of the last table recovery: from the group's assignment reply to the rebalance's end.",
    registry=REGISTRY,
)

# ------------------------------------------------------------------ enforcement

SIGNALS = Counter(
    "riskstream_signals_total", "Signals raised by detectors.",
    ["detector", "code", "region", "country"], registry=REGISTRY,
)
ACTIONS = Counter(
    "riskstream_actions_total", "Enforcement actions decided, enforced or shadow.",
    ["action", "mode", "region", "country"], registry=REGISTRY,
)
RULE_HITS = Counter(
    "riskstream_rule_hits_total",
    "Actions a rule (detector id) contributed to, shadow or enforced.",
    ["rule", "mode", "region"], registry=REGISTRY,
)
DUPLICATES = Counter(
    "riskstream_duplicate_actions_suppressed_total",
    "Enforced actions not emitted again because their idempotency key was already seen (replays).",
    ["region", "country"], registry=REGISTRY,
)
POLICY_VERSION = Gauge(
    "riskstream_policy_info", "The active policy version per region (value is always 1).",
    ["region", "version"], registry=REGISTRY,
)
POLICY_REJECTED = Counter(
    "riskstream_policy_rejected_total",
    "Policy documents refused (bad_json, not_a_document, invalid_policy, unreadable, region_mismatch).",
    ["region", "reason"], registry=REGISTRY,
)
RULE_FEEDBACK = Counter(
    "riskstream_rule_feedback_total", "Moderator outcomes per rule and region.",
    ["rule", "region", "outcome"], registry=REGISTRY,
)
RULE_PRECISION = Gauge(
    "riskstream_rule_precision", "Share of a rule's reviewed actions that moderators confirmed.",
    ["rule", "region"], registry=REGISTRY,
)
RULE_OVERTURN_RATE = Gauge(
    "riskstream_rule_overturn_rate", "Share of a rule's reviewed actions overturned or won on appeal.",
    ["rule", "region"], registry=REGISTRY,
)
RULE_FEEDBACK_KEYS = Gauge(
    "riskstream_rule_feedback_keys",
    "Rule|region keys of the rule-feedback table owned by this worker (precision and overturn gauges exported).",
    registry=REGISTRY,
)
APPEALS = Counter(
    "riskstream_appeals_total",
    "Reversing moderator outcomes (overturned, appeal_granted) by result: reversed, duplicate (a replayed "
    "appeal, suppressed by its idempotency key), not_reversible (shadow, allow or a reversal), unknown_action "
    "(dead-lettered: no enforced action with that id in the appeals index).",
    ["result", "region"], registry=REGISTRY,
)
GUARD_SHADOWED = Gauge(
    "riskstream_rule_guard_shadowed",
    "1 while the blast-radius guard holds a rule in shadow for a region (every worker, from the control topic).",
    ["rule", "region"], registry=REGISTRY,
)
GUARD_TRIPS = Counter(
    "riskstream_rule_guard_trips_total",
    "Times the blast-radius guard dropped a rule to shadow in a region (counted by the region's guard owner).",
    ["rule", "region"], registry=REGISTRY,
)
GUARD_WINDOWS = Counter(
    "riskstream_rule_guard_windows_total",
    "Event-time windows the blast-radius guard closed and judged, per region.",
    ["region"], registry=REGISTRY,
)
GUARD_LATE_PARTIALS = Counter(
    "riskstream_rule_guard_late_partials_total",
    "Per-batch rule counts that reached the guard after their window had closed (not counted).",
    ["region"], registry=REGISTRY,
)
ESCALATIONS = Counter(
    "riskstream_escalations_total", "Graduated-enforcement escalations (warning, restriction, suspension).",
    ["entity_type", "level", "region"], registry=REGISTRY,
)

# ------------------------------------------------------------------ incidents and models

INCIDENTS = Counter(
    "riskstream_incidents_total", "Incident candidate records by status.",
    ["status", "harm_kind", "region", "severity"], registry=REGISTRY,
)
INCIDENTS_OPEN = Gauge(
    "riskstream_incidents_open", "Incident candidates open now on this worker.",
    ["harm_kind", "region", "severity"], registry=REGISTRY,
)
TIME_TO_DETECT = Histogram(
    "riskstream_incident_time_to_detect_seconds",
    "Event time from a surge's onset to the window that opened its incident.",
    ["harm_kind", "region"], registry=REGISTRY,
    buckets=(60.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 43200.0, 86400.0),
)
INCIDENT_BACKLOG_DROPPED = Counter(
    "riskstream_incident_observations_dropped_total",
    "Outcomes not folded into the incident aggregates because the incident task fell behind.",
    registry=REGISTRY,
)
INCIDENT_PARTIALS = Counter(
    "riskstream_incident_partials_total",
    "Partial-aggregate records (facts and watermarks of one source partition) sent to the region merge.",
    ["kind"], registry=REGISTRY,
)
INCIDENT_WINDOWS_CLOSED = Counter(
    "riskstream_incident_windows_closed_total",
    "Region windows the region merge closed and scored (each exactly once).", ["region"], registry=REGISTRY,
)
INCIDENT_LATE_FACTS = Counter(
    "riskstream_incident_late_facts_total",
    "Decided events that reached the region merge after their window closed (replays included), not counted.",
    ["region"], registry=REGISTRY,
)
MODEL_SCORE = Histogram(
    "riskstream_model_score", "Region model scores of closed windows (0 normal .. 1 anomalous).",
    ["region", "source"], registry=REGISTRY,
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
)
MODEL_ANOMALOUS_WINDOWS = Counter(
    "riskstream_model_anomalous_windows_total", "Closed windows a region model called anomalous.",
    ["region", "source"], registry=REGISTRY,
)
MODEL_FALLBACK = Gauge(
    "riskstream_model_fallback", "1 when a region has no trained model and uses the streaming detector.",
    ["region"], registry=REGISTRY,
)
MODEL_INFO = Gauge(
    "riskstream_model_info", "The region model version in use (value is always 1; version streaming = none).",
    ["region", "version"], registry=REGISTRY,
)


# ------------------------------------------------------------------ labels


def region_label(value: str) -> str:
    """The policy region of a country code (or a region name itself); ``other`` if none."""
    if value in REGIONS:
        return value
    return region_of(value) or OTHER


def country_label(value: str) -> str:
    """The country code if a region claims it, else ``other`` (keeps the label bounded)."""
    return value if value in COUNTRIES else OTHER


def source_label(source: str) -> str:
    """``isolation_forest:<version>`` -> ``isolation_forest``: versions go to riskstream_model_info."""
    return source.split(":", 1)[0]


# ------------------------------------------------------------------ emission helpers (used by the agents)


def count_signal(sig: Signal) -> None:
    SIGNALS.labels(sig.detector, sig.code, region_label(sig.region), country_label(sig.region)).inc()


def count_action(action: EnforcementAction) -> None:
    """An action record was produced: by action and mode, and once for each rule behind it."""
    region = region_label(action.region)
    ACTIONS.labels(action.action, action.mode, region, country_label(action.region)).inc()
    rules = action.evidence.get("detectors") if isinstance(action.evidence, dict) else None
    for rule in rules if isinstance(rules, list) else []:
        RULE_HITS.labels(str(rule), action.mode, region).inc()


def count_duplicate(action: EnforcementAction) -> None:
    DUPLICATES.labels(region_label(action.region), country_label(action.region)).inc()


def observe_end_to_end(kind: str, record_timestamp: float | None, now: float) -> None:
    """Latency of one action record: `now` minus the input record's Kafka timestamp (seconds)."""
    if record_timestamp is None or record_timestamp <= 0:
        return
    END_TO_END_LATENCY.labels(kind).observe(max(0.0, now - record_timestamp))


def set_worker_stalled(stalled: bool) -> None:
    """For the stall watchdog: sets the gauge and counts each transition into a stall."""
    if stalled and not _stalled[0]:  # a new stall, not the same one again
        WORKER_STALLS.inc()
    _stalled[0] = stalled
    WORKER_STALLED.set(1 if stalled else 0)


_stalled = [False]


def count_incident(candidate: IncidentCandidate) -> None:
    INCIDENTS.labels(candidate.status, candidate.harm_kind, region_label(candidate.region),
                     candidate.severity).inc()
    if candidate.status == "open":
        delay = (candidate.event_time - candidate.onset_time).total_seconds()
        TIME_TO_DETECT.labels(candidate.harm_kind, region_label(candidate.region)).observe(max(0.0, delay))


def markdown() -> str:
    """docs/metrics.md: one line per metric, from the registry itself."""
    lines = ["# Metrics", "",
             "Generated by `python -m riskstream.stream.metrics > docs/metrics.md`; checked by tests/unit/test_metrics.py.",
             "`region` is a policy region (EU, UK, US, SEA, other), `country` an ISO 3166-1 code (or other).", ""]
    for metric in sorted(REGISTRY.collect(), key=lambda mf: mf.name):
        suffix = "_total" if metric.type == "counter" else ""
        labels = _labels(metric.name)
        lines.append(f"- `{metric.name}{suffix}` ({metric.type}{'; ' + ', '.join(labels) if labels else ''}): "
                     f"{metric.documentation}")
    return "\n".join(lines) + "\n"


def _labels(name: str) -> list[str]:
    for value in globals().values():
        if isinstance(value, MetricWrapperBase) and any(m.name == name for m in value.describe()):
            return list(value._labelnames)
    return []


if __name__ == "__main__":
    print(markdown(), end="")


# ------------------------------------------------------------------ per-batch counting (the agents' hot path)

_children: dict[tuple[int, tuple[str, ...]], Any] = {}


def child(metric: Any, labels: tuple[str, ...]) -> Any:
    """The labelled child of `metric`, bound once (``labels()`` costs microseconds per call)."""
    key = (id(metric), labels)
    found = _children.get(key)
    if found is None:
        found = _children[key] = metric.labels(*labels)
    return found


class Tally:
    """Counter increments gathered over one batch and added once per labelled child in `flush`."""

    __slots__ = ("_n",)

    def __init__(self) -> None:
        self._n: dict[tuple[Any, tuple[str, ...]], float] = {}

    def inc(self, metric: Any, *labels: str, n: float = 1.0) -> None:
        key = (metric, labels)
        self._n[key] = self._n.get(key, 0.0) + n

    def signal(self, sig: Signal) -> None:
        self.inc(SIGNALS, sig.detector, sig.code, region_label(sig.region), country_label(sig.region))

    def action(self, action: EnforcementAction) -> None:
        region = region_label(action.region)
        self.inc(ACTIONS, action.action, action.mode, region, country_label(action.region))
        rules = action.evidence.get("detectors") if isinstance(action.evidence, dict) else None
        for rule in rules if isinstance(rules, list) else []:
            self.inc(RULE_HITS, str(rule), action.mode, region)

    def duplicate(self, action: EnforcementAction) -> None:
        self.inc(DUPLICATES, region_label(action.region), country_label(action.region))

    def flush(self) -> None:
        for (metric, labels), n in self._n.items():
            child(metric, labels).inc(n)
        self._n.clear()
