"""Banded detectors (LSH bucket keys) give the same answers in-process and step by step.

`Engine.process` (the harness) and `prepare` + one `step` per state key + `finish` (what the stream
layer runs, each key's state in the partitioned table) must decide the same, whatever order the
steps run in: the stream layer sorts them by partition.
"""

from __future__ import annotations

from typing import Any

import orjson

from riskstream.contracts import Signal, encode
from riskstream.detectors.base import PARTIAL
from riskstream.evaluation.incidents_eval import build_engine
from riskstream.resources import sample_policy_dir
from riskstream.sim import SimConfig, default_scenarios, run

BANDED = {"image_reuse", "review_near_duplicate"}


def _key(s: Signal) -> bytes:
    return encode(s)


def test_process_equals_prepare_steps_finish_in_any_step_order() -> None:
    sim = run(SimConfig(seed=3, duration_hours=12, events_per_hour=250,
                        scenarios=default_scenarios("counterfeit_wave", "review_farm")))
    whole, _ = build_engine(str(sample_policy_dir()))
    stepped, _ = build_engine(str(sample_policy_dir()))
    table: dict[str, Any] = {}
    banded_steps = 0
    fired: set[str] = set()
    for i, (_topic, _k, event) in enumerate(sim.events):
        want = whole.process(event)
        prepared = stepped.prepare(event)
        assert prepared.dead_letter is None
        signals = list(prepared.signals)
        steps = prepared.steps[::-1] if i % 2 else prepared.steps  # the order must not matter
        for det_id, key in steps:
            table_key = f"{event.region}|{det_id}|{key}"
            table[table_key], found = stepped.step(event, det_id, orjson.loads(orjson.dumps(table.get(table_key))), key)
            signals.extend(found)
            banded_steps += det_id in BANDED
        got = stepped.finish(event, signals)
        assert all(s.code != PARTIAL for s in got.signals)
        assert sorted(map(_key, got.signals)) == sorted(map(_key, want.signals)), event.event_id
        assert sorted(map(encode, got.actions)) == sorted(map(encode, want.actions)), event.event_id
        fired |= {s.detector for s in want.signals} & BANDED
        for action in want.actions:
            whole.note_actioned(action)
            stepped.note_actioned(action)
    assert fired == BANDED and banded_steps > len(sim.events)  # both fired; several buckets per event
