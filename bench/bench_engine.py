"""The engine in-process, this tree against another commit, side by side in one run; and proof they agree.

Run from the repository root:

    python bench/bench_engine.py [--against REF] [--events 30000] [--rounds 3] [--seeds 1,2,3,101] [--json OUT]

Without ``--against`` only this tree is measured.  With it, ``REF`` is
extracted with ``git archive`` into a temporary folder and both trees run the
same work in alternating subprocesses (A B A B ...), so load from the other
agents on a shared machine falls on both alike:

1. Throughput: `Engine.handle_raw` over the first N events of the simulator's
   live stream (the listing / review / content mix of `bench/bench_pipeline.py`
   part (a), encoded once by this tree, byte-identical for both), with this
   tree's policies.  Reported as events/s of CPU time (`time.process_time`) and
   of wall time, per round and the best round; read the ratio.
2. Equivalence: the signals and actions (every field, JSON-encoded, in order)
   that each tree produces on the same inputs: the throughput events and every
   simulator seed in ``--seeds`` (each a whole simulated day with its own event
   times).  Any difference fails the run (exit status 1) and names the first
   event where the trees disagree.

The inputs are generated once, by this tree's simulator, and handed to both
trees as files, so a change to the simulator between the commits does not
show up as an engine difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
KINDS = {"listings": "listing", "reviews": "review", "content": "content", "recalls": "recall"}


# --------------------------------------------------------------------------- inputs (parent, this tree)


def write_inputs(path: Path, records: Sequence[tuple[str, bytes]]) -> None:
    with path.open("wb") as f:
        for kind, raw in records:
            f.write(kind.encode() + b"\t" + raw.replace(b"\n", b" ") + b"\n")


def read_inputs(path: Path) -> list[tuple[str, bytes]]:
    out = []
    with path.open("rb") as f:
        for line in f:
            kind, raw = line.rstrip(b"\n").split(b"\t", 1)
            out.append((kind.decode(), raw))
    return out


def make_inputs(folder: Path, events: int, seed: int, seeds: Sequence[int]) -> dict[str, Path]:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from bench_pipeline import simulated_events

    from riskstream.contracts import encode
    from riskstream.sim import SimConfig, simulate
    from riskstream.topology import TOPICS

    files = {}
    stream = [(KINDS[t], v) for t, _k, v in simulated_events(events, seed)]
    write_inputs(folder / "throughput.tsv", stream)
    files["throughput"] = folder / "throughput.tsv"
    by_name = {s.name: k for k, s in TOPICS.items()}
    for s in seeds:
        records = [(KINDS[by_name[t]], encode(r)) for t, _k, r in simulate(SimConfig(seed=s))
                   if by_name[t] in KINDS]
        write_inputs(folder / f"seed{s}.tsv", records)
        files[f"seed {s}"] = folder / f"seed{s}.tsv"
    return files


# --------------------------------------------------------------------------- child (either tree)


def child(tree: Path, policies: Path, inputs: Path, mode: str, out: Path) -> None:
    """Run in a subprocess whose sys.path starts with `tree`."""
    import orjson

    import riskstream
    from riskstream.detectors.registry import default_registry
    from riskstream.engine import Engine
    from riskstream.policy import load_policy
    from riskstream.policy.load import iter_policy_files
    from riskstream.settings import LimitSettings
    assert Path(riskstream.__file__).resolve().is_relative_to(tree.resolve()), riskstream.__file__
    registry = default_registry()
    engine = Engine(registry, limits=LimitSettings(max_event_age_days=None))
    for path in iter_policy_files(policies):
        engine.set_policy(load_policy(path.read_text(encoding="utf-8"), registry))
    records = read_inputs(inputs)
    now = datetime.now(UTC)  # the live stream is timed 'now'; the seeds' days pass (no age window)
    result: dict[str, Any] = {"events": len(records)}
    if mode == "time":
        handle = engine.handle_raw
        cpu0, wall0 = time.process_time(), time.perf_counter()
        for kind, raw in records:
            handle(kind, raw, now)
        result["cpu"] = time.process_time() - cpu0
        result["wall"] = time.perf_counter() - wall0
    else:
        digest = hashlib.blake2b(digest_size=16)
        per_event: list[str] = []
        signals = actions = dead = 0
        for kind, raw in records:
            o = engine.handle_raw(kind, raw, now)
            dead += o.dead_letter is not None
            blob = orjson.dumps([o.dead_letter, o.signals, o.actions])
            digest.update(blob)
            per_event.append(hashlib.blake2b(blob, digest_size=8).hexdigest())
            signals += len(o.signals)
            actions += len(o.actions)
        result |= {"digest": digest.hexdigest(), "per_event": per_event, "signals": signals, "actions": actions,
                   "dead_letters": dead}
    out.write_text(json.dumps(result))


def run_child(tree: Path, policies: Path, inputs: Path, mode: str, work: Path) -> dict[str, Any]:
    out = work / f"out-{os.getpid()}-{time.monotonic_ns()}.json"
    code = (f"import sys; sys.path.insert(0, {str(tree)!r}); sys.path.insert(1, {str(REPO / 'bench')!r}); "
            f"import bench_engine; from pathlib import Path; "
            f"bench_engine.child(Path({str(tree)!r}), Path({str(policies)!r}), Path({str(inputs)!r}), "
            f"{mode!r}, Path({str(out)!r}))")
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=work, env=env)
    result: dict[str, Any] = json.loads(out.read_text())
    out.unlink()
    return result


def extract(ref: str, folder: Path) -> Path:
    folder.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", default=None, help="git ref to compare with (e.g. main)")
    ap.add_argument("--events", type=int, default=30_000)
    ap.add_argument("--seed", type=int, default=7, help="live-stream seed of the throughput events")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seeds", default="1,2,3,101", help="simulator seeds compared for equivalence ('' for none)")
    ap.add_argument("--policies", type=Path, default=REPO / "policies")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    command = "python bench/bench_engine.py " + " ".join(sys.argv[1:] if argv is None else argv)
    work = Path(tempfile.mkdtemp(prefix="rsbench-engine-"))
    try:
        files = make_inputs(work, args.events, args.seed, seeds)
        trees = {"this tree": REPO}
        if args.against:
            trees[args.against] = extract(args.against, work / "against")
        rates: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name, tree in trees.items():
                res = run_child(tree, args.policies.resolve(), files["throughput"], "time", work)
                rates[name].append({"cpu_per_s": res["events"] / res["cpu"], "wall_per_s": res["events"] / res["wall"]})
                print(f"round {r + 1} {name:>12}: {res['events'] / res['cpu']:9,.0f} events/s CPU, "
                      f"{res['events'] / res['wall']:9,.0f} events/s wall", flush=True)
        best = {name: max(x["cpu_per_s"] for x in xs) for name, xs in rates.items()}
        agree: dict[str, Any] = {}
        ok = True
        for label, path in files.items():
            outs = {name: run_child(tree, args.policies.resolve(), path, "check", work) for name, tree in trees.items()}
            first = next(iter(outs.values()))
            same = all(o["digest"] == first["digest"] for o in outs.values())
            row: dict[str, Any] = {"same": same, "events": first["events"],
                                   **{name: {"signals": o["signals"], "actions": o["actions"]} for name, o in outs.items()}}
            if not same:
                ok = False
                a, b = outs.values()
                row["first_difference"] = next(i for i, (x, y) in enumerate(zip(a["per_event"], b["per_event"], strict=True))
                                               if x != y)
            agree[label] = row
            print(f"equivalence {label:>10}: {first['events']} events, "
                  + ", ".join(f"{n}: {o['signals']} signals {o['actions']} actions {o['dead_letters']} dead" for n, o in outs.items())
                  + ("" if len(outs) == 1 else (" -> identical" if same else
                                               f" -> DIFFERENT from event {row['first_difference']}")), flush=True)
        print()
        print("| tree | best events/s (CPU) | rounds (CPU events/s) |")
        print("|---|---|---|")
        for name, xs in rates.items():
            print(f"| {name} | {best[name]:,.0f} | {', '.join(format(x['cpu_per_s'], ',.0f') for x in xs)} |")
        if args.against:
            print(f"\nratio this tree / {args.against}: {best['this tree'] / best[args.against]:.2f}x")
        print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
              f"{platform.python_version()}; shared machine; command: {command}")
        if args.json:
            args.json.write_text(json.dumps({"command": command, "rates": rates, "best_cpu_per_s": best,
                                             "equivalence": {k: {kk: vv for kk, vv in v.items()}
                                                             for k, v in agree.items()}}, indent=2))
        return 0 if ok else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
