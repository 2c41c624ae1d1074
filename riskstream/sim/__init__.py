"""A seeded, reproducible marketplace simulator with ground-truth labels.

Background traffic (listings, reviews, creator posts, on a daily cycle, with
honest noise, near-misses of the category and burst scenarios, and an honest
viral product) plus injected risk scenarios, as a time-ordered stream of
contract records, and a `Label` for every event.

>>> from riskstream.sim import SimConfig, run, default_scenarios
>>> res = run(SimConfig(duration_hours=1, events_per_hour=200, scenarios=()))
>>> len(res.events) > 100 and all(not lab.is_risky or lab.scenario is None for lab in res.labels.labels.values())
True
"""

from __future__ import annotations

from riskstream.sim.io import labels_path_for, read_events, read_labels, write_events, write_labels, write_run
from riskstream.sim.labels import Label, LabelSet, ScenarioKind, ScenarioRecord
from riskstream.sim.scenarios import DEFAULT_SCENARIOS, default_scenarios
from riskstream.sim.simulate import (
    TOPIC_TYPES,
    TOPICS,
    SimConfig,
    SimRun,
    labels,
    run,
    simulate,
    topic_and_key,
)
from riskstream.sim.spec import ScenarioSpec
from riskstream.sim.world import Record

__all__ = [
    "DEFAULT_SCENARIOS", "TOPICS", "TOPIC_TYPES", "Label", "LabelSet", "Record", "ScenarioKind",
    "ScenarioRecord", "ScenarioSpec", "SimConfig", "SimRun", "default_scenarios", "labels",
    "labels_path_for", "read_events", "read_labels", "run", "simulate", "topic_and_key", "write_events",
    "write_labels", "write_run",
]
