"""Appeals wired: an overturned or granted appeal reverses its enforced action downstream.

The design, one owner per piece of state:

* **The original action.**  Feedback on ``moderation.feedback.v1`` names the
  action by ``action_id``.  Every enforced action is also sent, evidence
  trimmed (`riskstream.decisions.appeals.appealable`), to the internal
  ``risk.appealable.v1`` keyed by ``action_id``; `index_actions` keeps it in
  the changelog-backed ``appealable-actions`` table.  A reversing outcome is
  re-keyed by its ``action_id`` onto the same topic, so the one agent that
  owns an action id's partition both holds the original and reverses it (it
  does not depend on how the moderation tool keys its records, and the
  original, produced when the action was decided, is ahead of its appeal in
  that partition).
* **The reversal** (`reversal`: action ``allow``, ``reverses`` the original)
  goes through the agents' `_emit_into`, so it is deduplicated by its
  idempotency key in the ``enforced-actions`` table like any enforced action:
  the key depends only on the original action id, and an action id's
  feedback is always read on one partition, so a replayed appeal (or an
  ``appeal_granted`` after an ``overturned``) is suppressed.
* **The ledger**: `_emit_into` re-keys the reversal by seller/creator onto
  ``risk.violations.v1``, and the ledger's owner (`track_violations` ->
  `Engine.on_violation`) removes the original's points.
* **The actioned-listing broadcast**: every worker reads ``risk.actions.v1``;
  `Engine.note_actioned` forgets a listing whose remove/hold was reversed.
* **DSA**: where the original EU restriction had a statement of reasons, the
  reversal carries ``evidence.dsa_statement`` (`statement_of_reversal`).

The index expires like the idempotency keys (stream/dedupe.py), over a longer
horizon: an entry is stamped with the time its action was enforced (the
record's time on ``risk.appealable.v1``), counts as absent once it is older than
the appeal window (``RISKSTREAM_APPEAL_WINDOW_DAYS``, 183 days by default: the
DSA's Art. 20(1) has users appeal for at least six months; never shorter than
the replay horizon), and is removed by the worker's sweep and by the
changelog's ``compact,delete`` retention.

A reversing outcome whose action id is not in the index (never enforced by
this pipeline, its action not indexed yet, or indexed longer ago than the
horizon) is dead-lettered as ``unknown_action``: one reason for all three,
since once an expired entry is swept it cannot be told from one never
indexed; the detail says "expired" while the local store still holds it.
``riskstream deadletters replay --reason unknown_action`` re-injects it once
the action is there (an expired one is dead-lettered again).
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import orjson

from riskstream.contracts import EnforcementAction, ModerationFeedback, decode, encode
from riskstream.decisions.appeals import REVERSING_OUTCOMES, appealable, reversal
from riskstream.decisions.dsa import NoStatement, statement_of_reversal
from riskstream.regions import region_of
from riskstream.stream import metrics as m
from riskstream.stream.dedupe import DAY, DedupeRecord, changelog_configs

if TYPE_CHECKING:
    from riskstream.stream.agents import Pipeline, _Batch

log = logging.getLogger("riskstream")


class Appeals:
    """The appeals index (table ``appealable-actions``, keyed by action id) and reversals."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.p = pipeline
        self.index: Any = None
        self.writer: Any = None  # TableWriter of the index: its changelog records go with the batch

    def register(self) -> list[tuple[Any, Any]]:
        """Declare the table; the agents to register (function, topic)."""
        p = self.p
        self.index = p.app.Table("appealable-actions", default=None, key_type=bytes, value_type=bytes,
                                 partitions=p.settings.kafka.partitions,
                                 extra_topic_configs=changelog_configs(p.appeal_horizon))
        self.writer = p.table_writer(self.index)
        return [(self.index_actions, p.topics.by_key["appealable"])]

    async def index_into(self, batch: _Batch, source: Any, action: EnforcementAction) -> None:
        """An enforced action just emitted: to its action id's partition, for a later appeal."""
        kept = appealable(action)
        if kept is not None:
            await batch.outbox.add(self.p.names["appealable"], action.action_id.encode(), encode(kept), tag=source)

    async def route(self, batch: _Batch, source: Any, fb: ModerationFeedback) -> None:
        """A reversing outcome, re-keyed by its action id: to the owner of the original."""
        if fb.outcome in REVERSING_OUTCOMES:
            await batch.outbox.add(self.p.names["appealable"], fb.action_id.encode(), encode(fb), tag=source)

    async def index_actions(self, stream: Any) -> None:
        """risk.appealable.v1: actions into the `appealable-actions` table, appeals into reversals."""
        await self.p.process_batches(stream, "index_actions", self._index_one, failure="unreadable appealable action")

    async def _index_one(self, batch: _Batch, source: Any, raw: bytes) -> None:
        if orjson.loads(raw).get("kind") == "feedback":  # an appeal re-keyed by track_feedback
            await self.reverse(batch, source, decode(raw, ModerationFeedback))
            return
        action = decode(raw, EnforcementAction)
        # Stamped with the time it was enforced (sent by the enforcing batch): the horizon runs from then.
        self.p.write_table(batch, self.writer, action.action_id.encode(),
                           DedupeRecord.dump(raw, source.message.timestamp or batch.now), source.message.partition)

    async def reverse(self, batch: _Batch, source: Any, fb: ModerationFeedback) -> None:
        """A reversing outcome, on the partition that owns its action id: the reversal (deduplicated)."""
        p, msg = self.p, source.message
        region = m.region_label(fb.region)
        value = self.index.get(fb.action_id.encode())
        if value is None or not DedupeRecord.live(value, batch.now, p.appeal_horizon):
            batch.tally.inc(m.APPEALS, "unknown_action", region)
            await p._dead_letter_into(batch, msg, msg.value or b"", "unknown_action",
                                      f"no enforced action {fb.action_id[:128]!r} in the appeals index "
                                      f"({self._absent_because(value, p.appeal_horizon)})")
            return
        original = decode(DedupeRecord.payload(value), EnforcementAction)
        rev = reversal(fb, original)
        if rev is None:
            batch.tally.inc(m.APPEALS, "not_reversible", region)
            return
        group = region_of(original.region)
        policy = p.engine.policy(group) if group else None
        if policy is not None:
            try:
                statement = statement_of_reversal(rev, original, policy)
                rev = dataclasses.replace(rev, evidence={**rev.evidence, "dsa_statement": statement})
            except NoStatement:
                pass  # the original had no statement of reasons: its reversal needs none either
        key = rev.idempotency_key.encode()
        duplicate = key in batch.seen_keys or DedupeRecord.live(p.enforced_keys.get(key), batch.now, p.dedupe_horizon)
        batch.tally.inc(m.APPEALS, "duplicate" if duplicate else "reversed", region)
        from riskstream.engine import Outcome

        await p._emit_into(batch, source, Outcome(actions=[rev]), "feedback", msg.timestamp or None)

    @staticmethod
    def _absent_because(value: bytes | None, horizon: float) -> str:
        at = DedupeRecord.enforced_at(value) if value is not None else None
        if at is None:
            return "not enforced by this pipeline, expired, or not indexed yet: replay it later"
        return (f"expired: enforced {datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M}Z, longer ago than the "
                f"appeal window of {horizon / DAY:g} days: a replay is dead-lettered again")
