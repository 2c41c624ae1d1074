"""Fit `price_outlier`'s configured category priors on the tuning seeds' honest listings.

    python bench/fit_price_priors.py            # seeds 1-5 (never the held-out 101-105)

Prints, per policy region, the ``category_priors`` (category -> currency ->
median price) and ``category_log_sd`` (spread of log prices around each
currency's median) blocks that the sample policies carry.  It stands in for
what a marketplace computes from its own history: honest (not enforced),
branded, new-condition listings as created.  Only the tuning seeds' ground
truth is read; the held-out seeds are not simulated.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections import defaultdict

from riskstream.contracts import ListingEvent
from riskstream.regions import region_of
from riskstream.sim import SimConfig, run
from riskstream.sim.simulate import TUNING_SEEDS


def fit(seeds: tuple[int, ...]) -> dict[str, tuple[dict[str, dict[str, float]], dict[str, float]]]:
    prices: dict[tuple[str, str, str], list[float]] = defaultdict(list)  # (region, category, currency)
    for seed in seeds:
        sim = run(SimConfig(seed=seed))
        labels = sim.labels.labels
        for _, _, rec in sim.events:
            if not isinstance(rec, ListingEvent) or rec.op != "created" or not rec.brand or rec.price <= 0:
                continue
            if labels[rec.event_id].is_risky or rec.attributes.get("condition", "new") != "new":
                continue
            prices[(region_of(rec.region) or rec.region, rec.category, rec.currency)].append(rec.price)
    out: dict[str, tuple[dict[str, dict[str, float]], dict[str, float]]] = {}
    devs: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (region, cat, cur), values in sorted(prices.items()):
        med = statistics.median(values)
        out.setdefault(region, ({}, {}))[0].setdefault(cat, {})[cur] = round(med, 2)
        devs[(region, cat)] += [math.log(v / med) for v in values]
    for (region, cat), d in devs.items():
        out[region][1][cat] = round(math.sqrt(statistics.fmean(x * x for x in d)), 3)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default=",".join(map(str, TUNING_SEEDS)), help="comma-separated tuning seeds")
    seeds = tuple(int(s) for s in ap.parse_args().seeds.split(","))
    if any(s >= 100 for s in seeds):
        raise SystemExit("refusing held-out seeds (>= 100): priors are fitted on tuning seeds only")
    for region, (priors, sds) in sorted(fit(seeds).items()):
        print(f"# {region}")
        print("      category_priors:")
        for cat, by_cur in sorted(priors.items()):
            print(f"        {cat}: {{{', '.join(f'{c}: {v}' for c, v in sorted(by_cur.items()))}}}")
        print("      category_log_sd: {" + ", ".join(f"{c}: {v}" for c, v in sorted(sds.items())) + "}")


if __name__ == "__main__":
    main()
