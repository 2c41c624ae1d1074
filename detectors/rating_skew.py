"""A listing's ratings skewed by new or unverified accounts: inflation or bombing.

Among the last `last_reviews` reviews of a listing, count the extreme ratings
(5 stars, 1 star) written by *suspect* accounts: younger than
`new_account_days`, or (when `count_unverified`) without a verified purchase.
When that count reaches `min_suspect_extreme` and its share of the window
reaches `share_threshold`, the listing is skewed: `rating_inflation` for 5
stars (a review farm), `rating_bombing` for 1 star (a pile-on against a
competitor).  Established, verified buyers never count, so an honestly loved
or honestly hated product does not fire.

Scoring meaning, shared with `review_burst` and the evaluation
(`riskstream.evaluation.quality`): *label per review*.  A skew is a finding
about the suspect reviews that make it, so each signal is about one review
(entity ``review``, the listing in the evidence): when a skew starts, every
suspect review with the skewed rating still in the window is signalled (the
earlier ones included), and while it lasts each new one is.  A review is
signalled once.  Reviews by established, verified buyers are never signalled.

State key: the listing id.  Size bound: ``last_reviews`` (code, review id)
pairs.

>>> from riskstream.contracts import ReviewEvent, parse_time
>>> d = RatingSkewDetector(RatingSkewDetector.Params(min_suspect_extreme=3))
>>> state, out = d.initial_state(), []
>>> for i in range(3):
...     ev = ReviewEvent(event_id=f"e{i}", event_time=parse_time("2026-01-01T00:00:00Z"),
...         region="FR", review_id=f"r{i}", listing_id="l1", buyer_id=f"b{i}", rating=1,
...         text="arnaque", language="fr", verified_purchase=False, account_age_days=0)
...     state, out = d.detect(ev, state)
>>> [(s.code, s.entity_type, s.entity_id, s.evidence["suspect_extreme"]) for s in out]
[('rating_bombing', 'review', 'r2', 3), ('rating_bombing', 'review', 'r0', 3), ('rating_bombing', 'review', 'r1', 3)]
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ReviewEvent, Signal
from riskstream.detectors.base import signal

SkewState = list[Any]
"""``[active, code, review_id, code, review_id, ...]``: ``active`` is a bit set of the skews under way
(1 inflation, 2 bombing), then per review of the window, oldest first, its code ``rating * 2 + suspect``
(plus 16 once it has been signalled) and its review id (a redelivered review is not counted twice).
One flat list per listing (`bench/bench_memory.py`).  Two older forms are read too: ``[active, code,
code, ...]`` (no ids) and ``{"recent": [[rating, suspect], ...], "active": [code, ...]}``."""

_BITS: Final = {"rating_inflation": 1, "rating_bombing": 2}


def _is_paired(state: list[Any]) -> bool:
    """The current form: (code, id) pairs after ``active``; the older one holds codes only."""
    return len(state) % 2 == 1 and (len(state) == 1 or not isinstance(state[2], int))


def _entries(state: SkewState | dict[str, Any]) -> tuple[int, list[int], list[str | None]]:
    """(active bits, codes, review ids or None) of a state in any form, oldest first."""
    if isinstance(state, dict):
        held = [(int(r), int(s)) for r, s in state.get("recent", [])]
        return (sum(_BITS[c] for c in state.get("active", []) if c in _BITS),
                [r * 2 + s for r, s in held], [None] * len(held))
    if _is_paired(state):
        return int(state[0]), list(state[1::2]), list(state[2::2])
    return int(state[0]), list(state[1:]), [None] * (len(state) - 1)


def unpack(state: SkewState | dict[str, Any]) -> tuple[list[tuple[int, int]], set[str]]:
    """([(rating, suspect 0/1), ...] oldest first, active codes) of a state in any form."""
    active, codes, _ = _entries(state)
    return [((c & _CODE) >> 1, c & 1) for c in codes], {code for code, bit in _BITS.items() if active & bit}


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
        was_active, codes, ids = _entries(state)
        if event.review_id in ids:
            return state if isinstance(state, list) else _pack(was_active, codes, ids), []  # redelivered
        codes.append(event.rating * 2 + int(self.is_suspect(event)))
        ids.append(event.review_id)
        codes, ids = codes[-p.last_reviews :], ids[-p.last_reviews :]
        active = 0
        signals: list[Signal] = []
        for code, rating in ((self.INFLATION, 5), (self.BOMBING, 1)):
            wanted = rating * 2 + 1
            suspect = sum(1 for c in codes if c & _CODE == wanted)  # suspect reviews with this rating
            share = suspect / len(codes)
            if suspect < p.min_suspect_extreme or share < p.share_threshold:
                continue
            active |= _BITS[code]
            # Newly skewed: every suspect review of the window with this rating not yet signalled;
            # while the skew lasts, only the new review (the others were signalled before).
            targets = [len(codes) - 1] if codes[-1] == wanted else []
            if not was_active & _BITS[code]:
                targets += [i for i in range(len(codes) - 1) if codes[i] == wanted and ids[i] is not None]
            evidence = {
                "rating": rating,
                "suspect_extreme": suspect,
                "reviews_considered": len(codes),
                "share": round(share, 3),
                "share_threshold": p.share_threshold,
                "new_account_days": p.new_account_days,
                "count_unverified": p.count_unverified,
                "listing_id": event.listing_id,
                "seller_id": event.seller_id,
                "trigger_review_id": event.review_id,
            }
            for i in targets:
                signals.append(signal(self.id, event, code=code, entity_type="review", entity_id=str(ids[i]),
                                      score=min(1.0, share), evidence=evidence))
                codes[i] |= _SIGNALLED  # signalled once
        return _pack(active, codes, ids), signals


_CODE: Final = 15
"""The low bits of a review's code: ``rating * 2 + suspect``."""
_SIGNALLED: Final = 16
"""Set on a review's code once it has been signalled."""


def _pack(active: int, codes: list[int], ids: list[str | None]) -> SkewState:
    # From a tuple: allocated at its exact size.
    return list((active, *itertools.chain.from_iterable(zip(codes, ids, strict=True))))
