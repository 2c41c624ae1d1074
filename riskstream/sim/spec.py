"""What a scenario is asked to do (`ScenarioSpec`) and helpers shared by the scenarios.

>>> s = ScenarioSpec("review_farm", ("US",), start_hour=7, duration_hours=3)
>>> s.kind, s.intensity
('review_farm', 1.0)
>>> regions_of(("DE", "FR", "GB"))
('EU', 'UK')
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from riskstream.regions import region_of
from riskstream.sim.catalog import HarmKind
from riskstream.sim.labels import ScenarioKind, ScenarioRecord


@dataclass(frozen=True, slots=True)
class ScenarioSpec:
    """One scenario on the timeline.

    `start_hour` and `duration_hours` are relative to the simulation start;
    `intensity` scales how many events it produces; `spread_delay_hours` is
    the lag between successive countries of a `cross_region_spread`.
    """

    kind: ScenarioKind
    countries: tuple[str, ...]
    start_hour: float
    duration_hours: float
    intensity: float = 1.0
    spread_delay_hours: float = 4.0


@dataclass(frozen=True, slots=True)
class Window:
    """The scenario's id and clipped time window, handed to every scenario function."""

    sid: str
    start: datetime
    end: datetime


def regions_of(countries: tuple[str, ...]) -> tuple[str, ...]:
    """Policy regions of `countries`, in first-seen order."""
    out: dict[str, None] = {}
    for c in countries:
        r = region_of(c)
        if r is not None:
            out[r] = None
    return tuple(out)


def surge_times(rng: random.Random, start: datetime, end: datetime, n: int, mode: float = 0.3) -> list[datetime]:
    """`n` sorted times in [start, end): ramps up fast, peaks at `mode` of the window, tails off."""
    span = (end - start).total_seconds()
    if span <= 0:
        return []
    # Whole seconds: the wire format stays short and stable.
    return sorted((start + (end - start) * min(rng.triangular(0.0, 1.0, mode), 0.999)).replace(microsecond=0)
                  for _ in range(n))


def scaled(n: int, spec: ScenarioSpec) -> int:
    return max(1, round(n * spec.intensity))


def record(spec: ScenarioSpec, win: Window, *, harm: HarmKind | None, opens_incident: bool,
           description: str, countries: tuple[str, ...] | None = None, risky: bool = True) -> ScenarioRecord:
    cs = countries or spec.countries
    return ScenarioRecord(
        scenario_id=win.sid, kind=spec.kind, regions=regions_of(cs), countries=cs, start=win.start,
        end=win.end, harm_kind=harm, is_risky=risky, opens_incident=opens_incident, description=description,
    )
