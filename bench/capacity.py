"""The capacity plan's numbers (docs/capacity.md), computed from the benches' JSON files.

    python bench/capacity.py [--pipeline bench/results/pipeline.json] [--latency bench/results/latency.json]
                             [--state bench/results/state.json] [--write docs/capacity.md]

Reads the measured per-worker figures (throughput, sustainable rate at a normal and at a surge
mix, CPU per event, 1 -> 2 workers) and the state and traffic per event, applies the plan's
assumptions (flags below, each printed with the result), and prints the sizing as markdown.
With ``--write`` it replaces the block between ``<!-- capacity:begin -->`` and
``<!-- capacity:end -->`` in that file, so the page always shows what the JSON files say.
Pure arithmetic: no Kafka, nothing timed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

# bench/bench_recovery.py --keys 1000000 as reported in docs/performance.md, used when
# bench/results/recovery.json (`--json`) does not exist yet.
RECOVERY_QUOTED: dict[str, Any] = {"keys": 1_000_000, "cold_seconds": 223.7, "restart_seconds": 0.1, "restart_to_ready_seconds": 16.3,
            "command": "python bench/bench_recovery.py --keys 1000000 (quoted from docs/performance.md)"}
ROCKSDB_OVERHEAD_BYTES_PER_KEY = 30  # index + bloom filter + SST key encoding, before compression (assumed)
BEGIN, END = "<!-- capacity:begin -->", "<!-- capacity:end -->"


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def plan(pipeline: dict[str, Any] | None, latency: dict[str, Any] | None, state: dict[str, Any],
         a: argparse.Namespace, recovery: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every derived figure, with where its inputs came from."""
    src: dict[str, str] = {}
    rec = recovery or RECOVERY_QUOTED
    results = {r["name"]: r for r in (pipeline or {}).get("results", [])}
    # Per-worker sustainable rate: the max flat-lag rate if measured, else the drain rate (d).
    if latency and latency.get("flat_lag", {}).get("5", {}).get("max_flat_per_s"):
        normal = latency["flat_lag"]["5"]["max_flat_per_s"]
        surge = latency["flat_lag"].get("50", {}).get("max_flat_per_s") or 0.0
        src["per-worker rate"] = f"max flat-lag rate, {latency['command']}"
    elif "d" in results:
        normal, surge = results["d"]["events_per_s"], 0.0
        src["per-worker rate"] = f"(d) drain rate, {pipeline['command'] if pipeline else ''}"
    else:
        raise SystemExit("no per-worker rate: run bench/bench_pipeline.py or bench/bench_latency.py first")
    if a.per_worker_rate:  # keep the measured surge / normal ratio, if there is one
        surge = a.per_worker_rate * (surge / normal if surge else a.surge_factor)
        normal = a.per_worker_rate
        src["per-worker rate"] = "--per-worker-rate (given)"
    surge = surge or normal * a.surge_factor
    scaling = (pipeline or {}).get("derived", {}).get("two_workers_vs_one_rate")
    cpu_scaling = (pipeline or {}).get("derived", {}).get("two_workers_vs_one_cpu_per_event")

    peak = a.peak
    workers = math.ceil(peak / (a.utilisation * normal))
    workers_surge = math.ceil(peak / (a.utilisation * surge)) if surge else workers
    plan_workers = workers_surge if a.size_for_surge else workers
    partitions = 12 * math.ceil(max(plan_workers * a.partition_headroom, 12) / 12)

    # State (bench_state.py): bytes per distinct listing and per seller with a ledger.
    t = state["tables"]
    listings_seen, sellers_seen = state["distinct_listings"], state["distinct_sellers"]
    det = t["detector-state"]
    det_keys_per_listing = det["keys"] / listings_seen
    det_bytes_per_key = det["mean_bytes_per_key"] + ROCKSDB_OVERHEAD_BYTES_PER_KEY
    ledger_share = t["violation-ledgers"]["keys"] / max(1, sellers_seen)
    ledger_bytes = t["violation-ledgers"]["mean_bytes_per_key"] + ROCKSDB_OVERHEAD_BYTES_PER_KEY
    enforced_per_event = state["per_event"]["counts"]["enforced"]
    dedupe_bytes = t["enforced-actions"]["mean_bytes_per_key"] + ROCKSDB_OVERHEAD_BYTES_PER_KEY
    mean_rate = peak * a.mean_to_peak
    dedupe_keys = enforced_per_event * mean_rate * 86_400 * a.dedupe_days
    sizes = {
        "detector-state (partitioned state only)": a.listings * det_keys_per_listing * det_bytes_per_key,
        "violation-ledgers": a.sellers * ledger_share * ledger_bytes,
        f"enforced-actions ({a.dedupe_days} days of keys)": dedupe_keys * dedupe_bytes,
    }
    keys = {
        "detector-state (partitioned state only)": a.listings * det_keys_per_listing,
        "violation-ledgers": a.sellers * ledger_share,
        f"enforced-actions ({a.dedupe_days} days of keys)": dedupe_keys,
    }
    per_worker_bytes = {k: v / plan_workers * (1 + a.standbys) for k, v in sizes.items()}
    per_worker_keys = {k: v / plan_workers for k, v in keys.items()}
    default_keys = sum(v for k, v in per_worker_keys.items() if not k.startswith("detector-state"))
    all_keys = sum(per_worker_keys.values())
    rate = rec["keys"] / rec["cold_seconds"]  # keys/s one worker restores from a changelog

    # Broker: bytes a worker writes per event (bench_state.py) x peak, and the replication factor.
    w = state["per_event"]["bytes_written"]
    in_bytes = (pipeline or {}).get("mean_event_bytes") or w["input"]
    out_default = w["signals"] + w["actions"] + w["violations"]
    changelog_default = enforced_per_event * t["enforced-actions"]["mean_bytes_per_key"]
    per_event_default = in_bytes + out_default + changelog_default
    per_event_partitioned = in_bytes + out_default + w["changelog"] + w["hops"]
    mb = 1e6
    broker = {
        "produce MB/s (per-worker state)": peak * per_event_default / mb,
        "produce MB/s (partitioned state)": peak * per_event_partitioned / mb,
        "disk write MB/s x replication (per-worker state)": peak * per_event_default * a.replication / mb,
        "disk write MB/s x replication (partitioned state)": peak * per_event_partitioned * a.replication / mb,
        # every worker reads the whole actions topic (the control-topic follower)
        "actions-topic fan-out read MB/s": peak * w["actions"] * plan_workers / mb,
    }
    return {
        "assumptions": {k: v for k, v in vars(a).items() if k not in ("pipeline", "latency", "state", "recovery", "write")},
        "sources": src, "per_worker_rate_normal": normal, "per_worker_rate_surge": surge,
        "surge_from_measurement": bool(latency and latency.get("flat_lag", {}).get("50")),
        "two_workers_vs_one_rate": scaling, "two_workers_vs_one_cpu_per_event": cpu_scaling,
        "workers_normal": workers, "workers_surge": workers_surge, "workers_planned": plan_workers,
        "partitions": partitions, "state_total_bytes": sizes, "state_per_worker_bytes": per_worker_bytes,
        "state_per_worker_keys": per_worker_keys,
        "recovery_rate_keys_per_s": rate, "recovery_command": rec["command"],
        "recovery_s": {
            "restart on its own disk (RocksDB kept)": rec["restart_to_ready_seconds"],
            "new disk, per-worker state (dedupe + ledgers), one survivor takes all": default_keys / rate,
            "new disk, partitioned state, one survivor takes all": all_keys / rate,
            "new disk, partitioned state, spread over survivors (one partition each)":
                all_keys * plan_workers / partitions / rate,
        },
        "broker": broker,
    }


def fmt_bytes(x: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:,.1f} {unit}"
    return f"{x:,.0f} B"


def fmt_s(x: float) -> str:
    return f"{x / 3600:,.1f} h" if x >= 7200 else (f"{x / 60:,.1f} min" if x >= 120 else f"{x:,.1f} s")


def markdown(p: dict[str, Any]) -> str:
    a = p["assumptions"]
    lines = [
        f"Generated by `python bench/capacity.py --write docs/capacity.md` from {', '.join(p['sources'].values())}, "
        f"`bench/results/state.json` and the recovery figures of `{p['recovery_command']}`.", "",
        "| quantity | value |", "|---|---|",
        f"| peak input | {a['peak']:,.0f} events/s ({a['mean_to_peak']:.0%} of it on average) |",
        f"| per-worker sustainable rate, 5 % risky | {p['per_worker_rate_normal']:,.0f} events/s |",
        f"| per-worker sustainable rate, 50 % risky surge | {p['per_worker_rate_surge']:,.0f} events/s"
        + ("" if p["surge_from_measurement"] else f" (NOT measured: {a['surge_factor']} x normal assumed)") + " |",
        f"| planned utilisation of a worker at peak | {a['utilisation']:.0%} |",
        f"| workers for the peak at 5 % risky | {p['workers_normal']:,} |",
        f"| workers for the peak during a 50 % surge | {p['workers_surge']:,} |",
        f"| workers planned ({'surge' if a['size_for_surge'] else 'normal'}) | **{p['workers_planned']:,}** "
        "(one core each) |",
        f"| partitions per input topic (and per changelog) | **{p['partitions']:,}** |",
    ]
    if p["two_workers_vs_one_rate"]:
        lines.append(f"| measured 2 workers / 1 worker (same group, 2-core machine) | "
                     f"{p['two_workers_vs_one_rate']:.2f}x events/s, "
                     f"{p['two_workers_vs_one_cpu_per_event'] or 0:.2f}x CPU per event |")
    lines += ["", "| table | total | per worker (incl. standbys) | keys per worker |", "|---|---|---|---|"]
    for k, v in p["state_total_bytes"].items():
        lines.append(f"| {k} | {fmt_bytes(v)} | {fmt_bytes(p['state_per_worker_bytes'][k])} | "
                     f"{p['state_per_worker_keys'][k]:,.0f} |")
    lines += ["", f"Recovery from a changelog: {p['recovery_rate_keys_per_s']:,.0f} keys/s per worker.", "",
              "| losing a worker | time until its partitions are served again |", "|---|---|"]
    for k, v in p["recovery_s"].items():
        lines.append(f"| {k} | {fmt_s(v)} |")
    lines += ["", "| broker | MB/s at peak |", "|---|---|"]
    for k, v in p["broker"].items():
        lines.append(f"| {k} | {v:,.1f} |")
    lines += ["", "Assumptions: " + ", ".join(f"`--{k.replace('_', '-')} {v}`" for k, v in a.items()) + "."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pipeline", type=Path, default=Path("bench/results/pipeline.json"))
    ap.add_argument("--latency", type=Path, default=Path("bench/results/latency.json"))
    ap.add_argument("--state", type=Path, default=Path("bench/results/state.json"))
    ap.add_argument("--recovery", type=Path, default=Path("bench/results/recovery.json"))
    ap.add_argument("--write", type=Path, default=None, help="replace the generated block in this file")
    ap.add_argument("--peak", type=float, default=100_000.0, help="peak events/s (default 100000)")
    ap.add_argument("--listings", type=float, default=10_000_000.0, help="active listings (default 10M)")
    ap.add_argument("--sellers", type=float, default=1_000_000.0, help="sellers (default 1M)")
    ap.add_argument("--utilisation", type=float, default=0.6,
                    help="share of a worker's sustainable rate used at peak (default 0.6: room to catch up)")
    ap.add_argument("--size-for-surge", action=argparse.BooleanOptionalAction, default=True,
                    help="size so a 50 %% risky surge at peak keeps lag flat (default on)")
    ap.add_argument("--surge-factor", type=float, default=0.3,
                    help="surge rate / normal rate when the surge was not measured (default 0.3, issue 15)")
    ap.add_argument("--per-worker-rate", type=float, default=0.0, help="override the measured rate")
    ap.add_argument("--partition-headroom", type=float, default=2.0,
                    help="partitions / planned workers (default 2: room to add workers without re-keying)")
    ap.add_argument("--mean-to-peak", type=float, default=0.4, help="average / peak rate (default 0.4)")
    ap.add_argument("--dedupe-days", type=int, default=30,
                    help="days of idempotency keys kept (default 30 = risk.actions.v1 retention; "
                         "today the table never expires keys)")
    ap.add_argument("--standbys", type=int, default=1, help="standby replicas per table (default 1; today 0)")
    ap.add_argument("--replication", type=int, default=3, help="topic replication factor (default 3)")
    args = ap.parse_args(argv)
    state = _load(args.state)
    if state is None:
        raise SystemExit(f"{args.state} missing: run python bench/bench_state.py --json {args.state}")
    text = markdown(plan(_load(args.pipeline), _load(args.latency), state, args, _load(args.recovery)))
    if args.write:
        doc = args.write.read_text()
        head, _, rest = doc.partition(BEGIN)
        _, _, tail = rest.partition(END)
        args.write.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
