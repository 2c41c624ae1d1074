"""Injected scenarios on the listings side, the default timeline, and the dispatcher.

Listing scenarios: a recalled product surging (`prohibited_surge`), a counterfeit wave over new
accounts (`counterfeit_wave`), unmarked goods (`missing_certification`), a banned supplement
spreading across regions (`cross_region_spread`), goods in categories a country bans
(`banned_category`) or restricts to licensed sellers (`unlicensed_seller`), and one new seller
launching a fake shop (`fake_shop`).

Every event a scenario emits carries its scenario id in the ground truth.
Review- and content-side scenarios live in `riskstream.sim.social`.

>>> sorted({s.kind for s in DEFAULT_SCENARIOS}) == sorted(SCENARIOS)
True
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from riskstream.regions import region_of
from riskstream.sim import social
from riskstream.sim.catalog import (
    COUNTRIES,
    RECALLED_SLEEPER_TERMS,
    REGULATED_PRODUCTS,
    REGULATED_TITLE_TERMS,
    HarmKind,
    Product,
)
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
from riskstream.sim.world import Listing, Seller, Truth, World

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


REGULATED: Final[dict[str, Product]] = {p.key: p for p in REGULATED_PRODUCTS}

# What each country's sellers list against its policy's `category_rules` (catalog.REGULATED_PRODUCTS
# says which law): categories banned there, and categories restricted there to licensed sellers.
BANNED_OFFERS: Final[dict[str, tuple[str, ...]]] = {
    "FR": ("pouches",), "NL": ("pouches",), "SG": ("disposable_vape", "pod_kit", "heat_sticks"),
    "TH": ("disposable_vape", "pod_kit"),
}
UNLICENSED_OFFERS: Final[dict[str, tuple[str, ...]]] = {
    "DE": ("melatonin", "melatonin_spray"), "NL": ("melatonin", "melatonin_spray"),
    "GB": ("chef_knife", "knife_block"), "US": ("cigars", "pouches", "whisky", "red_wine"),
    "MY": ("disposable_vape", "pod_kit", "rice_cooker", "kettle"),
}
# What an unlicensed seller writes in the licence field, when anything (`licence_invalid` where the
# policy has a `licence_pattern`: EU and UK).
NOT_A_LICENCE: Final[tuple[str, ...]] = ("18+", "yes", "ID checked on delivery", "pending", "n/a")


def spread_times(rng: random.Random, start: datetime, end: datetime, n: int) -> list[datetime]:
    """`n` sorted whole-second times spread evenly at random over [start, end)."""
    span = (end - start).total_seconds()
    if span <= 0:
        return []
    return sorted((start + timedelta(seconds=int(rng.random() * span))) for _ in range(n))


def names_restricted_term(title: str, country: str) -> bool:
    """Whether `title` names a term the country's policy restricts as text (`prohibited_terms`)."""
    folded = title.casefold()
    return any(term.casefold() in folded for term in REGULATED_TITLE_TERMS.get(region_of(country) or "", ()))


def _regulated_listing(world: World, rng: random.Random, seller: Seller, key: str) -> Listing:
    listing = world.make_listing(rng, seller, REGULATED[key])
    listing.attributes["condition"] = "new"
    return listing


def _category_listings(world: World, spec: ScenarioSpec, win: Window, rng: random.Random,
                       offers: dict[str, tuple[str, ...]], harm: HarmKind, unlicensed: bool) -> None:
    for country in spec.countries:
        keys = offers.get(country)
        if not keys:
            continue
        sellers = pick_sellers(world, rng, (country,), scaled(3, spec), new_share=0.4)
        for t in spread_times(rng, win.start, win.end, scaled(10, spec)):
            listing = _regulated_listing(world, rng, rng.choice(sellers), rng.choice(keys))
            if unlicensed and region_of(country) in ("EU", "UK") and rng.random() < 0.3:
                # Something typed in the licence field that is no licence number.
                field_name = "pharmacy_licence_id" if region_of(country) == "EU" else "age_verification_id"
                listing.attributes[field_name] = rng.choice(NOT_A_LICENCE)
            expected = ("category_rules", *(("prohibited_terms",) if names_restricted_term(listing.title, country)
                                            else ()))
            world.emit(world.listing_event(listing, t), Truth(win.sid, True, "listing", harm, expected))


def banned_category(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """Sellers list goods in categories their country bans: nicotine pouches in FR and NL, vapes in SG and TH.

    Listings spread over the window from a few sellers per country, not a surge: the everyday trade
    `category_rules` exists for.  A title that names a term the policy restricts as text (``nicotine
    pouches``, ``vape``) is `prohibited_terms`' finding too.
    """
    _category_listings(world, spec, win, rng, BANNED_OFFERS, "illegal_goods", unlicensed=False)
    return record(spec, win, harm="illegal_goods", opens_incident=False,
                  description="nicotine pouches and e-cigarettes listed where the country bans them")


def unlicensed_seller(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """Sellers without a licence list goods their country restricts to licensed sellers.

    Melatonin without a pharmacy licence (DE, NL), kitchen knives without age verification (GB),
    tobacco and alcohol without a licence (US), vapes and unapproved electrical goods (MY).  In the
    EU and UK some type something that is no licence number into the field (``licence_invalid``).
    Licensed sellers of the same goods are honest background (`honest.generate_near_misses`).
    """
    _category_listings(world, spec, win, rng, UNLICENSED_OFFERS, "non_compliance", unlicensed=True)
    return record(spec, win, harm="non_compliance", opens_incident=False,
                  description="restricted goods (melatonin, knives, tobacco, alcohol, vapes) from unlicensed sellers")


FAKE_SHOP_CATEGORIES: Final[tuple[str, ...]] = ("electronics", "fashion", "home", "cosmetics")


def fake_shop(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """In each country, a freshly registered seller launches a fake shop: dozens of listings within the hour.

    Everyday goods at plausible prices, marks copied, photos of its own: nothing in one listing is
    wrong, only the launch's pace from an account days old (`new_seller_burst`; a wave over many
    accounts is `counterfeit_wave`).  Every listing is labelled *about its seller* (entity
    ``seller``): the shop is the harm, and the detector's signal is about the seller, so a signal
    catches the shop's listings up to it (the scorer credits later actions about a label's entity)
    and a listing after it only if another signal follows (`new_seller_burst`'s cooldown).
    """
    products = [p for p in world.products if p.category in FAKE_SHOP_CATEGORIES]
    for country in spec.countries:
        seller = world.new_seller(rng, country, new=True)
        seller.age_days = rng.randrange(0, 3)
        span = timedelta(minutes=rng.uniform(20, 50))
        latest = win.end - span
        if latest <= win.start:
            continue
        start = win.start + (latest - win.start) * rng.random()
        for t in spread_times(rng, start, start + span, scaled(rng.randint(30, 45), spec)):
            listing = world.make_listing(rng, seller, rng.choice(products), factor=rng.uniform(0.75, 1.0))
            listing.description = rng.choice(("Brand new, fast dispatch.", "Grand opening offer!",
                                              "Ships in 24h, 100% satisfaction."))
            world.emit(world.listing_event(listing, t),
                       Truth(win.sid, True, "seller", "counterfeit", ("new_seller_burst",)))
    return record(spec, win, harm="counterfeit", opens_incident=False,
                  description="freshly registered sellers launching fake shops, dozens of listings in the hour")


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
    "banned_category": banned_category,
    "unlicensed_seller": unlicensed_seller,
    "fake_shop": fake_shop,
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
    ScenarioSpec("banned_category", ("FR", "NL", "SG", "TH"), start_hour=0, duration_hours=24),
    ScenarioSpec("unlicensed_seller", ("DE", "NL", "GB", "US", "MY"), start_hour=0, duration_hours=24),
    ScenarioSpec("fake_shop", ("US", "GB"), start_hour=8, duration_hours=12),
)


def default_scenarios(*kinds: ScenarioKind) -> tuple[ScenarioSpec, ...]:
    """The default timeline restricted to `kinds` (all of it when none are given)."""
    return tuple(s for s in DEFAULT_SCENARIOS if not kinds or s.kind in kinds)
