"""A burst of reviews on one listing: more than K within W minutes of event time.

State is per listing: the event times and buyer ids of its recent reviews,
pruned to the window behind the newest time seen and capped at `max_tracked`
entries, so a listing with a million reviews costs the same as one with ten.
A burst signals once; it signals again only after a full window has passed,
so a sustained campaign yields one signal per window, not one per review.

>>> from datetime import timedelta
>>> from riskstream.contracts import ReviewEvent, parse_time
>>> d = ReviewBurstDetector(ReviewBurstDetector.Params(max_reviews=2, window_minutes=10))
>>> t0 = parse_time("2026-01-01T00:00:00Z")
>>> state, out = d.initial_state(), []
>>> for i in range(3):
...     ev = ReviewEvent(event_id=f"e{i}", event_time=t0 + timedelta(minutes=i), region="DE",
...         review_id=f"r{i}", listing_id="l1", buyer_id=f"b{i}", rating=5, text="ok",
...         language="de", verified_purchase=False, account_age_days=1)
...     state, out = d.detect(ev, state)
>>> [(s.code, s.entity_id, s.evidence["reviews_in_window"]) for s in out]
[('review_burst', 'l1', 3)]
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ReviewEvent, Signal
from riskstream.detectors.base import signal

BurstState = dict[str, Any]
"""``{"reviews": [[epoch_seconds, buyer_id], ...] (sorted), "fired_at": float | None}``"""


@dataclass(frozen=True, slots=True)
class ReviewBurstParams:
    max_reviews: int = 10
    """K: more than this many reviews inside the window is a burst."""
    window_minutes: int = 60
    """W, in event time."""
    max_tracked: int = 200
    """Cap on remembered reviews per listing; must exceed `max_reviews`."""


class ReviewBurstDetector:
    """Counts a listing's reviews in a sliding event-time window."""

    id: ClassVar[str] = "review_burst"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"review"})
    Params: ClassVar[type[ReviewBurstParams]] = ReviewBurstParams

    CODE: Final = "review_burst"

    def __init__(self, params: ReviewBurstParams) -> None:
        if params.max_reviews < 1 or params.window_minutes < 1:
            raise ValueError("max_reviews and window_minutes must be positive")
        if params.max_tracked <= params.max_reviews:
            raise ValueError("max_tracked must exceed max_reviews, or a burst could never be seen")
        self.params = params
        self._window = params.window_minutes * 60.0

    def state_key(self, event: Event) -> str | None:
        return event.listing_id if isinstance(event, ReviewEvent) else None

    def initial_state(self) -> BurstState:
        return {"reviews": [], "fired_at": None}

    def detect(self, event: Event, state: BurstState) -> tuple[BurstState, list[Signal]]:
        if not isinstance(event, ReviewEvent):
            return state, []
        t = event.event_time.timestamp()
        reviews: list[list[Any]] = [list(r) for r in state.get("reviews", [])]
        bisect.insort(reviews, [t, event.buyer_id])
        # Prune behind the newest time seen: a late event older than that cannot
        # join a window that is still open.
        horizon = reviews[-1][0] - self._window
        reviews = [r for r in reviews if r[0] >= horizon][-self.params.max_tracked :]
        fired_at: float | None = state.get("fired_at")
        new_state: BurstState = {"reviews": reviews, "fired_at": fired_at}

        start, n, buyers = self._busiest_window(reviews, t)
        k = self.params.max_reviews
        if n <= k or (fired_at is not None and abs(t - fired_at) < self._window):
            return new_state, []
        new_state["fired_at"] = t
        burst = signal(
            self.id,
            event,
            code=self.CODE,
            entity_type="listing",
            entity_id=event.listing_id,
            score=min(1.0, n / (2 * k)),
            evidence={
                "reviews_in_window": n,
                "distinct_buyers": buyers,
                "threshold": k,
                "window_minutes": self.params.window_minutes,
                "window_start": datetime.fromtimestamp(start, UTC).isoformat(),
                "seller_id": event.seller_id,
            },
        )
        return new_state, [burst]

    def _busiest_window(self, reviews: list[list[Any]], t: float) -> tuple[float, int, int]:
        """Start, review count and distinct buyers of the fullest W-window containing `t`.

        For events in order that is simply the window ending at `t`; a late
        event can also complete a burst of reviews that came after it.
        """
        w = self._window
        times = [r[0] for r in reviews]
        best = (t, 0, 0)
        for i in range(bisect.bisect_left(times, t - w), bisect.bisect_right(times, t)):
            j = bisect.bisect_right(times, times[i] + w)
            if j - i > best[1]:
                best = (times[i], j - i, len({r[1] for r in reviews[i:j]}))
        return best
