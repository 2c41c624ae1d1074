"""Per-rule feedback statistics in a changelog-backed table (issue 9, item 4).

`track_feedback` re-keys each moderator outcome by ``rule|region`` (policy
region) onto the internal ``risk.feedback.rules.v1``; `count_feedback`, on
the partition that owns the key, keeps the counts in the ``rule-feedback``
table and exports ``riskstream_rule_precision`` and
``riskstream_rule_overturn_rate`` for the keys it owns.  One worker or two,
before and after a restart, the table holds the same counts; a timer
re-exports the gauges from the table every few seconds, so a restarted or
rebalanced worker exports the keys it now owns (and drops the ones it lost).
A feedback event delivered again (a replay after a crash) is recognised by
its event id among the key's most recent ones and not counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any, Final

import orjson

from riskstream.contracts import ModerationFeedback, decode, encode
from riskstream.stream import metrics as m

if TYPE_CHECKING:
    from riskstream.stream.agents import Pipeline, _Batch

log = logging.getLogger("riskstream")

OUTCOMES: Final = ("confirmed", "overturned", "appeal_granted")
RECENT_IDS: Final = 256  # event ids remembered per key: a replay re-delivers at most a batch or two
EXPORT_SECONDS: Final = 5.0


def stats_key(fb: ModerationFeedback) -> str:
    return f"{fb.rule}|{m.region_label(fb.region)}"


def counted(value: dict[str, Any] | None, fb: ModerationFeedback) -> dict[str, Any] | None:
    """The key's new counts with `fb` added; None when `fb` was counted already.

    >>> from riskstream.contracts import parse_time
    >>> fb = ModerationFeedback(event_id="f1", event_time=parse_time("2026-01-01T00:00:00Z"), region="DE",
    ...                         action_id="a1", rule="prohibited_terms", outcome="overturned")
    >>> v = counted(None, fb)
    >>> v["overturned"], counted(v, fb)
    (1, None)
    """
    value = value or {o: 0 for o in OUTCOMES} | {"recent": []}
    if fb.event_id in value["recent"]:
        return None
    new: dict[str, Any] = {o: int(value.get(o, 0)) for o in OUTCOMES}
    new[fb.outcome] += 1
    new["recent"] = [*value["recent"], fb.event_id][-RECENT_IDS:]
    return new


class FeedbackStats:
    """The `rule-feedback` table and the agent that owns it."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline
        self.table: Any = None
        self._exported: set[tuple[str, str]] = set()

    def register(self) -> list[tuple[Any, Any]]:
        p = self.p
        self.table = p.app.Table("rule-feedback", default=None, key_type=bytes, value_type=bytes,
                                 partitions=p.settings.kafka.partitions)
        p.app.task(self.export_every)
        return [(self.count_feedback, p.topics.by_key["feedback_rules"])]

    async def route(self, batch: _Batch, source: Any, fb: ModerationFeedback) -> None:
        """Re-key one outcome by rule|region, to the owner of its counts."""
        await batch.outbox.add(self.p.names["feedback_rules"], stats_key(fb).encode(), encode(fb), tag=source)

    async def count_feedback(self, stream: Any) -> None:
        await self.p.process_batches(stream, "count_feedback", self._count_one, failure="feedback statistics failed")

    async def _count_one(self, batch: _Batch, source: Any, raw: bytes) -> None:
        fb = decode(raw, ModerationFeedback)
        key = stats_key(fb)
        current = self.table.get(key.encode())
        new = counted(orjson.loads(current) if current is not None else None, fb)
        if new is None:  # counted already (a replay)
            return
        self.table[key.encode()] = orjson.dumps(new)
        rule, region = key.split("|", 1)
        batch.tally.inc(m.RULE_FEEDBACK, rule, region, fb.outcome)
        self._set(rule, region, new)

    def _set(self, rule: str, region: str, value: dict[str, Any]) -> None:
        total = sum(int(value[o]) for o in OUTCOMES)
        if total:
            m.RULE_PRECISION.labels(rule, region).set(value["confirmed"] / total)
            m.RULE_OVERTURN_RATE.labels(rule, region).set((value["overturned"] + value["appeal_granted"]) / total)
            self._exported.add((rule, region))

    async def export_every(self) -> None:
        while True:
            await asyncio.sleep(EXPORT_SECONDS)
            self.export()

    def export(self) -> None:
        """The gauges of exactly the keys this worker's table partitions hold now."""
        try:
            owned: set[tuple[str, str]] = set()
            for k, v in list(self.table.items()):
                if v is None:
                    continue
                rule, _, region = (k.decode() if isinstance(k, bytes) else str(k)).partition("|")
                self._set(rule, region, orjson.loads(v))
                owned.add((rule, region))
            for labels in self._exported - owned:
                for gauge in (m.RULE_PRECISION, m.RULE_OVERTURN_RATE):
                    with contextlib.suppress(KeyError):
                        gauge.remove(*labels)
            self._exported = owned
            m.RULE_FEEDBACK_KEYS.set(len(owned))
        except Exception:
            log.exception("could not export the rule-feedback gauges")
