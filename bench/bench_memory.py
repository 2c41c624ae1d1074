"""Bytes of detector state per tracked seller and per listing, and RSS with a million sellers.

Run from the repository root:

    python bench/bench_memory.py [--sellers 1000000] [--listings 200000] [--json OUT]

The engine runs in-process (no Kafka) with the shipped policies and room for
every key (`max_state_keys` above the number of keys, so nothing is evicted):

1. ``--sellers`` new sellers (seller age 1 day, so `new_seller_burst` tracks
   each of them) list one item each, spread over every country of every
   policy region: one ``new_seller_burst`` state per seller.
2. ``--listings`` listings get one review each (a verified buyer, short text):
   one ``review_burst`` and one ``rating_skew`` state per listing.

Reported per key and detector: the state's own Python objects (``sys.getsizeof``
of every container, string and number it holds, once each; cached small ints and
None count nothing), its JSON bytes (what the worker's ``detector-state`` table
holds), and the worker's record around it (`riskstream.stream.routing.StateRecord`:
the state plus the signals of its last events, for redelivery).  For
`new_seller_burst` also the earlier dict form of the same state, and the state at
its bound (``max_listings + 1`` listings held).  Then the process's resident
memory (VmRSS) after each phase, divided by the keys added: that includes the
engine's own per-key cost (its LRU entry and the key tuple), the seller and
listing ids, and allocator overhead.

Ids are realistic in length (``seller-0000123``, ``lst-000000456``).  The
machine is shared; RSS deltas are what they are, the per-state sizes are exact.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from riskstream.contracts import ListingEvent, ReviewEvent
from riskstream.detectors.new_seller_burst import NewSellerBurstDetector, unpack
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.policy.load import iter_policy_files
from riskstream.regions import REGIONS
from riskstream.settings import LimitSettings
from riskstream.stream.routing import StateRecord

REPO = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 3, 2, tzinfo=UTC)
COUNTRIES = sorted(c for cs in REGIONS.values() for c in cs)
CURRENCY = {"EU": "EUR", "UK": "GBP", "US": "USD", "SEA": "SGD"}
REGION_OF = {c: r for r, cs in REGIONS.items() for c in cs}
CATEGORIES = ("home/kitchen", "toys", "fashion/bags", "electronics/audio", "garden")


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def deep_size(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of `obj`'s own objects: containers, strings, floats and large ints, each counted once."""
    seen = set() if seen is None else seen
    if obj is None or isinstance(obj, bool) or (isinstance(obj, int) and -5 <= obj <= 256) or id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        size += sum(deep_size(x, seen) for x in obj)
    return size


def build_engine(max_keys: int) -> Engine:
    registry = default_registry()
    engine = Engine(registry, max_state_keys=max_keys, limits=LimitSettings(max_event_age_days=None))
    for path in iter_policy_files(REPO / "policies"):
        engine.set_policy(load_policy(path.read_text(encoding="utf-8"), registry))
    return engine


def new_seller_listings(n: int) -> Iterator[ListingEvent]:
    for i in range(n):
        country = COUNTRIES[i % len(COUNTRIES)]
        yield ListingEvent(event_id=f"evt-l-{i:09d}", event_time=T0 + timedelta(seconds=i * 0.05), region=country,
                           op="created", listing_id=f"lst-{i:09d}", seller_id=f"seller-{i:07d}",
                           category=CATEGORIES[i % len(CATEGORIES)], title=f"Handmade item {i % 997}",
                           price=10.0 + i % 90, currency=CURRENCY[REGION_OF[country]], seller_age_days=1)


def reviews(n: int) -> Iterator[ReviewEvent]:
    for i in range(n):
        country = COUNTRIES[i % len(COUNTRIES)]
        yield ReviewEvent(event_id=f"evt-r-{i:09d}", event_time=T0 + timedelta(seconds=i * 0.05), region=country,
                          review_id=f"rev-{i:09d}", listing_id=f"lst-{i:09d}", buyer_id=f"buyer-{i:08d}",
                          rating=4 + i % 2, text="Good value, arrived quickly", language="en",
                          verified_purchase=True, account_age_days=400, seller_id=f"seller-{i:07d}")


def sizes_of(engine: Engine, det_id: str, sample: int = 20_000) -> dict[str, float]:
    states = [s for (_, d, _), s in engine._state.items() if d == det_id]
    if not states:
        return {"keys": 0}
    step = max(1, len(states) // sample)
    picked = states[::step]
    own = [deep_size(s) for s in picked]
    js = [len(orjson.dumps(s)) for s in picked]
    record = [len(StateRecord().applied(f"evt-x-{i:09d}", s, []).dump()) for i, s in enumerate(picked)]
    return {"keys": len(states), "python_bytes_mean": sum(own) / len(own), "json_bytes_mean": sum(js) / len(js),
            "worker_record_json_bytes_mean": sum(record) / len(record)}


def seller_at_bound() -> dict[str, float]:
    """A `new_seller_burst` state holding its maximum (max_listings + 1 listings), in both forms."""
    d = NewSellerBurstDetector(NewSellerBurstDetector.Params())
    state = d.initial_state()
    for ev in new_seller_listings(d.params.max_listings + 5):
        state, _ = d.detect(ListingEvent(**{**{f: getattr(ev, f) for f in ev.__dataclass_fields__},
                                            "seller_id": "seller-0000001"}), state)
    total, last, recent = unpack(state)
    older = {"recent": [[t, lid] for t, lid in recent], "last_fired": last, "total": total}
    return {"listings_held": len(recent), "python_bytes": deep_size(state), "json_bytes": len(orjson.dumps(state)),
            "older_form_python_bytes": deep_size(older), "older_form_json_bytes": len(orjson.dumps(older))}


def older_form_of_sellers(engine: Engine, sample: int = 20_000) -> dict[str, float]:
    states = [s for (_, d, _), s in engine._state.items() if d == "new_seller_burst"][:sample]
    older = []
    for s in states:
        total, last, recent = unpack(s)
        older.append({"recent": [[t, lid] for t, lid in recent], "last_fired": last, "total": total})
    return {"python_bytes_mean": sum(map(deep_size, older)) / len(older),
            "json_bytes_mean": sum(len(orjson.dumps(o)) for o in older) / len(older)}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sellers", type=int, default=1_000_000)
    ap.add_argument("--listings", type=int, default=200_000, help="listings that get one review each")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    command = "python bench/bench_memory.py " + " ".join(sys.argv[1:] if argv is None else argv)

    engine = build_engine(max_keys=args.sellers + 2 * args.listings + 100_000)
    gc.collect()
    rss0 = rss_bytes()
    t0 = time.perf_counter()
    for ev in new_seller_listings(args.sellers):
        engine.process(ev)
    gc.collect()
    rss1 = rss_bytes()
    t1 = time.perf_counter()
    for rv in reviews(args.listings):
        engine.process(rv)
    gc.collect()
    rss2 = rss_bytes()
    t2 = time.perf_counter()

    result: dict[str, Any] = {
        "command": command,
        "sellers": args.sellers, "reviewed_listings": args.listings,
        "rss_bytes": {"engine_built": rss0, "after_sellers": rss1, "after_reviews": rss2},
        "rss_bytes_per_seller": (rss1 - rss0) / max(args.sellers, 1),
        "rss_bytes_per_reviewed_listing": (rss2 - rss1) / max(args.listings, 1),
        "seconds": {"sellers": round(t1 - t0, 1), "reviews": round(t2 - t1, 1)},
        "per_key": {d: sizes_of(engine, d) for d in ("new_seller_burst", "review_burst", "rating_skew")},
        "new_seller_burst_older_form": older_form_of_sellers(engine),
        "new_seller_burst_at_bound": seller_at_bound(),
        "engine_keys": len(engine._state),
    }
    mib = 1 << 20
    print(f"{args.sellers:,} new sellers with one listing each, then {args.listings:,} listings with one review each; "
          f"engine in-process, {len(engine._state):,} state keys")
    print(f"RSS: {rss0 / mib:,.0f} MiB with the engine built, {rss1 / mib:,.0f} MiB after the sellers, "
          f"{rss2 / mib:,.0f} MiB after the reviews")
    print(f"RSS per seller: {result['rss_bytes_per_seller']:.0f} bytes; per reviewed listing: "
          f"{result['rss_bytes_per_reviewed_listing']:.0f} bytes (all detectors, engine's LRU entry and ids included)")
    print()
    print("| detector (key) | keys | state, Python bytes | state, JSON bytes | worker record, JSON bytes |")
    print("|---|---|---|---|---|")
    for det, row in result["per_key"].items():
        if row.get("keys"):
            print(f"| {det} | {row['keys']:,} | {row['python_bytes_mean']:.0f} | {row['json_bytes_mean']:.0f} | "
                  f"{row['worker_record_json_bytes_mean']:.0f} |")
    old = result["new_seller_burst_older_form"]
    print(f"| new_seller_burst, earlier dict form of the same states | | {old['python_bytes_mean']:.0f} | "
          f"{old['json_bytes_mean']:.0f} | |")
    bound = result["new_seller_burst_at_bound"]
    print(f"| new_seller_burst at its bound ({bound['listings_held']} listings held) | | {bound['python_bytes']} | "
          f"{bound['json_bytes']} | |")
    print(f"| same, earlier dict form | | {bound['older_form_python_bytes']} | {bound['older_form_json_bytes']} | |")
    print(f"\n{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; shared machine; "
          f"command: {command}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
