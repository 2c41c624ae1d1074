"""Ground truth for a simulated run: one `Label` per event, one `ScenarioRecord` per scenario.

Labels are for evaluation only (`riskstream.evaluation.quality`); detection
must never read them.

>>> from riskstream.contracts import parse_time
>>> lab = Label(event_id="e1", event_time=parse_time("2026-03-02T00:00:00Z"), kind="listing",
...     country="DE", region="EU", scenario=None, is_risky=False)
>>> label_from_obj(label_to_obj(lab)) == lab
True
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any, Literal

from riskstream.contracts import EntityType, EventKind, parse_time
from riskstream.sim.catalog import HarmKind

ScenarioKind = Literal[
    "prohibited_surge", "counterfeit_wave", "missing_certification", "review_farm", "review_bombing",
    "safety_complaint_spike", "creator_wave", "cross_region_spread", "viral_product", "banned_category",
    "unlicensed_seller", "fake_shop",
]
RISKY_KINDS: tuple[ScenarioKind, ...] = (
    "prohibited_surge", "counterfeit_wave", "missing_certification", "review_farm", "review_bombing",
    "safety_complaint_spike", "creator_wave", "cross_region_spread", "banned_category", "unlicensed_seller",
    "fake_shop",
)

@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Label:
    """The truth about one produced event.

    `scenario` is the scenario id that produced it, or None for background
    traffic.  Background traffic is mostly honest, but carries rare genuine
    violations (a missing certification, an undisclosed ad) labelled risky.
    An honest scenario (the viral product) labels its events with its id and
    ``is_risky=False``.
    """

    event_id: str
    event_time: datetime
    kind: EventKind
    country: str
    region: str
    scenario: str | None
    is_risky: bool
    entity_type: EntityType | None = None
    entity_id: str | None = None
    harm_kind: HarmKind | None = None
    expected_detectors: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioRecord:
    """One injected scenario: where, when, what harm, and whether it should open an incident."""

    scenario_id: str
    kind: ScenarioKind
    regions: tuple[str, ...]
    countries: tuple[str, ...]
    start: datetime
    end: datetime
    harm_kind: HarmKind | None
    is_risky: bool
    opens_incident: bool
    description: str = ""
    event_count: int = 0


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LabelSet:
    """All the ground truth of one run."""

    labels: dict[str, Label]
    scenarios: tuple[ScenarioRecord, ...]
    config: dict[str, Any] = dataclasses.field(default_factory=dict)


def _time(value: datetime) -> str:
    return value.isoformat()


def label_to_obj(label: Label) -> dict[str, Any]:
    out = dataclasses.asdict(label)
    out["event_time"] = _time(label.event_time)
    out["expected_detectors"] = list(label.expected_detectors)
    return out


def label_from_obj(obj: dict[str, Any]) -> Label:
    fields = dict(obj)
    fields["event_time"] = parse_time(fields["event_time"])
    fields["expected_detectors"] = tuple(fields.get("expected_detectors", ()))
    return Label(**fields)


def scenario_to_obj(rec: ScenarioRecord) -> dict[str, Any]:
    out = dataclasses.asdict(rec)
    out.update(start=_time(rec.start), end=_time(rec.end), regions=list(rec.regions),
               countries=list(rec.countries))
    return out


def scenario_from_obj(obj: dict[str, Any]) -> ScenarioRecord:
    fields = dict(obj)
    fields.update(start=parse_time(fields["start"]), end=parse_time(fields["end"]),
                  regions=tuple(fields["regions"]), countries=tuple(fields["countries"]))
    return ScenarioRecord(**fields)
