"""Two-phase incident aggregates on the real broker: one worker or two open the same incidents."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import time
from typing import Any

import pytest

from riskstream.contracts import IncidentCandidate, encode, to_dict
from riskstream.evaluation.incidents_eval import build_engine
from riskstream.models.incident_links import link_all
from riskstream.models.incidents import IncidentManager
from riskstream.models.region_model import RegionScorer
from riskstream.models.region_windows import InProcessWindows, MergeConfig
from riskstream.resources import sample_policy_dir
from riskstream.sim import SimConfig, default_scenarios, run
from riskstream.stream.incident_agents import IDLE_S
from riskstream.topology import TOPICS
from tests.integration.test_state import _wait_consumed, _workers

WORKER_TOPICS = ("listings", "reviews", "content", "detect", "decide")  # not aggregates: heartbeats refill it

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

BY_NAME = {s.name: k for k, s in TOPICS.items()}
SCENARIOS = ("counterfeit_wave", "review_farm", "review_bombing", "prohibited_surge")


def _sim() -> Any:
    return run(SimConfig(seed=102, duration_hours=10, events_per_hour=250, scenarios=default_scenarios(*SCENARIOS)))


def _in_process(sim: Any) -> list[IncidentCandidate]:
    """The harness's path (Engine -> one-source region merge -> a manager per region) on the same day."""
    engine, _ = build_engine(str(sample_policy_dir()))
    ignored = frozenset().union(*(p.shadow_rule_detectors() for p in engine.policies().values()))
    windows = InProcessWindows(MergeConfig(), None, ignored)
    managers: dict[str, IncidentManager] = {}
    scorer = RegionScorer({})
    out: list[IncidentCandidate] = []

    def handle(ws: Any) -> None:
        for w, rs in zip(ws, scorer.score(ws), strict=True):
            out.extend(managers.setdefault(w.region, IncidentManager()).process(w, rs))

    for _topic, _key, record in sim.events:
        if record.kind == "recall":
            continue
        outcome = engine.process(record)
        for action in outcome.actions:
            engine.note_actioned(action)
        if outcome.dead_letter is None:
            handle(windows.add(record, outcome.signals, outcome.actions))
    handle(windows.flush())
    return out


def _incidents(w: Any) -> list[dict[str, Any]]:
    """The incident records once the merge is quiet (every decide partition idle: the last windows closed)."""
    start = time.monotonic()
    last, stable_since, deadline = -1, start, start + 240
    records: list[dict[str, Any]] = []
    # The last windows close when every decide partition has been idle for IDLE_S (plus a heartbeat).
    while ((time.monotonic() - stable_since < 20 or time.monotonic() - start < IDLE_S + 15)
           and time.monotonic() < deadline):
        records = w.collect("incidents", until=lambda rs: False, timeout=3)
        if len(records) != last:
            last, stable_since = len(records), time.monotonic()
    return records


def _opened(records: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return sorted({(r["incident_id"], r["region"], r["harm_kind"], r["cluster"]) for r in records
                   if r["status"] == "open"})


@pytest.fixture(scope="module")
def day() -> tuple[list[tuple[str, str, bytes]], list[IncidentCandidate]]:
    sim = _sim()
    events = [(BY_NAME[t], k, encode(r)) for t, k, r in sim.events if BY_NAME[t] != "recalls"]
    return events, _in_process(sim)


def _play(kafka_bootstrap: str, tmp: Any, events: list[tuple[str, str, bytes]], n: int) -> list[dict[str, Any]]:
    workers = _workers(kafka_bootstrap, tmp, n)
    try:
        for w in workers:
            w.start()
        if n > 1:
            time.sleep(10)  # all in the group
        workers[0].produce_many(events)
        _wait_consumed(workers, len(events), timeout=300)
        records = _incidents(workers[0])
        closed = sum(w.metric("riskstream_incident_windows_closed_total") or 0 for w in workers)
        late = sum(w.metric("riskstream_incident_late_facts_total") or 0 for w in workers)
        assert late == 0, late  # every decided event reached its window before the window closed
        print(f"{n} worker(s): {len(records)} incident records, {closed:.0f} windows closed, {late:.0f} late facts")
        if n > 1:  # the merge ran on more than one worker or not: both must have decided events
            assert all((w.metric("riskstream_events_decided_total") or 0) > 0 for w in workers)
    finally:
        for w in workers:
            w.stop()
    return records


@pytest.fixture(scope="module")
def one_worker(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory,
               day: tuple[list[tuple[str, str, bytes]], list[IncidentCandidate]]) -> list[dict[str, Any]]:
    return _play(kafka_bootstrap, tmp_path_factory.mktemp("one"), day[0], 1)


def _kinds(opened: list[tuple[str, str, str, str]]) -> list[tuple[str, str, str]]:
    return sorted({o[1:] for o in opened})


def test_two_workers_open_the_incidents_of_one_and_of_the_in_process_path(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory,
    day: tuple[list[tuple[str, str, bytes]], list[IncidentCandidate]], one_worker: list[dict[str, Any]],
) -> None:
    events, expected = day
    want = sorted((c.incident_id, c.region, c.harm_kind, c.cluster) for c in expected if c.status == "open")
    assert len(want) >= 3, want  # the comparison means something
    one = one_worker
    two = _play(kafka_bootstrap, tmp_path_factory.mktemp("two"), events, 2)
    print("in-process:", want, "\none worker:", _opened(one), "\ntwo workers:", _opened(two))
    # Exact: the same incident ids.  (Not the same records: an open or update record's event id names
    # the window it was emitted in, and that window can move by one where an upstream order-sensitive
    # detector state flips a marginal listing between runs; see the note below and test_state.py.)
    assert _opened(two) == _opened(one)
    # The in-process engine sees the same events in one order; on the broker an order-sensitive
    # detector state (price_outlier's running baseline, docs/architecture.md) can flip a marginal
    # listing, which may move an incident's onset by a window (and so its id): the same incidents,
    # by region, harm kind and cluster.
    assert _kinds(_opened(one)) == _kinds(want)



def _drained(w: Any, timeout: float = 240) -> None:
    """Until the group has committed every record of the topics that feed the incidents (twice in a row)."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    from riskstream.stream.lag import collect

    topics = [w.topic(k) for k in WORKER_TOPICS]

    async def lag() -> int:
        admin = AIOKafkaAdminClient(bootstrap_servers=w.bootstrap)
        reader = AIOKafkaConsumer(bootstrap_servers=w.bootstrap, group_id=None, enable_auto_commit=False)
        await admin.start()
        await reader.start()
        try:
            return sum(x.lag for x in await collect(admin, reader, w.app_id, topics) if x.topic in topics)
        finally:
            await reader.stop()
            await admin.close()

    deadline, zeros = time.monotonic() + timeout, 0
    while zeros < 2:
        left = asyncio.run(lag())
        zeros = zeros + 1 if left == 0 else 0
        assert time.monotonic() < deadline, f"{left} records not committed after {timeout:.0f} s"
        time.sleep(3)


def test_a_sigkill_mid_day_opens_the_same_incidents(
    kafka_bootstrap: str, tmp_path: Any, day: tuple[list[tuple[str, str, bytes]], list[IncidentCandidate]],
    one_worker: list[dict[str, Any]],
) -> None:
    """Partials, region windows (header and chunks) and managers survive a SIGKILL; replays count once."""
    events, _ = day
    (w,) = _workers(kafka_bootstrap, tmp_path, 1)
    half = len(events) // 2
    try:
        w.start()
        w.produce_many(events[:half])
        _wait_consumed([w], half, timeout=300, phase="first half")
        time.sleep(8)  # windows closing, chunks and headers written; some of it not yet committed
        w.stop(sig=signal.SIGKILL)
        w.start()
        w.wait_control_topics_read()
        w.produce_many(events[half:])
        _wait_consumed([w], len(events) - half, timeout=300, phase="second half, after the SIGKILL")
        _drained(w)  # the replayed part of the first half included: every record decided and committed
        records = _incidents(w)
        late = w.metric("riskstream_incident_late_facts_total") or 0
    finally:
        w.stop()
    print(f"after a SIGKILL: {len(records)} incident records, {late:.0f} late facts (replays of closed windows)")
    assert _opened(records) == _opened(one_worker)


def _linked(records: list[Any]) -> list[tuple[str, str, str, str | None, tuple[str, ...]]]:
    """The link records, by (region, harm kind, cluster), with the (region of the) incident spread from."""
    rows = [r if isinstance(r, dict) else to_dict(r) for r in records]
    region_of_id = {r["incident_id"]: r["region"] for r in rows if r["status"] == "open"}
    return sorted({(r["region"], r["harm_kind"], r["cluster"], region_of_id.get(r["evidence"].get("spread_from", ""),
                                                                              r["evidence"].get("spread_from")),
                    tuple(r["regions_affected"])) for r in rows if "linked" in r["evidence"]})


def test_a_cross_region_spread_is_linked_on_the_broker_as_in_process(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The US/GB spread, compressed into a short day: the link agent links the UK incident to the US one,
    with one worker and with two, as the in-process path links it."""
    spread = tuple(dataclasses.replace(s, start_hour=2.0, duration_hours=6.0)
                   for s in default_scenarios("cross_region_spread"))
    sim = run(SimConfig(seed=3, duration_hours=10, events_per_hour=600, scenarios=spread))
    expected = _linked(link_all(_in_process(sim)))
    assert expected == [("UK", "illegal_goods", "term:dmaa", "US", ("UK", "US")),
                        ("US", "illegal_goods", "term:dmaa", None, ("UK", "US"))]
    events = [(BY_NAME[t], k, encode(r)) for t, k, r in sim.events if BY_NAME[t] != "recalls"]
    runs = {n: _play(kafka_bootstrap, tmp_path_factory.mktemp(f"spread{n}"), events, n) for n in (1, 2)}
    for n, records in runs.items():
        print(f"{n} worker(s), link records:", _linked(records))
        assert _linked(records) == expected
        # every link record's spread_from names an incident the broker run opened
        opened = {r["incident_id"] for r in records if r["status"] == "open"}
        assert all(r["evidence"]["spread_from"] in opened for r in records if "spread_from" in r["evidence"])
    # one worker or two: the same link records, to the event id
    def ids(records: list[dict[str, Any]]) -> list[tuple[str, str]]:
        return sorted((r["incident_id"], r["event_id"]) for r in records if "linked" in r["evidence"])
    assert ids(runs[2]) == ids(runs[1])
