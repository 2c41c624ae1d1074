"""Near-duplicate review texts from different buyer accounts: a review farm.

Each review long enough to mean something (`min_tokens` words after
normalisation, so "great!" or "fast delivery, thanks" never count) is reduced
to a MinHash signature over word shingles.  A new review is compared with a
bounded ring of recent signatures; when at least `min_accounts` distinct
buyers have posted texts whose estimated Jaccard similarity reaches
`threshold`, every listing in that cluster not yet signalled gets a
`near_duplicate_reviews` signal.

When a farm fires, the cluster's reviews not yet covered get a signal too
(entity ``review``), so the first copies of a script, posted before it
reached `min_accounts`, are flagged with the later ones.

Why the index spans listings: a farm is paid per review and spreads one
script over many listings (often of several sellers), so a per-listing state
would see one copy each and never fire.  A per-country ring would be a hot
key (one partition, a large record rewritten per review), so the index is
spread by MinHash LSH (`riskstream.detectors.lsh`): the signature is cut into
`bands` bands of `rows` values, and the review is filed in one bucket per band
(key ``country:band:digest``, each on its own partition).  Texts of Jaccard
similarity J share a bucket with probability ``1 - (1 - J**rows)**bands``:
0.985 at J = 0.8 and 0.9998 at J = 0.9 with the default 8 x 4, 0.06 at
J = 0.3.  Each bucket holds the last `bucket_size` reviews filed in it no
older than `max_age_hours` (the full 64-value signature of each, as hex, to
verify the estimated similarity); a bucket step reports its matches as a
partial signal, and `combine` merges the buckets' matches (by review id) into
the event's signals.  A review is marked covered in the buckets whose own
matches reached `min_accounts`; a cluster split over buckets (members that
share a band with the new review but not with each other) still fires, its
members just stay unmarked there.

>>> from riskstream.contracts import ReviewEvent, parse_time
>>> d = ReviewNearDuplicateDetector(ReviewNearDuplicateDetector.Params(min_accounts=2))
>>> text = "Amazing quality product, arrived quickly and works perfectly, highly recommend this seller"
>>> state, signals = d.initial_state(), []
>>> for i, listing in enumerate(["l1", "l2"]):
...     ev = ReviewEvent(event_id=f"e{i}", event_time=parse_time("2026-01-01T00:00:00Z"),
...         region="DE", review_id=f"r{i}", listing_id=listing, buyer_id=f"b{i}", rating=5,
...         text=text.upper() if i else text, language="en", verified_purchase=False, account_age_days=2)
...     state, signals = d.detect(ev, state)
>>> sorted((s.entity_type, s.entity_id, s.evidence["distinct_accounts"]) for s in signals)
[('listing', 'l1', 2), ('listing', 'l2', 2), ('review', 'r0', 2), ('review', 'r1', 2)]
>>> len(d.state_keys(ev)), d.state_keys(ev)[0].startswith("DE:0:")
(8, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np
from datasketch import MinHash

from riskstream.contracts import EntityType, Event, EventKind, ReviewEvent, Signal
from riskstream.detectors.base import PARTIAL, partial, run_buckets, signal
from riskstream.detectors.lsh import minhash_bands
from riskstream.detectors.text import normalize, split_bang_runs

_SCHEME: Final = "affine32"

MAX_BUCKETS: Final = 20_000
"""Buckets the whole-index form (`detect`) keeps; the engine bounds its keys itself."""

Bucket = dict[str, Any]
"""``{"ring": [{"review_id", "buyer_id", "listing_id", "t", "h": 8 hex digits per value, "flagged"}, ...]}``"""

Match = list[Any]
"""A partial signal's match: ``[review_id, buyer_id, listing_id, similarity, flagged]``."""


@dataclass(frozen=True, slots=True)
class ReviewNearDuplicateParams:
    threshold: float = 0.8
    """Estimated Jaccard similarity of word-shingle sets at or above which two texts match."""
    min_accounts: int = 3
    """Distinct buyer accounts (the new review's included) that make a farm."""
    min_tokens: int = 8
    num_perm: int = 64
    shingle_size: int = 3
    bands: int = 8
    """LSH bands: buckets a review is filed in (one partitioned step each)."""
    rows: int = 4
    """Signature values per band (`bands` x `rows` <= `num_perm`)."""
    bucket_size: int = 32
    """Reviews remembered per bucket."""
    max_age_hours: float = 72.0
    seed: int = 1


class ReviewNearDuplicateDetector:
    """MinHash over word shingles, indexed by LSH band buckets (see the module docstring)."""

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
        if params.bands < 1 or params.rows < 1 or params.bands * params.rows > params.num_perm:
            raise ValueError("need bands >= 1, rows >= 1 and bands * rows <= num_perm")
        if params.bucket_size < 1:
            raise ValueError("bucket_size must be at least 1")
        self.params = params
        # Permutations drawn once; every signature must use the same ones, and the
        # scheme is pinned so signatures in stored state stay comparable when
        # datasketch changes its default.
        self._permutations = MinHash(num_perm=params.num_perm, seed=params.seed, scheme=_SCHEME).permutations
        # The last review's signature: its buckets' steps (and its keys) each need it.  A cache of a
        # pure function of the text, so it changes no result.
        self._last: tuple[str, list[int] | None] | None = None

    # ------------------------------------------------------------------ keys

    def state_key(self, event: Event) -> str | None:
        """The whole-index form's key (the country); the engine uses `state_keys`."""
        return event.region if isinstance(event, ReviewEvent) else None

    def state_keys(self, event: Event) -> tuple[str, ...]:
        """One bucket per LSH band, ``country:band:digest``; none for a text too short to judge."""
        if not isinstance(event, ReviewEvent):
            return ()
        sig = self._signature(event.text)
        if sig is None:
            return ()
        return tuple(f"{event.region}:{b}" for b in minhash_bands(sig, self.params.bands, self.params.rows))

    def initial_state(self) -> dict[str, Any]:
        return {"buckets": {}}

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

    def _signature(self, text: str) -> list[int] | None:
        if self._last is None or self._last[0] != text:
            self._last = (text, self.signature(text))
        return self._last[1]

    # ------------------------------------------------------------------ detection

    def detect(self, event: Event, state: dict[str, Any] | None) -> tuple[dict[str, Any], list[Signal]]:
        """The whole-index form: every bucket of the country in one state (tests, tools)."""
        return run_buckets(self, event, state, MAX_BUCKETS)

    def detect_key(self, event: Event, key: str, bucket: Bucket | None) -> tuple[Bucket, list[Signal]]:
        """One bucket: the new review against the bucket's ring; its matches as a partial signal."""
        ring_in = bucket.get("ring", []) if bucket else []
        if not isinstance(event, ReviewEvent):
            return {"ring": ring_in}, []
        sig = self._signature(event.text)
        if sig is None:
            return {"ring": ring_in}, []
        p = self.params
        t = event.event_time.timestamp()
        ring = [e for e in ring_in if e["t"] >= t - p.max_age_hours * 3600.0]
        matches: list[tuple[dict[str, Any], float]] = []
        if ring:
            stored = np.frombuffer(bytes.fromhex("".join(e["h"] for e in ring)), dtype=">u4").reshape(len(ring), -1)
            sims = (stored == np.array(sig, dtype=np.uint32)).mean(axis=1).tolist()
            matches = [(e, s) for e, s in zip(ring, sims, strict=True)
                       if s >= p.threshold and e["buyer_id"] != event.buyer_id]
        accounts = {event.buyer_id} | {e["buyer_id"] for e, _ in matches}
        fired = len(accounts) >= p.min_accounts
        entry: dict[str, Any] = {
            "review_id": event.review_id, "buyer_id": event.buyer_id, "listing_id": event.listing_id,
            "t": t, "h": "".join(f"{v:08x}" for v in sig), "flagged": fired,
        }
        if fired:
            flagged = {id(e) for e, _ in matches}
            ring = [{**e, "flagged": True} if id(e) in flagged else e for e in ring]
        ring.append(entry)
        new: Bucket = {"ring": ring[-p.bucket_size:]}
        if not matches:
            return new, []
        found: list[Match] = [[e["review_id"], e["buyer_id"], e["listing_id"], round(s, 6), e["flagged"]]
                              for e, s in matches]
        return new, [partial(self.id, event, entity_type="review", entity_id=event.review_id,
                             evidence={"matches": found})]

    def combine(self, event: Event, partials: list[Signal]) -> list[Signal]:
        """The buckets' matches merged by review id; a farm's signals when they reach `min_accounts`."""
        if not isinstance(event, ReviewEvent):
            return []
        merged: dict[str, Match] = {}
        for s in partials:
            if s.code != PARTIAL or s.detector != self.id:
                continue
            for m in s.evidence.get("matches", []):
                seen = merged.get(m[0])
                merged[m[0]] = list(m) if seen is None else [*seen[:3], max(seen[3], m[3]), seen[4] or m[4]]
        matches = list(merged.values())
        accounts = {event.buyer_id} | {m[1] for m in matches}
        if len(accounts) < self.params.min_accounts:
            return []
        return self._signals(event, matches, len(accounts))

    def _signals(self, event: ReviewEvent, matches: list[Match], n_accounts: int) -> list[Signal]:
        sims = [m[3] for m in matches]
        # One signal per listing, and one per review, of the cluster that no earlier farm signal covered.
        listings = [event.listing_id]
        reviews = [event.review_id]
        for m in matches:
            if not m[4]:
                if m[2] not in listings:
                    listings.append(m[2])
                if m[0] not in reviews:
                    reviews.append(m[0])
        evidence = {
            "distinct_accounts": n_accounts,
            "review_ids": [event.review_id, *(m[0] for m in matches)],
            "buyer_ids": sorted({event.buyer_id} | {m[1] for m in matches}),
            "listing_ids": sorted({event.listing_id} | {m[2] for m in matches}),
            "max_similarity": round(max(sims), 3),
            "min_similarity": round(min(sims), 3),
            "threshold": self.params.threshold,
        }
        score = min(1.0, 0.5 + 0.1 * n_accounts)
        targets: list[tuple[EntityType, str]] = [("listing", x) for x in listings] + [("review", x) for x in reviews]
        return [
            signal(self.id, event, code=self.CODE, entity_type=kind, entity_id=entity, score=score,
                   evidence=evidence)
            for kind, entity in targets
        ]
