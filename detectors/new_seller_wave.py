"""A wave of new sellers listing the same kind of item: a counterfeit or scam wave spread over accounts.

`new_seller_burst` sees one seller listing in bulk.  A wave hides from it by
spreading over many fresh accounts, each listing a handful.  This detector
groups the ``created`` listings of new sellers by what they share (country,
category and brand) and fires when, within ``window_minutes`` of event time,
at least ``min_sellers`` distinct new sellers have listed at least
``min_listings`` listings in one group.

Scoring meaning, shared with the evaluation (`riskstream.evaluation.quality`):
*label per listing*.  Every listing of a wave is a finding about that listing
(entity ``listing``): when the wave is first seen, its earlier listings still
in the window are signalled too, and while it lasts every new one is; each
listing is signalled once.

Why a detector of its own and not a mode of `new_seller_burst`: the engine
gives a detector one state key per event, and a seller's burst and a wave
need different ones (the seller; the group).  Each stays partitioned by its
own key.

State key: ``country|category|brand`` (brand normalised, empty when the
listing names none).  Size bound: at most ``max_tracked`` (time, seller,
listing, signalled) entries, pruned to one window behind the newest listing.

>>> from datetime import timedelta
>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = NewSellerWaveDetector(NewSellerWaveDetector.Params(min_sellers=3, min_listings=3))
>>> t0 = parse_time("2026-01-01T12:00:00Z")
>>> state, out = d.initial_state(), []
>>> for i in range(3):
...     ev = ListingEvent(event_id=f"e{i}", event_time=t0 + timedelta(minutes=i), region="GB",
...         op="created", listing_id=f"l{i}", seller_id=f"s{i}", category="luxury_bags",
...         title="Flap bag", brand="Maison X", price=300.0, currency="GBP", seller_age_days=1)
...     state, out = d.detect(ev, state)
>>> [(s.code, s.entity_type, s.entity_id, s.evidence["sellers_in_window"]) for s in out]
[('new_seller_wave', 'listing', 'l2', 3), ('new_seller_wave', 'listing', 'l0', 3), ('new_seller_wave', 'listing', 'l1', 3)]
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import signal
from riskstream.detectors.bounded_cache import ShortKeyMemo
from riskstream.detectors.category_rules import normalize_category
from riskstream.detectors.text import normalize

WaveState = list[Any]
"""``[t1, seller1, listing1, signalled1, t2, ...]``: per tracked listing its event time (epoch seconds),
seller id, listing id and 1 once signalled (else 0), sorted by time, flat: one list per group."""

Entry = tuple[float, str, str, int]


def unpack(state: WaveState) -> list[Entry]:
    """[(time, seller, listing, signalled), ...] sorted by time."""
    return list(zip(state[0::4], state[1::4], state[2::4], state[3::4], strict=True))


def _pack(entries: list[Entry]) -> WaveState:
    return list(itertools.chain.from_iterable(entries))


@dataclass(frozen=True, slots=True)
class NewSellerWaveParams:
    """Parameters.

    * ``max_seller_age_days``: a seller is new while ``seller_age_days`` is below this.
    * ``min_sellers``: distinct new sellers a wave needs within one window.
    * ``min_listings``: and listings.
    * ``window_minutes``: sliding window length, in event time.
    * ``max_tracked``: cap on the listings remembered per group.
    * ``unknown_age_is_new``: treat a listing without ``seller_age_days`` as from a new seller.
    """

    max_seller_age_days: int = 7
    min_sellers: int = 5
    min_listings: int = 10
    window_minutes: float = 60.0
    max_tracked: int = 64
    unknown_age_is_new: bool = False


class NewSellerWaveDetector:
    """Counts new sellers' listings per (country, category, brand) in a sliding event-time window."""

    id: ClassVar[str] = "new_seller_wave"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[NewSellerWaveParams]] = NewSellerWaveParams

    WAVE: Final = "new_seller_wave"

    def __init__(self, params: NewSellerWaveParams) -> None:
        if params.min_sellers < 2 or params.min_listings < params.min_sellers:
            raise ValueError("min_sellers must be >= 2 and min_listings >= min_sellers")
        if params.window_minutes <= 0 or params.max_tracked < params.min_listings:
            raise ValueError("window_minutes must be > 0 and max_tracked >= min_listings")
        self.params = params
        self._window = params.window_minutes * 60.0
        self._brand_norm: ShortKeyMemo[str] = ShortKeyMemo(normalize, max_entries=4096, max_key_chars=128)

    def state_key(self, event: Event) -> str | None:
        if not isinstance(event, ListingEvent) or event.op != "created" or not self._is_new(event):
            return None
        brand = self._brand_norm(event.brand) if event.brand and event.brand.strip() else ""
        return "|".join((event.region, normalize_category(event.category), brand))

    def initial_state(self) -> WaveState:
        return []

    def detect(self, event: Event, state: WaveState | None) -> tuple[WaveState, list[Signal]]:
        """`state` None (the engine passes it for events with no key) is a fresh state."""
        if state is None:
            state = self.initial_state()
        if not isinstance(event, ListingEvent) or self.state_key(event) is None:
            return state, []
        entries = unpack(state)
        if any(e[2] == event.listing_id for e in entries):
            return state, []  # redelivered
        t = event.event_time.timestamp()
        bisect.insort(entries, (t, event.seller_id, event.listing_id, 0))
        horizon = entries[-1][0] - self._window
        entries = [e for e in entries if e[0] > horizon][-self.params.max_tracked :]
        if not any(e[2] == event.listing_id for e in entries):
            return _pack(entries), []  # too late to fall in the window
        sellers = {e[1] for e in entries}
        p = self.params
        if len(sellers) < p.min_sellers or len(entries) < p.min_listings:
            return _pack(entries), []
        # A wave: every listing of the window not yet signalled, the newest first.
        targets = [i for i, e in enumerate(entries) if not e[3]]
        targets.sort(key=lambda i: entries[i][2] != event.listing_id)
        evidence = {
            "sellers_in_window": len(sellers),
            "listings_in_window": len(entries),
            "min_sellers": p.min_sellers,
            "min_listings": p.min_listings,
            "window_minutes": p.window_minutes,
            "window_start": datetime.fromtimestamp(entries[0][0], UTC).isoformat(),
            "group": self.state_key(event),
            "seller_ids": sorted(sellers)[:20],
            "trigger_listing_id": event.listing_id,
        }
        score = min(1.0, 0.5 + 0.5 * len(sellers) / (2 * p.min_sellers))
        # each listing's own seller: a back-filled listing's points go to its seller, not the trigger's
        signals = [signal(self.id, event, code=self.WAVE, entity_type="listing", entity_id=entries[i][2],
                          score=score, evidence={**evidence, "seller_id": entries[i][1]}) for i in targets]
        for i in targets:
            entries[i] = (*entries[i][:3], 1)
        return _pack(entries), signals

    def _is_new(self, event: ListingEvent) -> bool:
        if event.seller_age_days is None:
            return self.params.unknown_age_is_new
        return event.seller_age_days < self.params.max_seller_age_days
