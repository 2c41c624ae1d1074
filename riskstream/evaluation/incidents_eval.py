"""Incident-level evaluation: the simulator's stream through Engine, region windows and IncidentManager.

Everything runs in-process, in event order, through the same two-phase region
merge the stream layer runs (`riskstream.models.region_windows`, one source),
with one incident manager per region, as the region's owner keeps it, and the open and resolve records
through one :class:`~riskstream.models.incident_links.SpreadLinker` (cross-region spread, as the stream's
``link_incidents`` agent links it); the incident candidates are then scored against the run's scenarios
with :func:`riskstream.evaluation.quality.score_incidents`.

Run it: ``python -m riskstream.evaluation.incidents_eval [--policies DIR] [--models DIR]``.

>>> from riskstream.sim import SimConfig, default_scenarios
>>> res = evaluate_incidents(SimConfig(duration_hours=2, events_per_hour=300, scenarios=()))
>>> res.scores.opened, res.windows > 0
(0, True)
"""

from __future__ import annotations

import argparse
import glob
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from riskstream.contracts import IncidentCandidate
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.evaluation.quality import IncidentScores, score_incidents
from riskstream.models.aggregates import AggregatorConfig, ClosedWindow
from riskstream.models.incident_links import SpreadLinker
from riskstream.models.incidents import IncidentConfig, IncidentManager
from riskstream.models.region_model import RegionScorer, latest_models
from riskstream.models.region_windows import InProcessWindows, MergeConfig
from riskstream.models.ts_range import StreamDetector
from riskstream.policy import load_policy
from riskstream.resources import sample_policy_dir
from riskstream.sim import SimConfig, SimRun, run


@dataclass(frozen=True, slots=True)
class IncidentEval:
    sim: SimRun
    incidents: list[IncidentCandidate]
    scores: IncidentScores
    windows: int
    policies: list[str]
    model_sources: dict[str, str]
    seconds: float


def build_engine(policies_dir: str | os.PathLike[str] | None = None) -> tuple[Engine, list[str]]:
    """An Engine with the default registry and every policy in `policies_dir` that loads."""
    registry = default_registry()
    engine = Engine(registry)
    loaded: list[str] = []
    dirs = [Path(policies_dir)] if policies_dir else [sample_policy_dir()]
    for d in dirs:
        for path in sorted(glob.glob(str(d / "*.yaml"))):
            try:
                policy = load_policy(Path(path), registry)
            except Exception as exc:  # a policy still being written must not stop the evaluation
                print(f"skipping {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            if engine.policy(policy.region) is None:
                engine.set_policy(policy)
                loaded.append(path)
    return engine, loaded


def evaluate_incidents(config: SimConfig | None = None, *, policies_dir: str | None = None,
                       models_dir: str | None = None, aggregator: AggregatorConfig | None = None,
                       incidents: IncidentConfig | None = None,
                       detector: StreamDetector | None = None) -> IncidentEval:
    """Simulate, detect, aggregate, manage incidents, score.

    ``detector`` is the streaming prototype of the incident series and of the region fallback
    (default: :class:`~riskstream.models.ts_range.RangeAwareDetector`).
    """
    t0 = time.perf_counter()
    sim = run(config or SimConfig())
    engine, loaded = build_engine(policies_dir)
    agg_cfg = aggregator or AggregatorConfig()
    ignored = frozenset().union(*(p.shadow_rule_detectors() for p in engine.policies().values()))
    agg = InProcessWindows(MergeConfig(window_s=agg_cfg.window_minutes * 60,
                                       allowed_lateness_s=agg_cfg.allowed_lateness_s), agg_cfg, ignored)
    managers: dict[str, IncidentManager] = {}
    linker = SpreadLinker(incidents)
    scorer = RegionScorer(latest_models(models_dir) if models_dir else {},
                          streaming=detector.clone() if detector is not None else None)
    out: list[IncidentCandidate] = []
    n_windows = 0

    def handle(windows: list[ClosedWindow]) -> None:
        nonlocal n_windows
        n_windows += len(windows)
        for w, rs in zip(windows, scorer.score(windows), strict=True):
            mgr = managers.get(w.region)
            if mgr is None:
                mgr = managers[w.region] = IncidentManager(
                    incidents, detector=detector.clone() if detector is not None else None)
            for candidate in mgr.process(w, rs):
                out.append(candidate)
                if candidate.status in ("open", "resolve"):
                    out.extend(linker.process(candidate))

    for _topic, _key, record in sim.events:
        outcome = engine.process(record)
        if outcome.dead_letter is not None:
            continue
        handle(agg.add(record, outcome.signals, outcome.actions))
    handle(agg.flush())
    scores = score_incidents(sim.labels.labels, sim.labels.scenarios, out)
    sources = {r: scorer.source(r) for r in sorted({w for w in ("EU", "UK", "US", "SEA")})}
    return IncidentEval(sim, out, scores, n_windows, loaded, sources, time.perf_counter() - t0)


def render(res: IncidentEval) -> str:
    s = res.scores
    opened_by_sc: dict[str, int] = {}
    lines = [f"policies: {', '.join(Path(p).name for p in res.policies) or '(none)'}",
             f"region models: {res.model_sources}",
             f"windows: {res.windows}  incident records: {len(res.incidents)}  ({res.seconds:.1f}s)",
             f"{'scenario':<26} {'harm':<16} {'regions':<8} {'detected':>8} {'ttd_min':>8} {'opened':>6}  by region"]
    for d in s.scenarios:
        opened_by_sc[d.scenario_id] = sum(1 for i in res.incidents if i.status == "open" and i.incident_id in d.incident_ids)
        ttd = "-" if d.time_to_detect_s is None else f"{d.time_to_detect_s / 60:.1f}"
        by_region = ", ".join(f"{r}={'-' if v is None else f'{v / 60:.0f}m'}" for r, v in d.time_to_detect_by_region.items())
        lines.append(f"{d.scenario_id:<26} {d.harm_kind or '-':<16} {','.join(d.regions):<8} "
                     f"{'yes' if d.detected else 'no':>8} {ttd:>8} {opened_by_sc[d.scenario_id]:>6}  {by_region}")
    lines.append(f"opened: {s.opened}  false alarms: {s.false_alarms} (during honest surges: "
                 f"{s.false_alarms_on_honest_surges})")
    for inc in res.incidents:
        if inc.status == "open":
            lines.append(f"  open {inc.event_time:%H:%M} {inc.region:<4} {inc.harm_kind:<16} {inc.severity:<8} "
                         f"{inc.cluster:<36} {inc.incident_id}{'  FALSE ALARM' if inc.incident_id in s.false_alarm_ids else ''}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--policies", default=None, help="policy directory (default: policies/, then fixtures)")
    ap.add_argument("--models", default=None, help="directory of saved region models (default: none)")
    ap.add_argument("--seed", type=int, default=SimConfig().seed)
    args = ap.parse_args(argv)
    res = evaluate_incidents(SimConfig(seed=args.seed), policies_dir=args.policies, models_dir=args.models)
    print(render(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
