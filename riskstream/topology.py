"""The topic table: every topic, its key, settings, record type, producer and consumers.

This is data, not Kafka code: `stream/topics.py` declares the Faust topics
from it, `riskstream schemas` writes one JSON Schema per topic and
`docs/topics.md` is generated from it.

>>> TOPICS["listings"].name
'listings.events.v1'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from riskstream import contracts as c

DAY_MS: Final = 24 * 3600 * 1000


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    key: str
    record: type[Any]
    retention_ms: int | None
    compacted: bool
    producer: str
    consumers: str
    description: str
    partitions: int | None = None  # None: the cluster-wide default from settings
    record_note: str = ""  # what a `dict` record holds

    def kafka_config(self) -> dict[str, str]:
        """Topic-level settings for creating the topic."""
        config: dict[str, str] = {}
        if self.compacted:
            config["cleanup.policy"] = "compact,delete" if self.retention_ms else "compact"
        if self.retention_ms:
            config["retention.ms"] = str(self.retention_ms)
        return config

    def cleanup(self) -> str:
        if self.compacted:
            return "compact" + (f",delete {self.retention_ms // DAY_MS}d" if self.retention_ms else "")
        return f"delete {self.retention_ms // DAY_MS}d" if self.retention_ms else "delete (broker default)"


TOPICS: Final[dict[str, TopicSpec]] = {
    key: spec
    for key, spec in (
        ("listings", TopicSpec("listings.events.v1", "listing_id", c.ListingEvent, 7 * DAY_MS, False,
                  "marketplace listing service", "screen_listings",
                  "Listing created / updated / removed.")),
        ("reviews", TopicSpec("reviews.events.v1", "listing_id", c.ReviewEvent, 7 * DAY_MS, False,
                  "reviews service", "screen_reviews",
                  "A buyer's review of a listing (keyed by listing so a listing's reviews share a partition).")),
        ("content", TopicSpec("creator.content.v1", "creator_id", c.ContentEvent, 7 * DAY_MS, False,
                  "creator platform", "screen_content",
                  "A creator's video, live stream or post.")),
        ("recalls", TopicSpec("recalls.notices.v1", "recall_id", c.RecallNotice, None, True,
                  "recall feed importer", "every worker (broadcast, read whole)",
                  "Product recalls published by authorities; compacted so a new worker sees every recall.",
                  partitions=1)),
        ("signals", TopicSpec("risk.signals.v1", "entity_id", c.Signal, 3 * DAY_MS, False,
                  "riskstream workers", "aggregates, analysts",
                  "What a detector saw: one finding with evidence.")),
        ("actions", TopicSpec("risk.actions.v1", "entity_id", c.EnforcementAction, 30 * DAY_MS, False,
                  "riskstream workers", "enforcement service, moderation queue",
                  "Enforcement decisions (enforced or shadow) with idempotency keys.")),
        ("incidents", TopicSpec("risk.incidents.v1", "incident_id", c.IncidentCandidate, 90 * DAY_MS, True,
                  "riskstream workers", "incident team (riskstream incidents tail), paging",
                  "Incident candidates: open / update / resolve records; compacted to the latest per incident.")),
        ("deadletter", TopicSpec("risk.deadletter.v1", "source topic", c.DeadLetter, 14 * DAY_MS, False,
                  "riskstream workers", "on-call engineer",
                  "Inputs that could not be processed, whole, with the reason.")),
        ("replays", TopicSpec("risk.deadletter.replays.v1", "dead letter id", dict, None, True,
                  "riskstream deadletters replay", "riskstream deadletters replay",
                  "Which dead letters were re-injected into their source topic (compacted: replay is idempotent).",
                  partitions=1)),
        ("policies", TopicSpec("control.policies.v1", "region", dict, None, True,
                  "riskstream policy publish", "every worker (broadcast, read whole)",
                  "The active policy per region (compacted: every worker agrees on the version).",
                  partitions=1)),
        ("violations", TopicSpec("risk.violations.v1", "seller_id / creator_id", c.EnforcementAction, 7 * DAY_MS, False,
                  "screen_* agents (enforced actions, re-keyed)", "track_violations",
                  "Enforced actions re-keyed by the responsible seller or creator, so one worker owns each ledger.")),
        ("detect", TopicSpec("risk.detect.v1", "the next step's state key", dict, DAY_MS, False,
                  "screen_* and detect_keyed agents", "detect_keyed",
                  "Internal: an event routed to the partition that owns a partitioned detector's state key; "
                  "it hops once per such detector, then goes to risk.decide.v1.",
                  record_note="detection envelope (input bytes, signals so far, steps left)")),
        ("decide", TopicSpec("risk.decide.v1", "event_id", dict, DAY_MS, False,
                  "screen_* and detect_keyed agents", "decide_events",
                  "Internal: an event with all of its signals, keyed by event id, so one owner decides "
                  "its actions and remembers their idempotency keys.",
                  record_note="detection envelope (input bytes, all signals)")),
        ("aggregates", TopicSpec("risk.aggregates.v1", "policy region", dict, DAY_MS, False,
                  "decide_events agent (and its watermark heartbeat)", "merge_aggregates",
                  "Internal: partial incident aggregates of one risk.decide.v1 partition (compact facts of "
                  "its decided events and its watermark), keyed by region so one owner merges a region's "
                  "windows, closes each once and runs its incident manager.",
                  record_note="partial (source partition, watermark, idle, facts)")),
        ("incident_links", TopicSpec("risk.incident.links.v1", "harm|cluster", c.IncidentCandidate, 7 * DAY_MS,
                  False, "merge_aggregates (open and resolve records, re-keyed)", "link_incidents",
                  "Internal: each region's incident open and resolve records re-keyed by harm kind and cluster, "
                  "so one owner links the same harm on the same cluster across regions (cross-region spread); "
                  "its link records go to risk.incidents.v1.")),
        ("feedback", TopicSpec("moderation.feedback.v1", "action_id", c.ModerationFeedback, 30 * DAY_MS, False,
                  "moderation tool", "track_feedback",
                  "Moderator outcomes: confirmed, overturned, appeal granted.")),
        ("appealable", TopicSpec("risk.appealable.v1", "action_id", dict, 7 * DAY_MS, False,
                  "screen_* / decide_events / track_violations (enforced actions), track_feedback (appeals)",
                  "index_actions",
                  "Internal: enforced actions (evidence trimmed) and reversing moderator outcomes, both keyed by "
                  "action id, so one owner keeps each original and reverses it when an appeal arrives.",
                  record_note="EnforcementAction (evidence trimmed) or ModerationFeedback")),
        ("feedback_rules", TopicSpec("risk.feedback.rules.v1", "rule|region", c.ModerationFeedback, 7 * DAY_MS,
                  False, "track_feedback (feedback, re-keyed)", "count_feedback",
                  "Internal: moderator outcomes re-keyed by rule and policy region, so one owner keeps each "
                  "rule's precision and overturn counts in the rule-feedback table.")),
        ("guard", TopicSpec("risk.guard.v1", "region", dict, 7 * DAY_MS, False,
                  "decide agents (per-batch rule counts), riskstream policy reenable", "guard_rules",
                  "Internal: per batch and event-time window, events screened and enforced actions per rule, "
                  "keyed by policy region, merged by the blast-radius guard (and re-enable commands).",
                  record_note="guard partial or re-enable command")),
    )
}

INPUT_KINDS: Final[dict[str, str]] = {
    "listing": "listings", "review": "reviews", "content": "content", "recall": "recalls",
    "feedback": "feedback",
}
"""Which topic (by TOPICS key) carries each input event kind."""


def markdown_table() -> str:
    lines = [
        "| topic | key | partitions | retention / cleanup | record | producer | consumers |",
        "|---|---|---|---|---|---|---|",
    ]
    for spec in TOPICS.values():
        rec = spec.record.__name__ if spec.record is not dict else (spec.record_note or "policy document")
        parts = str(spec.partitions) if spec.partitions else "`RISKSTREAM_PARTITIONS` (4)"
        lines.append(
            f"| `{spec.name}` | {spec.key} | {parts} | {spec.cleanup()} | {rec} | {spec.producer} | {spec.consumers} |"
        )
    return "\n".join(lines)
