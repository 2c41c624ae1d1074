"""Policies through the real broker: hot reload, refusal, shadow rules, escalation."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson
import pytest

from riskstream.stream.producer import publish_policy
from tests.integration.conftest import FIXTURE_POLICIES, Worker
from tests.integration.test_pipeline import listing

pytestmark = pytest.mark.integration


def wait_metric(worker: Worker, name: str, pred: object, timeout: float = 60, **labels: str) -> float | None:
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = worker.metric(name, **labels)
        if pred(value):  # type: ignore[operator]
            return value
        time.sleep(0.5)
    raise AssertionError(f"{name}{labels} stayed at {value}\n{worker.tail()}")


def test_a_published_policy_takes_effect_without_restart_and_an_invalid_one_is_refused(
    worker: Worker, tmp_path: Path
) -> None:
    # before: "tiger bone" is not prohibited
    worker.produce("listings", [listing("before", "tiger bone powder")])
    worker.produce("listings", [listing("marker-1", "ivory box")])
    actions = worker.collect("actions", until=lambda rs: any(a["entity_id"] == "marker-1" for a in rs))
    assert not any(a["entity_id"] == "before" for a in actions)

    new = (FIXTURE_POLICIES / "eu.yaml").read_text().replace(
        'version: "2026.11.1"', 'version: "2026.11.2"').replace(
        'prohibited: ["inclined baby sleeper", "ivory", "elfenbein"]',
        'prohibited: ["inclined baby sleeper", "ivory", "elfenbein", "tiger bone"]')
    path = tmp_path / "eu-new.yaml"
    path.write_text(new)
    asyncio.run(publish_policy(worker.settings, path))
    wait_metric(worker, "riskstream_policy_info", lambda v: v == 1.0, region="EU", version="2026.11.2")

    worker.produce("listings", [listing("after", "tiger bone powder")])
    actions = worker.collect("actions", until=lambda rs: any(a["entity_id"] == "after" for a in rs))
    after = next(a for a in actions if a["entity_id"] == "after")
    assert after["policy_version"] == "2026.11.2" and after["action"] == "remove"

    # an invalid policy document on the control topic is refused; the running version stays
    bad = new.replace('version: "2026.11.2"', 'version: "2026.11.3"').replace("mode: enforced", "mode: sometimes")
    from riskstream.stream.producer import ensure_topics, producer

    async def publish_raw() -> None:
        await ensure_topics(worker.settings, ["policies"])
        p = producer(worker.settings)
        await p.start()
        await p.send_and_wait(worker.topic("policies"), orjson.dumps({"region": "EU", "yaml": bad}), key=b"EU")
        await p.stop()

    asyncio.run(publish_raw())
    wait_metric(worker, "riskstream_policy_rejected_total", lambda v: v == 1.0, region="EU")
    assert worker.metric("riskstream_policy_info", region="EU", version="2026.11.2") == 1.0
    assert worker.metric("riskstream_policy_info", region="EU", version="2026.11.3") is None


def test_a_shadow_rule_emits_shadow_decisions_and_no_enforced_ones(worker: Worker) -> None:
    worker.produce("listings", [listing("knife-1", "Chef knife set", category="knives"),
                                listing("knife-2", "Pocket knife", category="knives")])
    actions = worker.collect("actions", until=lambda rs: len(rs) >= 2)
    knives = [a for a in actions if a["entity_id"].startswith("knife-")]
    assert len(knives) == 2, actions
    assert {a["mode"] for a in knives} == {"shadow"}
    assert {a["action"] for a in knives} == {"remove"}
    # counted once the batch's outputs are delivered: a scrape can come just before
    wait_metric(worker, "riskstream_actions_total", lambda v: v == 2.0, timeout=20, mode="shadow")
    assert worker.metric("riskstream_actions_total", mode="enforced") is None


def test_a_seller_who_accumulates_points_is_escalated(worker: Worker) -> None:
    # three removals of one seller's listings: 3 points each; warning at 3, restriction at 6
    worker.produce("listings", [listing(f"bad-{i}", "ivory carving", seller_id="repeat-offender")
                                for i in range(3)])
    actions = worker.collect(
        "actions", until=lambda rs: any(a["entity_type"] == "seller" for a in rs), timeout=60)
    restrictions = [a for a in actions if a["entity_type"] == "seller"]
    assert len(restrictions) == 1, actions
    r = restrictions[0]
    assert r["entity_id"] == "repeat-offender" and r["action"] == "restrict_seller"
    assert r["reason_codes"][0] == "escalation_restriction"
    assert r["evidence"]["points"] >= 6
    wait_metric(worker, "riskstream_escalations_total", lambda v: v == 1.0, level="warning")
    # counted once the batch's outputs are delivered: a scrape can come just before
    wait_metric(worker, "riskstream_escalations_total", lambda v: v == 1.0, timeout=20, level="restriction")


def test_moderator_feedback_moves_the_rule_quality_metrics(worker: Worker) -> None:
    from datetime import UTC, datetime

    def fb(i: int, outcome: str) -> tuple[str, bytes]:
        return f"a{i}", orjson.dumps({
            "kind": "feedback", "event_id": f"fb-{i}", "event_time": datetime.now(UTC).isoformat(),
            "region": "DE", "action_id": f"a{i}", "rule": "prohibited_terms", "outcome": outcome})

    worker.produce("feedback", [fb(0, "confirmed"), fb(1, "confirmed"), fb(2, "confirmed"), fb(3, "overturned")])
    wait_metric(worker, "riskstream_rule_feedback_total", lambda v: v == 4.0, rule="prohibited_terms")
    assert worker.metric("riskstream_rule_precision", rule="prohibited_terms", region="EU") == 0.75
    assert worker.metric("riskstream_rule_overturn_rate", rule="prohibited_terms", region="EU") == 0.25
