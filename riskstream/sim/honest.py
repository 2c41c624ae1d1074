"""Background traffic: honest listings, reviews and creator posts on a daily cycle.

Honest noise is deliberate: typos, look-alike titles ("Ivory white blouse",
"toy water gun"), legitimate 20-40% discounts, pre-owned luxury at 40-70% of
list price, new sellers and fresh buyers that are not fraudulent, slang like
"this jacket is fire".  Rare genuine violations (a missing certification or
responsible person, an undisclosed paid post) are labelled risky with no scenario.

>>> daily_cycle(20) > 1.5 > daily_cycle(4)
True
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta

from riskstream.sim.catalog import (
    CATEGORY_WEIGHTS,
    COUNTRIES,
    DISCLOSURE_TAGS,
    REGULATED_PRODUCTS,
    Category,
    Product,
)
from riskstream.sim.texts import CONTENT_HOOKS, REVIEW_NEGATIVE, REVIEW_NEUTRAL, REVIEW_POSITIVE, typo
from riskstream.sim.world import HONEST, ContentKind, Listing, Seller, Truth, World

_CATEGORIES: list[Category] = list(CATEGORY_WEIGHTS)
_CATEGORY_W: list[float] = list(CATEGORY_WEIGHTS.values())
RATINGS: tuple[int, ...] = (1, 2, 3, 4, 5)
CONTENT_KINDS: tuple[ContentKind, ...] = ("video", "live", "post")
RATING_W: tuple[float, ...] = (0.06, 0.04, 0.08, 0.22, 0.60)


def daily_cycle(local_hour: int) -> float:
    """Traffic multiplier by local hour: mean 1, peak around 20:00, trough around 08:00."""
    return 1.0 + 0.7 * math.cos(2 * math.pi * (local_hour - 20) / 24)


def count(rng: random.Random, expected: float) -> int:
    """An integer count with the right mean (floor plus a Bernoulli remainder)."""
    base = int(expected)
    return base + (1 if rng.random() < expected - base else 0)


def pick_text(rng: random.Random, table: dict[str, tuple[str, ...]], lang: str) -> tuple[str, str]:
    """A template in `lang`, falling back to English; returns (text, language)."""
    if lang in table:
        return rng.choice(table[lang]), lang
    return rng.choice(table["en"]), "en"


def generate_honest(world: World, *, hours: int, events_per_hour: float, rng: random.Random) -> None:
    """Emit background traffic hour by hour into `world`."""
    for h in range(hours):
        hour_start = world.start + timedelta(hours=h)
        fresh: dict[str, list[Listing]] = {}
        for code, country in COUNTRIES.items():
            local = (hour_start.hour + country.utc_offset) % 24
            n = count(rng, events_per_hour * country.weight * daily_cycle(local))
            times = sorted(hour_start + timedelta(seconds=rng.randrange(3600)) for _ in range(n))
            for t in times:
                r = rng.random()
                if r < 0.42:
                    new = _listing_op(world, rng, code, t)
                    if new is not None:
                        fresh.setdefault(code, []).append(new)
                elif r < 0.9:
                    _review(world, rng, code, t)
                else:
                    _content(world, rng, code, t)
        # Listings become reviewable from the next hour on, so no review predates its listing.
        for code, new_listings in fresh.items():
            world.listings[code].extend(new_listings)


def _listing_op(world: World, rng: random.Random, code: str, t: datetime) -> Listing | None:
    r = rng.random()
    pool = world.listings[code]
    if r < 0.15:
        listing = rng.choice(pool)
        listing.price = world.price(rng, listing.product.median_eur, code, rng.uniform(0.75, 0.97))
        world.emit(world.listing_event(listing, t, "updated"), listing.truth)
        return None
    if r < 0.20:
        listing = rng.choice(pool)
        world.emit(world.listing_event(listing, t, "removed"), HONEST)
        return None
    seller = rng.choice(world.sellers[code])
    category = rng.choices(_CATEGORIES, _CATEGORY_W)[0]
    product = rng.choice(world.by_category[category])
    factor = 1.0
    description = ""
    condition = "new"
    if category == "luxury_bags" and rng.random() < 0.35:
        factor, condition = rng.uniform(0.4, 0.7), "pre-owned"
        description = "Pre-owned, excellent condition, receipt available."
    elif rng.random() < 0.10:
        pct = rng.randint(20, 40)
        factor = 1 - pct / 100
        description = f"SALE -{pct}% this week only"
    listing = world.make_listing(rng, seller, product, factor=factor)
    listing.description = description
    listing.attributes["condition"] = condition
    if rng.random() < 0.03:
        listing.title = typo(listing.title, rng)
    if listing.certifications or len(listing.attributes) > 1:
        listing.truth = _compliance_noise(rng, listing)
    world.emit(world.listing_event(listing, t), listing.truth)
    return listing


def _compliance_noise(rng: random.Random, listing: Listing) -> Truth:
    """About 1% of regulated listings really do miss a mark: a genuine, unscripted violation."""
    r = rng.random()
    if r < 0.006 and listing.certifications:
        listing.certifications = []
        # A missing marking is `mandatory_attributes`' finding (certification_missing);
        # `category_rules` judges banned and licensed categories (`scenarios.banned_category`,
        # `scenarios.unlicensed_seller`), not marks.
        return Truth(is_risky=True, entity_type="listing", harm_kind="non_compliance",
                     expected=("mandatory_attributes",))
    if r < 0.012:
        required = [k for k in listing.attributes if k != "condition"]
        if required:
            del listing.attributes[rng.choice(required)]
            return Truth(is_risky=True, entity_type="listing", harm_kind="non_compliance",
                         expected=("mandatory_attributes",))
    return HONEST


def _review(world: World, rng: random.Random, code: str, t: datetime) -> None:
    listing = rng.choice(world.listings[code])
    buyer = rng.choice(world.buyers[code])
    rating = rng.choices(RATINGS, RATING_W)[0]
    table = REVIEW_POSITIVE if rating >= 4 else REVIEW_NEUTRAL if rating == 3 else REVIEW_NEGATIVE
    lang = COUNTRIES[code].language
    text, lang = pick_text(rng, table, lang if rng.random() < 0.9 else "en")
    if rng.random() < 0.03:
        text = typo(text, rng)
    world.emit(world.review_event(listing, buyer, t, rating=rating, text=text, language=lang,
                                  verified=rng.random() < 0.85))


def _content(world: World, rng: random.Random, code: str, t: datetime) -> None:
    creator = rng.choice(world.creators[code])
    listing = rng.choice(world.listings[code])
    hook, lang = pick_text(rng, CONTENT_HOOKS, COUNTRIES[code].language)
    text = f"{hook} {listing.title}"
    paid = rng.random() < 0.3
    disclosed = paid
    truth = HONEST
    if paid and rng.random() < 0.03:
        disclosed = False
        truth = Truth(is_risky=True, entity_type="content", harm_kind="non_compliance",
                      expected=("undisclosed_promotion",))
    if disclosed:
        text = f"{text} {DISCLOSURE_TAGS.get(lang, '#ad')}"
    kind = rng.choices(CONTENT_KINDS, (0.6, 0.1, 0.3))[0]
    world.emit(world.content_event(creator, t, text=text, language=lang, listings=[listing], paid=paid,
                                   disclosed=disclosed, kind=kind), truth)


# ------------------------------------------------------------------ near-misses

BASE_RATE = 1100.0
"""`SimConfig.events_per_hour`'s default: near-misses scale with the background rate."""

_REGULATED: dict[str, Product] = {p.key: p for p in REGULATED_PRODUCTS}

# (country, product key, licence attribute or None, expected listings per hour at the base rate):
# licensed sellers of restricted goods, and look-alike categories no rule covers.
NEAR_MISS_OFFERS: tuple[tuple[str, str, str | None, float], ...] = (
    ("DE", "melatonin", "pharmacy_licence_id", 0.12), ("DE", "melatonin_spray", "pharmacy_licence_id", 0.12),
    ("NL", "melatonin", "eu_online_pharmacy_logo_id", 0.08),
    ("GB", "chef_knife", "age_verification_id", 0.15), ("GB", "knife_block", "age_verification_id", 0.15),
    ("GB", "whetstone", None, 0.1), ("GB", "forging_book", None, 0.05),
    ("US", "whisky", "licence_id", 0.15), ("US", "red_wine", "licence_id", 0.15),
    ("US", "cigars", "licence_id", 0.1), ("US", "pipe_stand", None, 0.1), ("US", "na_beer", None, 0.15),
    ("US", "forging_book", None, 0.05),
    ("MY", "rice_cooker", "sirim_label_no", 0.1), ("MY", "kettle", "sirim_label_no", 0.1),
)


def _licence(rng: random.Random, attribute: str, country: str) -> str:
    """A well-formed licence number of the kind the policies check (`licence_pattern` in EU and UK)."""
    digits = f"{rng.randrange(10**6, 10**7)}"
    if attribute == "age_verification_id":
        return f"AV-{rng.getrandbits(40):010X}"
    if attribute in ("pharmacy_licence_id", "eu_online_pharmacy_logo_id"):
        return f"{country}-APO-{digits}"
    if attribute == "sirim_label_no":
        return f"SIRIM-{digits}"
    return f"{country}-LIC-{digits}"


def _established(world: World, rng: random.Random, code: str) -> Seller:
    return rng.choice([s for s in world.sellers[code] if s.age_days >= 30])


def _bulk(world: World, rng: random.Random, seller: Seller, start: datetime, minutes: float, n: int) -> None:
    span = int(minutes * 60)
    for t in sorted(start + timedelta(seconds=rng.randrange(span)) for _ in range(n)):
        world.emit(world.listing_event(world.make_listing(rng, seller, rng.choice(world.products)), t))


def generate_near_misses(world: World, *, hours: int, events_per_hour: float, rng: random.Random) -> None:
    """Honest listings close to what the category and burst scenarios plant, so precision is tested.

    * licensed sellers of restricted goods (a pharmacy's melatonin in DE and NL, knives with age
      verification in GB, licensed tobacco and alcohol in the US, SIRIM-labelled appliances in MY);
    * look-alike categories next to the rules' paths (``tobacco_accessories``,
      ``alcohol_free_drinks``, ``home/kitchen/knife_sharpeners``, ``weaponsmith_books``);
    * bulk listing that is not a fake-shop launch, per day in the US and GB: an established shop
      listing 30-50 items within the hour, a seller of 7-13 days (just past `new_seller_burst`'s
      age limit) listing 25-35, and a new seller listing 8-16 (below its threshold).
    """
    scale = events_per_hour / BASE_RATE
    for h in range(hours):
        hour_start = world.start + timedelta(hours=h)
        for code, key, attribute, rate in NEAR_MISS_OFFERS:
            for _ in range(count(rng, rate * scale)):
                t = hour_start + timedelta(seconds=rng.randrange(3600))
                listing = world.make_listing(rng, _established(world, rng, code), _REGULATED[key])
                if attribute is not None:
                    listing.attributes[attribute] = _licence(rng, attribute, code)
                world.emit(world.listing_event(listing, t))
    days = max(1, hours // 24)
    last = max(1, hours - 1)
    for code in ("US", "GB"):
        for _ in range(count(rng, days * scale)):
            at = world.start + timedelta(hours=rng.uniform(0, last))
            _bulk(world, rng, _established(world, rng, code), at, rng.uniform(30, 55), rng.randint(30, 50))
        for _ in range(count(rng, days * scale)):
            seller = world.new_seller(rng, code, new=True)
            seller.age_days = rng.randrange(7, 14)
            at = world.start + timedelta(hours=rng.uniform(0, last))
            _bulk(world, rng, seller, at, rng.uniform(30, 55), rng.randint(25, 35))
        for _ in range(count(rng, days * scale)):
            seller = world.new_seller(rng, code, new=True)
            seller.age_days = rng.randrange(0, 7)
            at = world.start + timedelta(hours=rng.uniform(0, last))
            _bulk(world, rng, seller, at, rng.uniform(40, 60), rng.randint(8, 16))
