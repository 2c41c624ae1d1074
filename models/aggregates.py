"""Windowed aggregates per policy region, in event time: what the incident layer and region models read.

Each event (with the signals and actions the engine produced for it) lands in
a tumbling window of its region.  A window closes when the watermark (the
largest event time seen minus the allowed lateness) passes its end; closed
windows come back from :meth:`Aggregator.add` in (end, region) order.  An event
older than the watermark is counted in ``late_events`` and otherwise dropped.

A closed window carries

* ``by_category``: counts and rates per category (new listings, removals,
  flagged share, new-seller share, price dispersion, reviews, safety
  complaints, creator promotions of restricted items, ...), see ``FEATURES``;
* ``series``: per (harm kind, cluster), how many signals of which detector
  codes, on how many listings, sellers, buyers and creators.  The cluster of a
  listing is its product (recall, matched terms, brand, linked together when
  one listing shows several), else its category, so a surge of one product
  across many sellers is one series.  A product series also lists the product
  keys its listings showed (``products``): a product named differently in
  another language can start a cluster of its own before the aliases link up,
  and these co-occurrences let the incident layer join the two;
* an aggregate finding of its own, ``aggregates/deep_discount_new_seller``: a
  new seller listing far below the running price of the brand or category.

Per-event work is a few dictionary updates; everything heavier runs on closed
windows.  ``state_dict`` / ``from_state`` make the state JSON-serializable.

>>> from riskstream.contracts import ListingEvent, parse_time
>>> agg = Aggregator(AggregatorConfig(window_minutes=10, allowed_lateness_s=0))
>>> def listing(i, minute):
...     return ListingEvent(event_id=f"e{i}", event_time=parse_time(f"2026-03-02T00:{minute:02d}:00Z"),
...         region="DE", op="created", listing_id=f"l{i}", seller_id="s1", category="toys",
...         title="Wooden train", price=20.0, currency="EUR")
>>> agg.add(listing(1, 1), [], [])
[]
>>> [(w.region, w.start.minute, w.by_category["toys"]["listings_new"]) for w in agg.add(listing(2, 12), [], [])]
[('EU', 0, 1.0)]
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from riskstream.contracts import (
    ContentEvent,
    EnforcementAction,
    Event,
    ListingEvent,
    ReviewEvent,
    Signal,
)
from riskstream.regions import region_of

HarmKind = Literal[
    "illegal_goods", "counterfeit", "non_compliance", "fake_reviews", "product_safety", "harmful_content"
]

HARM_OF_CODE: Final[dict[str, HarmKind]] = {
    "prohibited_item": "illegal_goods",
    "restricted_item": "illegal_goods",
    "category_banned": "illegal_goods",
    # Selling a product under recall is illegal goods; complaints about harm are product safety.
    "recalled_product": "illegal_goods",
    "price_below_baseline": "counterfeit",
    "new_seller_burst": "counterfeit",
    "new_seller_wave": "counterfeit",
    "deep_discount_new_seller": "counterfeit",
    "image_reused": "counterfeit",
    # Spoofed text is evasion: in the simulator and in practice it hides banned goods and fakes alike;
    # counted with illegal goods, whose term lists it is written to dodge.
    "mixed_script": "illegal_goods",
    "bidi_override": "illegal_goods",
    "invisible_characters": "illegal_goods",
    "text_truncated": "illegal_goods",
    "certification_missing": "non_compliance",
    "attribute_missing": "non_compliance",
    "attribute_invalid_format": "non_compliance",
    "licence_missing": "non_compliance",
    "licence_invalid": "non_compliance",
    "near_duplicate_reviews": "fake_reviews",
    "rating_inflation": "fake_reviews",
    "rating_bombing": "fake_reviews",
    "review_burst": "fake_reviews",
    "safety_complaint": "product_safety",
    # Content that promotes a prohibited item is part of that item's trade.
    "promotes_prohibited": "illegal_goods",
    "promotes_restricted": "harmful_content",
    "links_actioned_listing": "harmful_content",
    "unsubstantiated_claim": "harmful_content",
    "undisclosed_promotion": "harmful_content",
}
"""Signal code -> harm kind.  A code not listed here is not aggregated into any series."""

PRODUCT_HARMS: Final[frozenset[str]] = frozenset(
    {"illegal_goods", "counterfeit", "product_safety", "harmful_content"}
)
"""Harm kinds clustered by product (recall, terms, brand); the others by category."""

FEATURES: Final[tuple[str, ...]] = (
    "listings_new", "listings_updated", "listings_removed", "new_seller_share", "flagged_share",
    "enforced_removals", "price_dispersion", "deep_discount_share", "reviews", "review_velocity",
    "low_rating_share", "safety_complaints", "content_posts", "restricted_promotions", "signals",
)
"""The feature vector of a window (region totals) and of each category, in this order."""

UNKNOWN: Final = "(unknown)"
AGG_CODE: Final = "aggregates/deep_discount_new_seller"


@dataclass(frozen=True)
class AggregatorConfig:
    """Window size, lateness, and the thresholds of the aggregate's own findings."""

    window_minutes: int = 10
    allowed_lateness_s: int = 120
    new_seller_days: int = 30
    deep_discount_ratio: float = 0.3
    deep_discount_sigmas: float = 2.0
    price_alpha: float = 0.05
    price_min_count: int = 5
    max_listings: int = 100_000
    max_aliases: int = 50_000
    max_samples: int = 8
    max_actors: int = 64
    max_products: int = 16


@dataclass(frozen=True, slots=True)
class SeriesWindow:
    """One (harm kind, cluster) within one closed window."""

    harm_kind: str
    cluster: str
    count: int
    codes: dict[str, int]
    listings: int
    sellers: int
    buyers: int
    creators: int
    countries: tuple[str, ...]
    sample_ids: tuple[str, ...]
    actors: tuple[str, ...]
    """Up to ``max_actors`` actor ids, typed ``seller:``, ``buyer:``, ``creator:`` (sorted), for reach and linking."""
    products: tuple[str, ...] = ()
    """Up to ``max_products`` product keys (``recall:``, ``term:``, ``brand:``, sorted) the series' events
    showed, its own cluster included; empty for a series not clustered by product.  Keys that co-occur on
    one listing name one product, whatever cluster the aliases gave it."""


@dataclass(frozen=True, slots=True)
class ClosedWindow:
    """Everything one region did in one tumbling window."""

    region: str
    start: datetime
    end: datetime
    by_category: dict[str, dict[str, float]]
    series: tuple[SeriesWindow, ...]
    events: int
    late_events: int = 0

    @property
    def features(self) -> dict[str, float]:
        """Region totals: counts summed over categories, shares and rates recomputed."""
        return _totals(self.by_category, self.end - self.start)

    def vector(self) -> list[float]:
        f = self.features
        return [f[name] for name in FEATURES]


# ---------------------------------------------------------------- accumulators


@dataclass
class _CatAcc:
    listings_new: int = 0
    listings_updated: int = 0
    listings_removed: int = 0
    new_seller_listings: int = 0
    flagged_listings: int = 0
    enforced_removals: int = 0
    priced: int = 0
    logratio_sum: float = 0.0
    logratio_sq: float = 0.0
    deep_discount: int = 0
    reviews: int = 0
    low_ratings: int = 0
    safety_complaints: int = 0
    content_posts: int = 0
    restricted_promotions: int = 0
    signals: int = 0


@dataclass
class _SeriesAcc:
    count: int = 0
    codes: dict[str, int] = field(default_factory=dict)
    listings: set[str] = field(default_factory=set)
    sellers: set[str] = field(default_factory=set)
    buyers: set[str] = field(default_factory=set)
    creators: set[str] = field(default_factory=set)
    countries: set[str] = field(default_factory=set)
    samples: list[str] = field(default_factory=list)
    products: set[str] = field(default_factory=set)


@dataclass
class _WindowAcc:
    events: int = 0
    cats: dict[str, _CatAcc] = field(default_factory=dict)
    series: dict[tuple[str, str], _SeriesAcc] = field(default_factory=dict)

    def cat(self, name: str) -> _CatAcc:
        acc = self.cats.get(name)
        if acc is None:
            acc = self.cats[name] = _CatAcc()
        return acc


def _features(c: _CatAcc, span: timedelta) -> dict[str, float]:
    listing_events = c.listings_new + c.listings_updated + c.listings_removed
    mean = c.logratio_sum / c.priced if c.priced else 0.0
    var = c.logratio_sq / c.priced - mean * mean if c.priced else 0.0
    return {
        "listings_new": float(c.listings_new),
        "listings_updated": float(c.listings_updated),
        "listings_removed": float(c.listings_removed),
        "new_seller_share": c.new_seller_listings / c.listings_new if c.listings_new else 0.0,
        "flagged_share": c.flagged_listings / listing_events if listing_events else 0.0,
        "enforced_removals": float(c.enforced_removals),
        "price_dispersion": math.sqrt(max(var, 0.0)),
        "deep_discount_share": c.deep_discount / c.priced if c.priced else 0.0,
        "reviews": float(c.reviews),
        "review_velocity": c.reviews / max(span.total_seconds() / 60.0, 1e-9),
        "low_rating_share": c.low_ratings / c.reviews if c.reviews else 0.0,
        "safety_complaints": float(c.safety_complaints),
        "content_posts": float(c.content_posts),
        "restricted_promotions": float(c.restricted_promotions),
        "signals": float(c.signals),
        # Raw counts kept so region totals can recompute shares exactly.
        "_new_seller_listings": float(c.new_seller_listings),
        "_flagged_listings": float(c.flagged_listings),
        "_priced": float(c.priced),
        "_logratio_sum": c.logratio_sum,
        "_logratio_sq": c.logratio_sq,
        "_deep_discount": float(c.deep_discount),
        "_low_ratings": float(c.low_ratings),
    }


def _totals(by_category: dict[str, dict[str, float]], span: timedelta) -> dict[str, float]:
    acc = _CatAcc()
    for f in by_category.values():
        acc.listings_new += int(f["listings_new"])
        acc.listings_updated += int(f["listings_updated"])
        acc.listings_removed += int(f["listings_removed"])
        acc.new_seller_listings += int(f["_new_seller_listings"])
        acc.flagged_listings += int(f["_flagged_listings"])
        acc.enforced_removals += int(f["enforced_removals"])
        acc.priced += int(f["_priced"])
        acc.logratio_sum += f["_logratio_sum"]
        acc.logratio_sq += f["_logratio_sq"]
        acc.deep_discount += int(f["_deep_discount"])
        acc.reviews += int(f["reviews"])
        acc.low_ratings += int(f["_low_ratings"])
        acc.safety_complaints += int(f["safety_complaints"])
        acc.content_posts += int(f["content_posts"])
        acc.restricted_promotions += int(f["restricted_promotions"])
        acc.signals += int(f["signals"])
    return _features(acc, span)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _product_keys(event: Event, signals: Sequence[Signal], brand: str | None) -> list[str]:
    """Product identities an event shows, strongest first: recalls, matched terms, brand."""
    keys: list[str] = []
    for s in signals:
        rid = s.evidence.get("recall_id")
        if isinstance(rid, str):
            keys.append(f"recall:{rid}")
    for s in signals:
        for name in ("matched_terms", "terms"):
            terms = s.evidence.get(name)
            if isinstance(terms, list) and s.code != "safety_complaint":
                keys.extend(f"term:{_norm(str(t))}" for t in terms)
    if brand:
        keys.append(f"brand:{_norm(brand)}")
    return list(dict.fromkeys(keys))


# ---------------------------------------------------------------- the aggregator


class Aggregator:
    """Tumbling event-time windows per policy region; see the module docstring."""

    def __init__(self, config: AggregatorConfig | None = None) -> None:
        self.config = config or AggregatorConfig()
        self._open: dict[tuple[str, int], _WindowAcc] = {}
        self._max_ts: float | None = None
        self._late = 0
        # listing id -> (category, brand, product cluster); reviews and posts only name the listing.
        self._listings: OrderedDict[str, tuple[str, str | None, str | None]] = OrderedDict()
        # product key -> canonical cluster (a recall, a term and a brand seen on one listing are one product).
        self._alias: OrderedDict[str, str] = OrderedDict()
        # (currency, brand-or-category) -> (EWMA of log price, EW variance, count)
        self._price: dict[str, tuple[float, float, int]] = {}

    @property
    def window_s(self) -> int:
        return self.config.window_minutes * 60

    @property
    def watermark(self) -> datetime | None:
        if self._max_ts is None:
            return None
        return datetime.fromtimestamp(self._max_ts - self.config.allowed_lateness_s, tz=UTC)

    # ------------------------------------------------------------ per event

    def add(self, event: Event, signals: Iterable[Signal] = (), actions: Iterable[EnforcementAction] = ()
            ) -> list[ClosedWindow]:
        """Account one processed event; return the windows its event time closed."""
        region = region_of(event.region)
        if region is None:
            return []
        ts = event.event_time.timestamp()
        start = int(ts // self.window_s) * self.window_s
        wm = self._max_ts - self.config.allowed_lateness_s if self._max_ts is not None else None
        if wm is not None and start + self.window_s <= wm:
            self._late += 1
            return []
        sigs = list(signals)
        acc = self._open.get((region, start))
        if acc is None:
            acc = self._open[(region, start)] = _WindowAcc()
        acc.events += 1
        self._account(acc, event, sigs, enforced_removals(actions))
        if self._max_ts is None or ts > self._max_ts:
            self._max_ts = ts
            return self._close(ts - self.config.allowed_lateness_s)
        return []

    def flush(self) -> list[ClosedWindow]:
        """Close every open window (end of a bounded stream)."""
        return self._close(math.inf)

    def account_window(self, region: str, start: int, items: Iterable[tuple[Event, Sequence[Signal], int]],
                       late: int = 0) -> ClosedWindow:
        """One whole window at once: ``items`` (event, signals, enforced removals) in the order given.

        The two-phase path (`riskstream.models.region_windows`) calls it when a region window is
        complete; the running memory (listings, product aliases, prices) moves on as in :meth:`add`.
        """
        acc = _WindowAcc()
        for event, sigs, removals in items:
            acc.events += 1
            self._account(acc, event, list(sigs), removals)
        return self._emit(region, start, acc, late)

    def _account(self, acc: _WindowAcc, event: Event, sigs: list[Signal], removals: int) -> None:
        cfg = self.config
        brand: str | None = None
        listing_ids: list[str] = []
        if isinstance(event, ListingEvent):
            category, brand = event.category, event.brand
            cat = acc.cat(category)
            if event.op == "created":
                cat.listings_new += 1
                new_seller = event.seller_age_days is not None and event.seller_age_days < cfg.new_seller_days
                cat.new_seller_listings += int(new_seller)
                # The going price is what established sellers ask; a wave of new sellers cannot move it.
                ratio = self._price_ratio(event, learn=not new_seller)
                if ratio is not None:
                    lr = math.log(max(ratio, 1e-6))
                    cat.priced += 1
                    cat.logratio_sum += lr
                    cat.logratio_sq += lr * lr
                    if ratio < cfg.deep_discount_ratio:
                        cat.deep_discount += 1
                        if new_seller:
                            sigs = [*sigs, _aggregate_signal(event, ratio)]
            elif event.op == "updated":
                cat.listings_updated += 1
            else:
                cat.listings_removed += 1
            cat.flagged_listings += int(bool(sigs))
        elif isinstance(event, ReviewEvent):
            category, brand, _ = self._listings.get(event.listing_id, (UNKNOWN, None, None))
            cat = acc.cat(category)
            cat.reviews += 1
            cat.low_ratings += int(event.rating <= 2)
        elif isinstance(event, ContentEvent):
            listing_ids = event.linked_listing_ids
            known = [self._listings[i] for i in listing_ids if i in self._listings]
            category, brand = (known[0][0], known[0][1]) if known else ("content", None)
            cat = acc.cat(category)
            cat.content_posts += 1
        else:
            return
        cat.enforced_removals += removals
        cat.signals += len(sigs)
        cat.safety_complaints += sum(1 for s in sigs if s.code == "safety_complaint")
        cat.restricted_promotions += sum(1 for s in sigs if s.code.startswith("promotes_"))
        keys = _product_keys(event, sigs, brand) if sigs or isinstance(event, ListingEvent) else []
        product = self._product_cluster(keys, bool(sigs))
        if isinstance(event, ListingEvent):
            self._remember_listing(event.listing_id, (category, brand, product))
        elif product is None and isinstance(event, ReviewEvent | ContentEvent):
            ids = [event.listing_id] if isinstance(event, ReviewEvent) else listing_ids
            product = next((self._listings[i][2] for i in ids if i in self._listings), None)
        products = [product, *keys] if product else []
        for s in sigs:
            harm = HARM_OF_CODE.get(s.code)
            if harm is None:
                continue
            if harm == "fake_reviews" and isinstance(event, ReviewEvent) and event.seller_id:
                cluster = f"seller:{event.seller_id}"  # a farm or a bombing targets one seller's listings
            elif harm in PRODUCT_HARMS and product:
                cluster = product
            else:
                cluster = f"category:{category}"
            self._series_add(acc, harm, cluster, s, event, products if cluster == product else ())

    def _series_add(self, acc: _WindowAcc, harm: str, cluster: str, s: Signal, event: Event,
                    products: Sequence[str] = ()) -> None:
        sa = acc.series.get((harm, cluster))
        if sa is None:
            sa = acc.series[(harm, cluster)] = _SeriesAcc()
        sa.count += 1
        for k in products:
            if len(sa.products) >= self.config.max_products:
                break
            sa.products.add(k)
        code = f"{s.detector}/{s.code}" if "/" not in s.code else s.code
        sa.codes[code] = sa.codes.get(code, 0) + 1
        sa.countries.add(event.region)
        if len(sa.samples) < self.config.max_samples and s.entity_id not in sa.samples:
            sa.samples.append(s.entity_id)
        if isinstance(event, ListingEvent):
            sa.listings.add(event.listing_id)
            sa.sellers.add(event.seller_id)
        elif isinstance(event, ReviewEvent):
            sa.listings.add(event.listing_id)
            sa.buyers.add(event.buyer_id)
            if event.seller_id:
                sa.sellers.add(event.seller_id)
        elif isinstance(event, ContentEvent):
            sa.creators.add(event.creator_id)
            sa.listings.update(event.linked_listing_ids)

    def _product_cluster(self, keys: Sequence[str], flagged: bool) -> str | None:
        if not keys:
            return None
        canonical = next((self._alias[k] for k in keys if k in self._alias), keys[0])
        # Link only on listings that carry a risk finding: brands are shared by honest products.
        if flagged:
            for k in keys:
                if k not in self._alias:
                    self._alias[k] = canonical
                    if len(self._alias) > self.config.max_aliases:
                        self._alias.popitem(last=False)
        return canonical

    def _remember_listing(self, listing_id: str, meta: tuple[str, str | None, str | None]) -> None:
        self._listings[listing_id] = meta
        self._listings.move_to_end(listing_id)
        if len(self._listings) > self.config.max_listings:
            self._listings.popitem(last=False)

    def _price_ratio(self, event: ListingEvent, *, learn: bool = True) -> float | None:
        """Price over the running price of its brand (else category) in its currency, before learning.

        Returns None unless the price is also far out in that baseline's own spread (a category mixing
        cheap and dear products is no yardstick): a "deep discount" must be both below ``deep_discount_ratio`` and ``deep_discount_sigmas`` below the mean.
        """
        cfg = self.config
        if event.price <= 0:
            return None
        lp = math.log(event.price)
        keys = [f"{event.currency}|cat:{event.category}"]
        if event.brand:
            keys.insert(0, f"{event.currency}|brand:{_norm(event.brand)}")
        ratio: float | None = None
        for k in keys:
            mean, var, n = self._price.get(k, (lp, 0.0, 0))
            z = (lp - mean) / math.sqrt(var + 0.01)
            if n >= cfg.price_min_count:
                if ratio is None:
                    ratio = math.exp(lp - mean) if z < -cfg.deep_discount_sigmas else 1.0
                if abs(z) > 3.0:
                    continue  # outliers do not move the baseline
            if not learn:
                continue
            alpha = max(cfg.price_alpha, 1.0 / (n + 1))
            d = lp - mean
            self._price[k] = (mean + alpha * d, (1 - alpha) * (var + alpha * d * d), n + 1)
        return ratio

    # ------------------------------------------------------------ closing

    def _close(self, watermark: float) -> list[ClosedWindow]:
        done = sorted((k for k in self._open if k[1] + self.window_s <= watermark), key=lambda k: (k[1], k[0]))
        out = []
        for key in done:
            acc = self._open.pop(key)
            out.append(self._emit(key[0], key[1], acc, self._late))
            self._late = 0  # reported once, on the first window closed after them
        return out

    def _emit(self, region: str, start: int, acc: _WindowAcc, late: int) -> ClosedWindow:
        t0 = datetime.fromtimestamp(start, tz=UTC)
        span = timedelta(seconds=self.window_s)
        cap = self.config.max_actors
        series = tuple(
            SeriesWindow(
                harm_kind=harm, cluster=cluster, count=sa.count, codes=dict(sorted(sa.codes.items())),
                listings=len(sa.listings), sellers=len(sa.sellers), buyers=len(sa.buyers),
                creators=len(sa.creators), countries=tuple(sorted(sa.countries)), sample_ids=tuple(sa.samples),
                actors=tuple(sorted({f"seller:{x}" for x in sa.sellers} | {f"buyer:{x}" for x in sa.buyers}
                                    | {f"creator:{x}" for x in sa.creators})[:cap]),
                products=tuple(sorted(sa.products)),
            )
            for (harm, cluster), sa in sorted(acc.series.items())
        )
        return ClosedWindow(
            region=region, start=t0, end=t0 + span,
            by_category={name: _features(c, span) for name, c in sorted(acc.cats.items())},
            series=series, events=acc.events, late_events=late,
        )

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """A JSON-able snapshot of everything but the configuration (open windows included)."""
        return {
            "max_ts": self._max_ts,
            "late": self._late,
            "open": [[r, s, _acc_to_obj(a)] for (r, s), a in self._open.items()],
            "listings": [[k, *v] for k, v in self._listings.items()],
            "alias": list(self._alias.items()),
            "price": [[k, m, v, n] for k, (m, v, n) in self._price.items()],
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], config: AggregatorConfig | None = None) -> Aggregator:
        agg = cls(config)
        agg._max_ts = state["max_ts"]
        agg._late = int(state["late"])
        agg._open = {(r, int(s)): _acc_from_obj(a) for r, s, a in state["open"]}
        agg._listings = OrderedDict((k, (c, b, p)) for k, c, b, p in state["listings"])
        agg._alias = OrderedDict((k, v) for k, v in state["alias"])
        agg._price = {k: (float(m), float(v), int(n)) for k, m, v, n in state["price"]}
        return agg


def enforced_removals(actions: Iterable[EnforcementAction]) -> int:
    """Enforced ``remove`` / ``hold`` actions among an event's actions (shadow ones never count)."""
    return sum(1 for a in actions if a.mode == "enforced" and a.action in ("remove", "hold"))


def _aggregate_signal(event: ListingEvent, ratio: float) -> Signal:
    return Signal(detector="aggregates", code="deep_discount_new_seller", entity_type="listing",
                  entity_id=event.listing_id, region=event.region, score=min(1.0, 1.0 - ratio),
                  event_id=event.event_id, event_time=event.event_time,
                  evidence={"price_ratio": round(ratio, 3)})


_SET_FIELDS: Final = ("listings", "sellers", "buyers", "creators", "countries")


def _acc_to_obj(acc: _WindowAcc) -> dict[str, Any]:
    return {
        "events": acc.events,
        "cats": {k: vars(c).copy() for k, c in acc.cats.items()},
        "series": [[h, c, {"count": s.count, "codes": s.codes, "samples": s.samples,
                           **{f: sorted(getattr(s, f)) for f in (*_SET_FIELDS, "products")}}]
                   for (h, c), s in acc.series.items()],
    }


def _acc_from_obj(obj: dict[str, Any]) -> _WindowAcc:
    acc = _WindowAcc(events=int(obj["events"]), cats={k: _CatAcc(**v) for k, v in obj["cats"].items()})
    for h, c, s in obj["series"]:
        acc.series[(h, c)] = _SeriesAcc(count=s["count"], codes=dict(s["codes"]), samples=list(s["samples"]),
                                        products=set(s.get("products", ())), **{f: set(s[f]) for f in _SET_FIELDS})
    return acc
