"""Bytes of worker state per listing and per seller, for the capacity plan (docs/capacity.md).

    python bench/bench_state.py [--days 3] [--seed 101] [--json bench/results/state.json]

In-process and deterministic (no Kafka, no timing: the numbers do not depend on the machine).
It replays `--days` simulated days (the simulator's own event times, so windows expire as they
would) through the engine the way the stream layer keeps state, with a dict standing in for
each changelog-backed table:

* ``detector-state`` (partitioned state, ``RISKSTREAM_PARTITIONED_STATE=1``): for each
  partitioned step of an event, the key's `StateRecord` is loaded, the step applied and the
  record dumped back, exactly as `riskstream.stream.agents.Pipeline._step` does;
* ``enforced-actions``: idempotency key -> event id, one per enforced action;
* ``violation-ledgers``: one ledger per seller/creator with an enforced violation.

It also counts the bytes each event makes a worker write to Kafka (outputs, changelog records,
and, with partitioned state, the envelopes of the re-keying hops), for the broker's sizing.

It reports keys and key+value bytes per table and per detector, and divides them by the
distinct listings and sellers seen.  Value bytes are what RocksDB stores before its own
compression and per-key overhead (block index, bloom filter: commonly 20-40 bytes a key),
so treat them as the payload, not the disk footprint.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bench.bench_pipeline import build_engine, read_policies
from riskstream.contracts import encode
from riskstream.decisions import Ledger, subject_of
from riskstream.sim import SimConfig, simulate, topic_and_key
from riskstream.stream.routing import Envelope, StateRecord, state_key

KINDS = {"listing", "review", "content"}


def measure(days: int, seed: int, policies: dict[str, str]) -> dict[str, Any]:
    engine = build_engine(policies)
    detector_state: dict[bytes, bytes] = {}
    enforced: dict[bytes, bytes] = {}
    ledgers: dict[bytes, bytes] = {}
    listings: set[str] = set()
    sellers: set[str] = set()
    events = 0
    # bytes each event makes the worker write: input, outputs, changelogs, partitioned-state hops
    traffic = dict.fromkeys(("input", "signals", "actions", "violations", "changelog", "hops"), 0)
    counts = dict.fromkeys(("signals", "actions", "enforced", "steps", "remote_steps"), 0)
    for day in range(days):
        for _topic, _key, rec in simulate(SimConfig(seed=seed + day)):
            if rec.kind not in KINDS:
                if rec.kind == "recall":
                    engine.handle_raw("recall", encode(rec), now=rec.event_time)
                continue
            events += 1
            raw = encode(rec)
            traffic["input"] += len(raw)
            if rec.kind == "listing":
                listings.add(rec.listing_id)
                sellers.add(rec.seller_id)
            prepared = engine.prepare(rec)
            if prepared.dead_letter is not None:
                continue
            signals = list(prepared.signals)
            counts["steps"] += len(prepared.steps)
            # Partitioned state: every event hops to `decide` (keyed by event id), plus one hop per
            # step whose state key is not the input record's own key (those run in the ingest agent).
            own = topic_and_key(rec)[1]
            remote = [step for step in prepared.steps if step[1] != own]
            hop = len(Envelope(rec.kind, rec, signals, remote).dump())
            traffic["hops"] += hop * (len(remote) + 1)
            counts["remote_steps"] += len(remote)
            for det_id, key in prepared.steps:
                table_key = state_key(rec, det_id, key).encode()
                record = StateRecord.load(detector_state.get(table_key))
                state, found = engine.step(rec, det_id, record.state)
                detector_state[table_key] = record.applied(rec.event_id, state, found).dump()
                traffic["changelog"] += len(table_key) + len(detector_state[table_key])
                signals.extend(found)
            outcome = engine.finish(rec, signals)
            counts["signals"] += len(outcome.signals)
            traffic["signals"] += sum(len(encode(sig)) for sig in outcome.signals)
            for action in outcome.actions:
                counts["actions"] += 1
                traffic["actions"] += len(encode(action))
                if action.mode != "enforced":
                    continue
                counts["enforced"] += 1
                enforced[action.idempotency_key.encode()] = action.event_id.encode()
                traffic["changelog"] += len(action.idempotency_key) + len(action.event_id)
                subject = subject_of(action)
                if subject is None:
                    continue
                traffic["violations"] += len(encode(action))
                key_b = f"{subject[0]}:{subject[1]}".encode()
                current = ledgers.get(key_b)
                ledger = Ledger.from_json(orjson.loads(current)) if current is not None else None
                new, _esc, _escalated = engine.on_violation(ledger, action)
                if new is not None:
                    ledgers[key_b] = orjson.dumps(new.to_json())
                    traffic["changelog"] += len(key_b) + len(ledgers[key_b])

    def size(table: dict[bytes, bytes]) -> dict[str, float]:
        kb = sum(len(k) for k in table)
        vb = sum(len(v) for v in table.values())
        return {"keys": len(table), "key_bytes": kb, "value_bytes": vb,
                "mean_bytes_per_key": (kb + vb) / len(table) if table else 0.0}

    by_detector: dict[str, dict[str, float]] = defaultdict(lambda: {"keys": 0, "bytes": 0, "recent_bytes": 0})
    for k, v in detector_state.items():
        det = k.decode().split("|")[1]
        d = by_detector[det]
        d["keys"] += 1
        d["bytes"] += len(k) + len(v)
        d["recent_bytes"] += len(orjson.dumps(orjson.loads(v)["r"]))
    tables = {"detector-state": size(detector_state), "enforced-actions": size(enforced),
              "violation-ledgers": size(ledgers)}
    total = sum(t["key_bytes"] + t["value_bytes"] for t in tables.values())
    return {
        "days": days, "seed": seed, "events": events,
        "per_event": {"counts": {k: v / max(1, events) for k, v in counts.items()},
                      "bytes_written": {k: v / max(1, events) for k, v in traffic.items()}}, "distinct_listings": len(listings),
        "distinct_sellers": len(sellers), "tables": tables,
        "detector_state_by_detector": {k: {**v, "mean_bytes_per_key": v["bytes"] / v["keys"]}
                                       for k, v in sorted(by_detector.items())},
        "total_bytes": total,
        "bytes_per_listing": total / len(listings) if listings else 0.0,
        "bytes_per_seller": total / len(sellers) if sellers else 0.0,
        "detector_state_bytes_per_listing": (tables["detector-state"]["key_bytes"]
                                             + tables["detector-state"]["value_bytes"]) / max(1, len(listings)),
    }


def markdown(r: dict[str, Any]) -> str:
    lines = [f"{r['events']:,} events over {r['days']} simulated days (seed {r['seed']}): "
             f"{r['distinct_listings']:,} distinct listings, {r['distinct_sellers']:,} sellers", "",
             "| table | keys | key+value bytes | bytes/key |", "|---|---|---|---|"]
    for name, t in r["tables"].items():
        lines.append(f"| {name} | {t['keys']:,} | {t['key_bytes'] + t['value_bytes']:,} | "
                     f"{t['mean_bytes_per_key']:,.0f} |")
    lines += ["", "| detector (detector-state) | keys | bytes | bytes/key | of which replay memory |",
              "|---|---|---|---|---|"]
    for det, d in r["detector_state_by_detector"].items():
        lines.append(f"| {det} | {d['keys']:,} | {d['bytes']:,} | {d['mean_bytes_per_key']:,.0f} | "
                     f"{d['recent_bytes'] / d['bytes']:.0%} |")
    pe = r["per_event"]
    lines += ["", "per event: " + ", ".join(f"{k} {v:.3f}" for k, v in pe["counts"].items()),
              "bytes written per event: " + ", ".join(f"{k} {v:,.0f}" for k, v in pe["bytes_written"].items())]
    lines += ["", f"all tables: {r['bytes_per_listing']:,.0f} bytes per distinct listing, "
                  f"{r['bytes_per_seller']:,.0f} bytes per seller (the same bytes, divided differently)"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--policies", type=Path, default=Path("policies"))
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    result = measure(args.days, args.seed, read_policies(args.policies))
    result["command"] = "python bench/bench_state.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"$ {result['command']}\n")
    print(markdown(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
