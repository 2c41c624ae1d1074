"""The project's Prometheus metrics, exported with prometheus-client directly.

(faust's own Prometheus sensor breaks Prometheus naming conventions, so it is
not used.)  Names follow the conventions: `riskstream_` prefix, base units,
`_total` for counters.  Label values are bounded: topics, kinds, detector ids,
reason codes, regions, actions, modes - never entity ids.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS_IN = Counter(
    "riskstream_events_in_total", "Input events consumed, valid or not.",
    ["topic"], registry=REGISTRY,
)
EVENTS_VALID = Counter(
    "riskstream_events_valid_total", "Input events that passed validation, by kind and region.",
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
SIGNALS = Counter(
    "riskstream_signals_total", "Signals raised by detectors.",
    ["detector", "code", "region"], registry=REGISTRY,
)
ACTIONS = Counter(
    "riskstream_actions_total", "Enforcement actions decided, enforced or shadow.",
    ["action", "mode", "region"], registry=REGISTRY,
)
DUPLICATES = Counter(
    "riskstream_duplicate_actions_suppressed_total",
    "Enforced actions not emitted again because their idempotency key was already seen (replays).",
    ["region"], registry=REGISTRY,
)
PROCESSING = Histogram(
    "riskstream_processing_seconds", "Time to decode, detect and decide one input event.",
    ["kind"], registry=REGISTRY,
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
DETECTION_LATENCY = Histogram(
    "riskstream_detection_latency_seconds",
    "Wall-clock time from an event's event_time to its action being produced.",
    ["kind"], registry=REGISTRY,
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
ERRORS = Counter(
    "riskstream_processing_errors_total",
    "Unexpected errors while processing a valid event (the event is dead-lettered).",
    ["kind"], registry=REGISTRY,
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
ESCALATIONS = Counter(
    "riskstream_escalations_total", "Graduated-enforcement escalations (warning, restriction, suspension).",
    ["entity_type", "level", "region"], registry=REGISTRY,
)
INCIDENTS = Counter(
    "riskstream_incidents_total", "Incident candidate records by status.",
    ["status", "harm_kind", "region", "severity"], registry=REGISTRY,
)
MODEL_FALLBACK = Gauge(
    "riskstream_model_fallback", "1 when a region has no trained model and uses the streaming detector.",
    ["region"], registry=REGISTRY,
)
INCIDENT_BACKLOG_DROPPED = Counter(
    "riskstream_incident_observations_dropped_total",
    "Outcomes not folded into the incident aggregates because the incident task fell behind.",
    registry=REGISTRY,
)
WORKER_STALLED = Gauge(
    "riskstream_worker_stalled",
    "1 while the worker holds partitions with lag and made no progress on them for RISKSTREAM_STALL_SECONDS.",
    registry=REGISTRY,
)
