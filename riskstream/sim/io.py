"""Files for a simulated run: events as JSONL, labels as JSON beside them, and readers for both.

One line per record, ``{"key": ..., "topic": ..., "value": {...}}``, keys
sorted at every level, so the same seed gives byte-identical files.

>>> import tempfile, pathlib
>>> from riskstream.sim.simulate import SimConfig, run
>>> from riskstream.sim.scenarios import default_scenarios
>>> res = run(SimConfig(duration_hours=1, events_per_hour=50, scenarios=()))
>>> path = pathlib.Path(tempfile.mkdtemp()) / "events.jsonl"
>>> events_path, labels_path = write_run(res, path)
>>> [rec.event_id for _, _, rec in read_events(events_path)] == [r.event_id for _, _, r in res.events]
True
>>> read_labels(labels_path).labels == res.labels.labels
True
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from riskstream.contracts import from_obj
from riskstream.sim.labels import LabelSet, label_from_obj, label_to_obj, scenario_from_obj, scenario_to_obj
from riskstream.sim.simulate import TOPIC_TYPES, SimRun
from riskstream.sim.world import Record

_OPTS = orjson.OPT_SORT_KEYS


def encode_line(topic: str, key: str, record: Record) -> bytes:
    """One JSONL line (with its newline); keys sorted, so bytes depend only on the record."""
    value: Any = orjson.loads(orjson.dumps(record))  # dataclass -> dict, so its keys sort too
    return orjson.dumps({"topic": topic, "key": key, "value": value}, option=_OPTS) + b"\n"


def labels_path_for(events_path: Path) -> Path:
    """``run.jsonl`` -> ``run.labels.json``."""
    return events_path.with_name(events_path.stem + ".labels.json")


def write_events(events: Iterable[tuple[str, str, Record]], path: Path,
                 progress: Callable[[int], None] | None = None) -> int:
    """Write events as JSONL; returns how many; calls `progress(n)` every 10,000."""
    n = 0
    with path.open("wb") as fh:
        for topic, key, record in events:
            fh.write(encode_line(topic, key, record))
            n += 1
            if progress is not None and n % 10_000 == 0:
                progress(n)
    return n


def write_labels(labels: LabelSet, path: Path) -> None:
    obj = {
        "config": labels.config,
        "scenarios": [scenario_to_obj(s) for s in labels.scenarios],
        "labels": [label_to_obj(lab) for lab in labels.labels.values()],
    }
    path.write_bytes(orjson.dumps(obj, option=_OPTS) + b"\n")


def write_run(result: SimRun, events_path: Path) -> tuple[Path, Path]:
    """Write the events and, beside them, the labels; returns both paths."""
    events_path.parent.mkdir(parents=True, exist_ok=True)
    write_events(result.events, events_path)
    labels_path = labels_path_for(events_path)
    write_labels(result.labels, labels_path)
    return events_path, labels_path


def read_events(path: Path) -> Iterator[tuple[str, str, Record]]:
    """Decode and validate each line back into its contract record."""
    with path.open("rb") as fh:
        for line in fh:
            if not line.strip():
                continue
            obj = orjson.loads(line)
            topic = obj["topic"]
            yield topic, obj["key"], from_obj(obj["value"], TOPIC_TYPES[topic])


def read_labels(path: Path) -> LabelSet:
    obj = orjson.loads(path.read_bytes())
    labels = [label_from_obj(x) for x in obj["labels"]]
    return LabelSet(
        labels={lab.event_id: lab for lab in labels},
        scenarios=tuple(scenario_from_obj(s) for s in obj["scenarios"]),
        config=obj.get("config", {}),
    )
