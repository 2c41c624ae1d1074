"""The region merge's table layout: facts in per-window chunks, a small header, each window read once.

Drives ``IncidentStages._merge_region`` (the stream layer's phase 2) with a dict for the
``incident-state`` table, so what is written per batch can be counted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from riskstream.models.aggregates import AggregatorConfig, ClosedWindow
from riskstream.models.region_windows import MergeConfig, RegionWindows
from riskstream.regions import region_of
from riskstream.stream import incident_agents
from riskstream.stream.incident_agents import IncidentStages, _pack
from tests.unit.test_region_windows import simulated_facts


class CountingTable(dict[bytes, bytes]):
    """A dict standing in for the Faust table that counts the bytes written."""

    def __init__(self) -> None:
        super().__init__()
        self.written = 0

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.written += len(value)
        super().__setitem__(key, value)


@pytest.fixture(scope="module")
def eu_facts() -> list[dict[str, Any]]:
    out = [f for f in simulated_facts(4) if region_of(f["e"]["region"]) == "EU"]
    assert len(out) > 500
    return out


def _stages(monkeypatch: pytest.MonkeyPatch, table: CountingTable, sources: int) -> tuple[IncidentStages,
                                                                                      list[ClosedWindow]]:
    closed: list[ClosedWindow] = []
    stages = object.__new__(IncidentStages)
    stages.state = table
    stages.agg_config = AggregatorConfig(window_minutes=10)
    stages.merge_config = MergeConfig(window_s=600, allowed_lateness_s=120, sources=sources, hold_s=0.0)

    async def score_and_manage(region: str, windows: list[ClosedWindow], outbox: Any) -> None:
        closed.extend(windows)

    monkeypatch.setattr(stages, "_score_and_manage", score_and_manage)
    monkeypatch.setattr(incident_agents, "set_current_event", lambda event: None)
    return stages, closed


def _batches(facts: list[dict[str, Any]], size: int) -> list[list[tuple[Any, dict[str, Any]]]]:
    """Source 0 carries every fact, with its watermark; source 1 only reports (so windows can close)."""
    out = []
    for i in range(0, len(facts), size):
        chunk = facts[i:i + size]
        wm = max(f["t"] for f in chunk)
        out.append([(object(), {"src": 0, "wm": wm, "facts": chunk}),
                    (object(), {"src": 1, "wm": wm, "idle": False, "facts": []})])
    return out


def test_chunked_merge_closes_the_windows_of_a_straight_merge_and_cleans_up(
        monkeypatch: pytest.MonkeyPatch, eu_facts: list[dict[str, Any]]) -> None:
    table = CountingTable()
    stages, closed = _stages(monkeypatch, table, sources=2)
    batches = _batches(eu_facts, 37)
    for i, items in enumerate(batches):
        asyncio.run(stages._merge_region("EU", items, None))
        if i == len(batches) // 2:  # replayed after a crash: the same partials again change nothing
            asyncio.run(stages._merge_region("EU", items, None))
    asyncio.run(stages._merge_region("EU", [(object(), {"src": s, "wm": float("inf"), "idle": True, "facts": []})
                                           for s in (0, 1)], None))
    straight = RegionWindows("EU", stages.merge_config, stages.agg_config)
    for items in batches:
        for _, partial in items:
            straight.merge(partial)
    want = straight.flush()
    assert len(want) > 10 and closed == want
    # Every closed window's chunks are deleted: only the header and the aggregate memory remain.
    assert sorted(table) == [b"EU|context", b"EU|meta"]


def test_a_batch_in_a_backlog_writes_what_it_merges_not_what_is_open(
        monkeypatch: pytest.MonkeyPatch, eu_facts: list[dict[str, Any]]) -> None:
    """Source 1 never reports (a backlog: nothing can close), so every window stays open."""
    table = CountingTable()
    stages, closed = _stages(monkeypatch, table, sources=2)
    per_batch = []
    for i in range(0, len(eu_facts), 37):
        chunk = eu_facts[i:i + 37]
        before = table.written
        asyncio.run(stages._merge_region("EU", [(object(), {"src": 0, "wm": chunk[-1]["t"], "facts": chunk})], None))
        per_batch.append((table.written - before) / len(_pack(chunk)))
    assert closed == [] and len(per_batch) > 10
    # The last batch writes about its own facts (plus a header of a few bytes per open window), whereas
    # rewriting the region's state would write every fact merged so far.
    assert per_batch[-1] < 2.0, per_batch
    open_windows = sum(1 for k in table if b"|c|" in k)
    assert open_windows >= len(per_batch)  # one chunk per batch per window it touched, none rewritten


def test_state_of_the_older_layout_is_read_and_moved_to_chunks(
        monkeypatch: pytest.MonkeyPatch, eu_facts: list[dict[str, Any]]) -> None:
    table = CountingTable()
    stages, closed = _stages(monkeypatch, table, sources=2)
    half = len(eu_facts) // 2
    old = RegionWindows("EU", stages.merge_config, stages.agg_config)
    old.merge({"src": 0, "wm": eu_facts[half - 1]["t"], "facts": eu_facts[:half]})
    table[b"EU|windows"] = _pack(old.window_state())
    for items in _batches(eu_facts[half:], 50):
        asyncio.run(stages._merge_region("EU", items, None))
    assert b"EU|windows" not in table and b"EU|meta" in table
    straight = RegionWindows("EU", stages.merge_config, stages.agg_config)
    straight.merge({"src": 0, "wm": None, "facts": eu_facts})
    straight.merge({"src": 1, "wm": eu_facts[-1]["t"], "facts": []})
    straight.merge({"src": 0, "wm": eu_facts[-1]["t"], "facts": []})
    want = straight.close(now=0.0)
    assert want and closed == want
