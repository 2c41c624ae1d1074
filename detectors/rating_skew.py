"""A listing's ratings skewed by new or unverified accounts: inflation or bombing.

Among the last `last_reviews` reviews of a listing, count the extreme ratings
(5 stars, 1 star) written by *suspect* accounts: younger than
`new_account_days`, or (when `count_unverified`) without a verified purchase.
When that count reaches `min_suspect_extreme` and its share of the window
reaches `share_threshold`, the listing is skewed: `rating_inflation` for 5
stars (a review farm), `rating_bombing` for 1 star (a pile-on against a
competitor).  Established, verified buyers never count, so an honestly loved
or honestly hated product does not fire.

A skew signals when it starts and again only after it has ended and
returned, not on every review while it lasts.

>>> from riskstream.contracts import ReviewEvent, parse_time
>>> d = RatingSkewDetector(RatingSkewDetector.Params(min_suspect_extreme=3))
>>> state, out = d.initial_state(), []
>>> for i in range(3):
...     ev = ReviewEvent(event_id=f"e{i}", event_time=parse_time("2026-01-01T00:00:00Z"),
...         region="FR", review_id=f"r{i}", listing_id="l1", buyer_id=f"b{i}", rating=1,
...         text="arnaque", language="fr", verified_purchase=False, account_age_days=0)
...     state, out = d.detect(ev, state)
>>> [(s.code, s.entity_id, s.evidence["suspect_extreme"]) for s in out]
[('rating_bombing', 'l1', 3)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ReviewEvent, Signal
from riskstream.detectors.base import signal

SkewState = list[int]
"""``[active, review, review, ...]``: ``active`` is a bit set of the skews under way (1 inflation, 2
bombing), then one small int per review of the window, oldest first: ``rating * 2 + suspect``.  Small
ints are shared objects, so a listing's state is one list (72 bytes with one review, 224 at 20;
`bench/bench_memory.py`).  The older ``{"recent": [[rating, suspect], ...], "active": [code, ...]}``
form is read too."""

_BITS: Final = {"rating_inflation": 1, "rating_bombing": 2}


def unpack(state: SkewState | dict[str, Any]) -> tuple[list[tuple[int, int]], set[str]]:
    """([(rating, suspect 0/1), ...] oldest first, active codes) of a state in either form."""
    if isinstance(state, dict):
        return [(int(r), int(s)) for r, s in state.get("recent", [])], set(state.get("active", []))
    return [(c >> 1, c & 1) for c in state[1:]], {code for code, bit in _BITS.items() if state[0] & bit}


@dataclass(frozen=True, slots=True)
class RatingSkewParams:
    last_reviews: int = 20
    """R: how many of the listing's latest reviews are looked at."""
    new_account_days: int = 30
    """N: an account younger than this is new."""
    count_unverified: bool = True
    """Whether a review without a verified purchase is suspect too."""
    share_threshold: float = 0.5
    """Share of the window that suspect extreme ratings must reach."""
    min_suspect_extreme: int = 5
    """And their minimum count, so three reviews on a new listing cannot fire."""


class RatingSkewDetector:
    """Share of suspect 5-star and 1-star ratings among a listing's latest reviews."""

    id: ClassVar[str] = "rating_skew"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"review"})
    Params: ClassVar[type[RatingSkewParams]] = RatingSkewParams

    INFLATION: Final = "rating_inflation"
    BOMBING: Final = "rating_bombing"

    def __init__(self, params: RatingSkewParams) -> None:
        if params.last_reviews < 1 or params.min_suspect_extreme < 1:
            raise ValueError("last_reviews and min_suspect_extreme must be positive")
        if not 0.0 < params.share_threshold <= 1.0:
            raise ValueError("share_threshold must be in (0, 1]")
        self.params = params

    def state_key(self, event: Event) -> str | None:
        return event.listing_id if isinstance(event, ReviewEvent) else None

    def initial_state(self) -> SkewState:
        return [0]

    def is_suspect(self, event: ReviewEvent) -> bool:
        return event.account_age_days < self.params.new_account_days or (
            self.params.count_unverified and not event.verified_purchase
        )

    def detect(self, event: Event, state: SkewState | dict[str, Any]) -> tuple[SkewState, list[Signal]]:
        if not isinstance(event, ReviewEvent):
            return state, []  # type: ignore[return-value]  # untouched, whatever it is
        p = self.params
        if isinstance(state, list):
            was_active, codes = state[0], state[1:]
        else:
            held, codes_active = unpack(state)
            was_active, codes = sum(_BITS[c] for c in codes_active), [r * 2 + s for r, s in held]
        codes.append(event.rating * 2 + int(self.is_suspect(event)))
        codes = codes[-p.last_reviews :]
        active = 0
        signals: list[Signal] = []
        for code, rating in ((self.INFLATION, 5), (self.BOMBING, 1)):
            suspect = codes.count(rating * 2 + 1)  # suspect reviews with this rating
            share = suspect / len(codes)
            if suspect < p.min_suspect_extreme or share < p.share_threshold:
                continue
            active |= _BITS[code]
            if was_active & _BITS[code]:
                continue
            signals.append(
                signal(
                    self.id,
                    event,
                    code=code,
                    entity_type="listing",
                    entity_id=event.listing_id,
                    score=min(1.0, share),
                    evidence={
                        "rating": rating,
                        "suspect_extreme": suspect,
                        "reviews_considered": len(codes),
                        "share": round(share, 3),
                        "share_threshold": p.share_threshold,
                        "new_account_days": p.new_account_days,
                        "count_unverified": p.count_unverified,
                        "seller_id": event.seller_id,
                    },
                )
            )
        return list((active, *codes)), signals  # from a tuple: allocated at its exact size

