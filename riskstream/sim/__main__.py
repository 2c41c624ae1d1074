"""``python -m riskstream.sim OUT.jsonl [--seed N] [--hours H] [--rate R]``: write a run to disk.

>>> main(["--help"])  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from riskstream.sim.io import write_run
from riskstream.sim.simulate import SimConfig, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m riskstream.sim", description=__doc__)
    parser.add_argument("out", type=Path, help="events JSONL path; labels go beside it")
    parser.add_argument("--seed", type=int, default=SimConfig().seed)
    parser.add_argument("--hours", type=int, default=SimConfig().duration_hours)
    parser.add_argument("--rate", type=float, default=SimConfig().events_per_hour)
    args = parser.parse_args(argv)
    t0 = time.perf_counter()  # wall clock only to report how long writing took, never in the data
    result = run(SimConfig(seed=args.seed, duration_hours=args.hours, events_per_hour=args.rate))
    events_path, labels_path = write_run(result, args.out)
    risky = sum(lab.is_risky for lab in result.labels.labels.values())
    print(f"{len(result.events)} events ({risky} risky, {len(result.labels.scenarios)} scenarios) "
          f"-> {events_path}, {labels_path} in {time.perf_counter() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
