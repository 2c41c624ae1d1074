"""A branded item priced far below what that brand sells for in that category: a counterfeit signal.

Cold start is the point: a counterfeit wave often carries a brand the
marketplace has barely seen, in a country where its category is thin.  So the
baseline has two levels.  The *prior* is the price distribution of the
category in that country (or policy region) and currency: configured in the
policy (``category_priors`` and ``category_log_sd``, fitted offline on the
marketplace's history, here the tuning seeds: ``bench/fit_price_priors.py``),
so it judges a brand's very first listing and no listing moves it; or, for a
category with no configured prior, learned from the stream over every branded
listing once ``min_count`` have been seen;
each brand's own estimate (the mean of its log prices) is shrunk toward the
prior's median (and its variance toward the prior's), with the weight of
``prior_weight`` listings:

    log m_brand = (n * mean_log_brand + k * log median_category) / (n + k)

A listing fires below ``min(ratio, exp(-z_score * sd_brand)) * m_brand``.

A brand never seen is judged against its category; after a few dozen
listings its own prices dominate.  A listing is scored against the baseline
as it was *before* the listing.  A wave of fakes must not drag the estimate
down to meet them: with a configured prior, a price more than ``learn_z``
prior spreads below the prior's median is never learned (a decision on the
listing alone, so a brand's estimate is a function of the *set* of listings
seen, whatever their arrival order at the key's owner); with a learned
prior, a price that fired is not learned (order-sensitive at the margin).
Second-hand goods (``condition`` in ``used_conditions``) are never learned
and are judged against ``used_ratio`` times the floor.  A discount the
listing declares in its title or description ("SALE -30%", "30% off") is
credited up to ``max_declared_discount``: the price is judged as
``price / (1 - discount)``, what the item lists for without the sale, so an
honest sale on the cheap end of a brand's range is not a counterfeit signal.
The credit is capped because the claim costs nothing to write: at a cap of
one half, a fake at a tenth of the brand's price that claims "-90%" is judged
at a fifth of it, still far below.  Only ``created``
listings are learned (an update would count the same item twice); updates are
scored, because dropping the price after review is a known trick.  A price of
zero is skipped: marketplaces use it for "price on request".

Photo siblings (``photo_anchors`` > 0).  A price judged alone is ambiguous
near the floor, and most so in cold start, where a house that sells above
its category is judged against the category: a fake at 30% of its price can
sit above the floor.  But a counterfeit wave lists the same goods with the
same photos, re-encoded (perceptual hashes a few bits apart: the definition
``image_reuse`` uses), and most of its listings are far below any estimate.
So the photos of a listing that fired on its own price are kept as the
brand's *anchors*, with its judged price; a listing showing one of them
(within ``photo_max_distance`` bits) fires if its judged price is nearer the
anchor's than the brand's estimate on the log scale, i.e. below their
geometric midpoint.  No new threshold: the anchor counts at most at
``ratio`` times the estimate, so the bound is at most ``sqrt(ratio)`` of it
(0.55 at 0.3), and an honest listing near the brand's price never sides with
a fake whose photos it shares (a stolen photo).  Siblings are not anchors,
so the bound cannot creep up a chain of them.  Anchors change what fires,
never what is learned: the brand's estimate stays a function of the set of
listings seen; what fires depends on order (a sibling needs its anchor
first), as any judgement against the estimate as it was does.

The category prior is a log-bucket histogram with DDSketch's relative-accuracy
guarantee: bucket keys and values come from ddsketch's ``LogarithmicMapping``,
but the counts live in the state as plain JSON (``{"count", "offset",
"bins"}``).  Bins are capped (the highest collapse into the top bin, which
leaves low quantiles exact) and counts are halved once they reach
``decay_at_count``, so a baseline follows price drift.

State key: ``scope|currency|category`` (scope = country, or policy region
with ``pool_countries``).  Size bound per key: ``max_bins`` floats for the
prior plus ``max_brands`` brands of four numbers each (the least recently
seen brand is evicted first), plus, with photo siblings, ``max_brands``
brands of ``photo_anchors`` (hash, price, seq) triples (the least recently anchored
brand is evicted first).

>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = PriceOutlierDetector(PriceOutlierDetector.Params(watched_brands=("Rolex",), min_count=3))
>>> def listing(i, price):
...     return ListingEvent(event_id=f"e{i}", event_time=parse_time("2026-01-01T00:00:00Z"),
...         region="DE", op="created", listing_id=f"l{i}", seller_id="s1", category="watches",
...         title="Submariner", brand="Rolex", price=price, currency="EUR")
>>> state = d.initial_state()
>>> for i, price in enumerate([9000.0, 9500.0, 10000.0]):
...     state, _ = d.detect(listing(i, price), state)
>>> state, signals = d.detect(listing(9, 450.0), state)
>>> s = signals[0]
>>> s.code, abs(s.evidence["baseline_median"] - 9500) <= 0.02 * 9500, round(s.score, 2)
('price_below_baseline', True, 0.95)
>>> state["count"]  # the fake was not learned
3.0
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from ddsketch.mapping import LogarithmicMapping

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import signal
from riskstream.detectors.bounded_cache import ShortKeyMemo
from riskstream.detectors.category_rules import normalize_category
from riskstream.detectors.image_reuse import parse_hash
from riskstream.detectors.text import TermMatcher, normalize
from riskstream.regions import region_of

State = dict[str, Any]
"""``{"count": float, "offset": int, "bins": [float, ...], "brands": {brand: [n, mean_log, seq, m2]}, "seq": int,
"anchors": {brand: [[16 hex digits, judged price, seq], ...]}}``: bins[i] counts key offset + i (the category
prior); per brand its count, mean log price, when last seen and the sum of squared deviations of its log
prices; per brand the photos of its listings that fired on their own price, oldest first, and when
(only with ``photo_anchors``; absent until one fires)."""


@dataclass(frozen=True, slots=True)
class PriceOutlierParams:
    """Parameters; the defaults watch no brand, so the detector keeps no state and never fires.

    * ``watched_brands``: brands checked (compared after text normalisation, so "N1KE" is Nike).
    * ``all_brands``: check every branded listing instead of a list.
    * ``brand_from_title``: a listing without a brand field takes the first watched brand
      named in its title (fakes often leave the brand field empty).
    * ``ratio``: fires when price < ratio * baseline median.
    * ``min_count``: category observations needed before it may fire.
    * ``prior_weight``: how many listings the category prior weighs in a brand's estimate.
    * ``max_brands``: brands tracked per category (least recently seen evicted).
    * ``z_score``: also required: the price is this many (shrunk) standard deviations of
      log price below the brand's estimate.
    * ``pool_countries``: one baseline per policy region (EU, SEA...) and currency,
      instead of one per country.
    * ``relative_accuracy``: relative error of the median estimate (bucket width).
    * ``max_bins``: histogram size cap per baseline.
    * ``decay_at_count``: counts are halved when they reach this (0 = never).
    * ``category_priors``: the configured prior, category -> currency -> median price (fitted
      offline on a marketplace's history: ``bench/fit_price_priors.py``).  A category with a
      configured prior is judged from its first listing (no ``min_count``), against a prior
      that no listing moves; others learn their prior from the stream as before.
    * ``category_log_sd``: category -> standard deviation of its log prices (the configured
      prior's spread); ``prior_log_sd`` for a category not named.
    * ``used_conditions``: values of the ``condition`` attribute that mark second-hand goods:
      never learned, and judged against ``used_ratio`` times the floor (pre-owned sells lower).
    * ``learn_z``: with a configured prior, a price more than this many of the prior's log
      spreads below its median is not learned into the brand's estimate (a decision on the
      listing alone, so a wave of fakes cannot drag the estimate down, whatever the order).
    * ``max_declared_discount``: a percentage discount declared in the title or description
      ("-30%", "30% off") is credited up to this fraction: the price is judged as
      ``price / (1 - discount)``.  0 (the default) ignores declared discounts.
    * ``photo_anchors``: photos remembered per brand from listings that fired on their own price
      (the newest kept); a listing showing one of them is judged against it too (module
      docstring, "Photo siblings").  0 (the default) turns this off.
    * ``photo_max_distance``: Hamming distance (bits of the 64-bit perceptual hash) up to which
      two photos are the same (re-encoded, resized), as in ``image_reuse``.
    """

    watched_brands: tuple[str, ...] = ()
    all_brands: bool = False
    brand_from_title: bool = True
    ratio: float = 0.3
    min_count: int = 30
    prior_weight: float = 5.0
    max_brands: int = 256
    z_score: float = 3.0
    pool_countries: bool = False
    relative_accuracy: float = 0.02
    max_bins: int = 512
    decay_at_count: int = 10_000
    category_priors: dict[str, dict[str, float]] = field(default_factory=dict)
    category_log_sd: dict[str, float] = field(default_factory=dict)
    prior_log_sd: float = 0.5
    used_conditions: tuple[str, ...] = ("pre-owned", "used", "second-hand", "refurbished")
    used_ratio: float = 0.5
    learn_z: float = 2.0
    max_declared_discount: float = 0.0
    photo_anchors: int = 0
    photo_max_distance: int = 6


# "-30%", "- 30 %", "30% off": one or two digits, not part of a larger number ("100% real").
_DISCOUNT: Final = re.compile(r"(?<![\w.,])(?:-\s?(\d{1,2})\s?%|(\d{1,2})\s?%\s?off\b)", re.IGNORECASE)
_DISCOUNT_SCAN_CHARS: Final = 1000  # of the title and of the description: bounded work per listing


def declared_discount(event: ListingEvent) -> float:
    """The largest percentage discount the listing's title or description declares, as a fraction.

    >>> from riskstream.contracts import parse_time
    >>> def shirt(description):
    ...     return ListingEvent(event_id="e", event_time=parse_time("2026-01-01T00:00:00Z"), region="DE",
    ...         op="created", listing_id="l", seller_id="s", category="fashion", title="Shirt",
    ...         price=9.0, currency="EUR", description=description)
    >>> [declared_discount(shirt(d)) for d in ("SALE -30% this week only", "25% OFF", "100% real", "")]
    [0.3, 0.25, 0.0, 0.0]
    """
    best = 0
    for text in (event.title, event.description):
        for m in _DISCOUNT.finditer(text[:_DISCOUNT_SCAN_CHARS]):
            best = max(best, int(m.group(1) or m.group(2)))
    return best / 100


def _photos(event: ListingEvent) -> list[int]:
    """The listing's distinct valid 64-bit photo hashes, in order (others are ignored)."""
    out: list[int] = []
    for text in event.image_hashes:
        h = parse_hash(text)
        if h is not None and h not in out:
            out.append(h)
    return out


@dataclass(frozen=True, slots=True)
class _Finding:
    """Why a listing fired: its judged price below the floor of `estimate`, or below a photo sibling's bound."""

    estimate: float
    judged: float
    """The price on the estimate's scale: declared sale credited, second-hand divided by ``used_ratio``."""
    sibling_price: float | None = None
    sibling_distance: int | None = None
    sibling_bound: float | None = None


class PriceOutlierDetector:
    """Learns a per-brand price baseline and flags prices far below its median."""

    id: ClassVar[str] = "price_outlier"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[PriceOutlierParams]] = PriceOutlierParams

    BELOW_BASELINE: Final = "price_below_baseline"

    def __init__(self, params: PriceOutlierParams) -> None:
        if not 0 < params.ratio < 1:
            raise ValueError(f"ratio must be in (0, 1), got {params.ratio}")
        if params.min_count < 1 or params.max_bins < 2 or params.decay_at_count < 0:
            raise ValueError("min_count must be >= 1, max_bins >= 2, decay_at_count >= 0")
        if params.prior_weight < 0 or params.max_brands < 1:
            raise ValueError("prior_weight must be >= 0 and max_brands >= 1")
        if not 0 < params.used_ratio <= 1 or params.prior_log_sd < 0:
            raise ValueError("used_ratio must be in (0, 1] and prior_log_sd >= 0")
        if not 0 <= params.max_declared_discount < 1:
            raise ValueError(f"max_declared_discount must be in [0, 1), got {params.max_declared_discount}")
        if params.photo_anchors < 0 or not 0 <= params.photo_max_distance < 32:
            raise ValueError("photo_anchors must be >= 0 and photo_max_distance in [0, 32)")
        # (currency, category) -> (median, log variance): fixed for the detector's life.
        self._priors: dict[tuple[str, str], tuple[float, float]] = {}
        for cat, by_currency in params.category_priors.items():
            sd = params.category_log_sd.get(cat, params.prior_log_sd)
            for currency, median in by_currency.items():
                if not median > 0 or sd < 0:
                    raise ValueError(f"category_priors[{cat!r}][{currency!r}] must be > 0")
                self._priors[(currency.upper(), normalize_category(cat))] = (float(median), float(sd) ** 2)
        self._used = {c.casefold() for c in params.used_conditions}
        self.params = params
        self._mapping = LogarithmicMapping(params.relative_accuracy)
        self._watched = {normalize(b) for b in params.watched_brands} - {""}
        self._title_brands = TermMatcher(params.watched_brands)
        # Pure functions of their argument, memoised for the hot path (bounded: see ShortKeyMemo).
        self._brand_norm: ShortKeyMemo[str] = ShortKeyMemo(normalize, max_entries=4096, max_key_chars=128)
        self._log_values: dict[int, float] = {}  # bucket key -> log of its value (<= ~2k keys: prices are bounded)

    # ------------------------------------------------------------------ contract

    def state_key(self, event: Event) -> str | None:
        if not isinstance(event, ListingEvent) or event.op == "removed" or event.price <= 0:
            return None
        if self._brand(event) is None:
            return None
        return self._key(event)

    def _key(self, event: ListingEvent) -> str:
        scope = (region_of(event.region) or event.region) if self.params.pool_countries else event.region
        return "|".join((scope, event.currency, normalize_category(event.category)))

    def initial_state(self) -> State:
        return {"count": 0.0, "offset": 0, "bins": [], "brands": {}, "seq": 0}

    def detect(self, event: Event, state: State | None) -> tuple[State, list[Signal]]:
        """`state` None (the engine passes it for events with no key) is a fresh state."""
        if state is None:
            state = self.initial_state()
        if not isinstance(event, ListingEvent) or event.op == "removed" or event.price <= 0:
            return state, []
        brand = self._brand(event)
        if brand is None:  # state_key is None
            return state, []
        p = self.params
        signals: list[Signal] = []
        count = float(state["count"])
        brands: dict[str, list[float]] = state.get("brands", {})
        n, mean_log, m2 = (brands[brand][0], brands[brand][1], brands[brand][3]) if brand in brands else (0.0, 0.0, 0.0)
        used = event.attributes.get("condition", "").strip().casefold() in self._used if event.attributes else False
        cut = p.used_ratio if used else 1.0
        anchors: list[list[Any]] = state.get("anchors", {}).get(brand, []) if p.photo_anchors else []
        configured = self._priors.get((event.currency, normalize_category(event.category)))
        learn = event.op == "created" and not used
        if configured is not None:
            # A fixed prior: judged from the first listing, and whether a price is learned depends on
            # the listing alone (far below the prior: not learned), so a brand's estimate is a function
            # of the set of listings seen, whatever their order (the sums are commutative).
            prior, prior_var = configured
            if learn and event.price < math.exp(-p.learn_z * math.sqrt(prior_var)) * prior:
                learn = False
            found = self._judge(event, n, mean_log, m2, prior, lambda: prior_var, cut, anchors)
            if found is not None:
                signals.append(self._signal(event, found, count, prior, n))
                state = self._anchor(state, brand, event, found)
            if learn:
                state = self._learn_brand(state, brand, event.price)
            return state, signals
        if count >= p.min_count:
            prior = self._quantile(state, 0.5)
            learned: State = state
            found = self._judge(event, n, mean_log, m2, prior, lambda: self._log_variance(learned), cut, anchors)
            if found is not None:
                signals.append(self._signal(event, found, count, prior, n))
                state = self._anchor(state, brand, event, found)
        if not signals and learn:
            state = self._learn(state, event.price)
            state = self._learn_brand(state, brand, event.price)
        return state, signals

    def _floor(self, prior_var: float, n: float, m2: float, k: float) -> float:
        """The fraction of the estimate below which a price fires: `ratio`, or `z_score` spreads."""
        w = n + k if n + k > 0 else 1.0
        var = (m2 + k * prior_var) / w
        return min(self.params.ratio, math.exp(-self.params.z_score * math.sqrt(var)))

    def _judge(self, event: ListingEvent, n: float, mean_log: float, m2: float, prior: float,
               prior_var: Callable[[], float], cut: float, anchors: list[list[Any]]) -> _Finding | None:
        """A finding when `event` is priced below its floor, or below its photo siblings' bound."""
        p = self.params
        k = p.prior_weight
        w = n + k if n + k > 0 else 1.0
        estimate = math.exp((n * mean_log + k * math.log(prior)) / w)
        # Both bounds are at most a fraction of the estimate: the floor at most `ratio`, a photo
        # sibling's at most sqrt(ratio) (see `_sibling_bound`).  A price at or above the larger
        # cannot fire (the credit only raises the price), so the prior's variance (a pass over
        # every bucket when it is learned) and the photos are only looked at for the few below it.
        reach = math.sqrt(p.ratio) if anchors else p.ratio
        if event.price >= reach * cut * estimate:
            return None
        # A declared sale is judged at its list price, a second-hand item at what it would sell for
        # new: `judged` is on the scale of the brand's estimate.
        judged = event.price / cut
        if p.max_declared_discount > 0:
            judged /= 1.0 - min(declared_discount(event), p.max_declared_discount)
        # Far below on both scales: a fraction of the price, and `z_score` spreads below it, so a
        # brand selling cheap and dear products (t-shirts and jackets) is not flagged for the cheap ones.
        if judged < self._floor(prior_var(), n, m2, k) * estimate:
            return _Finding(estimate, judged)
        if anchors:
            match = self._photo_match(event, anchors)
            if match is not None:
                bound = self._sibling_bound(match[0], estimate)
                if judged < bound:
                    return _Finding(estimate, judged, sibling_price=match[0], sibling_distance=match[1],
                                    sibling_bound=bound)
        return None

    def _sibling_bound(self, sibling: float, estimate: float) -> float:
        """The price below which a listing sides with a photo sibling rather than with the brand.

        The geometric midpoint of the sibling's (judged) price and the brand's estimate: nearer
        the sibling on the log scale the estimate lives on.  The sibling counts at most at `ratio`
        times the estimate (it fired when the estimate may have been higher), so the bound is at
        most sqrt(ratio) of the estimate (0.55 at 0.3): a listing near the brand's price never
        sides with a fake.
        """
        return math.sqrt(min(sibling, self.params.ratio * estimate) * estimate)

    def _photo_match(self, event: ListingEvent, anchors: list[list[Any]]) -> tuple[float, int] | None:
        """The highest judged price among the anchors showing one of `event`'s photos, and its distance."""
        best: tuple[float, int] | None = None
        limit = self.params.photo_max_distance
        for h in _photos(event):
            for anchor_hash, anchor_price, *_ in anchors:
                a = parse_hash(anchor_hash)
                if a is None:
                    continue
                d = (a ^ h).bit_count()
                if d <= limit and (best is None or (anchor_price, -d) > (best[0], -best[1])):
                    best = (float(anchor_price), d)
        return best

    def _anchor(self, state: State, brand: str, event: ListingEvent, found: _Finding) -> State:
        """`state` with the photos of a listing that fired on its own price kept as the brand's anchors.

        A listing that fired as a photo sibling is not an anchor: anchors stay prices that fired
        on their own, so the bound cannot creep up a chain of siblings.
        """
        p = self.params
        if not p.photo_anchors or found.sibling_price is not None:
            return state
        photos = [f"{h:016x}" for h in _photos(event)]
        if not photos:
            return state
        # A shallow copy, as in `_learn_brand`; `seq` orders the brands for eviction, newest last.
        all_anchors: dict[str, list[list[Any]]] = dict(state.get("anchors", {}))
        seq = int(state.get("seq", 0)) + 1
        kept = [a for a in all_anchors.get(brand, []) if a[0] not in photos]
        all_anchors[brand] = [*kept, *([h, found.judged, seq] for h in photos)][-p.photo_anchors:]
        if len(all_anchors) > p.max_brands:
            del all_anchors[min(all_anchors, key=lambda b: all_anchors[b][-1][2])]
        return {**state, "anchors": all_anchors, "seq": seq}

    def _learn_brand(self, state: State, brand: str, price: float) -> State:
        # A shallow copy: the other brands' lists are shared with the old state, never written to.
        brands = dict(state.get("brands", {}))
        seq = int(state.get("seq", 0)) + 1
        n, mean_log, _, m2 = ([*brands[brand], 0.0])[:4] if brand in brands else [0.0, 0.0, 0, 0.0]
        x = math.log(price)
        if self.params.decay_at_count and n + 1 > self.params.decay_at_count:
            n, m2 = n / 2, m2 / 2
        n += 1.0
        delta = x - mean_log
        mean_log += delta / n
        m2 += delta * (x - mean_log)  # Welford: sum of squared deviations of log prices
        brands[brand] = [n, mean_log, seq, m2]
        if len(brands) > self.params.max_brands:
            del brands[min(brands, key=lambda b: brands[b][2])]
        return {**state, "brands": brands, "seq": seq}

    # ------------------------------------------------------------------ baseline

    def _learn(self, state: State, price: float) -> State:
        key = self._mapping.key(price)
        bins: list[float] = list(state["bins"])
        offset: int = state["offset"]
        count = float(state["count"]) + 1.0
        if not bins:
            bins, offset = [1.0], key
        elif key < offset:
            bins = [1.0] + [0.0] * (offset - key - 1) + bins
            offset = key
        elif key >= offset + len(bins):
            bins = bins + [0.0] * (key - offset - len(bins)) + [1.0]
        else:
            bins[key - offset] += 1.0
        if len(bins) > self.params.max_bins:
            # Collapse the highest buckets: the median and everything below stay exact.
            top = self.params.max_bins - 1
            bins = [*bins[:top], sum(bins[top:])]
        if self.params.decay_at_count and count >= self.params.decay_at_count:
            bins = [b / 2 for b in bins]
            count /= 2
        return {**state, "count": count, "offset": offset, "bins": bins}

    def _log_variance(self, state: State) -> float:
        """Variance of log prices in the category prior, from its buckets."""
        bins: list[float] = state["bins"]
        total = sum(bins)
        if total <= 0:
            return 0.0
        offset: int = state["offset"]
        logs = [self._log_value(offset + i) for i in range(len(bins))]
        mean = sum(c * x for c, x in zip(bins, logs, strict=True)) / total
        return sum(c * (x - mean) ** 2 for c, x in zip(bins, logs, strict=True)) / total

    def _log_value(self, key: int) -> float:
        found = self._log_values.get(key)
        if found is None:
            found = math.log(self._mapping.value(key))
            if len(self._log_values) < 65536:
                self._log_values[key] = found
        return found

    def _quantile(self, state: State, q: float) -> float:
        """DDSketch's quantile rule over the state's bins."""
        rank = q * (float(state["count"]) - 1)
        running = 0.0
        bins: list[float] = state["bins"]
        for i, c in enumerate(bins):
            running += c
            if running > rank:
                return self._mapping.value(state["offset"] + i)
        return self._mapping.value(state["offset"] + len(bins) - 1)

    # ------------------------------------------------------------------ helpers

    def _brand(self, event: ListingEvent) -> str | None:
        p = self.params
        if event.brand and event.brand.strip():
            brand = self._brand_norm(event.brand)
            return brand if brand and (p.all_brands or brand in self._watched) else None
        if p.brand_from_title and self._title_brands.size:
            found = self._title_brands.find(event.title)
            if found:
                return self._brand_norm(found[0])
        return None

    def _signal(self, event: ListingEvent, found: _Finding, count: float, prior: float, brand_n: float) -> Signal:
        p = self.params
        median = found.estimate
        sibling: dict[str, Any] = {}
        if found.sibling_price is not None:
            sibling = {"photo_sibling": {"price": found.sibling_price, "distance": found.sibling_distance,
                                         "bound": found.sibling_bound, "judged_price": found.judged}}
        return signal(
            self.id,
            event,
            code=self.BELOW_BASELINE,
            entity_type="listing",
            entity_id=event.listing_id,
            score=min(1.0, max(0.0, 1.0 - event.price / median)),
            evidence={
                "price": event.price,
                "currency": event.currency,
                "brand": event.brand or self._brand(event),
                "category": event.category,
                "baseline_median": median,
                "baseline_count": count,
                "category_median": prior,
                "brand_listings": brand_n,
                "ratio": p.ratio,
                "threshold": p.ratio * median,
                "relative_accuracy": p.relative_accuracy,
                **({"declared_discount": declared_discount(event)} if p.max_declared_discount > 0 else {}),
                **sibling,
            },
        )
