"""Per-event cost of the detectors, side by side.

Run from the repository root:

    python bench/bench_detectors.py [--listings 1000] [--events 20000] [--policy policies/eu.yaml] [--json OUT]

1. Term-list scaling.  `ProhibitedTermsDetector` (Aho-Corasick, `detectors.text.TermMatcher`)
   with 10, 1,000 and 10,000 prohibited terms, against two regex baselines over the
   same listing texts: a loop of one compiled word-bounded regex per term, and one
   big alternation regex.  The baselines get the text already normalised (once), and
   skip the squashed pass, so they do less work than the detector.  Synthetic terms
   are generated deterministically; the first few are real policy terms so that
   something matches, and every method must agree on which events match.
2. Every detector in `detectors.registry.ALL_DETECTORS` over one simulated day (the
   simulator's own event times, so windowed detectors see a realistic rate),
   with its parameters from `--policy` (defaults where the policy does not enable
   it): µs per event it reads, relative to the cheapest, and its share of the cost
   of the whole stream.

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

from detectors.prohibited_terms import ProhibitedTermsDetector
from detectors.registry import ALL_DETECTORS, default_registry
from detectors.text import normalize
from riskstream.contracts import Event, ListingEvent
from riskstream.policy import load_policy
from riskstream.sim import SimConfig, simulate

SIZES = (10, 1_000, 10_000)
REAL_TERMS = ("elephant ivory", "rhino horn", "ghost gun", "fentanyl", "counterfeit banknotes",
              "inclined infant sleeper", "nicotine pouches", "disposable vape")
_SYLLABLES = ("ka", "zor", "vel", "mi", "tu", "ran", "pex", "lo", "qui", "sha", "bri", "don", "fe", "gu", "wyn",
              "xa", "ol", "tri", "um", "ze")


def synthetic_terms(n: int, seed: int = 0) -> list[str]:
    """`n` distinct terms: the real ones first, then seeded one- to three-word pseudo-words."""
    rng = random.Random(seed)
    terms = list(REAL_TERMS[:n])
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
    texts = [listing_text(ev) for ev in listings]
    normalised = [f" {normalize(t)} " for t in texts]
    rows = []
    for size in SIZES:
        terms = synthetic_terms(size)
        det = ProhibitedTermsDetector(ProhibitedTermsDetector.Params(prohibited=tuple(terms)))
        norm_terms = [normalize(t) for t in terms]
        per_term = [re.compile(rf"(?<!\w){re.escape(t)}(?!\w)") for t in norm_terms]
        alternation = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, norm_terms)) + r")(?!\w)")

        def regex_loop(text: str, per_term: list[re.Pattern[str]] = per_term) -> bool:
            return any(p.search(text) for p in per_term)

        def one_regex(text: str, alternation: re.Pattern[str] = alternation) -> bool:
            return alternation.search(text) is not None

        hits = {
            "aho_corasick": sum(bool(det.detect(ev, None)[1]) for ev in listings),
            "regex_loop": sum(regex_loop(t) for t in normalised),
            "one_regex": sum(one_regex(t) for t in normalised),
        }
        rows.append({
            "terms": size,
            "aho_corasick_us": per_event_us(lambda ev, det=det: det.detect(ev, None), listings),
            "regex_loop_us": per_event_us(regex_loop, normalised, min_seconds=0.1),
            "one_regex_us": per_event_us(one_regex, normalised),
            "events_matched": hits,
        })
    return rows


def render_terms(rows: list[dict[str, Any]], n: int) -> str:
    base = rows[0]
    head = (f"{'terms':>7}  {'Aho-Corasick µs':>16} {'x vs 10':>8}  {'regex loop µs':>14} {'x vs 10':>8}"
            f"  {'one regex µs':>13} {'x vs 10':>8}   events matched (AC / loop / one)")
    lines = [f"prohibited_terms over {n} simulated listings (µs per event; regex baselines get pre-normalised text)",
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


def bench_detectors(events: list[Event], policy_path: Path) -> list[dict[str, Any]]:
    policy = load_policy(policy_path, default_registry())
    rows = []
    for cls in ALL_DETECTORS:
        rule = policy.rule(cls.id)
        params = rule.params if rule is not None and rule.params is not None else cls.Params()
        mine = [ev for ev in events if ev.kind in cls.kinds]
        if not mine:
            rows.append({"detector": cls.id, "kinds": sorted(cls.kinds), "events": 0, "us": None,
                         "signals": 0, "params": "policy" if rule else "defaults"})
            continue
        best = float("inf")
        signals = 0
        for _ in range(3):  # best of 3 fresh runs: state is rebuilt each time, noise only adds
            det = cls(params)
            state: dict[str, Any] = {}
            signals = 0
            t0 = time.perf_counter()
            for ev in mine:
                key = det.state_key(ev)
                if key is None:
                    _, out = det.detect(ev, None)
                else:
                    s = state.get(key)
                    state[key], out = det.detect(ev, det.initial_state() if s is None else s)
                signals += len(out)
            best = min(best, time.perf_counter() - t0)
        rows.append({"detector": cls.id, "kinds": sorted(cls.kinds), "events": len(mine),
                     "us": best / len(mine) * 1e6, "signals": signals,
                     "params": "policy" if rule else "defaults"})
    return rows


def render_detectors(rows: list[dict[str, Any]], n: int, policy: Path) -> str:
    timed = [r for r in rows if r["us"] is not None]
    cheapest = min(r["us"] for r in timed)
    total = sum(r["us"] * r["events"] for r in timed)
    head = (f"{'detector':24}{'kinds':22}{'events':>8}{'µs/event':>10}{'x cheapest':>12}"
            f"{'share of stream':>17}{'signals':>9}  params")
    lines = [f"every registered detector over the first {n} events of one simulated day, params from {policy}",
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
    ap.add_argument("--policy", type=Path, default=Path("policies/eu.yaml"))
    ap.add_argument("--seed", type=int, default=7)
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
    dets = bench_detectors(events, args.policy)
    print(render_detectors(dets, len(events), args.policy))
    print(f"\ntotal {time.monotonic() - t0:.0f}s")
    if args.json:
        args.json.write_text(json.dumps({"command": command, "cpus": os.cpu_count(), "terms": terms,
                                         "detectors": dets}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
