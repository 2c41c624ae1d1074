"""Near-duplicate review texts from different buyer accounts: a review farm.

Each review long enough to mean something (`min_tokens` words after
normalisation, so "great!" or "fast delivery, thanks" never count) is reduced
to a MinHash signature over word shingles.  A new review is compared with a
bounded ring of recent signatures; when at least `min_accounts` distinct
buyers have posted texts whose estimated Jaccard similarity reaches
`threshold`, every listing in that cluster not yet signalled gets a
`near_duplicate_reviews` signal.

Why the state is keyed by country and not by listing: a farm is paid per
review and spreads one script over many listings (often of several sellers),
so a per-listing state would see one copy each and never fire.  A per-country
ring sees the script across listings while staying bounded: the last
`ring_size` eligible reviews no older than `max_age_hours`, each 64 hash values
stored as plain ints (about 0.5 KB per entry as JSON).  The cost is that a
slow farm, spread thinner than `ring_size` reviews, is missed in a busy
country; raise `ring_size` there.  Comparison is a vectorised equality count,
O(ring_size x num_perm) per review.

>>> from riskstream.contracts import ReviewEvent, parse_time
>>> d = ReviewNearDuplicateDetector(ReviewNearDuplicateDetector.Params(min_accounts=2))
>>> text = "Amazing quality product, arrived quickly and works perfectly, highly recommend this seller"
>>> state, signals = d.initial_state(), []
>>> for i, listing in enumerate(["l1", "l2"]):
...     ev = ReviewEvent(event_id=f"e{i}", event_time=parse_time("2026-01-01T00:00:00Z"),
...         region="DE", review_id=f"r{i}", listing_id=listing, buyer_id=f"b{i}", rating=5,
...         text=text.upper() if i else text, language="en", verified_purchase=False, account_age_days=2)
...     state, signals = d.detect(ev, state)
>>> sorted((s.code, s.entity_id, s.evidence["distinct_accounts"]) for s in signals)
[('near_duplicate_reviews', 'l1', 2), ('near_duplicate_reviews', 'l2', 2)]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np
from datasketch import MinHash

from riskstream.contracts import Event, EventKind, ReviewEvent, Signal
from riskstream.detectors.base import signal
from riskstream.detectors.text import normalize, split_bang_runs

_SCHEME: Final = "affine32"

NearDupState = dict[str, Any]
"""``{"ring": [{"review_id", "buyer_id", "listing_id", "t", "h": [int, ...], "flagged"}, ...]}``"""


@dataclass(frozen=True, slots=True)
class ReviewNearDuplicateParams:
    threshold: float = 0.8
    """Estimated Jaccard similarity of word-shingle sets at or above which two texts match."""
    min_accounts: int = 3
    """Distinct buyer accounts (the new review's included) that make a farm."""
    min_tokens: int = 8
    num_perm: int = 64
    shingle_size: int = 3
    ring_size: int = 500
    max_age_hours: float = 72.0
    seed: int = 1


class ReviewNearDuplicateDetector:
    """MinHash over word shingles, compared with a bounded per-country ring."""

    # Per-worker state, not partitioned by its key: a country's MinHash ring is a hot key whose
    # record is too large to rewrite per event; keying by LSH band signatures is the next step.
    local_state: ClassVar[bool] = True
    id: ClassVar[str] = "review_near_duplicate"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"review"})
    Params: ClassVar[type[ReviewNearDuplicateParams]] = ReviewNearDuplicateParams

    CODE: Final = "near_duplicate_reviews"

    def __init__(self, params: ReviewNearDuplicateParams) -> None:
        if not 0.0 < params.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if params.min_accounts < 2:
            raise ValueError("min_accounts must be at least 2: one account is not a farm")
        if params.shingle_size < 1 or params.min_tokens < params.shingle_size:
            raise ValueError("min_tokens must be at least shingle_size >= 1")
        self.params = params
        # Permutations drawn once; every signature must use the same ones, and the
        # scheme is pinned so signatures in stored state stay comparable when
        # datasketch changes its default.
        self._permutations = MinHash(num_perm=params.num_perm, seed=params.seed, scheme=_SCHEME).permutations

    def state_key(self, event: Event) -> str | None:
        return event.region if isinstance(event, ReviewEvent) else None

    def initial_state(self) -> NearDupState:
        return {"ring": []}

    def signature(self, text: str) -> list[int] | None:
        """The MinHash of `text`'s word shingles, or None when it is too short to judge."""
        tokens = normalize(split_bang_runs(text)).split()
        if len(tokens) < self.params.min_tokens:
            return None
        k = self.params.shingle_size
        shingles = {" ".join(tokens[i : i + k]).encode() for i in range(len(tokens) - k + 1)}
        mh = MinHash(
            num_perm=self.params.num_perm, seed=self.params.seed, permutations=self._permutations, scheme=_SCHEME
        )
        mh.update_batch(sorted(shingles))
        return [int(v) for v in mh.hashvalues]

    def detect(self, event: Event, state: NearDupState) -> tuple[NearDupState, list[Signal]]:
        if not isinstance(event, ReviewEvent):
            return state, []
        sig = self.signature(event.text)
        if sig is None:
            return state, []
        p = self.params
        t = event.event_time.timestamp()
        ring = [e for e in state.get("ring", []) if e["t"] >= t - p.max_age_hours * 3600.0]
        matches: list[tuple[dict[str, Any], float]] = []
        if ring:
            stored = np.array([e["h"] for e in ring], dtype=np.uint64)
            sims = (stored == np.array(sig, dtype=np.uint64)).mean(axis=1)
            matches = [
                (e, float(s))
                for e, s in zip(ring, sims, strict=True)
                if s >= p.threshold and e["buyer_id"] != event.buyer_id
            ]
        entry: dict[str, Any] = {
            "review_id": event.review_id,
            "buyer_id": event.buyer_id,
            "listing_id": event.listing_id,
            "t": t,
            "h": sig,
            "flagged": False,
        }
        accounts = {event.buyer_id} | {e["buyer_id"] for e, _ in matches}
        signals: list[Signal] = []
        if len(accounts) >= p.min_accounts:
            signals = self._signals(event, entry, matches, len(accounts))
            flagged = {id(e) for e, _ in matches}
            ring = [{**e, "flagged": True} if id(e) in flagged else e for e in ring]
            entry["flagged"] = True
        ring.append(entry)
        return {"ring": ring[-p.ring_size :]}, signals

    def _signals(
        self,
        event: ReviewEvent,
        entry: dict[str, Any],
        matches: list[tuple[dict[str, Any], float]],
        n_accounts: int,
    ) -> list[Signal]:
        sims = [s for _, s in matches]
        cluster = [entry, *(e for e, _ in matches)]
        # One signal per listing of the cluster that no earlier farm signal covered.
        listings = [event.listing_id]
        for e in cluster[1:]:
            if not e["flagged"] and e["listing_id"] not in listings:
                listings.append(e["listing_id"])
        evidence = {
            "distinct_accounts": n_accounts,
            "review_ids": [e["review_id"] for e in cluster],
            "buyer_ids": sorted({e["buyer_id"] for e in cluster}),
            "listing_ids": sorted({e["listing_id"] for e in cluster}),
            "max_similarity": round(max(sims), 3),
            "min_similarity": round(min(sims), 3),
            "threshold": self.params.threshold,
        }
        score = min(1.0, 0.5 + 0.1 * n_accounts)
        return [
            signal(
                self.id,
                event,
                code=self.CODE,
                entity_type="listing",
                entity_id=listing,
                score=score,
                evidence=evidence,
            )
            for listing in listings
        ]
