"""Score the pipeline's outputs against a simulated run's ground truth.

Event level, one label per event: a labelled event is *caught* by an enforced
action (any action but ``allow``) taken at that event, or taken later about
the entity the label is about (the label's ``entity_type``/``entity_id``:
the listing, the review, the post), decided at an event about no entity (a
recall notice) or about the same kind of entity (another review).  The
second way is how a detector that looks back is credited: `recall_match`
acting on listings published before the recall, `review_burst` flagging the
earlier reviews of a burst.  An action about another kind of entity (a
listing flagged at one of its reviews) counts for the event it was decided at.  A
caught risky event is a true positive, a caught honest one a false positive,
an uncaught risky one a false negative; several actions on one event count
once.  Review detectors therefore mean one thing: *every review of a burst
or a skew is a labelled event, and each must be flagged* (label per review,
not one signal per burst).  Scores are broken down per detector (from
``evidence["detectors"]``), per scenario and per policy region.

Incident level: a surge scenario is detected by the first incident candidate
(``open`` or ``update``) with its harm kind, in one of its regions, no earlier
than its first event and no later than its end plus a grace period.  An
``open`` incident that matches no risky scenario is a false alarm.

>>> from riskstream.contracts import EnforcementAction, parse_time
>>> from riskstream.sim.labels import Label
>>> t = parse_time("2026-03-02T00:00:00Z")
>>> labels = [Label(event_id="e1", event_time=t, kind="listing", country="DE", region="EU",
...     scenario="s-1", is_risky=True, entity_type="listing", entity_id="l1",
...     harm_kind="illegal_goods", expected_detectors=("prohibited_terms",))]
>>> act = EnforcementAction(action_id="a1", idempotency_key="k", event_id="e1", event_time=t,
...     region="DE", entity_type="listing", entity_id="l1", action="remove", reason_codes=["x"],
...     evidence={"detectors": ["prohibited_terms"]}, policy_version="v1", mode="enforced")
>>> s = score_actions(labels, [act])
>>> (s.overall.tp, s.overall.fp, s.overall.fn, s.overall.f1)
(1, 0, 0, 1.0)
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import orjson

from riskstream.contracts import EnforcementAction, IncidentCandidate
from riskstream.regions import REGIONS, region_of
from riskstream.sim.labels import Label, LabelSet, ScenarioRecord

NO_SCENARIO = "(background)"


@dataclasses.dataclass(frozen=True, slots=True)
class Score:
    """Counts for one row; `support` is how many risky events the row should catch."""

    name: str
    tp: int = 0
    fp: int = 0
    fn: int = 0
    support: int = 0

    @property
    def precision(self) -> float | None:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        return (self.support - self.fn) / self.support if self.support else None

    @property
    def f1(self) -> float | None:
        p, r = self.precision, self.recall
        if p is None or r is None:
            return None
        return 2 * p * r / (p + r) if p + r else 0.0


@dataclasses.dataclass(frozen=True, slots=True)
class ActionScores:
    overall: Score
    by_detector: tuple[Score, ...]
    by_scenario: tuple[Score, ...]
    by_region: tuple[Score, ...]
    unmatched_actions: int
    """Counted actions whose event_id is not in the labels (another run? a typo?)."""


@dataclasses.dataclass(frozen=True, slots=True)
class ScenarioDetection:
    scenario_id: str
    kind: str
    harm_kind: str | None
    regions: tuple[str, ...]
    detected: bool
    first_event_time: datetime | None
    first_incident_time: datetime | None
    time_to_detect_s: float | None
    incident_ids: tuple[str, ...]
    time_to_detect_by_region: dict[str, float | None]


@dataclasses.dataclass(frozen=True, slots=True)
class IncidentScores:
    scenarios: tuple[ScenarioDetection, ...]
    opened: int
    false_alarms: int
    false_alarm_ids: tuple[str, ...]
    false_alarms_on_honest_surges: int
    """Of the false alarms, those during an honest scenario (a viral product) in its region."""


@dataclasses.dataclass(frozen=True, slots=True)
class QualityReport:
    actions: ActionScores
    incidents: IncidentScores


# ------------------------------------------------------------------------ actions


def detectors_of(action: EnforcementAction) -> tuple[str, ...]:
    """The detectors behind an action: ``evidence["detectors"]``, else reason-code prefixes."""
    named = action.evidence.get("detectors")
    if isinstance(named, list) and named:
        return tuple(str(d) for d in named)
    return tuple(dict.fromkeys(code.split(".")[0].split(":")[0] for code in action.reason_codes))


def _as_map(labels: Iterable[Label] | Mapping[str, Label]) -> Mapping[str, Label]:
    if isinstance(labels, Mapping):
        return labels
    return {lab.event_id: lab for lab in labels}


def score_actions(labels: Iterable[Label] | Mapping[str, Label], actions: Iterable[EnforcementAction],
                  *, include_shadow: bool = False) -> ActionScores:
    """Event-level precision/recall/F1 of enforced actions, overall and broken down."""
    truth = _as_map(labels)
    fired: dict[str, set[str]] = defaultdict(set)
    about: dict[tuple[str, str], list[tuple[datetime, set[str]]]] = defaultdict(list)
    labelled = {(lab.entity_type, lab.entity_id) for lab in truth.values() if lab.entity_id is not None}
    unmatched = 0
    for a in actions:
        if a.action == "allow" or (a.mode != "enforced" and not include_shadow):
            continue
        if a.event_id not in truth:
            unmatched += 1
            continue
        entity = (a.entity_type, a.entity_id)
        lab = truth[a.event_id]
        dets = set(detectors_of(a))
        if lab.entity_id is None:
            # At an event about nothing (a recall notice): the action is about the entity it names.
            if entity in labelled:
                about[entity].append((a.event_time, dets))
            else:
                fired[a.event_id].update(dets)
        elif entity[0] == lab.entity_type:
            # Same kind of entity (a burst's earlier reviews): the entity it names, this one included.
            if entity == (lab.entity_type, lab.entity_id):
                fired[a.event_id].update(dets)
            about[entity].append((a.event_time, dets))
        else:
            # Another kind (a listing flagged at one of its reviews): the event that led to it.
            fired[a.event_id].update(dets)
    if about:
        # Actions about a labelled event's entity, taken at or after that event, catch it too.
        for event_id, lab in truth.items():
            if lab.entity_type is None or lab.entity_id is None:
                continue
            for when, dets in about.get((lab.entity_type, lab.entity_id), ()):
                if when >= lab.event_time:
                    fired[event_id].update(dets)
    overall: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_scenario: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_region: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    by_detector: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for event_id, lab in truth.items():
        hit = event_id in fired
        tp, fp, fn = int(hit and lab.is_risky), int(hit and not lab.is_risky), int(lab.is_risky and not hit)
        for row in (overall["all"], by_scenario[lab.scenario or NO_SCENARIO], by_region[lab.region]):
            row[0] += tp
            row[1] += fp
            row[2] += fn
            row[3] += int(lab.is_risky)
        caught_by = fired.get(event_id, set())
        for d in caught_by:
            by_detector[d][0 if lab.is_risky else 1] += 1
        if lab.is_risky:
            for d in lab.expected_detectors:
                by_detector[d][3] += 1
                by_detector[d][2] += int(d not in caught_by)
    return ActionScores(
        overall=_score("all", overall["all"]),
        by_detector=_rows(by_detector),
        by_scenario=_rows(by_scenario),
        by_region=_rows(by_region),
        unmatched_actions=unmatched,
    )


def _score(name: str, c: list[int]) -> Score:
    return Score(name, tp=c[0], fp=c[1], fn=c[2], support=c[3])


def _rows(table: dict[str, list[int]]) -> tuple[Score, ...]:
    return tuple(_score(name, table[name]) for name in sorted(table))


# ------------------------------------------------------------------------ incidents


def _policy_region(code: str) -> str:
    return code if code in REGIONS else region_of(code) or code


def _incident_regions(inc: IncidentCandidate) -> set[str]:
    return {_policy_region(r) for r in (inc.region, *inc.regions_affected)}


def _matches(inc: IncidentCandidate, sc: ScenarioRecord, first: datetime, grace: timedelta) -> bool:
    return (inc.harm_kind == sc.harm_kind and bool(_incident_regions(inc) & set(sc.regions))
            and first <= inc.event_time <= sc.end + grace)


def score_incidents(labels: Iterable[Label] | Mapping[str, Label], scenarios: Sequence[ScenarioRecord],
                    incidents: Iterable[IncidentCandidate], *,
                    grace: timedelta = timedelta(hours=6)) -> IncidentScores:
    """Per surge scenario: detected, time to detect; and incidents opened on honest traffic."""
    truth = _as_map(labels)
    firsts: dict[str, datetime] = {}
    firsts_by_region: dict[tuple[str, str], datetime] = {}
    for lab in truth.values():
        if lab.scenario is None:
            continue
        if lab.scenario not in firsts or lab.event_time < firsts[lab.scenario]:
            firsts[lab.scenario] = lab.event_time
        key = (lab.scenario, lab.region)
        if key not in firsts_by_region or lab.event_time < firsts_by_region[key]:
            firsts_by_region[key] = lab.event_time
    live = sorted((i for i in incidents if i.status in ("open", "update")),
                  key=lambda i: (i.event_time, i.incident_id))
    detections = []
    for sc in scenarios:
        if not (sc.is_risky and sc.opens_incident):
            continue
        first = firsts.get(sc.scenario_id, sc.start)
        hits = [i for i in live if _matches(i, sc, first, grace)]
        by_region: dict[str, float | None] = {}
        for region in sc.regions:
            r_first = firsts_by_region.get((sc.scenario_id, region), first)
            r_hits = [i.event_time for i in hits if region in _incident_regions(i) and i.event_time >= r_first]
            by_region[region] = (r_hits[0] - r_first).total_seconds() if r_hits else None
        detections.append(ScenarioDetection(
            scenario_id=sc.scenario_id, kind=sc.kind, harm_kind=sc.harm_kind, regions=sc.regions,
            detected=bool(hits), first_event_time=first,
            first_incident_time=hits[0].event_time if hits else None,
            time_to_detect_s=(hits[0].event_time - first).total_seconds() if hits else None,
            incident_ids=tuple(dict.fromkeys(i.incident_id for i in hits)),
            time_to_detect_by_region=by_region,
        ))
    opened = [i for i in live if i.status == "open"]
    risky = [s for s in scenarios if s.is_risky]
    honest = [s for s in scenarios if not s.is_risky]
    false_alarms = [i for i in opened
                    if not any(_matches(i, s, firsts.get(s.scenario_id, s.start), grace) for s in risky)]
    on_honest = [i for i in false_alarms if any(
        _incident_regions(i) & set(s.regions) and firsts.get(s.scenario_id, s.start) <= i.event_time <= s.end + grace
        for s in honest)]
    return IncidentScores(
        scenarios=tuple(detections), opened=len(opened), false_alarms=len(false_alarms),
        false_alarm_ids=tuple(i.incident_id for i in false_alarms),
        false_alarms_on_honest_surges=len(on_honest),
    )


def evaluate(labels: LabelSet, actions: Iterable[EnforcementAction], incidents: Iterable[IncidentCandidate],
             *, include_shadow: bool = False, grace: timedelta = timedelta(hours=6)) -> QualityReport:
    """Both scores for one run."""
    return QualityReport(
        actions=score_actions(labels.labels, actions, include_shadow=include_shadow),
        incidents=score_incidents(labels.labels, labels.scenarios, incidents, grace=grace),
    )


# ------------------------------------------------------------------------ rendering


def _fmt(x: float | None) -> str:
    return "    -" if x is None else f"{x:5.3f}"


def _table(title: str, rows: Iterable[Score]) -> list[str]:
    out = [title, f"  {'name':<28} {'tp':>6} {'fp':>6} {'fn':>6} {'support':>8}  {'prec':>5}  {'rec':>5}  {'f1':>5}"]
    out += [f"  {r.name:<28} {r.tp:>6} {r.fp:>6} {r.fn:>6} {r.support:>8}  {_fmt(r.precision)}  "
            f"{_fmt(r.recall)}  {_fmt(r.f1)}" for r in rows]
    return out


def render_table(report: QualityReport) -> str:
    """A fixed-width text report."""
    a, inc = report.actions, report.incidents
    lines = _table("Enforcement actions (event level)", [a.overall])
    lines += _table("By detector", a.by_detector) + _table("By scenario", a.by_scenario)
    lines += _table("By region", a.by_region)
    lines.append(f"  unmatched actions: {a.unmatched_actions}")
    lines.append("Incidents (surge scenarios)")
    lines.append(f"  {'scenario':<28} {'harm':<16} {'regions':<10} {'detected':>8} {'ttd_min':>8}  incidents")
    for d in inc.scenarios:
        ttd = "-" if d.time_to_detect_s is None else f"{d.time_to_detect_s / 60:.1f}"
        lines.append(f"  {d.scenario_id:<28} {d.harm_kind or '-':<16} {','.join(d.regions):<10} "
                     f"{'yes' if d.detected else 'no':>8} {ttd:>8}  {len(d.incident_ids)}")
    lines.append(f"  opened: {inc.opened}  false alarms: {inc.false_alarms} "
                 f"(during honest surges: {inc.false_alarms_on_honest_surges})")
    return "\n".join(lines) + "\n"


def _score_obj(s: Score) -> dict[str, Any]:
    return {"name": s.name, "tp": s.tp, "fp": s.fp, "fn": s.fn, "support": s.support,
            "precision": s.precision, "recall": s.recall, "f1": s.f1}


def report_to_obj(report: QualityReport) -> dict[str, Any]:
    a, inc = report.actions, report.incidents
    return {
        "actions": {
            "overall": _score_obj(a.overall),
            "by_detector": [_score_obj(s) for s in a.by_detector],
            "by_scenario": [_score_obj(s) for s in a.by_scenario],
            "by_region": [_score_obj(s) for s in a.by_region],
            "unmatched_actions": a.unmatched_actions,
        },
        "incidents": {
            "scenarios": [dataclasses.asdict(d) for d in inc.scenarios],
            "opened": inc.opened, "false_alarms": inc.false_alarms,
            "false_alarm_ids": list(inc.false_alarm_ids),
            "false_alarms_on_honest_surges": inc.false_alarms_on_honest_surges,
        },
    }


def report_to_json(report: QualityReport) -> bytes:
    """The report as indented JSON with sorted keys (stable, diffable)."""
    return orjson.dumps(report_to_obj(report), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2)
