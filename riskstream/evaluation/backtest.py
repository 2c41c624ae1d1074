"""Backtest a candidate policy against the one in force, over a file of events.

Both policies run through the real engine over the same events, in order
(the other regions' events are skipped: a policy only sees its own region).
For every contributor, a detector id or ``rule:<id>``, and every mode, the
report counts the actions it took part in (``evidence["detectors"]``) under
each policy.  With the simulator's labels beside the file, each contributor's
precision (share of the events it actioned that are labelled risky) and
recall (share of the risky events of the kinds it reads that it actioned)
are given for the candidate.

The events file is the simulator's JSONL (``{"topic", "key", "value"}`` per
line) or a recorded topic range: one event object per line, with its
``kind`` (what ``riskstream tail`` prints).

>>> from riskstream.resources import sample_policy_dir
>>> from riskstream.sim import SimConfig, default_scenarios, run
>>> sim = run(SimConfig(duration_hours=1, events_per_hour=300, scenarios=default_scenarios("review_farm")))
>>> rep = backtest(sample_policy_dir() / "us.yaml", [r for _, _, r in sim.events],
...                in_force=sample_policy_dir() / "us.yaml", labels=sim.labels)
>>> rep.region, rep.events > 0, all(r.candidate == r.in_force for r in rep.rows)
('US', True, True)
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from riskstream.contracts import EVENT_TYPES, Event, from_obj
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.policy.model import RULE_PREFIX, Policy
from riskstream.regions import region_of
from riskstream.sim import LabelSet
from riskstream.sim.simulate import TOPIC_TYPES


@dataclasses.dataclass(frozen=True, slots=True)
class Row:
    contributor: str
    mode: str
    in_force: int
    candidate: int
    precision: float | None = None
    recall: float | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Backtest:
    region: str
    candidate_version: str
    in_force_version: str | None
    events: int
    """Events of the policy's region that both policies judged."""
    labelled: bool
    rows: tuple[Row, ...]
    rule_errors: int

    def render(self) -> str:
        head = (f"backtest {self.region} {self.candidate_version} vs in force "
                f"{self.in_force_version or '(none)'} over {self.events} {self.region} events"
                f"{'' if self.labelled else ' (no labels: no precision/recall)'}")
        lines = [head, f"{'contributor':44} {'mode':8} {'in force':>8} {'candidate':>9} {'delta':>6} "
                       f"{'precision':>9} {'recall':>6}"]
        for r in self.rows:
            p = "-" if r.precision is None else f"{r.precision:.2f}"
            rc = "-" if r.recall is None else f"{r.recall:.2f}"
            lines.append(f"{r.contributor:44} {r.mode:8} {r.in_force:8d} {r.candidate:9d} "
                         f"{r.candidate - r.in_force:+6d} {p:>9} {rc:>6}")
        if self.rule_errors:
            lines.append(f"rule evaluations that raised (counted as no match): {self.rule_errors}")
        return "\n".join(lines)


def read_events(path: Path) -> Iterator[Event]:
    """Events from a simulator JSONL file or a recorded topic range (one event object per line)."""
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            obj = orjson.loads(line)
            if isinstance(obj, dict) and "topic" in obj and "value" in obj:
                yield from_obj(obj["value"], TOPIC_TYPES[obj["topic"]])
            elif isinstance(obj, dict):
                yield from_obj(obj, EVENT_TYPES[obj.get("kind", "listing")])


Key = tuple[str, str]  # (contributor, mode)


def _run(engine: Engine, events: Iterable[Event]) -> tuple[Counter[Key], dict[Key, set[str]]]:
    """Per (contributor, mode): how many actions it took part in, and on which events."""
    counts: Counter[Key] = Counter()
    hits: dict[Key, set[str]] = {}
    for event in events:
        outcome = engine.process(event)
        for action in outcome.actions:
            engine.note_actioned(action)
            for det in action.evidence.get("detectors", []):
                key = (str(det), action.mode)
                counts[key] += 1
                hits.setdefault(key, set()).add(event.event_id)
    return counts, hits


def backtest(candidate: Path, events: Iterable[Event], *, in_force: Path | None,
             labels: LabelSet | None = None) -> Backtest:
    """Run ``candidate`` and the policy ``in_force`` (same region) over ``events``; compare."""
    registry = default_registry()
    cand = load_policy(candidate, registry)
    old: Policy | None = load_policy(in_force, registry) if in_force is not None and in_force.exists() else None
    if old is not None and old.region != cand.region:
        raise ValueError(f"{in_force} is a policy for {old.region}, {candidate} for {cand.region}")
    mine = [e for e in events if region_of(e.region) == cand.region]
    a, b = Engine(registry), Engine(registry)
    b.set_policy(cand)
    if old is not None:
        a.set_policy(old)
    in_force_counts = _run(a, mine)[0] if old is not None else Counter()
    cand_counts, cand_hits = _run(b, mine)
    rules = b.rules(cand.region)
    keys = sorted({*in_force_counts, *cand_counts},
                  key=lambda k: (not k[0].startswith(RULE_PREFIX), k[0], k[1]))
    risky_by_kind: Counter[str] = Counter()
    if labels is not None:
        for e in mine:
            lab = labels.labels.get(e.event_id)
            if lab is not None and lab.is_risky:
                risky_by_kind[e.kind] += 1
    rows = []
    for det, mode in keys:
        precision = recall = None
        if labels is not None and cand_counts[(det, mode)]:
            hit = cand_hits[(det, mode)]
            tp = sum(1 for eid in hit if (lab := labels.labels.get(eid)) is not None and lab.is_risky)
            precision = tp / len(hit)
            denominator = sum(risky_by_kind[k] for k in _kinds(det, cand, registry))
            recall = tp / denominator if denominator else None
        rows.append(Row(det, mode, in_force_counts[(det, mode)], cand_counts[(det, mode)], precision, recall))
    return Backtest(region=cand.region, candidate_version=cand.version,
                    in_force_version=old.version if old else None, events=len(mine),
                    labelled=labels is not None, rows=tuple(rows), rule_errors=rules.errors if rules else 0)


def _kinds(contributor: str, policy: Policy, registry: Any) -> set[str]:
    if contributor.startswith(RULE_PREFIX):
        rule = policy.rules.get(contributor[len(RULE_PREFIX):])
        return {rule.kind} if rule is not None else set()
    cls = registry.detectors.get(contributor)
    return set(cls.kinds) if cls is not None else set()
