"""The simulated marketplace's population and the helpers that turn it into events.

A `World` holds sellers, buyers, creators and the listings buyers can review,
and collects `Draft` events (record + ground truth) from every generator.
Ids are opaque hashes of (seed, counter): nothing in an id tells honest from
scenario traffic.

>>> from datetime import UTC, datetime
>>> w = World(seed=1, start=datetime(2026, 3, 2, tzinfo=UTC))
>>> len(w.sellers["DE"]) > 0 and w.sellers["DE"][0].seller_id.startswith("s_")
True
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal, TypeAlias

from riskstream.contracts import (
    ContentEvent,
    EntityType,
    ListingEvent,
    RecallNotice,
    ReviewEvent,
    stable_id,
)
from riskstream.regions import region_of
from riskstream.sim.catalog import (
    COUNTRIES,
    MANDATORY,
    PRICE_SIGMA,
    WHOLE_CURRENCIES,
    HarmKind,
    Product,
)
from riskstream.sim.pools import seed_catalog

Record: TypeAlias = ListingEvent | ReviewEvent | ContentEvent | RecallNotice
ListingOp: TypeAlias = Literal["created", "updated", "removed"]
ContentKind: TypeAlias = Literal["video", "live", "post"]


@dataclass(frozen=True, slots=True)
class Truth:
    """Ground truth attached to a draft; the entity id is read from the record."""

    scenario: str | None = None
    is_risky: bool = False
    entity_type: EntityType | None = None
    harm_kind: HarmKind | None = None
    expected: tuple[str, ...] = ()


HONEST = Truth()


@dataclass(frozen=True, slots=True)
class Draft:
    time: datetime
    seq: int
    record: Record
    truth: Truth


@dataclass(slots=True)
class Seller:
    seller_id: str
    country: str
    age_days: int  # at the simulation start


@dataclass(slots=True)
class Buyer:
    buyer_id: str
    country: str
    age_days: int


@dataclass(slots=True)
class Creator:
    creator_id: str
    country: str


@dataclass(slots=True)
class Listing:
    listing_id: str
    seller: Seller
    product: Product
    title: str
    price: float
    currency: str
    description: str = ""
    brand: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)
    certifications: list[str] = field(default_factory=list)
    image_hashes: list[str] = field(default_factory=list)
    category: str = ""
    truth: Truth = HONEST
    created: datetime | None = None  # when its creation event was emitted, if it was


class World:
    """Population plus the event sink shared by the honest generator and the scenarios."""

    def __init__(self, *, seed: int, start: datetime, sellers_per_country: int = 60,
                 creators_per_country: int = 15, listings_per_seller: int = 4) -> None:
        self.seed = seed
        self.start = start
        catalog = seed_catalog(seed)
        self.products = catalog.products
        self.brand_baselines_eur = catalog.brand_baselines_eur
        self.by_category: dict[str, list[Product]] = {}
        for p in self.products:
            self.by_category.setdefault(p.category, []).append(p)
        self.drafts: list[Draft] = []
        self._ids = 0
        rng = random.Random(f"{seed}:population")
        self.sellers: dict[str, list[Seller]] = {}
        self.creators: dict[str, list[Creator]] = {}
        self.buyers: dict[str, list[Buyer]] = {}
        self.listings: dict[str, list[Listing]] = {}
        for code in COUNTRIES:
            self.sellers[code] = [self.new_seller(rng, code, new=rng.random() < 0.15)
                                  for _ in range(sellers_per_country)]
            self.creators[code] = [Creator(self.new_id("c_"), code) for _ in range(creators_per_country)]
            self.buyers[code] = [self.new_buyer(rng, code) for _ in range(sellers_per_country * 20)]
            # Listings that existed before the run: reviewable, never emitted as events.
            self.listings[code] = [
                self.make_listing(rng, s, rng.choice(self.products))
                for s in self.sellers[code] for _ in range(listings_per_seller)
            ]

    # ------------------------------------------------------------ ids and entities

    def new_id(self, prefix: str) -> str:
        self._ids += 1
        return prefix + stable_id(str(self.seed), str(self._ids))[:16]

    def new_seller(self, rng: random.Random, country: str, *, new: bool) -> Seller:
        age = rng.randrange(0, 30) if new else int(rng.lognormvariate(math.log(500), 0.8)) + 30
        return Seller(self.new_id("s_"), country, age)

    def new_buyer(self, rng: random.Random, country: str, *, fresh: bool = False) -> Buyer:
        if fresh:
            age = rng.randrange(0, 4)
        elif rng.random() < 0.05:
            age = rng.randrange(0, 14)  # honest new customers exist too
        else:
            age = int(rng.lognormvariate(math.log(400), 1.0)) + 14
        return Buyer(self.new_id("b_"), country, age)

    def days_since_start(self, t: datetime) -> int:
        return max(0, (t - self.start) // timedelta(days=1))

    # ------------------------------------------------------------ listings

    def price(self, rng: random.Random, median_eur: float, country: str, factor: float = 1.0) -> float:
        c = COUNTRIES[country]
        value = rng.lognormvariate(math.log(median_eur), PRICE_SIGMA) * factor * c.eur_rate
        if c.currency in WHOLE_CURRENCIES:
            return float(max(10, round(value / 10) * 10 - 1))
        if value > 5:
            return round(math.floor(value) + 0.99, 2)
        return round(value, 2)

    def make_listing(self, rng: random.Random, seller: Seller, product: Product, *,
                     compliant: bool = True, title: str | None = None, factor: float = 1.0) -> Listing:
        """An honest-looking listing of `product`: local title, brand, price, compliance marks."""
        c = COUNTRIES[seller.country]
        lang = c.language if rng.random() < 0.8 else "en"
        brand = rng.choice(product.brands) if product.brands else None
        if title is None:
            title = product.titles.get(lang, product.titles["en"])
            if brand and brand not in title and product.category != "luxury_bags" and rng.random() < 0.6:
                title = f"{brand} {title}"
        listing = Listing(
            listing_id=self.new_id("l_"), seller=seller, product=product, title=title,
            price=self.price(rng, product.median_eur, seller.country, factor), currency=c.currency,
            brand=brand, category=product.category, attributes={"condition": "new"},
            image_hashes=[f"{rng.getrandbits(64):016x}" for _ in range(rng.randint(1, 3))],
        )
        if compliant:
            self.add_compliance(rng, listing)
        return listing

    def add_compliance(self, rng: random.Random, listing: Listing) -> None:
        region = region_of(listing.seller.country) or ""
        req = MANDATORY.get((region, listing.category))
        if req is None:
            return
        listing.certifications = list(req.certifications)
        for attr in req.attributes:
            if attr == "fcc_id":
                listing.attributes[attr] = f"2A{rng.getrandbits(16):04X}-{listing.product.key.upper()}"
            else:
                who = listing.brand or "Trading"
                listing.attributes[attr] = f"{who} {region} Ltd, {rng.randrange(1, 200)} Market Street"

    def listing_event(self, listing: Listing, t: datetime, op: ListingOp = "created") -> ListingEvent:
        s = listing.seller
        return ListingEvent(
            event_id=self.new_id("ev_"), event_time=t, region=s.country,
            op=op,
            listing_id=listing.listing_id, seller_id=s.seller_id, category=listing.category,
            title=listing.title, price=listing.price, currency=listing.currency,
            description=listing.description, attributes=dict(listing.attributes),
            certifications=list(listing.certifications), brand=listing.brand,
            image_hashes=list(listing.image_hashes),
            seller_age_days=s.age_days + self.days_since_start(t),
        )

    # ------------------------------------------------------------ other events

    def review_event(self, listing: Listing, buyer: Buyer, t: datetime, *, rating: int, text: str,
                     language: str, verified: bool) -> ReviewEvent:
        return ReviewEvent(
            event_id=self.new_id("ev_"), event_time=t, region=buyer.country, review_id=self.new_id("r_"),
            listing_id=listing.listing_id, buyer_id=buyer.buyer_id, rating=rating, text=text,
            language=language, verified_purchase=verified,
            account_age_days=buyer.age_days + self.days_since_start(t), seller_id=listing.seller.seller_id,
        )

    def content_event(self, creator: Creator, t: datetime, *, text: str, language: str,
                      listings: list[Listing], paid: bool, disclosed: bool, kind: ContentKind = "video") -> ContentEvent:
        return ContentEvent(
            event_id=self.new_id("ev_"), event_time=t, region=creator.country,
            content_id=self.new_id("ct_"), creator_id=creator.creator_id,
            content_kind=kind,
            text=text, linked_listing_ids=[x.listing_id for x in listings], paid_promotion=paid,
            promotion_disclosed=disclosed, language=language,
        )

    def recall_event(self, t: datetime, country: str, *, terms: list[str], brand: str | None,
                     hazard: str, authority: str) -> RecallNotice:
        return RecallNotice(
            event_id=self.new_id("ev_"), event_time=t, region=country, recall_id=self.new_id("rc_"),
            product_terms=terms, brand=brand, hazard=hazard, authority=authority,
        )

    def emit(self, record: Record, truth: Truth = HONEST) -> None:
        self.drafts.append(Draft(record.event_time, len(self.drafts), record, truth))
