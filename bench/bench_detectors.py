"""Per-event cost of the detectors, side by side.

Run from the repository root:

    python bench/bench_detectors.py [--listings 1000] [--events 20000] [--policies policies] [--json OUT]

1. Term-list scaling.  `ProhibitedTermsDetector` (Aho-Corasick, `riskstream.detectors.text.TermMatcher`)
   with 10, 1,000 and 10,000 prohibited terms, against two regex baselines over the
   same listing texts: a loop of one compiled word-bounded regex per term, and one
   big alternation regex.  The baselines normalise the text once and skip the
   squashed pass, so they do less work than the detector (which normalises once per
   term list).  Synthetic terms are generated deterministically; the first few are
   two phrases from the sample and real policy terms, so that something matches,
   and the methods should agree on how many events match (the detector may find
   more: it also matches the squashed form).
2. Every detector in `riskstream.detectors.registry.ALL_DETECTORS` over one simulated day (the
   simulator's own event times, so windowed detectors see a realistic rate), run as
   the engine runs it: one instance per region with that region's parameters from
   `--policies` (defaults where a policy does not configure it), state per region
   and key.  µs per event it reads, relative to the cheapest, and its share of the
   cost of the whole stream.

The machine is shared and noisy: compare the ratios, which are measured side by
side in one run, not the absolute µs.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from riskstream.contracts import Event, ListingEvent
from riskstream.detectors.prohibited_terms import ProhibitedTermsDetector
from riskstream.detectors.registry import ALL_DETECTORS, default_registry
from riskstream.detectors.text import normalize
from riskstream.policy import load_policy
from riskstream.policy.load import iter_policy_files
from riskstream.regions import region_of
from riskstream.sim import SimConfig, simulate

SIZES = (10, 1_000, 10_000)
REAL_TERMS = ("elephant ivory", "rhino horn", "ghost gun", "fentanyl", "counterfeit banknotes",
              "inclined infant sleeper", "nicotine pouches", "disposable vape")
_SYLLABLES = ("ka", "zor", "vel", "mi", "tu", "ran", "pex", "lo", "qui", "sha", "bri", "don", "fe", "gu", "wyn",
              "xa", "ol", "tri", "um", "ze")


def synthetic_terms(n: int, known: Sequence[str] = (), seed: int = 0) -> list[str]:
    """`n` distinct terms: `known` and the real ones first, then seeded one- to three-word pseudo-words."""
    rng = random.Random(seed)
    terms = list(dict.fromkeys([*known, *REAL_TERMS]))[:n]
    seen = set(terms)
    while len(terms) < n:
        words = [
            "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
            for _ in range(rng.randint(1, 3))
        ]
        term = " ".join(words)
        if term not in seen:
            seen.add(term)
            terms.append(term)
    return terms


def simulated(n: int, seed: int) -> list[Event]:
    """The first `n` events of one simulated day (listings, reviews, content, recalls)."""
    return [rec for _t, _k, rec in itertools.islice(simulate(SimConfig(seed=seed)), n)]


def listing_text(ev: ListingEvent) -> str:
    # The same text the detector matches against.
    return " \n ".join((ev.title, ev.description, ev.brand or "", *ev.attributes.values()))


def per_event_us(fn: Callable[[Any], object], items: Sequence[Any], min_seconds: float = 0.3) -> float:
    """Mean µs per item: whole passes over `items` until `min_seconds` have been spent."""
    passes, spent = 0, 0.0
    while spent < min_seconds or passes == 0:
        t0 = time.perf_counter()
        for it in items:
            fn(it)
        spent += time.perf_counter() - t0
        passes += 1
    return spent / (passes * len(items)) * 1e6


# --------------------------------------------------------------------------- 1. term-list scaling


def bench_terms(listings: list[ListingEvent]) -> list[dict[str, Any]]:
    # Two phrases that occur in the sample, so every list matches something and the methods can be compared.
    known = [" ".join(normalize(ev.title).split()[:2]) for ev in listings[:: max(1, len(listings) // 2)]][:2]
    rows = []
    for size in SIZES:
        terms = synthetic_terms(size, known)
        det = ProhibitedTermsDetector(ProhibitedTermsDetector.Params(prohibited=tuple(terms)))
        norm_terms = [normalize(t) for t in terms]
        per_term = [re.compile(rf"(?<!\w){re.escape(t)}(?!\w)") for t in norm_terms]
        alternation = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, norm_terms)) + r")(?!\w)")

        # The baselines normalise the text once per event, as a hand-written detector would.
        def regex_loop(ev: ListingEvent, per_term: list[re.Pattern[str]] = per_term) -> bool:
            text = normalize(listing_text(ev))
            return any(p.search(text) for p in per_term)

        def one_regex(ev: ListingEvent, alternation: re.Pattern[str] = alternation) -> bool:
            return alternation.search(normalize(listing_text(ev))) is not None

        hits = {
            "aho_corasick": sum(bool(det.detect(ev, None)[1]) for ev in listings),
            "regex_loop": sum(regex_loop(ev) for ev in listings),
            "one_regex": sum(one_regex(ev) for ev in listings),
        }
        rows.append({
            "terms": size,
            "aho_corasick_us": per_event_us(lambda ev, det=det: det.detect(ev, None), listings),
            "regex_loop_us": per_event_us(regex_loop, listings, min_seconds=0.1),
            "one_regex_us": per_event_us(one_regex, listings),
            "events_matched": hits,
        })
    return rows


def render_terms(rows: list[dict[str, Any]], n: int) -> str:
    base = rows[0]
    head = (f"{'terms':>7}  {'Aho-Corasick µs':>16} {'x vs 10':>8}  {'regex loop µs':>14} {'x vs 10':>8}"
            f"  {'one regex µs':>13} {'x vs 10':>8}   events matched (AC / loop / one)")
    lines = [f"prohibited_terms over {n} simulated listings (µs per event, each method normalises the text itself)",
             head, "-" * len(head)]
    for r in rows:
        h = r["events_matched"]
        lines.append(
            f"{r['terms']:>7,}  {r['aho_corasick_us']:>16,.1f} {r['aho_corasick_us'] / base['aho_corasick_us']:>7.2f}x"
            f"  {r['regex_loop_us']:>14,.1f} {r['regex_loop_us'] / base['regex_loop_us']:>7.1f}x"
            f"  {r['one_regex_us']:>13,.1f} {r['one_regex_us'] / base['one_regex_us']:>7.1f}x"
            f"   {h['aho_corasick']} / {h['regex_loop']} / {h['one_regex']}"
        )
    big = rows[-1]
    lines.append(f"at {big['terms']:,} terms the regex loop costs {big['regex_loop_us'] / big['aho_corasick_us']:,.0f}x "
                 f"the Aho-Corasick detector per event, one alternation regex "
                 f"{big['one_regex_us'] / big['aho_corasick_us']:,.1f}x")
    return "\n".join(lines)


# --------------------------------------------------------------------------- 2. every detector


def bench_detectors(events: list[Event], policy_dir: Path) -> list[dict[str, Any]]:
    """Each detector as the engine runs it: one instance per region, built from that region's policy."""
    registry = default_registry()
    policies = {p.region: p for p in (load_policy(path, registry) for path in iter_policy_files(policy_dir))}
    routed = [(region_of(ev.region), ev) for ev in events]
    rows = []
    for cls in ALL_DETECTORS:
        rules = {region: pol.rule(cls.id) for region, pol in policies.items()}
        params = {region: r.params if r is not None and r.params is not None else cls.Params()
                  for region, r in rules.items()}
        mine = [(region, ev) for region, ev in routed if ev.kind in cls.kinds and region in params]
        source = "policies" if any(r is not None for r in rules.values()) else "defaults"
        if not mine:
            rows.append({"detector": cls.id, "kinds": sorted(cls.kinds), "events": 0, "us": None,
                         "signals": 0, "params": source})
            continue
        best = float("inf")
        signals = 0
        for _ in range(3):  # best of 3 fresh runs: state is rebuilt each time, noise only adds
            dets = {region: cls(p) for region, p in params.items()}
            state: dict[tuple[str, str], Any] = {}
            signals = 0
            t0 = time.perf_counter()
            for region, ev in mine:
                det = dets[region]
                key = det.state_key(ev)
                if key is None:
                    _, out = det.detect(ev, None)
                else:
                    s = state.get((region, key))
                    state[(region, key)], out = det.detect(ev, det.initial_state() if s is None else s)
                signals += len(out)
            best = min(best, time.perf_counter() - t0)
        rows.append({"detector": cls.id, "kinds": sorted(cls.kinds), "events": len(mine),
                     "us": best / len(mine) * 1e6, "signals": signals, "params": source})
    return rows


def render_detectors(rows: list[dict[str, Any]], n: int, policy: Path) -> str:
    timed = [r for r in rows if r["us"] is not None]
    cheapest = min(r["us"] for r in timed)
    total = sum(r["us"] * r["events"] for r in timed)
    head = (f"{'detector':24}{'kinds':22}{'events':>8}{'µs/event':>10}{'x cheapest':>12}"
            f"{'share of stream':>17}{'signals':>9}  params")
    lines = [f"every registered detector over the first {n} events of one simulated day, "
             f"one instance per region with that region's params from {policy}/",
             head, "-" * len(head)]
    for r in sorted(rows, key=lambda r: -(r["us"] or 0)):
        if r["us"] is None:
            lines.append(f"{r['detector']:24}{','.join(r['kinds']):22}{0:>8}{'-':>10}")
            continue
        lines.append(
            f"{r['detector']:24}{','.join(r['kinds']):22}{r['events']:>8,}{r['us']:>10,.1f}"
            f"{r['us'] / cheapest:>11.1f}x{r['us'] * r['events'] / total:>16.0%}{r['signals']:>9}  {r['params']}"
        )
    lines.append(f"all detectors together: {total / n:,.1f} µs per stream event")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listings", type=int, default=1000, help="listing events for the term-list scaling")
    ap.add_argument("--events", type=int, default=20_000, help="stream events for the per-detector costs")
    ap.add_argument("--policies", type=Path, default=Path("policies"), help="policy directory (default policies)")
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    command = "python bench/bench_detectors.py " + " ".join(sys.argv[1:] if argv is None else argv)

    events = simulated(max(args.events, 1), args.seed)
    listings = [ev for ev in events if isinstance(ev, ListingEvent) and ev.op != "removed"]
    if len(listings) < args.listings:  # a longer stream for more listings
        more = simulated(args.listings * 3, args.seed)
        listings = [ev for ev in more if isinstance(ev, ListingEvent) and ev.op != "removed"]
    listings = listings[: args.listings]

    print(f"$ {command}")
    print(f"{os.cpu_count()} CPUs; Python {platform.python_version()}\n")
    t0 = time.monotonic()
    terms = bench_terms(listings)
    print(render_terms(terms, len(listings)))
    print()
    dets = bench_detectors(events, args.policies)
    print(render_detectors(dets, len(events), args.policies))
    print(f"\ntotal {time.monotonic() - t0:.0f}s")
    if args.json:
        args.json.write_text(json.dumps({"command": command, "cpus": os.cpu_count(), "terms": terms,
                                         "detectors": dets}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
