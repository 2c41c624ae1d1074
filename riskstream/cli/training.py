"""`riskstream train`: region models from a recorded or simulated stream."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.models.aggregates import Aggregator, AggregatorConfig, ClosedWindow
from riskstream.models.region_model import save, train
from riskstream.policy import load_policy
from riskstream.policy.load import iter_policy_files
from riskstream.settings import Settings


def _records(seed: int, events: Path | None) -> Iterator[Any]:
    if events is not None:
        from riskstream.sim import read_events

        for _topic, _key, record in read_events(events):
            yield record
    else:
        from riskstream.sim import SimConfig, simulate

        for _topic, _key, record in simulate(SimConfig(seed=seed)):
            yield record


def windows_from_stream(settings: Settings, seed: int, events: Path | None) -> list[ClosedWindow]:
    """Run the stream through the engine and the aggregator; return the closed windows."""
    registry = default_registry()
    engine = Engine(registry)
    for path in iter_policy_files(settings.policies.directory):
        engine.set_policy(load_policy(path, registry))
    agg = Aggregator(AggregatorConfig(window_minutes=max(1, settings.models.window_seconds // 60)))
    windows: list[ClosedWindow] = []
    for record in _records(seed, events):
        out = engine.process(record)
        if out.event is not None and out.dead_letter is None:
            windows.extend(agg.add(out.event, out.signals, out.actions))
    windows.extend(agg.flush())
    return windows


def train_models(settings: Settings, seed: int, events: Path | None, out: Path | None) -> list[Path]:
    directory = out or settings.models.directory
    directory.mkdir(parents=True, exist_ok=True)
    windows = windows_from_stream(settings, seed, events)
    paths = []
    for region in sorted({w.region for w in windows}):
        region_windows = [w for w in windows if w.region == region]
        if len(region_windows) < 10:
            print(f"[train] {region}: only {len(region_windows)} windows, skipped (needs 10)")
            continue
        paths.append(save(train(region_windows, region), directory))
    return paths
