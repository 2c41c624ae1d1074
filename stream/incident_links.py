"""Phase 3 of the incidents: cross-region spread, linked by one owner per (harm kind, cluster).

Each region's owner (``merge_aggregates``, `stream/incident_agents.py`), once its
candidates are on the broker, sends its open and resolve records again, keyed by
``harm|cluster``, to the internal ``risk.incident.links.v1`` (before it writes the
state that produced them: a crash re-sends both).  ``link_incidents`` (concurrency
1) keeps a :class:`~riskstream.models.incident_links.SpreadLinker` per key in the
changelog-backed ``incident-links`` table and sends its link records to
``risk.incidents.v1`` keyed by incident id.  Per batch: every record's key state is
read (the record made current, so the read and the write use its partition),
updated and its link records queued in the batch's outbox; the outbox is flushed,
and only then are the keys' states written: a crash in between replays the inputs
against the older state and re-sends the same link records (their event ids name
the link, so consumers dedupe them).  A record that does not decode or fails is
dead-lettered as ``processing_error``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson

from riskstream.contracts import IncidentCandidate, decode, encode
from riskstream.models.incident_links import SpreadLinker, link_key
from riskstream.models.incidents import IncidentConfig
from riskstream.stream import metrics as m
from riskstream.stream.faust_fixes import set_current_event

if TYPE_CHECKING:
    from riskstream.stream.agents import Pipeline

log = logging.getLogger("riskstream.incidents")

LINKED_STATUSES = ("open", "resolve")
"""The records a region owner sends to the linker (updates carry nothing it needs)."""


class IncidentLinks:
    """The ``incident-links`` table and the ``link_incidents`` agent that owns it."""

    def __init__(self, pipeline: Pipeline, config: IncidentConfig | None = None) -> None:
        self.p = pipeline
        self.config = config or IncidentConfig()
        self.table: Any = None

    def register(self) -> None:
        p = self.p
        self.table = p.app.Table("incident-links", default=None, key_type=bytes, value_type=bytes,
                                 partitions=p.settings.kafka.partitions)
        p.app.agent(p.topics.by_key["incident_links"], name="riskstream.link_incidents",
                    concurrency=1)(self.link_incidents)

    async def route(self, outbox: Any, candidates: list[IncidentCandidate]) -> None:
        """A region owner's open and resolve records, re-keyed by harm|cluster, into `outbox`."""
        for c in candidates:
            if c.status in LINKED_STATUSES:
                await outbox.add(self.p.names["incident_links"], link_key(c).encode(), encode(c))

    async def link_incidents(self, stream: Any) -> None:
        settings = self.p.settings
        async for events in stream.take_events(settings.batch_events, within=settings.batch_seconds):
            await self.p.tables_ready()  # a table write before its changelog's metadata would fail
            outbox = self.p.new_outbox()
            pending: dict[bytes, tuple[Any, SpreadLinker]] = {}  # key -> (its last input, its state)
            sent: list[IncidentCandidate] = []
            for source in events:
                msg = source.message
                raw: bytes = msg.value or b""
                try:
                    sent.extend(await self._link_one(outbox, source, raw, pending))
                except Exception as exc:  # a bug must not stop the linker or lose the record
                    log.exception("incident linking failed: %s[%s]@%s", msg.topic, msg.partition, msg.offset)
                    m.ERRORS.labels("link_incidents").inc()
                    await self.p.dead_letter_to(outbox, msg, raw, "processing_error", f"{type(exc).__name__}: {exc}")
            refused = await outbox.flush()
            if refused:
                log.error("%d link record(s) refused for good by the broker", len(refused))
            outbox.count_sent()
            for link in sent:
                m.count_incident(link)
            # The link records are on the broker: now the state that produced them.
            for key, (source, linker) in pending.items():
                set_current_event(source)
                self.table[key] = orjson.dumps(linker.state_dict())

    async def _link_one(self, outbox: Any, source: Any, raw: bytes,
                        pending: dict[bytes, tuple[Any, SpreadLinker]]) -> list[IncidentCandidate]:
        record = decode(raw, IncidentCandidate)
        key = link_key(record).encode()
        if (source.message.key or b"") != key:
            raise ValueError(f"record keyed {source.message.key!r}, not by its harm|cluster {key!r}")
        if key in pending:
            linker = pending[key][1]
        else:
            set_current_event(source)  # the read uses the input's partition
            saved = self.table.get(key)
            linker = SpreadLinker.from_state(orjson.loads(saved) if saved is not None else None, self.config)
        links = linker.process(record)
        for link in links:
            await outbox.add(self.p.names["incidents"], link.incident_id.encode(), encode(link))
        pending[key] = (source, linker)
        return links
