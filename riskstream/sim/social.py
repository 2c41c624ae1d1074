"""Injected scenarios on the review and creator side, plus the honest viral product.

>>> from riskstream.sim.spec import ScenarioSpec
>>> ScenarioSpec("viral_product", ("SG",), 6, 10).kind
'viral_product'
"""

from __future__ import annotations

import random
from typing import Final

from riskstream.sim.catalog import COUNTRIES, DISCLOSURE_TAGS, SAFETY_COMPLAINTS, Product
from riskstream.sim.labels import ScenarioRecord
from riskstream.sim.spec import ScenarioSpec, Window, record, scaled, surge_times
from riskstream.sim.texts import (
    BOMB_REVIEWS,
    CONTENT_HOOKS,
    FARM_REVIEWS,
    HEALTH_POSTS,
    REVIEW_NEUTRAL,
    REVIEW_POSITIVE,
    SAFETY_TEMPLATES,
)
from riskstream.sim.world import Creator, Listing, Truth, World

POWERBANK: Final = Product("powercore", "electronics", 35.0, {"en": "Voltmax PowerCore 20K power bank",
                           "de": "Voltmax PowerCore 20K Powerbank", "fr": "Batterie externe Voltmax PowerCore 20K"},
                           ("Voltmax",))
GLUCOSLIM: Final = Product("glucoslim", "supplements", 49.0, {"en": "GlucoSlim semaglutide drops 30ml"},
                           ("GlucoSlim",))
CLOUDBUN: Final = Product("cloudbun", "toys", 24.0, {"en": "CloudBun plush bunny original",
                          "ms": "Patung CloudBun arnab original", "th": "ตุ๊กตา CloudBun กระต่าย ของแท้"},
                          ("Puffle",))


def _established(world: World, rng: random.Random, country: str) -> list[Listing]:
    """Listings, existing before the run, of one established seller in `country`."""
    seller = rng.choice([s for s in world.sellers[country] if s.age_days >= 180])
    return [x for x in world.listings[country] if x.seller is seller] or [rng.choice(world.listings[country])]


def review_farm(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """Near-duplicate five-star reviews from fresh unverified accounts on a handful of listings."""
    country = spec.countries[0]
    targets = _established(world, rng, country)[:4]
    for t in surge_times(rng, win.start, win.end, scaled(140, spec), mode=0.4):
        listing = rng.choice(targets)
        buyer = world.new_buyer(rng, country, fresh=True)
        name = listing.product.titles["en"].split()[-1].lower()
        text = rng.choice(FARM_REVIEWS).format(p=name)
        if rng.random() < 0.3:
            text = text.replace("!!!", "!!").replace("highly", "Highly")
        review = world.review_event(listing, buyer, t, rating=5 if rng.random() < 0.95 else 4, text=text,
                                    language="en", verified=rng.random() < 0.1)
        world.emit(review, Truth(win.sid, True, "review", "fake_reviews",
                                 ("review_burst", "review_near_duplicate", "rating_skew")))
    return record(spec, win, harm="fake_reviews", opens_incident=False,
                  description="review farm boosting a handful of listings")


def review_bombing(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """A burst of one-star reviews on an honest established seller."""
    country = spec.countries[0]
    targets = _established(world, rng, country)[:3]
    lang = COUNTRIES[country].language
    for t in surge_times(rng, win.start, win.end, scaled(90, spec), mode=0.2):
        buyer = world.new_buyer(rng, country, fresh=rng.random() < 0.7)
        table = BOMB_REVIEWS.get(lang, BOMB_REVIEWS["en"])
        review = world.review_event(rng.choice(targets), buyer, t, rating=1, text=rng.choice(table),
                                    language=lang if lang in BOMB_REVIEWS else "en",
                                    verified=rng.random() < 0.15)
        world.emit(review, Truth(win.sid, True, "review", "fake_reviews", ("review_burst", "rating_skew")))
    return record(spec, win, harm="fake_reviews", opens_incident=False,
                  description="one-star bombing of an honest seller")


def safety_complaint_spike(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """Genuine buyers of one power bank model report fires and burns, in their own language."""
    targets: list[Listing] = []
    for country in spec.countries:
        sellers = [s for s in world.sellers[country] if s.age_days >= 30]
        targets += [world.make_listing(rng, rng.choice(sellers), POWERBANK) for _ in range(2)]
    for t in surge_times(rng, win.start, win.end, scaled(75, spec), mode=0.6):
        listing = rng.choice(targets)
        buyer = world.new_buyer(rng, listing.seller.country)
        lang = COUNTRIES[listing.seller.country].language
        if rng.random() < 0.75:
            template = rng.choice(SAFETY_TEMPLATES.get(lang, SAFETY_TEMPLATES["en"]))
            complaint = rng.choice(SAFETY_COMPLAINTS.get(lang, SAFETY_COMPLAINTS["en"]))
            review = world.review_event(listing, buyer, t, rating=rng.choice((1, 1, 2)),
                                        text=template.format(c=complaint), language=lang, verified=True)
            truth = Truth(win.sid, True, "listing", "product_safety", ("safety_complaints",))
        else:
            table = REVIEW_POSITIVE if rng.random() < 0.6 else REVIEW_NEUTRAL
            review = world.review_event(listing, buyer, t, rating=rng.choice((3, 4, 5)),
                                        text=rng.choice(table.get(lang, table["en"])), language=lang,
                                        verified=True)
            truth = Truth(win.sid)
        world.emit(review, truth)
    return record(spec, win, harm="product_safety", opens_incident=True,
                  description="power bank catching fire, complaints in local languages")


def creator_wave(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """Creators push restricted semaglutide drops with health claims and no ad disclosure."""
    country = spec.countries[0]
    lang = COUNTRIES[country].language
    sellers = [world.new_seller(rng, country, new=True) for _ in range(2)]
    listings: list[Listing] = []
    for t in surge_times(rng, win.start, win.end, scaled(8, spec), mode=0.1):
        listing = world.make_listing(rng, rng.choice(sellers), GLUCOSLIM)
        listing.description = "Lose 10 kg in a week, no side effects. Cures diabetes."
        listing.created = t
        listings.append(listing)
        world.emit(world.listing_event(listing, t), Truth(win.sid, True, "listing", "illegal_goods",
                                                           ("prohibited_terms",)))
    creators: list[Creator] = rng.sample(world.creators[country], min(8, len(world.creators[country])))
    creators += [Creator(world.new_id("c_"), country) for _ in range(scaled(6, spec))]
    for t in surge_times(rng, win.start, win.end, scaled(70, spec)):
        product = "GlucoSlim s3maglutide drops" if rng.random() < 0.4 else "GlucoSlim semaglutide drops"
        table = HEALTH_POSTS.get(lang, HEALTH_POSTS["en"])
        text = rng.choice(table).format(p=product)
        linked = [x for x in listings if x.created is not None and x.created < t]
        post = world.content_event(rng.choice(creators), t, text=text,
                                   language=lang if lang in HEALTH_POSTS else "en", listings=linked[-1:],
                                   paid=True, disclosed=False, kind="live" if rng.random() < 0.3 else "video")
        world.emit(post, Truth(win.sid, True, "content", "harmful_content",
                               ("content_prohibited", "health_claims", "undisclosed_promotion")))
    return record(spec, win, harm="harmful_content", opens_incident=True,
                  description="creators promoting semaglutide drops with health claims, undisclosed ads")


def viral_product(world: World, spec: ScenarioSpec, win: Window, rng: random.Random) -> ScenarioRecord:
    """An honest plush toy goes viral: a real surge of listings, reviews and posts, nothing risky."""
    truth = Truth(win.sid)
    listings: dict[str, list[Listing]] = {c: [] for c in spec.countries}
    sellers = [world.new_seller(rng, c, new=rng.random() < 0.3) for c in spec.countries for _ in range(14)]
    for t in surge_times(rng, win.start, win.end, scaled(220, spec), mode=0.35):
        listing = world.make_listing(rng, rng.choice(sellers), CLOUDBUN)
        listings[listing.seller.country].append(listing)
        listing.created = t
        world.emit(world.listing_event(listing, t), truth)
    for t in surge_times(rng, win.start, win.end, scaled(420, spec), mode=0.5):
        country = rng.choice(spec.countries)
        ready = [x for x in listings[country] if x.created is not None and x.created < t]
        if not ready:
            continue
        lang = COUNTRIES[country].language
        table = REVIEW_POSITIVE if rng.random() < 0.85 else REVIEW_NEUTRAL
        review = world.review_event(rng.choice(ready), world.new_buyer(rng, country), t,
                                    rating=rng.choice((5, 5, 5, 4, 4, 3)),
                                    text=rng.choice(table.get(lang, table["en"])), language=lang,
                                    verified=rng.random() < 0.9)
        world.emit(review, truth)
    for t in surge_times(rng, win.start, win.end, scaled(40, spec)):
        country = rng.choice(spec.countries)
        ready = [x for x in listings[country] if x.created is not None and x.created < t]
        lang = COUNTRIES[country].language
        paid = rng.random() < 0.4
        hook = rng.choice(CONTENT_HOOKS.get(lang, CONTENT_HOOKS["en"]))
        text = f"{hook} CloudBun!! {DISCLOSURE_TAGS.get(lang, '#ad') if paid else ''}".strip()
        post = world.content_event(rng.choice(world.creators[country]), t, text=text, language=lang,
                                   listings=ready[-1:], paid=paid, disclosed=paid)
        world.emit(post, truth)
    return record(spec, win, harm=None, opens_incident=False, risky=False,
                  description="honest viral plush toy: real surge in listings and reviews")
