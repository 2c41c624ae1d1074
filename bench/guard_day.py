"""Would the blast-radius guard trip on a simulated day?  In-process: engine -> partials -> add_partial.

    python bench/guard_day.py --seeds 1 2 3 4 5 [--multiple 5 --min-actions 50]

Per seed: windows judged, trips (rule, region, window, rate, baseline).  Events arrive in the
simulator's order; one partial per event (the worker sends one per batch: the same sums).
The settings' exempt rules (recall_match) are not watched, as in the worker.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from riskstream.contracts import encode
from riskstream.decisions.blast_radius import GuardConfig, RegionGuard, add_partial, enforced_rules
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.policy.load import iter_policy_files
from riskstream.resources import sample_policy_dir
from riskstream.settings import GuardSettings, LimitSettings
from riskstream.sim import SimConfig, simulate
from riskstream.stream.guard import partials
from riskstream.topology import TOPICS

KINDS = {"listings": "listing", "reviews": "review", "creator": "content", "recalls": "recall"}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    d = GuardSettings()
    ap.add_argument("--multiple", type=float, default=d.multiple)
    ap.add_argument("--min-actions", type=int, default=d.min_actions)
    ap.add_argument("--window", type=int, default=d.window_seconds)
    args = ap.parse_args()
    cfg = GuardConfig(multiple=args.multiple, min_actions=args.min_actions, baseline_windows=d.baseline_windows,
                      min_baseline_windows=d.min_baseline_windows)
    kind_of = {s.name: s.name.split(".")[0] for s in TOPICS.values()}
    for seed in args.seeds:
        registry = default_registry()
        engine = Engine(registry, limits=LimitSettings(max_event_age_days=None))
        for path in iter_policy_files(sample_policy_dir()):
            engine.set_policy(load_policy(path, registry))
        guards: dict[str, RegionGuard] = {}
        trips, windows, now = [], 0, datetime.now(UTC)
        for topic, _key, record in simulate(SimConfig(seed=seed)):
            kind = KINDS.get(kind_of[topic])
            if kind is None:
                continue
            out = engine.handle_raw(kind, encode(record), now)
            if out.dead_letter is not None or out.event is None:
                continue
            for (region, w), part in partials([out], args.window).items():
                g = guards.get(region, RegionGuard())
                policy = engine.policy(region)
                before = len({*g.open, w})
                hits = {r: n for r, n in part["actions"].items() if r not in d.exempt_rules}
                known = tuple(r for r in enforced_rules(policy) if r not in d.exempt_rules) if policy else ()
                g, found, _ = add_partial(g, w, part["events"], hits, cfg, args.window, d.grace_seconds, known)
                windows += max(0, before - len(g.open))
                guards[region] = g
                trips += [(rule, region, datetime.fromtimestamp(win, UTC).strftime("%H:%M"), round(t.rate, 4),
                           round(t.baseline_rate, 4), t.actions) for rule, t, win in found]
        print(f"seed {seed}: {windows} region-windows judged, {len(trips)} trips {trips}")


if __name__ == "__main__":
    main()
