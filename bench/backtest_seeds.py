"""Backtest every sample policy's rules over simulated days, against the same policy without its rules.

    python bench/backtest_seeds.py 101 102 103 104 105

Per rule: mean actions per simulated day, precision and recall (see
``riskstream.evaluation.backtest``) over the seeds given.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

from riskstream.evaluation.backtest import backtest
from riskstream.resources import sample_policy_dir
from riskstream.sim import SimConfig, run


def main(seeds: list[int]) -> None:
    out: dict[str, list[tuple[int, int, float | None, float | None]]] = {}
    folder = Path(tempfile.mkdtemp())
    for seed in seeds:
        sim = run(SimConfig(seed=seed, duration_hours=24))
        events = [r for _, _, r in sim.events]
        for region in ("eu", "uk", "us", "sea"):
            text = (sample_policy_dir() / f"{region}.yaml").read_text()
            old = folder / f"{region}-without-rules.yaml"
            old.write_text(text[: text.index("\n# Rules:")] + text[text.index("\ndecision:"):])
            rep = backtest(sample_policy_dir() / f"{region}.yaml", events, in_force=old, labels=sim.labels)
            for r in rep.rows:
                if r.contributor.startswith("rule:"):
                    out.setdefault(r.contributor, []).append((seed, r.candidate, r.precision, r.recall))
    for rule, rows in sorted(out.items()):
        p = [x[2] for x in rows if x[2] is not None]
        rc = [x[3] for x in rows if x[3] is not None]
        print(f"{rule:46} actions/day {statistics.mean(x[1] for x in rows):6.1f}  "
              f"precision {statistics.mean(p) if p else float('nan'):.2f}  "
              f"recall {statistics.mean(rc) if rc else float('nan'):.2f}  seeds {len(rows)}")


if __name__ == "__main__":
    main([int(x) for x in sys.argv[1:]] or [101, 102, 103, 104, 105])
