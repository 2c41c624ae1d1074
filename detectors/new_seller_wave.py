"""A wave of new sellers listing the same kind of item: a counterfeit or scam wave spread over accounts.

`new_seller_burst` sees one seller listing in bulk.  A wave hides from it by
spreading over many fresh accounts, each listing a handful.  This detector
groups the ``created`` listings of new sellers by what they share (country,
category and brand) and fires when, within ``window_minutes`` of event time,
at least ``min_sellers`` distinct new sellers have listed at least
``min_listings`` listings in one group.

What is signalled is a function of the *set* of a group's listings, not of
their arrival order (issue 9: a group's owner receives its listings from
several ingest partitions, which in a fast replay run hours of event time
apart).  A listing is *in a wave* iff some window ``[a, a + window)`` of event
time that contains it holds at least ``min_sellers`` distinct new sellers and
``min_listings`` listings.  Every listing in a wave is signalled exactly once:
on its own arrival when the wave is already there, else when a later arrival
(in arrival order, earlier or later in event time) completes a window that
contains it (a *back-fill*).  Adding a listing can only add windows' members,
so the set only grows, and once every listing has arrived it is the same for
every order.

Lateness bound: ``lateness_minutes`` of event time behind the newest listing
of the group seen so far.  A listing that arrives later than that is too late:
it is neither counted nor signalled.  The set of signalled listings is the same
for every arrival order in which no listing is too late; the entries are kept
exactly as long as a not-too-late arrival can share a window with them
(``window + lateness`` behind the newest).

Scoring meaning, shared with the evaluation (`riskstream.evaluation.quality`):
*label per listing*.  Every listing of a wave is a finding about that listing
(entity ``listing``).  Order-dependent, by nature of a stream: which arrival
signals a back-filled listing (the signal's event id), and the window its
evidence and score describe (the best window containing that arrival, when it
arrived).  Not order-dependent (``decided_alone``, `riskstream.decisions.decide`):
the listing's action.  It is decided by the policy's rule for the code alone,
apart from the carrying event's other signals and its score, under an
idempotency key of the listing, so every arrival order gives each listing of a
wave the same action under the same key.

Why a detector of its own and not a mode of `new_seller_burst`: the engine
gives a detector one state key per event, and a seller's burst and a wave
need different ones (the seller; the group).  Each stays partitioned by its
own key.

State key: ``country|category|brand`` (brand normalised, empty when the
listing names none).  Size bound: at most ``max_tracked`` (time, seller,
listing, signalled) entries, those within ``window + lateness`` of event time
behind the newest listing.  Past the cap (more new sellers' listings in one
group within ``window + lateness`` than ``max_tracked``; at most 90 in 13 h on
the tuning seeds 1-5, 19 outside a wave) the oldest are forgotten first: a wave
is still found on what is kept, but a listing arriving behind the oldest kept
entry is too late, and which of the earliest listings are back-filled can then
depend on arrival order.  As JSON an entry is about 57 bytes: at most ~15 KB per
group (the day of seed 1: at most 90 entries, 5.1 KB; 646 bytes per write on average).

>>> from datetime import timedelta
>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = NewSellerWaveDetector(NewSellerWaveDetector.Params(min_sellers=3, min_listings=3))
>>> t0 = parse_time("2026-01-01T12:00:00Z")
>>> state, out = d.initial_state(), []
>>> for i in (2, 0, 1):  # out of event-time order: the same wave
...     ev = ListingEvent(event_id=f"e{i}", event_time=t0 + timedelta(minutes=i), region="GB",
...         op="created", listing_id=f"l{i}", seller_id=f"s{i}", category="luxury_bags",
...         title="Flap bag", brand="Maison X", price=300.0, currency="GBP", seller_age_days=1)
...     state, out = d.detect(ev, state)
>>> [(s.code, s.entity_type) for s in out] == [("new_seller_wave", "listing")] * 3
True
>>> [(s.entity_id, s.event_id, s.evidence["sellers_in_window"]) for s in out]  # its own first, back-fills by time
[('l1', 'e1', 3), ('l0', 'e1', 3), ('l2', 'e1', 3)]
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter
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
    * ``lateness_minutes``: how far (event time) behind the newest listing of its group a listing
      may arrive and still count; later ones are dropped.  The default (12 h) covers a replay of
      up to half a day whose ingest partitions are read at different speeds.
    * ``max_tracked``: cap on the listings remembered per group (see the module docstring).
    * ``unknown_age_is_new``: treat a listing without ``seller_age_days`` as from a new seller.
    """

    max_seller_age_days: int = 7
    min_sellers: int = 5
    min_listings: int = 10
    window_minutes: float = 60.0
    lateness_minutes: float = 720.0
    max_tracked: int = 256
    unknown_age_is_new: bool = False


class NewSellerWaveDetector:
    """Counts new sellers' listings per (country, category, brand) in sliding event-time windows."""

    id: ClassVar[str] = "new_seller_wave"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[NewSellerWaveParams]] = NewSellerWaveParams
    # Which arrival signals a listing (its own, or a later one completing its wave) is arrival
    # order: the listing's action must not be (`decisions.decide`).
    decided_alone: ClassVar[bool] = True

    WAVE: Final = "new_seller_wave"

    def __init__(self, params: NewSellerWaveParams) -> None:
        if params.min_sellers < 2 or params.min_listings < params.min_sellers:
            raise ValueError("min_sellers must be >= 2 and min_listings >= min_sellers")
        if params.window_minutes <= 0 or params.max_tracked < params.min_listings:
            raise ValueError("window_minutes must be > 0 and max_tracked >= min_listings")
        if params.lateness_minutes < 0:
            raise ValueError("lateness_minutes must be >= 0")
        self.params = params
        self._window = params.window_minutes * 60.0
        self._lateness = params.lateness_minutes * 60.0
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
            return state, []  # redelivered (a listing is created once: its first arrival counts)
        t = event.event_time.timestamp()
        if entries and t < entries[-1][0] - self._lateness:
            return state, []  # too late (later than the lateness bound behind the newest)
        new: Entry = (t, event.seller_id, event.listing_id, 0)
        bisect.insort(entries, new)
        # Kept while a listing that is not too late can share a window with it: within
        # window + lateness behind the newest (the newest is always kept, so it is entries[-1]).
        horizon = entries[-1][0] - self._window - self._lateness
        entries = [e for e in entries if e[0] > horizon][-self.params.max_tracked:]
        at = bisect.bisect_left(entries, new)
        if at == len(entries) or entries[at] != new:
            return _pack(entries), []  # behind the oldest entry the cap keeps: too late
        found = self._waves_through(entries, at)
        if found is None:
            return _pack(entries), []
        members, (start, end) = found
        # Every listing of those windows not yet signalled: the arrival's own first, then by time.
        targets = [at, *(i for i in members if i != at and not entries[i][3])]
        window = entries[start:end]
        sellers = {e[1] for e in window}
        p = self.params
        evidence = {
            "sellers_in_window": len(sellers),
            "listings_in_window": len(window),
            "min_sellers": p.min_sellers,
            "min_listings": p.min_listings,
            "window_minutes": p.window_minutes,
            "window_start": datetime.fromtimestamp(window[0][0], UTC).isoformat(),
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

    def _waves_through(self, entries: list[Entry], at: int) -> tuple[list[int], tuple[int, int]] | None:
        """The qualifying windows that contain ``entries[at]``: their members' indices and the best one.

        A window containing the arrival can start at any entry up to it and less than one
        window before it; a qualifying window can always be narrowed to start at its
        earliest listing, so those starts are all there are to try.  Only these windows
        gained a member: every other listing's wave status is as it was.  The best window
        (for the evidence) has the most sellers, then the most listings, then starts first.
        ``None`` when none qualifies.  Linear in the entries within a window of the arrival.
        """
        p, w, t = self.params, self._window, entries[at][0]
        lo = at
        while lo > 0 and entries[lo - 1][0] > t - w:
            lo -= 1
        members: list[int] = []
        best: tuple[int, int, int, int] | None = None  # (sellers, listings, -start, end)
        sellers: Counter[str] = Counter()
        start = end = lo
        while start < len(entries) and entries[start][0] <= t:
            while end < len(entries) and entries[end][0] < entries[start][0] + w:
                sellers[entries[end][1]] += 1
                end += 1
            if end - start >= p.min_listings and len(sellers) >= p.min_sellers:
                members.extend(range(max(start, members[-1] + 1 if members else start), end))
                rank = (len(sellers), end - start, -start, end)
                if best is None or rank > best:
                    best = rank
            sellers[entries[start][1]] -= 1
            if not sellers[entries[start][1]]:
                del sellers[entries[start][1]]
            start += 1
        if best is None:
            return None
        return members, (-best[2], best[3])

    def _is_new(self, event: ListingEvent) -> bool:
        if event.seller_age_days is None:
            return self.params.unknown_age_is_new
        return event.seller_age_days < self.params.max_seller_age_days
