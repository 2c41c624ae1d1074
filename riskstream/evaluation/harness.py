"""The evaluation harness: a labeled run through the pipeline's core, scored end to end.

A simulated run (or a JSONL file the simulator wrote) goes through `Engine`
with every region's policy from one directory, in event order, exactly as the
stream layer calls it: each enforced ``remove``/``hold`` of a listing is fed
back with `Engine.note_actioned`, as the action-topic broadcast does.  The
actions are scored with :func:`riskstream.evaluation.quality.evaluate`; the
incident candidates come from :mod:`riskstream.evaluation.incidents_eval`
(Engine -> Aggregator -> IncidentManager), which this module calls rather
than repeats.

Run it: ``python -m riskstream.evaluation.harness [--seed N] [--json OUT]``
(or ``riskstream eval run``).

>>> from riskstream.sim import SimConfig, default_scenarios
>>> cfg = SimConfig(duration_hours=1, events_per_hour=200, scenarios=default_scenarios("prohibited_surge"))
>>> res = evaluate_run(cfg, sample_policy_dir(), include_incidents=False)
>>> sorted(res.policies) == sorted(REGIONS) and res.events > 0
True
>>> all(0.0 <= s.precision <= 1.0 for s in res.report.actions.by_detector if s.precision is not None)
True
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from riskstream.contracts import EnforcementAction, IncidentCandidate
from riskstream.engine import Engine
from riskstream.evaluation.incidents_eval import build_engine, evaluate_incidents
from riskstream.evaluation.quality import QualityReport, evaluate, render_table, report_to_obj
from riskstream.regions import REGIONS
from riskstream.resources import sample_policy_dir
from riskstream.sim import (
    LabelSet,
    Record,
    ScenarioSpec,
    SimConfig,
    labels_path_for,
    read_events,
    read_labels,
    run,
)

_INCIDENTS_HEADER = "Incidents (surge scenarios)"


@dataclasses.dataclass(frozen=True, slots=True)
class HarnessResult:
    """One scored run: the quality report and how it was produced.

    `incidents_note` says why incidents were not scored (then the report's
    incident section is empty and neither rendered nor written as scores).
    """

    source: str
    policies: dict[str, str]
    """Policy region -> version of the policy the run used."""
    events: int
    actions: int
    """Actions the engine emitted (enforced and shadow, before scoring)."""
    report: QualityReport
    engine_seconds: float
    incident_seconds: float | None
    incidents_note: str | None = None
    incidents: tuple[IncidentCandidate, ...] = ()

    @property
    def events_per_s(self) -> float:
        return self.events / self.engine_seconds if self.engine_seconds > 0 else 0.0

    @property
    def incidents_evaluated(self) -> bool:
        return self.incidents_note is None


# ------------------------------------------------------------------ running


def _engine(policies_dir: Path) -> tuple[Engine, dict[str, str]]:
    """An engine with all four regions' policies from `policies_dir`; refuses a partial set."""
    engine, _loaded = build_engine(str(policies_dir))
    policies = {region: p.version for region, p in sorted(engine.policies().items())}
    missing = sorted(set(REGIONS) - set(policies))
    if missing:
        # Scores over a region with no policy would count its whole traffic as missed.
        raise ValueError(f"{policies_dir}: no loadable policy for region(s) {', '.join(missing)}")
    return engine, policies


def _run_actions(engine: Engine, events: Iterable[tuple[str, str, Record]]) -> tuple[list[EnforcementAction], int, float]:
    """Every event through the engine in order; returns (actions, events seen, seconds)."""
    actions: list[EnforcementAction] = []
    n = 0
    t0 = time.perf_counter()
    for _topic, _key, record in events:
        n += 1
        outcome = engine.process(record)
        for action in outcome.actions:
            actions.append(action)
            # The stream layer broadcasts enforced actions to every worker; content that links
            # to a removed or held listing is judged with that knowledge.
            engine.note_actioned(action)
    return actions, n, time.perf_counter() - t0


def evaluate_run(config: SimConfig | None = None, policies_dir: str | os.PathLike[str] | None = None, *,
                 include_incidents: bool = True, include_shadow: bool = False,
                 models_dir: str | None = None) -> HarnessResult:
    """Simulate `config` (default: the default run), run it through the engine and score it."""
    config = config or SimConfig()
    pdir = Path(policies_dir) if policies_dir is not None else sample_policy_dir()
    engine, policies = _engine(pdir)
    incidents: list[IncidentCandidate] = []
    inc_seconds: float | None = None
    if include_incidents:
        inc = evaluate_incidents(config, policies_dir=str(pdir), models_dir=models_dir)
        sim, incidents, inc_seconds = inc.sim, inc.incidents, inc.seconds
    else:
        sim = run(config)
    actions, n, seconds = _run_actions(engine, sim.events)
    report = evaluate(sim.labels, actions, incidents, include_shadow=include_shadow)
    return HarnessResult(
        source=f"simulation seed={config.seed} hours={config.duration_hours} "
               f"rate={config.events_per_hour:g}/h scenarios={len(config.scenarios)}",
        policies=policies, events=n, actions=len(actions), report=report, engine_seconds=seconds,
        incident_seconds=inc_seconds, incidents_note=None if include_incidents else "not requested",
        incidents=tuple(incidents),
    )


def config_from_labels(labels: LabelSet) -> SimConfig | None:
    """The `SimConfig` a labels file records (``SimConfig.to_obj``), or None if it records none."""
    obj = labels.config
    if not obj:
        return None
    try:
        return SimConfig(
            seed=int(obj["seed"]), start=datetime.fromisoformat(obj["start"]),
            duration_hours=int(obj["duration_hours"]), events_per_hour=float(obj["events_per_hour"]),
            sellers_per_country=int(obj["sellers_per_country"]),
            creators_per_country=int(obj["creators_per_country"]),
            scenarios=tuple(ScenarioSpec(**{**s, "countries": tuple(s["countries"])}) for s in obj["scenarios"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


def evaluate_jsonl(events_path: str | os.PathLike[str], labels_path: str | os.PathLike[str] | None = None,
                   policies_dir: str | os.PathLike[str] | None = None, *, include_incidents: bool = True,
                   include_shadow: bool = False, models_dir: str | None = None) -> HarnessResult:
    """Score a run the simulator wrote (``events.jsonl`` and ``events.labels.json`` beside it).

    Incidents: `incidents_eval` works from a `SimConfig`, so the run is
    re-simulated from the config its labels record and used only if it
    reproduces the file's events exactly; otherwise incidents are not scored
    and `incidents_note` says why.
    """
    epath = Path(events_path)
    lpath = Path(labels_path) if labels_path is not None else labels_path_for(epath)
    pdir = Path(policies_dir) if policies_dir is not None else sample_policy_dir()
    labels = read_labels(lpath)
    engine, policies = _engine(pdir)
    ids: list[str] = []

    def tap(events: Iterable[tuple[str, str, Record]]) -> Iterable[tuple[str, str, Record]]:
        for item in events:
            ids.append(item[2].event_id)
            yield item

    actions, n, seconds = _run_actions(engine, tap(read_events(epath)))
    incidents: list[IncidentCandidate] = []
    inc_seconds: float | None = None
    note: str | None = "not requested"
    if include_incidents:
        config = config_from_labels(labels)
        if config is None:
            note = f"{lpath.name} records no simulator config"
        else:
            inc = evaluate_incidents(config, policies_dir=str(pdir), models_dir=models_dir)
            if [rec.event_id for _t, _k, rec in inc.sim.events] == ids:
                incidents, inc_seconds, note = inc.incidents, inc.seconds, None
            else:
                note = "the file's events differ from a re-simulation of its recorded config"
    report = evaluate(labels, actions, incidents, include_shadow=include_shadow)
    return HarnessResult(source=str(epath), policies=policies, events=n, actions=len(actions), report=report,
                         engine_seconds=seconds, incident_seconds=inc_seconds, incidents_note=note,
                         incidents=tuple(incidents))


# ------------------------------------------------------------------ several seeds


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "      -      "
    mean = sum(values) / len(values)
    sd = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5 if len(values) > 1 else 0.0
    return f"{mean:5.3f} ± {sd:5.3f}"


def render_seeds(results: dict[int, HarnessResult]) -> str:
    """Per-detector and per-scenario precision and recall over several seeds: mean ± sample sd.

    A row's precision is averaged over the seeds where it acted at all, its recall over
    the seeds where it had events to catch; ``n`` says over how many.  ``tp``, ``fp`` and
    ``support`` are summed over the seeds.
    """
    lines = [f"seeds: {', '.join(map(str, results))}"]
    for title in ("By detector", "By scenario"):
        rows: dict[str, list[Any]] = {}
        for res in results.values():
            a = res.report.actions
            for sc in (a.by_detector if title == "By detector" else a.by_scenario):
                rows.setdefault(sc.name.rsplit("-", 1)[0] if title == "By scenario" else sc.name, []).append(sc)
        lines.append(title)
        lines.append(f"  {'name':<24} {'precision (mean ± sd)':>22} {'n':>2} {'recall (mean ± sd)':>20} {'n':>2}"
                     f" {'tp':>6} {'fp':>5} {'support':>7}")
        for name in sorted(rows):
            ps = [x.precision for x in rows[name] if x.precision is not None]
            rs = [x.recall for x in rows[name] if x.recall is not None]
            tp, fp, support = (sum(getattr(x, f) for x in rows[name]) for f in ("tp", "fp", "support"))
            lines.append(f"  {name:<24} {_mean_sd(ps):>22} {len(ps):>2} {_mean_sd(rs):>20} {len(rs):>2}"
                         f" {tp:>6} {fp:>5} {support:>7}")
    return "\n".join(lines) + "\n"


def seed_list(text: str) -> list[int]:
    """``"101-105"`` or ``"1,2,3"``."""
    if "-" in text:
        a, b = text.split("-", 1)
        return list(range(int(a), int(b) + 1))
    return [int(x) for x in text.split(",") if x.strip()]


# ------------------------------------------------------------------ output


def render(result: HarnessResult) -> str:
    """The fixed-width report, with what was run and how fast."""
    head = [
        f"source: {result.source}",
        "policies: " + ", ".join(f"{r} {v}" for r, v in result.policies.items()),
        f"events: {result.events}  actions: {result.actions}  engine: {result.engine_seconds:.2f}s "
        f"({result.events_per_s:,.0f} events/s)"
        + ("" if result.incident_seconds is None else f"  incidents pass: {result.incident_seconds:.2f}s"),
    ]
    table = render_table(result.report)
    actions_part, _, incidents_part = table.partition(_INCIDENTS_HEADER + "\n")
    if not result.incidents_evaluated:
        return "\n".join(head) + "\n" + actions_part + f"Incidents: not scored ({result.incidents_note})\n"
    by_region = []
    for d in result.report.incidents.scenarios:
        if len(d.time_to_detect_by_region) > 1:
            parts = ", ".join(f"{r}={'-' if v is None else f'{v / 60:.1f}'}"
                              for r, v in d.time_to_detect_by_region.items())
            by_region.append(f"  {d.scenario_id}: ttd_min by region {parts}")
    return ("\n".join(head) + "\n" + actions_part + _INCIDENTS_HEADER + "\n" + incidents_part
            + "".join(line + "\n" for line in by_region))


def to_obj(result: HarnessResult) -> dict[str, Any]:
    report = report_to_obj(result.report)
    if not result.incidents_evaluated:
        report["incidents"] = None
    return {
        "source": result.source,
        "policies": result.policies,
        "events": result.events,
        "actions": result.actions,
        "timing": {"engine_seconds": result.engine_seconds, "events_per_s": result.events_per_s,
                   "incident_seconds": result.incident_seconds},
        "incidents_note": result.incidents_note,
        "report": report,
    }


def to_json(result: HarnessResult) -> str:
    """Indented JSON, keys sorted; everything but ``timing`` is deterministic for a given run."""
    return orjson.dumps(to_obj(result), option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2).decode() + "\n"


# ------------------------------------------------------------------ command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m riskstream.evaluation.harness",
                                 description="Score the pipeline on a labeled simulated run.")
    ap.add_argument("--seed", type=int, default=SimConfig().seed)
    ap.add_argument("--hours", type=int, default=SimConfig().duration_hours)
    ap.add_argument("--policies", type=Path, default=sample_policy_dir(), help="policy directory (all four regions)")
    ap.add_argument("--events", type=Path, default=None, help="score this simulator JSONL instead of simulating")
    ap.add_argument("--labels", type=Path, default=None, help="labels for --events (default: beside it)")
    ap.add_argument("--models", default=None, help="directory of saved region models (default: streaming)")
    ap.add_argument("--no-incidents", action="store_true", help="score enforcement actions only")
    ap.add_argument("--include-shadow", action="store_true", help="count shadow-mode actions as enforced")
    ap.add_argument("--json", type=Path, default=None, help="also write the result as JSON here")
    ap.add_argument("--seeds", default=None,
                    help="score several seeds (e.g. 101-105, the held-out ones) and print mean ± sd")
    args = ap.parse_args(argv)
    if args.seeds:
        results = {seed: evaluate_run(SimConfig(seed=seed, duration_hours=args.hours), args.policies,
                                      include_incidents=not args.no_incidents,
                                      include_shadow=args.include_shadow, models_dir=args.models)
                   for seed in seed_list(args.seeds)}
        print(render_seeds(results), end="")
        return 0
    try:
        if args.events is not None:
            result = evaluate_jsonl(args.events, args.labels, args.policies, include_incidents=not args.no_incidents,
                                    include_shadow=args.include_shadow, models_dir=args.models)
        else:
            result = evaluate_run(SimConfig(seed=args.seed, duration_hours=args.hours), args.policies,
                                  include_incidents=not args.no_incidents, include_shadow=args.include_shadow,
                                  models_dir=args.models)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(render(result), end="")
    if args.json is not None:
        args.json.write_text(to_json(result))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
