"""The stall watchdog: lag without progress for long enough is a stall; rebalancing is not."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import TopicPartition

from riskstream.stream import metrics as m
from riskstream.stream.watchdog import EXIT_STALLED, StallDetector, Watchdog

TP = ("listings", 0)


@pytest.mark.parametrize(
    ("steps", "stalled_at_end"),
    [
        ([(0, 5, 10), (30, 5, 10), (61, 5, 10)], True),  # lag, no progress for 61 s
        ([(0, 5, 10), (30, 6, 10), (61, 6, 10)], False),  # progress at 30 s restarts the clock
        ([(0, 10, 10), (61, 10, 10)], False),  # no lag: idle is not stalled
        ([(0, 10, 10), (30, 10, 12), (61, 10, 12)], False),  # lag only for 31 s
        ([(0, 10, 10), (30, 10, 12), (95, 10, 12)], True),  # ... and then for 65 s
    ],
)
def test_stall_needs_lag_and_no_progress_for_the_whole_period(
    steps: list[tuple[float, int, int]], stalled_at_end: bool
) -> None:
    d = StallDetector(stall_seconds=60)
    result: list[Any] = []
    for now, committed, end in steps:
        result = d.observe({TP: (committed, end)}, now=now)
    assert (result == [TP]) is stalled_at_end


def test_pause_restarts_the_clocks_and_revoked_partitions_are_forgotten() -> None:
    d = StallDetector(stall_seconds=60)
    d.observe({TP: (5, 10)}, now=0)
    d.pause(now=50)  # a rebalance or table recovery at 50 s
    assert d.observe({TP: (5, 10)}, now=100) == []
    assert d.observe({TP: (5, 10)}, now=111) == [TP]
    assert d.observe({}, now=112) == [] and d._since == {}


class _Admin:
    def __init__(self, committed: dict[Any, int]) -> None:
        self.committed = committed

    async def list_consumer_group_offsets(self, group: str, partitions: Any) -> dict[Any, Any]:
        return {tp: SimpleNamespace(offset=o) for tp, o in self.committed.items()}


class _Ends:
    def __init__(self, end: dict[Any, int]) -> None:
        self.end = end

    async def end_offsets(self, tps: Any) -> dict[Any, int]:
        return dict(self.end)


async def test_a_stalled_worker_says_so_and_exits_non_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    tp, other = TopicPartition("listings", 0), TopicPartition("x-changelog", 0)
    app = SimpleNamespace(consumer=SimpleNamespace(assignment=lambda: {tp, other}), rebalancing=False,
                          tables=SimpleNamespace(recovery=SimpleNamespace(in_recovery=False)))
    exits: list[int] = []
    clock = [1000.0]
    monkeypatch.setattr("riskstream.stream.watchdog.time.monotonic", lambda: clock[0])
    w = Watchdog(app, ["listings"], "unused:9092", "g", stall_seconds=60, exit_grace=0, exit=exits.append)
    admin, ends = _Admin({tp: 7}), _Ends({tp: 400})
    await w.check(admin, ends)
    assert w.stalled == [] and exits == []
    clock[0] += 30
    app.rebalancing = True  # a rebalance in between does not count
    await w.check(admin, ends)
    app.rebalancing = False
    clock[0] += 59
    await w.check(admin, ends)
    assert w.stalled == [] and exits == []
    clock[0] += 2
    await w.check(admin, ends)
    assert w.stalled == [("listings", 0)]  # the changelog partition is not watched
    assert exits == [EXIT_STALLED]
    assert m.REGISTRY.get_sample_value("riskstream_worker_stalled") == 1
