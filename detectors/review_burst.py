"""A burst of reviews on one listing: more than K within W minutes of event time.

State is per listing: the event times and buyer ids of its recent reviews,
pruned to the window behind the newest time seen and capped at `max_tracked`
entries, so a listing with a million reviews costs the same as one with ten.
Scoring meaning, shared with the evaluation (`riskstream.evaluation.quality`):
*label per review*.  Every review of a burst is a finding about that review
(entity ``review``): when a burst is first seen, the reviews of its window
that came before are signalled too, and while it lasts every new review is.
A moderation queue groups them by the listing in the evidence.

State key: the listing id.  Size bound: at most ``max_tracked`` (time, buyer,
review id) entries, pruned to one window behind the newest review.

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
>>> [(s.code, s.entity_type, s.entity_id, s.evidence["reviews_in_window"]) for s in out]
[('review_burst', 'review', 'r2', 3), ('review_burst', 'review', 'r0', 3), ('review_burst', 'review', 'r1', 3)]
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ReviewEvent, Signal
from riskstream.detectors.base import signal

BurstState = list[Any]
"""``[fired_at, t1, buyer_id1, review_id1, t2, ...]``: the time the current burst was first seen (or
None), then (epoch seconds, buyer id, review id) per tracked review, sorted, flat: one list per listing
(`bench/bench_memory.py`).  The older ``{"reviews": [[t, buyer, review id], ...], "fired_at"}`` form
is read too (its entries may lack the review id: None here)."""

Entry = tuple[Any, ...]  # (t, buyer) or (t, buyer, review id)


def unpack(state: BurstState | dict[str, Any]) -> tuple[float | None, list[Entry]]:
    """(fired_at, [(t, buyer, review id), ...] sorted) of a state in either form."""
    if isinstance(state, dict):
        return state.get("fired_at"), [tuple(r) for r in state.get("reviews", [])]
    ids = state[3::3]
    if None not in ids:
        return state[0], list(zip(state[1::3], state[2::3], ids, strict=True))
    return state[0], [(t, b) if r is None else (t, b, r) for t, b, r in zip(state[1::3], state[2::3], ids, strict=True)]


def _pack(fired_at: float | None, reviews: list[Entry]) -> BurstState:
    # From a tuple, so the list is allocated at its exact size; entries without an id (the older
    # form) are padded with None, which only a state read from that form needs.
    out = list((fired_at, *itertools.chain.from_iterable(reviews)))
    if len(out) == 1 + 3 * len(reviews):
        return out
    return list((fired_at, *itertools.chain.from_iterable(r if len(r) > 2 else (*r, None) for r in reviews)))


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
        return [None]

    def detect(self, event: Event, state: BurstState | dict[str, Any]) -> tuple[BurstState, list[Signal]]:
        if not isinstance(event, ReviewEvent):
            return state, []  # type: ignore[return-value]  # untouched, whatever it is
        t = event.event_time.timestamp()
        fired_at, reviews = unpack(state)
        if any(len(r) > 2 and r[2] == event.review_id for r in reviews):
            return (state if isinstance(state, list) else _pack(fired_at, reviews)), []  # redelivered
        bisect.insort(reviews, (t, event.buyer_id, event.review_id))
        # Prune behind the newest time seen: a late event older than that cannot
        # join a window that is still open.
        horizon = reviews[-1][0] - self._window
        reviews = [r for r in reviews if r[0] >= horizon][-self.params.max_tracked :]

        start, n, buyers = self._busiest_window(reviews, t)
        k = self.params.max_reviews
        if n <= k:
            return _pack(fired_at, reviews), []
        ongoing = fired_at is not None and abs(t - fired_at) < self._window
        new_state = _pack(fired_at if ongoing else t, reviews)
        evidence = {
            "reviews_in_window": n,
            "distinct_buyers": buyers,
            "threshold": k,
            "window_minutes": self.params.window_minutes,
            "window_start": datetime.fromtimestamp(start, UTC).isoformat(),
            "listing_id": event.listing_id,
            "seller_id": event.seller_id,
        }
        ids = [event.review_id]
        if not ongoing:
            # The burst's earlier reviews, signalled once when it is first seen.
            ids += [str(r[2]) for r in reviews if len(r) > 2 and start <= r[0] <= start + self._window
                    and r[2] != event.review_id]
        score = min(1.0, n / (2 * k))
        return new_state, [
            signal(self.id, event, code=self.CODE, entity_type="review", entity_id=rid, score=score,
                   evidence={**evidence, "trigger_review_id": event.review_id})
            for rid in ids
        ]

    def _busiest_window(self, reviews: list[Entry], t: float) -> tuple[float, int, int]:
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
