"""The engine's detections on whole simulated days, pinned: a speed-up must not change a single field.

Every signal and action the engine produces over a simulated day (the
shipped policies, the simulator's own event times) is JSON-encoded in order
and hashed, per block of events, and compared with a golden file.  The
golden files were written by the engine before the hot-path work of issue 15
(`bench/bench_engine.py --against REF` compares two commits directly, field by
field).  After an intended change to what is detected, review the counts and
rerun with ``UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
import pytest
import yaml

from riskstream.contracts import encode
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.policy.load import iter_policy_files
from riskstream.settings import LimitSettings
from riskstream.sim import SimConfig, simulate
from riskstream.topology import TOPICS

ROOT: Final = Path(__file__).resolve().parents[2]
GOLDEN: Final = ROOT / "tests" / "golden"
BLOCK: Final = 2000
KIND_OF_TOPIC: Final = {s.name: s.name.split(".")[0] for s in TOPICS.values()}
KINDS: Final = {"listings": "listing", "reviews": "review", "creator": "content", "recalls": "recall"}


def day_outputs(seed: int) -> dict[str, Any]:
    registry = default_registry()
    engine = Engine(registry, limits=LimitSettings(max_event_age_days=None))
    for path in iter_policy_files(ROOT / "policies"):
        # The built-in detectors and decisions only: the policies' own CEL rules (issue 14) came
        # after the golden files and add their `rule:` signals on top (tests/unit/test_rules.py).
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        doc.pop("rules", None)
        doc.pop("term_lists", None)
        engine.set_policy(load_policy(yaml.safe_dump(doc, sort_keys=False), registry))
    now = datetime.now(UTC)
    blocks: list[str] = []
    digest = hashlib.blake2b(digest_size=16)
    signals: Counter[str] = Counter()
    actions: Counter[str] = Counter()
    dead: Counter[str] = Counter()
    n = 0
    for topic, _key, record in simulate(SimConfig(seed=seed)):
        kind = KINDS.get(KIND_OF_TOPIC[topic])
        if kind is None:
            continue
        out = engine.handle_raw(kind, encode(record), now)
        digest.update(orjson.dumps([out.dead_letter, out.signals, out.actions]))
        signals.update(f"{s.detector}/{s.code}" for s in out.signals)
        actions.update(f"{a.action}/{a.mode}" for a in out.actions)
        if out.dead_letter:
            dead[out.dead_letter[0]] += 1
        n += 1
        if n % BLOCK == 0:
            blocks.append(digest.hexdigest())
    blocks.append(digest.hexdigest())
    return {"seed": seed, "events": n, "signals": dict(sorted(signals.items())),
            "actions": dict(sorted(actions.items())), "dead_letters": dict(sorted(dead.items())),
            "digest_after_each_block_of_2000": blocks}


@pytest.mark.parametrize("seed", [1, 2])
def test_engine_detections_match_golden(seed: int) -> None:
    path = GOLDEN / f"engine_day_seed{seed}.json"
    got = day_outputs(seed)
    if os.environ.get("UPDATE_GOLDEN") or not path.exists():
        path.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    want = json.loads(path.read_text())
    assert got["signals"] == want["signals"]
    assert got["actions"] == want["actions"]
    assert got["dead_letters"] == want["dead_letters"]
    blocks = got["digest_after_each_block_of_2000"]
    first = next((i for i, (a, b) in enumerate(zip(blocks, want["digest_after_each_block_of_2000"], strict=True))
                  if a != b), None)
    assert first is None, f"outputs differ within events {first * BLOCK}..{(first + 1) * BLOCK}"
    assert got["events"] == want["events"]
