"""Property-based fuzzing of every input contract through the engine and what consumes its output.

For each input kind, hypothesis draws valid records, records broken one way
(see `strategies.inputs`) and arbitrary bytes.  Every input must come back
either accepted or as exactly one dead letter with a known reason (never an
exception); a valid-by-construction input must be accepted and an
invalid-by-construction one refused.  An accepted event also goes through
everything downstream that the worker runs on it (incident aggregation and
the violation ledger), which must not raise either.  The number of cases and
the worst time per input are printed (run with HYPOTHESIS_PROFILE=ci for
10,000 per kind).
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given

from riskstream.contracts import EVENT_TYPES, decode, encode
from riskstream.decisions import Ledger
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.models.aggregates import Aggregator
from riskstream.policy import load_policy
from riskstream.policy.load import iter_policy_files
from tests.paths import REPO
from tests.property.strategies import NOW, Expected, inputs

REASONS = frozenset({"bad_json", "not_an_object", "wrong_kind", "missing_field", "wrong_type", "invalid_value",
                     "unknown_region", "too_large", "out_of_range"})


@dataclass
class Stats:
    cases: int = 0
    worst_s: float = 0.0
    worst_how: str = ""
    outcomes: Counter[str] = field(default_factory=Counter)

    def line(self, kind: str) -> str:
        top = ", ".join(f"{k}={v}" for k, v in self.outcomes.most_common())
        return (f"[fuzz] {kind}: {self.cases} cases, worst {self.worst_s * 1e3:.1f} ms per input "
                f"({self.worst_how}); {top}")


@pytest.fixture(scope="module")
def engine() -> Engine:
    registry = default_registry()
    eng = Engine(registry)
    for path in iter_policy_files(REPO / "policies"):
        eng.set_policy(load_policy(path, registry))
    return eng


def _check(engine: Engine, aggregator: Aggregator, kind: str, raw: bytes, expected: Expected) -> str:
    out = engine.handle_raw(kind, raw, now=NOW)
    if out.dead_letter is not None:
        reason, detail = out.dead_letter
        assert reason in REASONS, out.dead_letter
        assert isinstance(detail, str) and detail
        assert out.event is None and not out.signals and not out.actions  # one dead letter, nothing else
        assert expected != "valid", (raw[:300], out.dead_letter)
        if reason in ("too_large", "out_of_range"):
            assert out.measured is not None
        return reason
    assert expected != "invalid", raw[:300]
    assert out.event is not None
    assert decode(encode(out.event), EVENT_TYPES[kind]) == out.event  # what we accept, we can re-send
    aggregator.add(out.event, out.signals, out.actions)
    for action in out.actions:
        if action.mode == "enforced":
            ledger, _, _ = engine.on_violation(None, action)
            if ledger is not None:
                assert Ledger.from_json(ledger.to_json()) == ledger
    return "accepted"


@pytest.mark.timeout(1800)  # the CI profile: 10,000 inputs per kind
@pytest.mark.parametrize("kind", sorted(EVENT_TYPES))
def test_every_input_is_accepted_or_dead_lettered_once(engine: Engine, kind: str, capsys: Any) -> None:
    stats = Stats()
    aggregator = Aggregator()

    @given(case=inputs(kind))
    def run(case: tuple[bytes, Expected, str]) -> None:
        raw, expected, how = case
        started = time.perf_counter()
        result = _check(engine, aggregator, kind, raw, expected)
        elapsed = time.perf_counter() - started
        stats.cases += 1
        stats.outcomes[result] += 1
        if elapsed > stats.worst_s:
            stats.worst_s, stats.worst_how = elapsed, f"{how}, {len(raw)} bytes"

    run()
    aggregator.flush()
    with capsys.disabled():
        print("\n" + stats.line(kind))
    assert stats.outcomes["accepted"] > 0 and sum(stats.outcomes.values()) > stats.outcomes["accepted"]
