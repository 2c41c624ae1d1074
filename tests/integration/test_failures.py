"""Nothing is lost when a worker or the broker dies mid-stream."""

from __future__ import annotations

import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from riskstream.stream.kafka_local import LocalKafka
from tests.integration.conftest import Worker
from tests.integration.test_pipeline import listing

pytestmark = pytest.mark.integration

N = 400


def _risky(prefix: str, n: int) -> list[tuple[str, bytes]]:
    return [listing(f"{prefix}-{i}", f"ivory item {i}") for i in range(n)]


def _enforced_ids(actions: list[dict[str, Any]], prefix: str) -> set[str]:
    return {a["entity_id"] for a in actions if a["mode"] == "enforced" and a["entity_id"].startswith(prefix)}


def _keys_consistent(actions: list[dict[str, Any]]) -> None:
    """A duplicate delivery (at-least-once) carries the same idempotency key."""
    keys: dict[str, set[str]] = {}
    for a in actions:
        if a["entity_type"] == "listing":
            keys.setdefault(a["entity_id"], set()).add(a["idempotency_key"])
    assert all(len(k) == 1 for k in keys.values())


def test_killing_a_worker_mid_stream_loses_no_event(worker_factory: Any) -> None:
    _kill_mid_stream(worker_factory, first_env=None)


def test_killing_a_worker_before_its_first_commit_loses_no_event(worker_factory: Any) -> None:
    """The restarted worker finds no committed offset: faust-streaming's recovery then
    lost every event it had fetched before clearing the stream queues (stream/faust_fixes.py)."""
    _kill_mid_stream(worker_factory, first_env={"BROKER_COMMIT_INTERVAL": "3600"})


def _kill_mid_stream(worker_factory: Any, first_env: dict[str, str] | None) -> None:
    first: Worker = worker_factory(env=first_env)
    produced = threading.Thread(target=first.produce, args=("listings", _risky("k", N)))
    produced.start()
    # kill -9 once the worker is busy with the stream
    deadline = time.monotonic() + 60
    while (first.metric("riskstream_actions_total") or 0) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.stop(sig=signal.SIGKILL)
    produced.join()
    second: Worker = worker_factory()  # same app id: resumes from the committed offsets
    actions = second.collect("actions", until=lambda rs: len(_enforced_ids(rs, "k-")) >= N, timeout=120)
    missing = {f"k-{i}" for i in range(N)} - _enforced_ids(actions, "k-")
    if missing:
        import asyncio

        from aiokafka.admin import AIOKafkaAdminClient

        async def offsets() -> Any:
            a = AIOKafkaAdminClient(bootstrap_servers=second.bootstrap)
            await a.start()
            o = await a.list_consumer_group_offsets(second.app_id)
            await a.close()
            return {f"{tp.topic}:{tp.partition}": m.offset for tp, m in o.items()}

        Path("/tmp/second.log").write_text(str(asyncio.run(offsets())) + "\n" + first.metrics_text() + second.metrics_text() + "\n" + first.tail(300) + "\n=====\n" + second.tail(400))
    assert not missing, (sorted(missing)[:20], len(missing), second.tail())
    _keys_consistent(actions)


def test_killing_the_broker_mid_stream_loses_no_event(tmp_path: Path) -> None:
    broker = LocalKafka(data_dir=tmp_path / "broker").start()
    run = uuid.uuid4().hex[:8]
    w = Worker(broker.bootstrap, tmp_path, f"b{run}.", f"riskstream-broker-{run}")
    try:
        w.start()
        w.produce("listings", _risky("b1", N // 2))
        w.collect("actions", until=lambda rs: len(_enforced_ids(rs, "b1-")) >= 50, timeout=60)
        broker.kill()  # no clean shutdown
        time.sleep(2)
        broker.start()  # same ports, same data
        w.produce("listings", _risky("b2", N // 2))
        actions = w.collect(
            "actions",
            until=lambda rs: len(_enforced_ids(rs, "b1-")) + len(_enforced_ids(rs, "b2-")) >= N,
            timeout=180,
        )
        assert _enforced_ids(actions, "b1-") == {f"b1-{i}" for i in range(N // 2)}, w.tail()
        assert _enforced_ids(actions, "b2-") == {f"b2-{i}" for i in range(N // 2)}, w.tail()
        _keys_consistent(actions)
        assert w.proc is not None and w.proc.poll() is None, "the worker must survive a broker restart"
    finally:
        w.stop()
        broker.stop()


def test_two_workers_share_the_partitions_and_each_event_is_enforced_once(worker_factory: Any) -> None:
    a: Worker = worker_factory()
    b: Worker = worker_factory()  # same app id: one consumer group, partitions split between them
    time.sleep(10)  # let the group rebalance onto both members
    a.produce("listings", _risky("s", N))
    actions = a.collect("actions", until=lambda rs: len(_enforced_ids(rs, "s-")) >= N, timeout=120)
    assert _enforced_ids(actions, "s-") == {f"s-{i}" for i in range(N)}, (
        len(_enforced_ids(actions, "s-")), a.metric("riskstream_events_in_total"),
        b.metric("riskstream_events_in_total"), a.tail(40), b.tail(40))
    enforced = [x for x in actions if x["mode"] == "enforced" and x["entity_id"].startswith("s-")]
    assert len(enforced) == N, "an event enforced twice"

    def seen() -> float:
        return (a.metric("riskstream_events_in_total") or 0) + (b.metric("riskstream_events_in_total") or 0)

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and seen() < N:
        time.sleep(0.5)
    in_a = a.metric("riskstream_events_in_total") or 0
    in_b = b.metric("riskstream_events_in_total") or 0
    assert in_a > 0 and in_b > 0, (in_a, in_b)  # both did part of the work
    _duplicates_accounted(a, b, actions)


def _duplicates_accounted(a: Worker, b: Worker, actions: list[dict[str, Any]]) -> None:
    """Anything seen twice (a late rebalance replays uncommitted offsets) was suppressed, not re-enforced.

    A rebalance replays uncommitted offsets of every topic the group reads, not only
    of the input: an input read twice, and also a risk.decide.v1 or risk.violations.v1
    record read twice by the partition's new owner.  So every input read twice and
    every event decided twice is at least one suppressed duplicate (more when an
    event has several actions or a replayed violation re-crosses a level), and no
    idempotency key reaches the actions topic twice as enforced.
    """
    def total(name: str) -> float:
        return sum(w.metric(name) or 0 for w in (a, b))

    deadline = time.monotonic() + 30  # the counters are added once a batch is flushed, after its outputs
    while time.monotonic() < deadline and min(total("riskstream_events_in_total"),
                                              total("riskstream_events_decided_total")) < N:
        time.sleep(0.5)
    read, decided = total("riskstream_events_in_total"), total("riskstream_events_decided_total")
    dups = sum(w.metric("riskstream_duplicate_actions_suppressed_total") or 0 for w in (a, b))
    assert read >= N and decided >= N, (read, decided)
    assert dups >= max(read - N, decided - N), (read, decided, dups)
    keys = [x["idempotency_key"] for x in actions if x["mode"] == "enforced"]
    assert len(keys) == len(set(keys)), "an idempotency key enforced twice"
