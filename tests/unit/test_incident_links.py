"""Cross-region spread (`SpreadLinker`): links whatever the arrival order, idempotent replays, the horizon,
resolve; the in-process harness links a simulated spread; the `link_incidents` agent on fakes."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from riskstream.contracts import IncidentCandidate, encode, stable_id
from riskstream.models.incident_links import SpreadLinker, link_all, link_key
from riskstream.models.incidents import IncidentConfig
from tests.unit.test_appeals_index import FakeStream, FakeTable, Message, Source, out, pipeline

T0 = datetime(2026, 3, 2, tzinfo=UTC)
HORIZON_H = IncidentConfig().spread_horizon_s / 3600


def rec(region: str, status: str, onset_h: float, at_h: float, harm: str = "illegal_goods",
        cluster: str = "term:dmaa") -> IncidentCandidate:
    onset = T0 + timedelta(hours=onset_h)
    at = T0 + timedelta(hours=at_h)
    inc = stable_id("incident", region, harm, cluster, onset.isoformat())
    return IncidentCandidate(incident_id=inc, status=status, event_id=stable_id(inc, status, at.isoformat()),  # type: ignore[arg-type]
                             event_time=at, region=region, harm_kind=harm, cluster=cluster, severity="high",
                             onset_time=onset, score=0.7, regions_affected=[region], series=[f"{region}/x"],
                             evidence={"peak_count": 9})


def incident(region: str, onset_h: float, resolve_h: float | None, **kw: Any) -> list[IncidentCandidate]:
    """An incident's records in its own order: open (a window after onset), an update, maybe resolve."""
    rs = [rec(region, "open", onset_h, onset_h + 0.5, **kw), rec(region, "update", onset_h, onset_h + 1, **kw)]
    if resolve_h is not None:
        rs.append(rec(region, "resolve", onset_h, resolve_h, **kw))
    return rs


def feed(records: list[IncidentCandidate], linker: SpreadLinker | None = None) -> list[IncidentCandidate]:
    linker = linker or SpreadLinker()
    return [x for r in records if r.status in ("open", "resolve") for x in linker.process(r)]


def final_views(links: list[IncidentCandidate]) -> dict[str, tuple[str | None, tuple[str, ...], tuple[str, ...]]]:
    """The last link record per incident: (spread_from, regions_affected, linked)."""
    return {r.incident_id: (r.evidence.get("spread_from"), tuple(r.regions_affected), tuple(r.evidence["linked"]))
            for r in links}


def interleave(per_incident: list[list[IncidentCandidate]], rng: random.Random) -> list[IncidentCandidate]:
    """A random arrival order that keeps each incident's own records in order (one producer per region)."""
    slots = [i for i, rs in enumerate(per_incident) for _ in rs]
    rng.shuffle(slots)
    iters = [iter(rs) for rs in per_incident]
    return [next(iters[i]) for i in slots]


def test_an_incident_opening_in_a_second_region_links_both_ways() -> None:
    us, uk = incident("US", 0, None), incident("UK", 4, None)
    links = feed([*us, *uk])
    by_id = {r.incident_id: r for r in links}
    assert set(by_id) == {us[0].incident_id, uk[0].incident_id}
    later, first = by_id[uk[0].incident_id], by_id[us[0].incident_id]
    assert later.status == first.status == "update"
    assert later.evidence["spread_from"] == us[0].incident_id and "spread_from" not in first.evidence
    assert later.regions_affected == first.regions_affected == ["UK", "US"]
    assert later.evidence["linked"] == [us[0].incident_id] and first.evidence["linked"] == [uk[0].incident_id]
    # the open record's fields, the link's time and a key of its own
    assert later.evidence["peak_count"] == 9 and later.series == ["UK/x"] and later.onset_time == uk[0].onset_time
    assert later.event_time == first.event_time == uk[0].event_time
    assert later.event_id != uk[0].event_id and link_key(later) == "illegal_goods|term:dmaa"


def test_other_keys_and_the_same_region_do_not_link() -> None:
    records = [*incident("US", 0, None), *incident("UK", 2, None, cluster="term:ivory"),
               *incident("UK", 3, None, harm="counterfeit"), *incident("US", 5, None)]  # same region again
    assert feed(records) == []


@pytest.mark.parametrize("seed", range(25))
def test_links_do_not_depend_on_which_region_arrives_first(seed: int) -> None:
    rng = random.Random(seed)
    per_incident = [incident("US", 0, 20), incident("UK", 6, None), incident("EU", 3, 30),
                    incident("SEA", 40, 45),  # within the horizon of the EU resolve
                    incident("EU", 0, 10, cluster="term:ivory"), incident("US", 2, None, cluster="term:ivory")]
    canonical = feed(sorted((r for rs in per_incident for r in rs), key=lambda r: r.event_time))
    shuffled = feed(interleave(per_incident, rng))
    assert final_views(shuffled) == final_views(canonical)
    us, uk, eu, sea = (rs[0].incident_id for rs in per_incident[:4])
    views = final_views(canonical)
    assert views[sea] == (us, ("EU", "SEA", "UK", "US"), tuple(sorted((us, uk, eu))))  # earliest onset: US
    assert views[us][0] is None and views[uk][0] == us and views[eu][0] == us
    # every link record of the final views was sent with the same event id in both orders
    assert {r.event_id for r in shuffled if final_views([r]) == {r.incident_id: views[r.incident_id]}} == \
        {r.event_id for r in canonical if final_views([r]) == {r.incident_id: views[r.incident_id]}}


@pytest.mark.parametrize("seed", range(10))
def test_two_regions_send_identical_link_records_in_any_order(seed: int) -> None:
    per_incident = [incident("US", 0, 12), incident("UK", 4, 15)]
    canonical = feed(sorted((r for rs in per_incident for r in rs), key=lambda r: r.event_time))
    shuffled = feed(interleave(per_incident, random.Random(seed)))
    assert len(canonical) == 2
    assert sorted(encode(r) for r in shuffled) == sorted(encode(r) for r in canonical)


def test_a_replay_sends_the_same_event_ids_and_a_repeat_sends_nothing() -> None:
    records = [r for rs in (incident("US", 0, 20), incident("UK", 6, None), incident("EU", 3, 30)) for r in rs]
    records.sort(key=lambda r: r.event_time)
    whole = SpreadLinker()
    sent = feed(records, whole)
    assert feed(records, whole) == []  # every record again: nothing new
    ids = {r.event_id for r in sent}
    for cut in range(len(records)):  # a crash after the cut-th record: state saved earlier, inputs replayed
        for saved_at in range(cut + 1):
            linker = SpreadLinker()
            before = feed(records[:saved_at], linker)
            restored = SpreadLinker.from_state(orjson.loads(orjson.dumps(linker.state_dict())))
            replayed = feed(records[saved_at:], restored)
            assert {r.event_id for r in [*before, *replayed]} == ids
            assert restored.state_dict() == whole.state_dict()


@pytest.mark.parametrize(("gap_h", "linked"), [(-1.0, True), (1.0, False)])
def test_a_resolved_incident_links_only_within_the_horizon(gap_h: float, linked: bool) -> None:
    us = incident("US", 0, 2)
    uk = incident("UK", 2 + HORIZON_H + gap_h, None)  # onset this long after the US incident's resolve
    links = feed([*us, *uk])
    assert bool(links) is linked
    if linked:
        assert final_views(links)[uk[0].incident_id][0] == us[0].incident_id
        assert final_views(feed([*uk, *us])) == final_views(links)  # the UK records first: the same links
    else:
        # The documented limit: the UK records overtaking the US resolve by more than the horizon of event
        # time see the US incident open, and the link, once made, stays.
        assert feed([*uk, *us])


def test_an_open_incident_links_however_long_ago_it_opened() -> None:
    us, uk = incident("US", 0, None), incident("UK", 3 * HORIZON_H, None)
    assert final_views(feed([*uk, *us]))[uk[0].incident_id][0] == us[0].incident_id


def test_resolve_keeps_links_sends_nothing_new_and_old_incidents_are_forgotten() -> None:
    linker = SpreadLinker()
    us, uk = incident("US", 0, 10), incident("UK", 4, 12)
    assert len(feed([us[0], uk[0]], linker)) == 2
    assert feed([us[2], uk[2]], linker) == []  # resolving changes no view
    assert [(i["status"], i["links"]) for i in linker.incidents("illegal_goods", "term:dmaa")] == [
        ("resolved", [uk[0].incident_id]), ("resolved", [us[0].incident_id])]
    # a resolved incident linked later: its record (status update) is its open record with the grown regions
    eu = incident("EU", 20, None)
    links = {r.incident_id: r for r in feed([eu[0]], linker)}
    assert links[us[0].incident_id].regions_affected == ["EU", "UK", "US"]
    assert links[eu[0].incident_id].evidence["spread_from"] == us[0].incident_id
    # two horizons after their resolve, the key forgets them
    feed([rec("SEA", "open", 12 + 2 * HORIZON_H + 1, 12 + 2 * HORIZON_H + 1.5)], linker)
    kept = {i["region"] for i in linker.incidents("illegal_goods", "term:dmaa")}
    assert kept == {"EU", "SEA"}


def test_link_all_interleaves_link_records_after_their_trigger() -> None:
    records = sorted([*incident("US", 0, None), *incident("UK", 4, None)], key=lambda r: r.event_time)
    out_ = link_all(records)
    assert [r.event_id for r in out_ if r in records] == [r.event_id for r in records]
    trigger = next(i for i, r in enumerate(out_) if r.status == "open" and r.region == "UK")
    assert {r.region for r in out_[trigger + 1:trigger + 3]} == {"US", "UK"}
    assert all("linked" in r.evidence for r in out_[trigger + 1:trigger + 3])


def test_the_harness_links_a_simulated_cross_region_spread() -> None:
    from riskstream.evaluation.incidents_eval import evaluate_incidents
    from riskstream.sim import SimConfig, default_scenarios

    spread = tuple(dataclasses.replace(s, start_hour=2.0, duration_hours=6.0)
                   for s in default_scenarios("cross_region_spread"))
    res = evaluate_incidents(SimConfig(seed=3, duration_hours=10, events_per_hour=600, scenarios=spread))
    opened = {(r.region, r.harm_kind, r.cluster): r.incident_id for r in res.incidents if r.status == "open"}
    first, later = opened[("US", "illegal_goods", "term:dmaa")], opened[("UK", "illegal_goods", "term:dmaa")]
    links = [r for r in res.incidents if "linked" in r.evidence]
    assert final_views(links) == {first: (None, ("UK", "US"), (later,)), later: (first, ("UK", "US"), (first,))}


# ------------------------------------------------------------------ the agent, on fakes


def test_the_link_agent_sends_link_records_dead_letters_bad_ones_and_writes_state_after_sending() -> None:
    p, delivered = pipeline()
    assert p.incident_stages is not None
    links = p.incident_stages.links
    topic = p.names["incident_links"]
    us, uk = incident("US", 0, None)[0], incident("UK", 4, None)[0]
    key = link_key(us).encode()
    written: list[int] = []  # records on the broker when the table was written

    class Table(FakeTable):
        def __setitem__(self, k: bytes, v: bytes) -> None:
            written.append(len(delivered))
            super().__setitem__(k, v)

    links.table = Table("incident-links")
    batches = [[Source(Message(topic, 0, encode(us), key=key)), Source(Message(topic, 1, b"{oops", key=key)),
                Source(Message(topic, 2, encode(uk), key=b"wrong|key")),
                Source(Message(topic, 3, encode(uk), key=key))],
               [Source(Message(topic, 4, encode(uk), key=key))]]  # a replay: nothing new
    stream = FakeStream(batches, delivered)
    asyncio.run(links.link_incidents(stream))
    sent = out(p, delivered, "incidents")
    assert sorted((r["incident_id"], r["status"], r["regions_affected"]) for r in sent) == sorted(
        [(us.incident_id, "update", ["UK", "US"]), (uk.incident_id, "update", ["UK", "US"])])
    assert [(d["reason"], d["offset"]) for d in out(p, delivered, "deadletter")] == [
        ("processing_error", 1), ("processing_error", 2)]
    assert written == [4, 4]  # per batch, after its 4 records (2 links, 2 dead letters) were on the broker
    state = SpreadLinker.from_state(orjson.loads(links.table[key]))
    assert {i["region"] for i in state.incidents("illegal_goods", "term:dmaa")} == {"US", "UK"}
    assert stream.acked == [(0, 4), (1, 4), (2, 4), (3, 4), (4, 4)]


def test_a_region_owner_routes_only_open_and_resolve_records_by_harm_and_cluster() -> None:
    p, delivered = pipeline()
    assert p.incident_stages is not None
    outbox = p.new_outbox()
    records = incident("US", 0, 5)

    async def go() -> None:
        await p.incident_stages.links.route(outbox, records)  # type: ignore[union-attr]
        await outbox.flush()

    asyncio.run(go())
    assert [r["status"] for r in out(p, delivered, "incident_links")] == ["open", "resolve"]


def test_the_per_worker_runtime_links_a_spread_as_the_two_phase_path_does() -> None:
    from riskstream.settings import Settings
    from riskstream.stream.incidents import IncidentRuntime
    from tests.unit.test_incidents import series, window

    rt = IncidentRuntime(Settings.from_env({"RISKSTREAM_STORE": "memory://"}))
    plan = [("EU", []), ("UK", [])] * 8 + [("EU", [series("illegal_goods", "term:dmaa", 8, "eu")]), ("UK", [])] * 2
    plan += [("EU", []), ("UK", [])] * 10
    plan += [("UK", [series("illegal_goods", "term:dmaa", 8, "uk", country="GB")]), ("EU", [])] * 2
    sent: list[IncidentCandidate] = []

    async def send(c: IncidentCandidate) -> None:
        sent.append(c)

    asyncio.run(rt._on_windows([window(i, region, *items) for i, (region, items) in enumerate(plan)], send))
    opened = {c.region: c.incident_id for c in sent if c.status == "open"}
    assert set(opened) == {"EU", "UK"}
    assert final_views([c for c in sent if "linked" in c.evidence]) == {
        opened["EU"]: (None, ("EU", "UK"), (opened["UK"],)), opened["UK"]: (opened["EU"], ("EU", "UK"), (opened["EU"],))}
