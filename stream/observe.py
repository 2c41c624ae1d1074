"""Worker observability that is not per-record: rebalances, assignment, tables, lag, open incidents.

`install(app, settings)` is the one call the app makes: it adds the
:class:`RebalanceSensor` to Faust's sensors and registers two tasks, the lag
collector (`riskstream.stream.lag`) and the table sampler.  Nothing here is
on an agent's path.

>>> g = OpenIncidentGauge()
>>> g.counts()[("fake_reviews", "EU", "low")]
0
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterable
from time import monotonic
from typing import Any

import faust

from riskstream.contracts import IncidentCandidate
from riskstream.models.incidents import HARM_WEIGHT
from riskstream.regions import REGIONS
from riskstream.settings import Settings
from riskstream.stream import metrics as m
from riskstream.stream.lag import run_lag_collector
from riskstream.stream.security import client_kwargs
from riskstream.stream.topics import topic_name

log = logging.getLogger("riskstream.observe")

GROUP_TOPICS: tuple[str, ...] = ("listings", "reviews", "content", "feedback", "violations")
"""Topics (keys in riskstream.topology.TOPICS) the worker group consumes; the lag collector
also reports any other topic the group has committed to (repartition topics, for example)."""

SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")


class RebalanceSensor(faust.Sensor):
    """Counts rebalances, times them (recovery included) and publishes the active assignment."""

    def on_rebalance_start(self, app: Any) -> dict[str, Any]:
        m.REBALANCES.inc()
        return {"time_start": monotonic()}

    def on_rebalance_return(self, app: Any, state: dict[str, Any]) -> None:
        state["time_return"] = monotonic()

    def on_rebalance_end(self, app: Any, state: dict[str, Any]) -> None:
        now = monotonic()
        m.REBALANCE_DURATION.observe(now - state.get("time_start", now))
        m.TABLE_RECOVERY.set(now - state.get("time_return", now))
        try:
            publish_assignment(tp.topic for tp in app.assignor.assigned_actives())
        except Exception:  # metrics never break a rebalance
            log.exception("could not read the partition assignment")


_assigned_topics: set[str] = set()


def publish_assignment(topics: Iterable[str]) -> None:
    """One gauge per topic: how many of its partitions this worker owns (0 once it owns none)."""
    counts = Counter(topics)
    for topic in _assigned_topics | set(counts):
        m.PARTITIONS_ASSIGNED.labels(topic).set(counts.get(topic, 0))
    _assigned_topics.update(counts)


async def sample_tables(app: Any, interval: float = 15.0) -> None:
    """Keys per table on this worker, every `interval` seconds."""
    while True:
        for table in list(app.tables.values()):
            try:
                m.TABLE_KEYS.labels(table.name).set(len(table))
            except Exception:
                log.debug("could not size table %s", table.name, exc_info=True)
        await asyncio.sleep(interval)


class OpenIncidentGauge:
    """``riskstream_incidents_open`` from the incident records this worker produced.

    Every (harm kind, region, severity) starts at 0, so "nothing open" is data, not a gap.
    """

    def __init__(self) -> None:
        self._open: dict[str, tuple[str, str, str]] = {}
        self.publish()

    def record(self, candidate: IncidentCandidate) -> None:
        if candidate.status == "resolve":
            self._open.pop(candidate.incident_id, None)
        else:
            self._open[candidate.incident_id] = (candidate.harm_kind, m.region_label(candidate.region),
                                                 candidate.severity)
        self.publish()

    def counts(self) -> dict[tuple[str, str, str], int]:
        out = {(h, r, s): 0 for h in HARM_WEIGHT for r in REGIONS for s in SEVERITIES}
        for key in self._open.values():
            out[key] = out.get(key, 0) + 1
        return out

    def publish(self) -> None:
        for labels, n in self.counts().items():
            m.INCIDENTS_OPEN.labels(*labels).set(n)


def install(app: faust.App, settings: Settings, *, lag_interval: float = 15.0) -> None:
    """Add the sensor and the lag / table tasks to `app` (call once, when the app is built)."""
    app.sensors.add(RebalanceSensor())
    watched = [topic_name(settings, key) for key in GROUP_TOPICS]

    async def collect_lag() -> None:
        await run_lag_collector(settings.kafka.bootstrap_servers, app.conf.id, watched, lag_interval,
                                kafka=client_kwargs(settings))

    async def size_tables() -> None:
        await sample_tables(app)

    app.task(collect_lag)
    app.task(size_tables)
