"""A broker-level fuzz sample: hostile records on every input topic of a real worker, then good events.

The records come from the property tests' generator (`tests.property.strategies.make_input`: every
mutation, each record's values from a seeded `random.Random`, so a run is reproducible).
What each must become is what the in-process engine, with the worker's policies and limits, says:
a dead letter with a reason (exactly one per record, matched by its original bytes) or an accepted
event.  Afterwards the worker still consumes and decides good events.
"""

from __future__ import annotations

import base64
import random
import urllib.request
from collections import Counter
from typing import Any

import orjson
import pytest

from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.policy.load import iter_policy_files
from riskstream.topology import INPUT_KINDS
from tests.integration.conftest import Worker
from tests.integration.test_pipeline import listing
from tests.integration.test_policy_rollout import wait_metric
from tests.property.strategies import MUTATIONS, make_input

pytestmark = pytest.mark.integration

PER_KIND = 60  # five input topics: 300 hostile records
# The generator's valid records are dated around June 2026; the event-age window is relative to the
# wall clock, so it is off here (the hard bounds, year 2000 to 2100, still hold) for worker and oracle alike.
ENV = {"RISKSTREAM_MAX_EVENT_AGE_DAYS": "off", "RISKSTREAM_MAX_EVENT_LEAD_DAYS": "off"}


def hostile(kind: str, rng: random.Random) -> list[bytes]:
    hows = [h for h in MUTATIONS if h not in ("valid", "extra_field")]  # broken ones, and arbitrary bytes
    return [make_input(kind, hows[i % len(hows)], rng.randrange(2**32))[0] for i in range(PER_KIND)]


def test_every_hostile_record_is_one_dead_letter_and_the_worker_keeps_deciding(worker_factory: Any,
                                                                               report: Any) -> None:
    worker: Worker = worker_factory(env=ENV)
    worker.wait_control_topics_read()
    oracle = Engine(default_registry(), limits=worker.settings.limits)
    for path in iter_policy_files(worker.policy_dir):
        oracle.set_policy(load_policy(path, default_registry()))
    rng = random.Random(13)
    expected: Counter[tuple[bytes, str]] = Counter()
    accepted: set[bytes] = set()
    records: list[tuple[str, str, bytes]] = []
    for kind, topic_key in INPUT_KINDS.items():
        for i, raw in enumerate(hostile(kind, rng)):
            outcome = oracle.handle_raw(kind, raw)
            if outcome.dead_letter is not None:
                expected[(raw, outcome.dead_letter[0])] += 1
            else:
                accepted.add(raw)
            records.append((topic_key, f"fuzz-{kind}-{i}", raw))
    n_bad = sum(expected.values())
    assert n_bad >= 200, f"only {n_bad} of {len(records)} generated records are refused"
    worker.produce_many(records)
    dead = worker.collect("deadletter", until=lambda rs: len(rs) >= n_bad, timeout=120)

    got: Counter[tuple[bytes, str]] = Counter()
    for d in dead:
        assert d["reason"] and d["detail"], d
        got[(base64.b64decode(d["original_b64"]), d["reason"])] += 1
    missing = expected - got
    assert not missing, f"{sum(missing.values())} refused records without their dead letter: {list(missing)[:3]}"
    extra = got - expected
    # An accepted record never becomes a dead letter, except a reversing outcome for an action this
    # pipeline never enforced (its appeal cannot be applied: `unknown_action`, see stream/appeals.py).
    assert all(raw in accepted and reason == "unknown_action" for raw, reason in extra), list(extra)[:3]
    reasons = Counter(reason for _, reason in got.elements())
    report(f"broker fuzz: {len(records)} records, {n_bad} refused, dead letters by reason {dict(reasons)}")

    # the worker goes on: good events after the storm are decided and actioned
    before = worker.metric("riskstream_events_decided_total") or 0
    worker.produce("listings", [listing(f"after-fuzz-{i}", "Antique ivory carving") for i in range(3)])
    actions = worker.collect("actions", until=lambda rs: sum(a["entity_id"].startswith("after-fuzz-") for a in rs) >= 3,
                             timeout=90)
    assert {a["entity_id"] for a in actions if a["entity_id"].startswith("after-fuzz-")} == {
        f"after-fuzz-{i}" for i in range(3)}, worker.tail()
    wait_metric(worker, "riskstream_events_decided_total", lambda v: (v or 0) >= before + 3)
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/healthz", timeout=5) as r:
        health = orjson.loads(r.read())
    assert health["ok"], health
