"""Cross-region spread: links incidents of one (harm kind, cluster) opened in different regions.  Pure.

Each region's :class:`~riskstream.models.incidents.IncidentManager` lives on the
region's owner, so it cannot see the other regions' incidents.  This third phase
can: fed the open and resolve records of every region (in any order between
regions, each incident's own records in order), a :class:`SpreadLinker` keeps,
per (harm kind, cluster), the incidents of that key (incident id, region,
onset, status, last window end, its open record) and returns *link records*.

**When two incidents link.** Two incidents of the same harm kind and cluster in
different regions link when the earlier one (by onset, ties by incident id) is
open, or was last active no more than ``spread_horizon_s`` (the manager
config's) before the later one's onset.  The relation depends on the incidents,
not on which record arrived first: the result is the same in any arrival order
as long as an incident's resolve record is not overtaken, by more than the
horizon (seven days by default) of event time, by another region's records of
the same key.  A link, once made, stays.

**Link records.** Whenever an incident's linked view changes (the set of
regions it is linked with, or the incident it spread from), one record for it:
an ``update``-status :class:`~riskstream.contracts.IncidentCandidate` that is
the incident's open record with

* ``regions_affected``: its region and the regions of every incident it is
  linked with;
* ``evidence["spread_from"]``: the linked incident with the earliest onset (ties
  by id), when that one is earlier than this one (the first incident of a
  spread carries none);
* ``evidence["linked"]``: the linked incident ids (sorted);
* ``event_id`` = ``stable_id(incident_id, "link", spread_from, *regions)`` and
  ``event_time`` the latest open time among the incident and those it links
  with (when the link became knowable).

The event id names the view only, so a replay (the same records again, or the
same records after a restart from an older state) produces the same event ids:
consumers dedupe by event id.  Severity, score, reach and the rest are the open
record's; the region's manager keeps sending its own updates and resolve, which
do not carry the link (fold link records in: ``regions_affected`` union,
``spread_from`` sticky).

>>> from datetime import UTC, datetime, timedelta
>>> from riskstream.contracts import IncidentCandidate, stable_id
>>> t0 = datetime(2026, 3, 2, tzinfo=UTC)
>>> def opened(region, hours):
...     t = t0 + timedelta(hours=hours)
...     return IncidentCandidate(incident_id=stable_id(region), status="open", event_id=stable_id(region, "o"),
...         event_time=t, region=region, harm_kind="illegal_goods", cluster="term:dmaa", severity="high",
...         onset_time=t, score=0.7, regions_affected=[region])
>>> linker = SpreadLinker()
>>> linker.process(opened("EU", 0))
[]
>>> [(r.region, r.status, r.regions_affected, r.evidence.get("spread_from") == stable_id("EU"))
...  for r in linker.process(opened("UK", 5))]
[('EU', 'update', ['EU', 'UK'], False), ('UK', 'update', ['EU', 'UK'], True)]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson

from riskstream.contracts import IncidentCandidate, decode, parse_time, stable_id, to_dict
from riskstream.models.incidents import IncidentConfig

LinkKey = tuple[str, str]
"""(harm kind, cluster)."""


def link_key(record: IncidentCandidate) -> str:
    """The key a record is routed and stored by: ``harm|cluster``.

    >>> from datetime import UTC, datetime
    >>> t = datetime(2026, 3, 2, tzinfo=UTC)
    >>> link_key(IncidentCandidate(incident_id="i", status="open", event_id="e", event_time=t, region="EU",
    ...     harm_kind="counterfeit", cluster="brand:voltmax", severity="low", onset_time=t, score=0.1))
    'counterfeit|brand:voltmax'
    """
    return f"{record.harm_kind}|{record.cluster}"


@dataclass
class _Entry:
    incident_id: str
    region: str
    onset: str
    opened: str  # event time of its open record (or of the first record seen)
    last_end: str  # the latest event time of its records (a resolve's is the resolving window's end)
    status: Literal["open", "resolved"]
    base: dict[str, Any]  # its open record (or the first record seen), as JSON
    links: list[str] = field(default_factory=list)  # linked incident ids (sticky)
    emitted: list[str] = field(default_factory=list)  # the last view sent: [spread_from or "", *regions]

    def order(self) -> tuple[datetime, str]:
        return parse_time(self.onset), self.incident_id


class SpreadLinker:
    """Incidents per (harm kind, cluster) and their cross-region links; see the module docstring."""

    def __init__(self, config: IncidentConfig | None = None) -> None:
        self.horizon_s = (config or IncidentConfig()).spread_horizon_s
        self._keys: dict[str, dict[str, _Entry]] = {}

    # ------------------------------------------------------------ public

    def process(self, record: IncidentCandidate) -> list[IncidentCandidate]:
        """Account one incident record; return the link records it produced (sorted by incident id)."""
        key = link_key(record)
        entries = self._keys.setdefault(key, {})
        self._note(entries, record)
        self._evict(entries)
        self._link(entries)
        out: list[IncidentCandidate] = []
        for inc_id in sorted(entries):
            e = entries[inc_id]
            if not e.links:
                continue
            view = self._view(e, entries)
            if view != e.emitted:
                e.emitted = view
                out.append(self._record(e, entries))
        return out

    def process_all(self, records: Iterable[IncidentCandidate]) -> list[IncidentCandidate]:
        return [r for rec in records for r in self.process(rec)]

    def incidents(self, harm_kind: str, cluster: str) -> list[dict[str, Any]]:
        """The key's incidents (id, region, onset, status, last window end, links), by onset."""
        entries = self._keys.get(f"{harm_kind}|{cluster}", {})
        return [{"incident_id": e.incident_id, "region": e.region, "onset": e.onset, "status": e.status,
                 "last_end": e.last_end, "links": list(e.links)}
                for e in sorted(entries.values(), key=_Entry.order)]

    # ------------------------------------------------------------ internals

    @staticmethod
    def _note(entries: dict[str, _Entry], r: IncidentCandidate) -> None:
        t = r.event_time.isoformat()
        e = entries.get(r.incident_id)
        if e is None:
            entries[r.incident_id] = _Entry(r.incident_id, r.region, r.onset_time.isoformat(), t, t,
                                            "resolved" if r.status == "resolve" else "open", to_dict(r))
            return
        if parse_time(t) > parse_time(e.last_end):
            e.last_end = t
        if r.status == "resolve":
            e.status = "resolved"
        elif r.status == "open" and e.base.get("status") != "open":  # the first record seen was not its open
            e.base, e.opened = to_dict(r), t

    def _linked(self, a: _Entry, b: _Entry) -> bool:
        if a.region == b.region:
            return False
        first, later = sorted((a, b), key=_Entry.order)
        return first.status == "open" or (
            parse_time(first.last_end).timestamp() >= parse_time(later.onset).timestamp() - self.horizon_s)

    def _link(self, entries: dict[str, _Entry]) -> None:
        items = sorted(entries.values(), key=lambda e: e.incident_id)
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                if b.incident_id not in a.links and self._linked(a, b):
                    a.links = sorted({*a.links, b.incident_id})
                    b.links = sorted({*b.links, a.incident_id})

    def _evict(self, entries: dict[str, _Entry]) -> None:
        """Resolved incidents two horizons older than the key's newest record: nothing can link to them now."""
        newest = max(parse_time(e.last_end).timestamp() for e in entries.values())
        for inc_id in [i for i, e in entries.items()
                       if e.status == "resolved" and parse_time(e.last_end).timestamp() < newest - 2 * self.horizon_s]:
            del entries[inc_id]
        for e in entries.values():
            e.links = [i for i in e.links if i in entries]

    @staticmethod
    def _view(e: _Entry, entries: dict[str, _Entry]) -> list[str]:
        linked = [entries[i] for i in e.links]
        first = min([e, *linked], key=_Entry.order)
        spread_from = first.incident_id if first is not e else ""
        return [spread_from, *sorted({e.region, *(x.region for x in linked)})]

    def _record(self, e: _Entry, entries: dict[str, _Entry]) -> IncidentCandidate:
        spread_from, *regions = e.emitted
        linked = [entries[i] for i in e.links]
        base = dict(e.base)
        evidence = dict(base.get("evidence") or {})
        if spread_from:
            evidence["spread_from"] = spread_from
        evidence["linked"] = list(e.links)
        when = max(parse_time(x.opened) for x in [e, *linked])
        base.update(status="update", event_id=stable_id(e.incident_id, "link", spread_from, *regions),
                    event_time=when.isoformat(), regions_affected=regions, evidence=evidence)
        return decode(orjson.dumps(base), IncidentCandidate)

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """JSON-able snapshot (the config is not included: the caller passes it to :meth:`from_state`)."""
        return {"keys": {k: [asdict(e) for e in sorted(v.values(), key=lambda e: e.incident_id)]
                         for k, v in sorted(self._keys.items())}}

    @classmethod
    def from_state(cls, state: dict[str, Any] | None, config: IncidentConfig | None = None) -> SpreadLinker:
        linker = cls(config)
        for key, entries in ((state or {}).get("keys") or {}).items():
            linker._keys[key] = {obj["incident_id"]: _Entry(**obj) for obj in entries}
        return linker


def link_all(records: Iterable[IncidentCandidate], config: IncidentConfig | None = None) -> list[IncidentCandidate]:
    """`records` with the link records of their open and resolve records interleaved (the in-process path)."""
    linker = SpreadLinker(config)
    out: list[IncidentCandidate] = []
    for r in records:
        out.append(r)
        if r.status in ("open", "resolve"):
            out.extend(linker.process(r))
    return out
