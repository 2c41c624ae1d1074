"""Per-seed vocabulary: the luxury houses, their products and the counterfeit titles of one run.

A policy written for the simulator must not be able to name what a run will
contain.  The catalogue's luxury products (`catalog.PRODUCTS`) carry
placeholder brands; each seed draws its own house names from syllable pools,
so the brands that are counterfeited differ from seed to seed and appear in
no shipped policy.  Photos (image hashes) are already drawn per listing from
the seed.

>>> a, b = seed_catalog(1), seed_catalog(101)
>>> a.luxury_brands != b.luxury_brands and len(a.luxury_brands) == 3
True
>>> all(brand in p.titles["en"] for p in a.products if p.category == "luxury_bags" for brand in p.brands)
True
"""

from __future__ import annotations

import dataclasses
import functools
import random
from dataclasses import dataclass
from typing import Final

from riskstream.sim.catalog import BRAND_BASELINES_EUR, PRODUCTS, Product

_ONSETS: Final = ("b", "c", "d", "f", "g", "l", "m", "n", "p", "r", "s", "t", "v", "br", "ch", "gr", "tr")
_VOWELS: Final = ("a", "e", "i", "o", "u", "au", "ei", "ia")
_ENDINGS: Final = ("lle", "ne", "ri", "nti", "ssa", "ron", "vet", "lia", "dor", "rac")
_HOUSE_FORMS: Final = ("Maison {n}", "{n}", "{n} Milano", "{n} Paris", "Atelier {n}", "{n} & Fils", "Casa {n}")


@dataclass(frozen=True, slots=True)
class SeedCatalog:
    """What one seed sells: the products (luxury houses renamed) and each house's list price."""

    products: tuple[Product, ...]
    luxury_brands: tuple[str, ...]
    brand_baselines_eur: dict[str, float]


def _name(rng: random.Random) -> str:
    word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(rng.randint(1, 2)))
    return (word + rng.choice(_ENDINGS)).capitalize()


@functools.cache
def seed_catalog(seed: int) -> SeedCatalog:
    """The catalogue of run `seed`: placeholder luxury houses replaced by names drawn for the seed."""
    rng = random.Random(f"{seed}:brands")
    placeholders = list(BRAND_BASELINES_EUR)
    names: list[str] = []
    while len(names) < len(placeholders):
        name = rng.choice(_HOUSE_FORMS).format(n=_name(rng))
        if name not in names and name not in placeholders:
            names.append(name)
    rename = dict(zip(placeholders, names, strict=True))
    products = []
    for p in PRODUCTS:
        old = p.brands[0] if p.category == "luxury_bags" and p.brands else None
        if old in rename:
            new = rename[old]
            p = dataclasses.replace(p, brands=(new,), titles={k: v.replace(old, new) for k, v in p.titles.items()})
        products.append(p)
    baselines = {rename[b]: v for b, v in BRAND_BASELINES_EUR.items()}
    return SeedCatalog(tuple(products), tuple(names), baselines)
