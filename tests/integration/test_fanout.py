"""Fan-out's gather at decide through a real broker: parts across batches and a SIGKILL, nothing lost or decided twice.

The parts are produced straight to ``risk.decide.v1`` (as `detect_keyed` forwards them), so the
test chooses when each arrives: a part that waits is kept in the ``decide-gather`` table, the last
one decides the event, a part delivered after the decision is dropped, and both survive a SIGKILL.
"""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from riskstream.contracts import ListingEvent
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.settings import Settings
from riskstream.stream.control import PolicyRuntime
from riskstream.stream.routing import Envelope
from tests.integration.conftest import Worker

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def _parts(worker: Worker, listing_id: str) -> tuple[bytes, bytes, ListingEvent]:
    """Part 0 (the ingest agent's signals: a prohibited item) and part 1 (no signals) of a listing's two."""
    event = ListingEvent(event_id=f"ev-{listing_id}", event_time=datetime.now(UTC), region="DE", op="created",
                         listing_id=listing_id, seller_id=f"seller-{listing_id}", category="home",
                         title="Antique ELFENBEIN Schnitzerei", price=25.0, currency="EUR")
    settings = Settings.from_env({"RISKSTREAM_POLICY_DIR": str(worker.policy_dir)})
    registry = default_registry()
    engine = Engine(registry, limits=settings.limits, pseudonym_key=b"test")
    PolicyRuntime(registry, engine).load_files(settings)
    signals = engine.prepare(event).signals
    assert signals, "the policy finds the prohibited item at ingest"
    part0 = Envelope("listing", event, list(signals), [], None, part=0, parts=2).dump()
    part1 = Envelope("listing", event, [], [], None, part=1, parts=2).dump()
    return part0, part1, event


def _wait(worker: Worker, what: str, until: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"{what}:\n{worker.tail(40)}"
        time.sleep(0.5)


def _fanout(worker: Worker, outcome: str) -> float:
    return worker.metric("riskstream_fanout_events_total", outcome=outcome) or 0


def _actions_for(worker: Worker, listing_id: str) -> list[dict[str, Any]]:
    return [a for a in worker.collect("actions", until=lambda rs: False, timeout=3) if a["entity_id"] == listing_id]


def test_parts_across_batches_and_a_sigkill_are_decided_once(worker_factory: Any) -> None:
    w: Worker = worker_factory()
    a0, a1, a = _parts(w, "fan-a")
    b0, b1, b = _parts(w, "fan-b")
    key_a, key_b = a.event_id, b.event_id

    # A's part 1 and B's part 0 arrive: each waits in decide-gather for the other part.
    w.produce("decide", [(key_a, a1), (key_b, b0)])
    _wait(w, "the decide agent read both parts",
          lambda: (w.metric("riskstream_batch_events_sum", agent="decide") or 0) >= 2)
    assert _fanout(w, "decided") == 0
    time.sleep(4)  # past a commit interval: the parts' offsets are committed, so only the table holds them

    # A's last part, in a later batch: A is decided from both parts, its earlier part read from the table.
    w.produce("decide", [(key_a, a0)])
    _wait(w, "A decided", lambda: _fanout(w, "decided") >= 1)
    _wait(w, "A's action on the topic", lambda: len(_actions_for(w, "fan-a")) >= 1)
    # A part of A delivered again after its decision is dropped, not decided a second time.
    w.produce("decide", [(key_a, a1)])
    _wait(w, "the late part counted", lambda: _fanout(w, "late_part") >= 1)
    assert _fanout(w, "decided") == 1

    # A SIGKILL: B's waiting part and A's decided marker must both come back.
    w.stop(sig=signal.SIGKILL)
    w.start()
    w.produce("decide", [(key_a, a1), (key_b, b1)])
    _wait(w, "B decided after the restart, from its part kept before the kill", lambda: _fanout(w, "decided") >= 1)
    _wait(w, "A's part after the restart dropped as late", lambda: _fanout(w, "late_part") >= 1)
    _wait(w, "B's action on the topic", lambda: len(_actions_for(w, "fan-b")) >= 1)

    acted_a, acted_b = _actions_for(w, "fan-a"), _actions_for(w, "fan-b")
    assert [x["action"] for x in acted_a] == ["remove"], acted_a  # decided once, from part 0's signal
    assert [x["action"] for x in acted_b] == ["remove"], acted_b
    assert acted_a[0]["reason_codes"] == ["prohibited_item"] and acted_a[0]["mode"] == "enforced"
