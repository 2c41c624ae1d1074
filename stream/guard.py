"""The blast-radius guard wired: per-batch rule counts -> one owner per region -> the control topic.

Two phases, as for incidents: every decide agent (the screen agents with
per-worker state, `decide_events` with partitioned state) sends, per batch,
one partial per (policy region, event-time window): events decided and
enforced actions per rule (`riskstream.stream.guard.partials`), keyed by
region onto the internal ``risk.guard.v1``.  `guard_rules`, on the partition
that owns the region, merges them in the ``blast-radius`` table (one
`RegionGuard` per region: open windows and a `GuardState` per rule) and
judges each rule when a window closes (`add_partial`).

A trip publishes ``{"kind": "blast_radius", "shadowed": true, ...}`` on
``control.policies.v1`` keyed ``guard|<region>|<rule>``; every worker's
control follower applies it (`PolicyRuntime.apply_guard`): the rule is
decided in shadow for the region, ``riskstream_rule_guard_shadowed`` is 1 and
the ``RiskstreamRuleShadowedByGuard`` alert fires.  ``riskstream policy
reenable --region R --rule X`` sends a re-enable command to the guard's
owner (same topic, keyed by the region), which clears the rule's state and
publishes ``shadowed: false`` under the same key: the owner is the only
writer of its guard records.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from riskstream.decisions.blast_radius import (
    GuardConfig,
    RegionGuard,
    Trip,
    add_partial,
    enforced_rules,
    reenable_rule,
)
from riskstream.engine import Outcome
from riskstream.regions import region_of
from riskstream.settings import GuardSettings
from riskstream.stream import metrics as m

if TYPE_CHECKING:
    from riskstream.stream.agents import Pipeline, _Batch

log = logging.getLogger("riskstream")


def partials(decided: list[Outcome], window_seconds: int) -> dict[tuple[str, int], dict[str, Any]]:
    """Per (policy region, window start): events decided and enforced actions per rule."""
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for outcome in decided:
        event = outcome.event
        region = region_of(event.region) if event is not None else None
        if event is None or region is None:
            continue
        ts = int(event.event_time.timestamp())
        part = out.setdefault((region, ts - ts % window_seconds), {"events": 0, "actions": {}})
        part["events"] += 1
        for action in outcome.actions:
            if action.mode != "enforced" or action.action == "allow":
                continue
            rules = action.evidence.get("detectors")
            for rule in rules if isinstance(rules, list) else ():
                part["actions"][str(rule)] = part["actions"].get(str(rule), 0) + 1
    return out


def control_key(region: str, rule: str) -> bytes:
    return f"guard|{region}|{rule}".encode()


def control_record(region: str, rule: str, shadowed: bool, *, trip: Trip | None = None, window: int | None = None,
                   by: str = "blast-radius guard") -> bytes:
    doc: dict[str, Any] = {"kind": "blast_radius", "region": region, "rule": rule, "shadowed": shadowed, "by": by,
                           "at": datetime.now(UTC).isoformat()}
    if trip is not None:
        doc["trip"] = {"rate": trip.rate, "baseline_rate": trip.baseline_rate, "actions": trip.actions,
                       "events": trip.events, "multiple": trip.multiple,
                       "window_start": datetime.fromtimestamp(window or 0, UTC).isoformat()}
    return orjson.dumps(doc)


def reenable_command(rule: str, by: str) -> bytes:
    return orjson.dumps({"type": "reenable", "rule": rule, "by": by, "at": datetime.now(UTC).isoformat()})


class Guard:
    """The `blast-radius` table, the agent that owns it, and the per-batch partials."""

    def __init__(self, pipeline: Pipeline, settings: GuardSettings) -> None:
        self.p = pipeline
        self.settings = settings
        self.cfg = GuardConfig(multiple=settings.multiple, min_actions=settings.min_actions,
                               baseline_windows=settings.baseline_windows,
                               min_baseline_windows=settings.min_baseline_windows)
        self.table: Any = None

    def register(self) -> list[tuple[Any, Any]]:
        p = self.p
        self.table = p.app.Table("blast-radius", default=None, key_type=bytes, value_type=bytes,
                                 partitions=p.settings.kafka.partitions)
        return [(self.guard_rules, p.topics.by_key["guard"])]

    async def partials_into(self, batch: _Batch) -> None:
        """The batch's decided events as guard partials (called before the batch's outputs are flushed)."""
        if not self.settings.enabled or not batch.decided:
            return
        for (region, window), part in partials(batch.decided, self.settings.window_seconds).items():
            value = orjson.dumps({"type": "partial", "window": window, **part})
            await batch.outbox.add(self.p.names["guard"], region.encode(), value)

    async def guard_rules(self, stream: Any) -> None:
        await self.p.process_batches(stream, "guard_rules", self._guard_one, failure="blast-radius guard failed")

    async def _guard_one(self, batch: _Batch, source: Any, raw: bytes) -> None:
        await self._handle(batch, (source.message.key or b"").decode(), orjson.loads(raw))

    async def _handle(self, batch: _Batch, region: str, doc: dict[str, Any]) -> None:
        current = self.table.get(region.encode())
        guard = RegionGuard.from_json(orjson.loads(current)) if current is not None else RegionGuard()
        if doc.get("type") == "reenable":
            rule = str(doc["rule"])
            guard = reenable_rule(guard, rule)
            self.table[region.encode()] = orjson.dumps(guard.to_json())
            await batch.outbox.add(self.p.names["policies"], control_key(region, rule),
                                   control_record(region, rule, False, by=str(doc.get("by", "policy manager"))))
            log.warning("blast-radius guard: re-enable of %s in %s by %s", rule, region, doc.get("by"))
            return
        base = self.p.policies.base_policy(region)
        exempt = self.settings.exempt_rules
        known = tuple(r for r in enforced_rules(base) if r not in exempt) if base is not None else ()
        window = int(doc["window"])
        before = {*guard.open, window}
        guard, trips, late = add_partial(guard, window, int(doc["events"]),
                                         {str(k): int(v) for k, v in doc.get("actions", {}).items()
                                          if k not in exempt}, self.cfg,
                                         self.settings.window_seconds, self.settings.grace_seconds, known)
        label = m.region_label(region)
        if late:
            batch.tally.inc(m.GUARD_LATE_PARTIALS, label)
            return
        if len(before) > len(guard.open):
            batch.tally.inc(m.GUARD_WINDOWS, label, n=len(before) - len(guard.open))
        self.table[region.encode()] = orjson.dumps(guard.to_json())
        for rule, trip, window in trips:
            batch.tally.inc(m.GUARD_TRIPS, rule, label)
            log.error("blast-radius guard tripped: %s in %s enforced %d of %d events (rate %.4f, baseline %.4f, "
                      "x%.1f): now in shadow", rule, region, trip.actions, trip.events, trip.rate,
                      trip.baseline_rate, trip.multiple)
            await batch.outbox.add(self.p.names["policies"], control_key(region, rule),
                                   control_record(region, rule, True, trip=trip, window=window))
