"""Injected scenarios on the listings side, the default timeline, and the dispatcher.

Every event a scenario emits carries its scenario id in the ground truth.
Review- and content-side scenarios live in `riskstream.sim.social`.

>>> sorted({s.kind for s in DEFAULT_SCENARIOS}) == sorted(SCENARIOS)
True
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import timedelta
from typing import Final

from riskstream.sim import social
from riskstream.sim.catalog import COUNTRIES, RECALLED_SLEEPER_TERMS, Product
from riskstream.sim.labels import ScenarioKind, ScenarioRecord
from riskstream.sim.spec import ScenarioSpec, Window, record, scaled, surge_times
from riskstream.sim.texts import (
    COUNTERFEIT_TITLES,
    DMAA_POSTS,
    DMAA_TITLES,
    SLEEPER_TITLES,
    SPOOFING,
    obfuscate_how,
)
from riskstream.sim.world import Seller, Truth, World

SLEEPER: Final = Product("inclined_sleeper", "baby", 65.0, {"en": "Inclined infant sleeper"}, ("DreamNest",))
DMAA: Final = Product("dmaa_preworkout", "supplements", 39.0, {"en": "DMAA pre-workout"}, ("BlastLab", "Jack3n"))


def pick_sellers(world: World, rng: random.Random, countries: tuple[str, ...], n: int,
                 new_share: float) -> list[Seller]:
    """`n` sellers across `countries`: a `new_share` of freshly registered ones, the rest established."""
    out = []
    for i in range(n):
        country = countries[i % len(countries)]
        if rng.random() < new_share:
            out.append(world.new_seller(rng, country, new=True))
        else:
            out.append(rng.choice([s for s in world.sellers[country] if s.age_days >= 30]))
    return out


def _flip_bits(rng: random.Random, value: int, n: int) -> int:
    """`value` with `n` random bits of its 64 flipped (a re-encoded photo's perceptual hash)."""
    for bit in rng.sample(range(64), n):
        value ^= 1 << bit
    return value


def prohibited_surge(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """A recalled inclined infant sleeper surges across many sellers in one region."""
    cs = spec.countries
    # The authority speaks after the surge began (listings from before it need recall_match's
    # back-scan); the notice is published in every affected member state.
    recall_at = win.start + (win.end - win.start) * 0.2
    for country in cs:
        world.emit(world.recall_event(recall_at, country, terms=list(RECALLED_SLEEPER_TERMS), brand=None,
                                      hazard="suffocation: infants can roll into an unsafe position",
                                      authority="EU Safety Gate"), Truth(scenario=win.sid))
    sellers = pick_sellers(world, rng, cs, scaled(28, spec), new_share=0.6)
    for t in surge_times(rng, win.start + timedelta(minutes=5), win.end, scaled(170, spec)):
        seller = rng.choice(sellers)
        lang = COUNTRIES[seller.country].language
        title = rng.choice(SLEEPER_TITLES.get(lang, SLEEPER_TITLES["en"]))
        how = None
        if rng.random() < 0.5:
            title, how = obfuscate_how(title, rng)
        listing = world.make_listing(rng, seller, SLEEPER, title=title)
        if rng.random() < 0.5:
            listing.brand = None
        expected = ("prohibited_terms", "recall_match", *(("mixed_script",) if how in SPOOFING else ()))
        truth = Truth(win.sid, True, "listing", "illegal_goods", expected)
        world.emit(world.listing_event(listing, t), truth)
    return record(spec, win, harm="illegal_goods", opens_incident=True,
                  description="recalled inclined infant sleeper listed by many sellers")


def counterfeit_wave(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """A cluster of brand-new sellers lists a luxury bag at 8-20% of its usual price, sharing photos."""
    # The seed's own luxury houses (`pools`): no policy can name the brand in advance.
    product = rng.choice(world.by_category["luxury_bags"])
    brand = product.brands[0]
    sellers = pick_sellers(world, rng, spec.countries, scaled(8, spec), new_share=1.0)
    for s in sellers:
        s.age_days = rng.randrange(0, 7)
    photos = [rng.getrandbits(64) for _ in range(4)]
    for t in surge_times(rng, win.start, win.end, scaled(90, spec)):
        seller = rng.choice(sellers)
        title = rng.choice(COUNTERFEIT_TITLES).format(b=brand)
        how = None
        if rng.random() < 0.4:
            title, how = obfuscate_how(title, rng)
        listing = world.make_listing(rng, seller, product, title=title,
                                     factor=rng.uniform(0.08, 0.2) * world.brand_baselines_eur[brand] / product.median_eur)
        # The same product photos, re-encoded: perceptual hashes a few bits apart.
        listing.image_hashes = [f"{_flip_bits(rng, h, rng.randint(0, 4)):016x}" for h in rng.sample(photos, 2)]
        listing.description = "Fast shipping, 100% real, no returns."
        # A wave over fresh accounts: no seller bursts alone, the group does (`new_seller_wave`).
        expected = ("price_outlier", "image_reuse", "new_seller_wave",
                    *(("mixed_script",) if how in SPOOFING else ()))
        truth = Truth(win.sid, True, "listing", "counterfeit", expected)
        world.emit(world.listing_event(listing, t), truth)
    return record(spec, win, harm="counterfeit", opens_incident=True,
                  description=f"{brand} bags far below baseline from a cluster of new sellers")


def missing_certification(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """After a rule change, cross-border sellers keep listing toys and electronics without marks."""
    products = [p for p in world.products if p.category in ("toys", "electronics")]
    sellers = pick_sellers(world, rng, spec.countries, scaled(6, spec), new_share=0.5)
    for t in surge_times(rng, win.start, win.end, scaled(120, spec), mode=0.5):
        listing = world.make_listing(rng, rng.choice(sellers), rng.choice(products), compliant=False)
        truth = Truth(win.sid, True, "listing", "non_compliance", ("mandatory_attributes",))
        world.emit(world.listing_event(listing, t), truth)
    return record(spec, win, harm="non_compliance", opens_incident=True,
                  description="toys/electronics without CE mark or responsible person after a rule change")


def cross_region_spread(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """A banned DMAA pre-workout trend starts in one region and reaches the next hours later."""
    for i, country in enumerate(spec.countries):
        start = win.start + timedelta(hours=spec.spread_delay_hours * i)
        if start >= win.end:
            break
        sellers = pick_sellers(world, rng, (country,), scaled(12, spec), new_share=0.7)
        for t in surge_times(rng, start, win.end, scaled(70, spec)):
            seller = rng.choice(sellers)
            title = rng.choice(DMAA_TITLES)
            how = None
            if rng.random() < 0.5:
                title, how = obfuscate_how(title, rng)
            listing = world.make_listing(rng, seller, DMAA, title=title)
            truth = Truth(win.sid, True, "listing", "illegal_goods",
                          ("prohibited_terms", *(("mixed_script",) if how in SPOOFING else ())))
            world.emit(world.listing_event(listing, t), truth)
        creators = rng.sample(world.creators[country], min(6, len(world.creators[country])))
        for t in surge_times(rng, start, win.end, scaled(20, spec)):
            text = rng.choice(DMAA_POSTS)
            post = world.content_event(rng.choice(creators), t, text=text, language="en", listings=[],
                                       paid=False, disclosed=False)
            world.emit(post, Truth(win.sid, True, "content", "illegal_goods", ("content_prohibited",)))
    return record(spec, win, harm="illegal_goods", opens_incident=True,
                  description="banned DMAA pre-workout spreading across regions")


Inject = Callable[[World, ScenarioSpec, Window, random.Random], ScenarioRecord]
SCENARIOS: Final[dict[ScenarioKind, Inject]] = {
    "prohibited_surge": prohibited_surge,
    "counterfeit_wave": counterfeit_wave,
    "missing_certification": missing_certification,
    "review_farm": social.review_farm,
    "review_bombing": social.review_bombing,
    "safety_complaint_spike": social.safety_complaint_spike,
    "creator_wave": social.creator_wave,
    "cross_region_spread": cross_region_spread,
    "viral_product": social.viral_product,
}

DEFAULT_SCENARIOS: Final[tuple[ScenarioSpec, ...]] = (
    ScenarioSpec("prohibited_surge", ("DE", "FR", "ES", "IT", "NL"), start_hour=3, duration_hours=5),
    ScenarioSpec("counterfeit_wave", ("GB",), start_hour=5, duration_hours=4),
    ScenarioSpec("missing_certification", ("FR",), start_hour=8, duration_hours=8),
    ScenarioSpec("review_farm", ("US",), start_hour=7, duration_hours=3),
    ScenarioSpec("review_bombing", ("DE",), start_hour=13, duration_hours=2),
    ScenarioSpec("safety_complaint_spike", ("DE", "FR"), start_hour=10, duration_hours=8),
    ScenarioSpec("creator_wave", ("US",), start_hour=15, duration_hours=6),
    ScenarioSpec("cross_region_spread", ("US", "GB"), start_hour=12, duration_hours=10),
    ScenarioSpec("viral_product", ("SG", "MY", "TH"), start_hour=6, duration_hours=10),
)


def default_scenarios(*kinds: ScenarioKind) -> tuple[ScenarioSpec, ...]:
    """The default timeline restricted to `kinds` (all of it when none are given)."""
    return tuple(s for s in DEFAULT_SCENARIOS if not kinds or s.kind in kinds)
