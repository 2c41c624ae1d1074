"""Per-rule feedback statistics live in the `rule-feedback` table: two workers or a restart, the same numbers."""

from __future__ import annotations

import signal
import time
from typing import Any

import pytest

from tests.integration.conftest import Worker
from tests.integration.test_appeals_guard import feedback

pytestmark = pytest.mark.integration

RULES = ["prohibited_terms", "category_rules", "recall_match", "mandatory_attributes", "rule:knives", "price_outlier"]


def outcomes() -> list[tuple[str, bytes]]:
    """Per rule (index i): i+1 confirmed and 1 overturned (its action unknown here: an unknown_action dead letter)."""
    out = []
    for i, rule in enumerate(RULES):
        for j in range(i + 2):
            key, raw = feedback(f"fs-{rule}-{j}", f"act-{rule}-{j}", "confirmed" if j <= i else "overturned")
            out.append((key, raw.replace(b'"prohibited_terms"', f'"{rule}"'.encode())))
    return out


def precision(workers: list[Worker]) -> dict[str, float]:
    """riskstream_rule_precision per rule, over the workers (each key is exported by exactly one)."""
    seen: dict[str, float] = {}
    for w in workers:
        for rule in RULES:
            v = w.metric("riskstream_rule_precision", rule=rule, region="EU")
            if v is not None:
                assert rule not in seen, f"{rule} exported by two workers"
                seen[rule] = v
    return seen


def wait_for(pred: Any, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(1)
    raise AssertionError("timed out")


def test_two_workers_and_a_restart_give_the_same_feedback_counts(worker_factory: Any) -> None:
    a: Worker = worker_factory()
    b: Worker = worker_factory()
    time.sleep(10)  # both in the group
    records = outcomes()
    a.produce("feedback", records)

    def total(ws: list[Worker]) -> float:
        return sum(w.metric("riskstream_rule_feedback_total") or 0 for w in ws)

    wait_for(lambda: total([a, b]) == len(records) and len(precision([a, b])) == len(RULES))
    two = precision([a, b])
    assert two == {rule: (i + 1) / (i + 2) for i, rule in enumerate(RULES)}
    # the periodic export re-reads the table partitions each worker owns: every key exactly once
    wait_for(lambda: sum(w.metric("riskstream_rule_feedback_keys") or 0 for w in (a, b)) == len(RULES))
    # both worked on it: the keys are spread over the partitions of both
    assert all((w.metric("riskstream_rule_feedback_keys") or 0) > 0 for w in (a, b))

    # one worker killed and the other one restarted alone: the counts come back from the table
    b.stop(sig=signal.SIGKILL)
    a.stop()
    a.start()
    wait_for(lambda: len(precision([a])) == len(RULES))
    assert precision([a]) == two
    # the same outcomes delivered again (a replay) are not counted twice
    a.produce("feedback", records[:3])
    time.sleep(8)
    assert precision([a]) == two and (a.metric("riskstream_rule_feedback_total") or 0) == 0
