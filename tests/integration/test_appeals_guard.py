"""Appeals and the blast-radius guard through the real broker.

An enforced removal, appealed: a reversal record on risk.actions.v1 (with its
DSA statement), the seller's ledger loses the points (read from the ledger
table's changelog), a replayed or second reversing outcome is deduplicated,
and the rule-feedback table counts each outcome once.  A surge of one rule
trips the guard: the rule is decided in shadow for the region, the gauge and
a control record say so, and `riskstream policy reenable` restores it.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from tests.integration.conftest import REPO, Worker, _collect
from tests.integration.test_pipeline import listing
from tests.integration.test_policy_rollout import wait_metric

pytestmark = pytest.mark.integration


def feedback(event_id: str, action_id: str, outcome: str) -> tuple[str, bytes]:
    return action_id, orjson.dumps({
        "kind": "feedback", "event_id": event_id, "event_time": datetime.now(UTC).isoformat(), "region": "DE",
        "action_id": action_id, "rule": "prohibited_terms", "outcome": outcome})


def ledger_of(worker: Worker, seller: str, until: Any) -> dict[str, Any] | None:
    """The latest `violation-ledgers` changelog value for `seller`, read until `until(value)`."""
    topic = f"{worker.app_id}-violation-ledgers-changelog"
    found: dict[str, Any] = {}

    def done(records: list[dict[str, Any]]) -> bool:
        for r in records:
            if isinstance(r, dict) and r.get("subject_id") == seller:
                found["v"] = r
        return "v" in found and bool(until(found["v"]))

    asyncio.run(_collect(worker.settings, topic, done, 60))
    return found.get("v")


def test_an_appeal_reverses_the_action_removes_the_points_and_is_idempotent(worker: Worker, report: Any) -> None:
    seller = "seller-appeal"
    worker.produce("listings", [listing("appeal-1", "Antique ivory carving", seller_id=seller),
                                listing("appeal-2", "Elfenbein Schnitzerei", seller_id=seller)])
    actions = worker.collect("actions", until=lambda rs: {a["entity_id"] for a in rs} >= {"appeal-1", "appeal-2"})
    original = next(a for a in actions if a["entity_id"] == "appeal-1" and a["mode"] == "enforced")
    assert original["action"] == "remove"
    before = ledger_of(worker, seller, lambda v: len(v["violations"]) == 2)
    assert before is not None and len(before["violations"]) == 2, worker.tail()

    worker.produce("feedback", [feedback("fb-1", original["action_id"], "appeal_granted")])
    reversals = worker.collect("actions", until=lambda rs: any("reverses" in a["evidence"] for a in rs))
    (rev,) = [a for a in reversals if "reverses" in a["evidence"]]
    assert (rev["action"], rev["entity_id"], rev["mode"]) == ("allow", "appeal-1", "enforced")
    assert rev["evidence"]["reverses"] == original["action_id"] and rev["automated_decision"] is False
    assert rev["evidence"]["dsa_statement"]["puid"] == original["action_id"]  # EU removal: a statement was due
    after = ledger_of(worker, seller, lambda v: len(v["violations"]) == 1)
    assert after is not None and [v["action_id"] for v in after["violations"]] != [original["action_id"]]
    assert len(after["violations"]) == 1, worker.tail()

    # the same appeal delivered again, and a second reversing outcome for the same action
    worker.produce("feedback", [feedback("fb-1", original["action_id"], "appeal_granted"),
                                feedback("fb-2", original["action_id"], "overturned")])
    wait_metric(worker, "riskstream_appeals_total", lambda v: v == 2, result="duplicate")
    wait_metric(worker, "riskstream_rule_feedback_total", lambda v: v == 2, rule="prohibited_terms")
    time.sleep(2)
    again = worker.collect("actions", until=lambda rs: False, timeout=3)
    assert sum(1 for a in again if "reverses" in a["evidence"]) == 1
    assert worker.metric("riskstream_appeals_total", result="reversed") == 1
    # fb-1 counted once (its replay recognised), fb-2 once: precision 0, overturn rate 1
    assert worker.metric("riskstream_rule_feedback_total", rule="prohibited_terms", outcome="appeal_granted") == 1
    assert worker.metric("riskstream_rule_overturn_rate", rule="prohibited_terms", region="EU") == 1.0

    # feedback on an action nobody enforced: one dead letter with the reason, nothing reversed
    worker.produce("feedback", [feedback("fb-3", "no-such-action", "overturned")])
    dead = worker.collect("deadletter", until=lambda rs: any(d["reason"] == "unknown_action" for d in rs))
    assert sum(1 for d in dead if d["reason"] == "unknown_action") == 1
    report(f"appeals: 3 reversing outcomes -> {sum(1 for a in again if 'reverses' in a['evidence'])} reversal, "
           f"{worker.metric('riskstream_appeals_total', result='duplicate'):.0f} duplicates suppressed, "
           f"1 unknown_action dead letter; ledger {len(before['violations'])} -> {len(after['violations'])} violations")


GUARD_ENV = {"RISKSTREAM_GUARD_WINDOW_SECONDS": "60", "RISKSTREAM_GUARD_GRACE_SECONDS": "0",
             "RISKSTREAM_GUARD_MULTIPLE": "3", "RISKSTREAM_GUARD_MIN_ACTIONS": "5",
             "RISKSTREAM_GUARD_BASELINE_WINDOWS": "6", "RISKSTREAM_GUARD_MIN_BASELINE_WINDOWS": "3"}


def window_listings(start: datetime, w: int, honest: int, risky: int) -> list[tuple[str, bytes]]:
    at = (start + timedelta(minutes=w, seconds=5)).isoformat()
    out = [listing(f"g{w}-h{i}", "Wooden baby cot with mattress", seller_id=f"s-g{w}-h{i}", event_time=at)
           for i in range(honest)]
    out += [listing(f"g{w}-r{i}", "Antique ivory carving", seller_id=f"s-g{w}-r{i}", event_time=at)
            for i in range(risky)]
    return out


def test_a_surging_rule_drops_to_shadow_and_reenable_restores_it(worker_factory: Any) -> None:
    worker: Worker = worker_factory(env=GUARD_ENV)
    worker.wait_control_topics_read()
    now = datetime.now(UTC)
    start = now.replace(second=0, microsecond=0) - timedelta(hours=1)
    decided = 0
    # four quiet windows (1 removal in 21 listings), then a surge (15 in 25), then one listing to close it
    for w, (honest, risky) in enumerate([(20, 1)] * 4 + [(10, 15), (1, 0)]):
        batch = window_listings(start, w, honest, risky)
        worker.produce("listings", batch)
        decided += len(batch)
        # the next window only once this one is decided: the guard sees the windows in order
        wait_metric(worker, "riskstream_events_decided_total", lambda v, n=decided: v == n)
    wait_metric(worker, "riskstream_rule_guard_shadowed", lambda v: v == 1, rule="prohibited_terms", region="EU")
    assert worker.metric("riskstream_rule_guard_trips_total", rule="prohibited_terms", region="EU") == 1
    control = worker.collect("policies", until=lambda rs: any(r.get("kind") == "blast_radius" for r in rs))
    (trip,) = [r for r in control if r.get("kind") == "blast_radius"]
    assert (trip["region"], trip["rule"], trip["shadowed"]) == ("EU", "prohibited_terms", True)
    assert trip["trip"]["actions"] == 15 and trip["trip"]["events"] == 25

    # while shadowed, the rule's finding is a shadow action only
    worker.produce("listings", window_listings(start, 6, 0, 1))
    actions = worker.collect("actions", until=lambda rs: any(a["entity_id"] == "g6-r0" for a in rs))
    assert {a["mode"] for a in actions if a["entity_id"] == "g6-r0"} == {"shadow"}

    out = subprocess.run([sys.executable, "-m", "riskstream.cli", "policy", "reenable", "--region", "EU",
                          "--rule", "prohibited_terms", "--by", "test"], env=worker.env, cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    wait_metric(worker, "riskstream_rule_guard_shadowed", lambda v: v == 0, rule="prohibited_terms", region="EU")
    worker.produce("listings", window_listings(start, 7, 0, 1))
    actions = worker.collect("actions", until=lambda rs: any(a["entity_id"] == "g7-r0" for a in rs))
    assert {a["mode"] for a in actions if a["entity_id"] == "g7-r0"} == {"enforced"}
    control = worker.collect("policies", until=lambda rs: sum(r.get("kind") == "blast_radius" for r in rs) >= 2)
    assert [r["shadowed"] for r in control if r.get("kind") == "blast_radius"] == [True, False]


async def topic_configs(worker: Worker, topic: str) -> dict[str, str]:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from riskstream.stream.security import client_kwargs

    admin = AIOKafkaAdminClient(**client_kwargs(worker.settings))
    await admin.start()
    try:
        (response,) = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        ((error, _, _, _, entries),) = response.resources
        assert error == 0, response
        return {str(e[0]): str(e[1]) for e in entries}
    finally:
        await admin.close()


def test_an_appeal_after_the_replay_horizon_finds_no_action(worker_factory: Any, report: Any) -> None:
    """The appeals index expires like the idempotency keys: changelog retention, sweep, dead letter.

    The appeal window (and the replay horizon) are shortened to 43 s (0.0005 days, as in
    test_pipeline's expiry test), the sweep
    runs every second; the appeal is sent once the sweep has removed the indexed action.
    """
    w: Worker = worker_factory(env={"RISKSTREAM_DEDUPE_HORIZON_DAYS": "0.0005", "RISKSTREAM_DEDUPE_SWEEP_SECONDS": "1",
                                    "RISKSTREAM_APPEAL_WINDOW_DAYS": "0.0005"})
    w.produce("listings", [listing("appeal-late", "Antique ivory carving", seller_id="seller-late")])
    actions = w.collect("actions", until=lambda rs: any(a["entity_id"] == "appeal-late" for a in rs))
    original = next(a for a in actions if a["entity_id"] == "appeal-late" and a["mode"] == "enforced")
    configs = asyncio.run(topic_configs(w, f"{w.app_id}-appealable-actions-changelog"))
    assert configs["cleanup.policy"] == "compact,delete", configs
    assert configs["retention.ms"] == str(int(0.0005 * 86_400 * 1000)), configs
    deadline = time.monotonic() + 150
    while (w.metric("riskstream_dedupe_keys_expired_total", table="appealable-actions") or 0) < 1:
        assert time.monotonic() < deadline, w.tail()
        time.sleep(0.5)
    w.produce("feedback", [feedback("fb-late", original["action_id"], "appeal_granted")])
    dead = w.collect("deadletter", until=lambda rs: any(d["reason"] == "unknown_action" for d in rs))
    (late,) = [d for d in dead if d["reason"] == "unknown_action"]
    assert original["action_id"] in late["detail"]
    wait_metric(w, "riskstream_appeals_total", lambda v: v == 1, result="unknown_action")
    assert not w.metric("riskstream_appeals_total", result="reversed")
    again = w.collect("actions", until=lambda rs: False, timeout=3)
    assert not any("reverses" in a["evidence"] for a in again)
    report(f"appeals: an appeal after the {configs['retention.ms']} ms horizon -> unknown_action dead letter, "
           f"no reversal; {w.metric('riskstream_dedupe_keys_expired_total', table='appealable-actions'):.0f} "
           "index entries swept")
