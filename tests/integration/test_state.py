"""Partitioned, durable detector state: one worker or two, and before or after a SIGKILL, give the same answers."""

from __future__ import annotations

import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest

from riskstream.contracts import encode
from riskstream.resources import sample_policy_dir
from riskstream.sim import SimConfig, default_scenarios, run
from riskstream.topology import TOPICS
from tests.integration.conftest import Worker

pytestmark = pytest.mark.integration

PARTITIONED = {"price_outlier", "new_seller_burst", "review_burst", "rating_skew"}
# Per-worker state (documented in docs/architecture.md): the broadcast-fed detectors, and the hot
# per-country indexes still waiting for LSH band keys.  Their answers can differ with N workers.
LOCAL = {"image_reuse", "review_near_duplicate", "content_prohibited", "recall_match"}
BY_NAME = {s.name: k for k, s in TOPICS.items()}


def _day() -> list[tuple[str, str, bytes]]:
    """Ten simulated hours (held-out seed) with a counterfeit wave and a review farm."""
    sim = run(SimConfig(seed=102, duration_hours=10, events_per_hour=250,
                        scenarios=default_scenarios("counterfeit_wave", "review_farm", "review_bombing")))
    return [(BY_NAME[topic], key, encode(record)) for topic, key, record in sim.events if BY_NAME[topic] != "recalls"]


def _workers(bootstrap: str, tmp: Path, n: int) -> list[Worker]:
    """n workers in one consumer group on fresh topics, with the shipped sample policies."""
    run_id = uuid.uuid4().hex[:8]
    workers = []
    for i in range(n):
        (tmp / f"w{i}").mkdir(parents=True)
        w = Worker(bootstrap, tmp / f"w{i}", f"s{run_id}.", f"riskstream-state-{run_id}")
        shutil.rmtree(w.policy_dir)
        shutil.copytree(sample_policy_dir(), w.policy_dir, ignore=shutil.ignore_patterns("*.md", "*.json"))
        workers.append(w)
    return workers


def _seen(workers: list[Worker]) -> float:
    return sum(w.metric("riskstream_events_in_total") or 0 for w in workers if w.proc is not None)


def _decided(workers: list[Worker]) -> float:
    return sum(w.metric("riskstream_events_decided_total") or 0 for w in workers if w.proc is not None)


def _wait_consumed(workers: list[Worker], n: int, timeout: float = 300) -> None:
    """Every event read, and every valid one through all of its detector hops and decided."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        valid = sum(w.metric("riskstream_events_valid_total") or 0 for w in workers if w.proc is not None)
        if _seen(workers) >= n and _decided(workers) >= valid > 0:
            return
        time.sleep(1)
    raise AssertionError((_seen(workers), _decided(workers), n, workers[0].tail(30)))


def _answers(w: Worker, n_actions_min: int = 1) -> tuple[set[tuple[str, ...]], set[str]]:
    """Signals (detector, code, entity, event) and enforced idempotency keys, once the pipeline is quiet.

    Only what partitioned or stateless detectors decided: LOCAL detectors keep per-worker state.
    """
    last, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 8:  # nothing new for 8 s
        sigs = w.collect("signals", until=lambda rs: False, timeout=2)
        if len(sigs) != last:
            last, stable_since = len(sigs), time.monotonic()
    actions = w.collect("actions", until=lambda rs: False, timeout=3)
    signals = {(s["detector"], s["code"], s["entity_id"], s["event_id"]) for s in sigs if s["detector"] not in LOCAL}
    enforced = {a["idempotency_key"] for a in actions
                if a["mode"] == "enforced" and not LOCAL & set(a["evidence"].get("detectors", []))}
    return signals, enforced


def _by_detector(signals: set[tuple[str, ...]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in signals:
        out[s[0]] = out.get(s[0], 0) + 1
    return out


@pytest.fixture(scope="module")
def day() -> list[tuple[str, str, bytes]]:
    return _day()


@pytest.fixture(scope="module")
def uninterrupted(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory,
                  day: list[tuple[str, str, bytes]]) -> tuple[set[tuple[str, ...]], set[str]]:
    (w,) = _workers(kafka_bootstrap, tmp_path_factory.mktemp("one"), 1)
    try:
        w.start()
        w.produce_many(day)
        _wait_consumed([w], len(day))
        signals, enforced = _answers(w)
    finally:
        w.stop()
    found = _by_detector(signals)
    assert sum(found.get(d, 0) for d in PARTITIONED) > 0, found  # the comparison below means something
    return signals, enforced


def test_two_workers_give_the_answers_of_one(
    kafka_bootstrap: str, tmp_path: Path, day: list[tuple[str, str, bytes]],
    uninterrupted: tuple[set[tuple[str, ...]], set[str]],
) -> None:
    a, b = _workers(kafka_bootstrap, tmp_path, 2)
    try:
        a.start()
        b.start()
        time.sleep(10)  # both in the group
        a.produce_many(day)
        _wait_consumed([a, b], len(day))
        signals, enforced = _answers(a)
        assert (a.metric("riskstream_events_in_total") or 0) > 0 and (b.metric("riskstream_events_in_total") or 0) > 0
    finally:
        a.stop()
        b.stop()
    assert _by_detector(signals) == _by_detector(uninterrupted[0])
    assert signals == uninterrupted[0]
    assert enforced == uninterrupted[1]


def test_a_sigkill_and_restart_give_the_answers_of_an_uninterrupted_run(
    kafka_bootstrap: str, tmp_path: Path, day: list[tuple[str, str, bytes]],
    uninterrupted: tuple[set[tuple[str, ...]], set[str]],
) -> None:
    (w,) = _workers(kafka_bootstrap, tmp_path, 1)
    half = len(day) // 2
    try:
        w.start()
        w.produce_many(day[:half])
        _wait_consumed([w], half)
        time.sleep(6)  # past a commit interval: the state of the first half is in the changelog
        w.stop(sig=signal.SIGKILL)
        w.start()  # same app id and data dir: the tables come back from RocksDB and the changelog
        w.wait_control_topics_read()  # broadcast state (actioned listings) whole again, as before the kill
        w.produce_many(day[half:])
        _wait_consumed([w], len(day) - half)
        signals, enforced = _answers(w)
    finally:
        w.stop()
    assert _by_detector(signals) == _by_detector(uninterrupted[0])
    assert signals == uninterrupted[0]
    assert enforced == uninterrupted[1]
