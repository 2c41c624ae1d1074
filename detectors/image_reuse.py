"""The same product photo listed by unrelated sellers: a counterfeit (or stolen-listing) signal.

Counterfeiters reuse the brand's or each other's product photos; honest
sellers photograph their own item.  Listings carry perceptual hashes of
their photos (`ListingEvent.image_hashes`, 64-bit pHash/dHash as 16 hex
digits); a re-encoded, resized or lightly cropped copy of a photo has a hash
a few bits away, so photos match when their Hamming distance is at most
``max_distance``.  A listing fires when one of its photos matches photos of
at least ``min_other_sellers`` *other* sellers seen in the same country.

State: spread by band buckets (`riskstream.detectors.lsh`), not one index per
country (a hot key).  The 64 bits are cut into ``max_distance + 1`` slices
and each photo is filed in one bucket per slice (key
``country:band:slice value``, each on its own partition).  Two photos within
``max_distance`` bits agree on at least one slice (pigeonhole), so they always
meet in some bucket; the bucket then checks the full Hamming distance.  A
bucket holds the last ``bucket_photos`` (hash, seller) pairs filed in it,
oldest evicted first.  Each bucket step reports the other sellers it matched
as a partial signal; `combine` merges them, so one reused photo found in
several buckets gives one signal.
Hashes that are not 64-bit hex are ignored for matching and counted in the
signal's evidence (``invalid_hashes``).

>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = ImageReuseDetector(ImageReuseDetector.Params(min_other_sellers=2))
>>> def listing(i, seller, photo):
...     return ListingEvent(event_id=f"e{i}", event_time=parse_time("2026-01-01T00:00:00Z"), region="GB",
...         op="created", listing_id=f"l{i}", seller_id=seller, category="bags", title="Flap bag",
...         price=300.0, currency="GBP", image_hashes=[photo])
>>> state = d.initial_state()
>>> state, _ = d.detect(listing(1, "s1", "8f3a5c7e91b2d4f0"), state)
>>> state, _ = d.detect(listing(2, "s2", "8f3a5c7e91b2d4f1"), state)   # one bit away
>>> state, out = d.detect(listing(3, "s3", "8f3a5c7e91b2d4f3"), state)
>>> [(s.code, s.evidence["other_sellers"], s.evidence["min_distance"]) for s in out]
[('image_reused', 2, 1)]
>>> d.state_keys(listing(4, "s4", "8f3a5c7e91b2d4f0"))
('GB:0:23c', 'GB:1:1d2', 'GB:2:1c7', 'GB:3:1d2', 'GB:4:6c', 'GB:5:16a', 'GB:6:f0')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import PARTIAL, partial, run_buckets, signal
from riskstream.detectors.lsh import bit_bands

Bucket = dict[str, Any]
"""``{"photos": [[16 hex digits, seller_id], ...]}``, oldest first."""

MAX_BUCKETS: Final = 20_000
"""Buckets the whole-index form (`detect`) keeps; the engine bounds its keys itself."""

_MASK: Final = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class ImageReuseParams:
    """Parameters.

    * ``max_distance``: Hamming distance (bits of 64) up to which two photos are the same; the
      photos are indexed in ``max_distance + 1`` band buckets.
    * ``min_other_sellers``: distinct other sellers whose photo must match.
    * ``bucket_photos``: photos remembered per band bucket.
    """

    max_distance: int = 6
    min_other_sellers: int = 2
    bucket_photos: int = 64


def parse_hash(value: str) -> int | None:
    """A 64-bit perceptual hash from 16 hex digits (a ``0x`` prefix allowed), else None.

    >>> parse_hash("00000000000000ff"), parse_hash("xyz"), parse_hash("1" * 40)
    (255, None, None)
    """
    text = value.strip().lower().removeprefix("0x")
    if not 1 <= len(text) <= 16:
        return None
    try:
        return int(text, 16) & _MASK
    except ValueError:
        return None


class ImageReuseDetector:
    """Matches a listing's photo hashes against other sellers' recent photos in its country."""

    id: ClassVar[str] = "image_reuse"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[ImageReuseParams]] = ImageReuseParams

    REUSED: Final = "image_reused"

    def __init__(self, params: ImageReuseParams) -> None:
        if not 0 <= params.max_distance < 32 or params.min_other_sellers < 1 or params.bucket_photos < 1:
            raise ValueError("max_distance must be in [0, 32), min_other_sellers >= 1, bucket_photos >= 1")
        self.params = params
        self._bands = params.max_distance + 1
        # The last listing's buckets (key -> its photos filed there): its keys and each of its bucket
        # steps need them.  A cache of a pure function of the event (checked by identity), no result
        # depends on it.
        self._last: tuple[Event, dict[str, list[int]]] | None = None

    def _filed(self, event: Event) -> dict[str, list[int]]:
        """Bucket key -> the listing's distinct valid photos filed in it, in photo order."""
        if self._last is not None and self._last[0] is event:
            return self._last[1]
        filed: dict[str, list[int]] = {}
        for h in self._photos(event):
            for b in bit_bands(h, self._bands):
                filed.setdefault(f"{event.region}:{b}", []).append(h)
        self._last = (event, filed)
        return filed

    def _photos(self, event: Event) -> list[int]:
        """The listing's distinct valid hashes, or none when it is not indexed."""
        if not isinstance(event, ListingEvent) or event.op == "removed" or not event.image_hashes:
            return []
        return list(dict.fromkeys(h for h in map(parse_hash, event.image_hashes) if h is not None))

    def state_key(self, event: Event) -> str | None:
        """The whole-index form's key (the country); the engine uses `state_keys`."""
        if not isinstance(event, ListingEvent) or event.op == "removed" or not event.image_hashes:
            return None
        return event.region

    def state_keys(self, event: Event) -> tuple[str, ...]:
        """One bucket per band of each photo, ``country:band:slice``, in photo order."""
        return tuple(self._filed(event))

    def initial_state(self) -> dict[str, Any]:
        return {"buckets": {}}

    def detect(self, event: Event, state: dict[str, Any] | None) -> tuple[dict[str, Any], list[Signal]]:
        """The whole-index form: every bucket of the country in one state (tests, tools)."""
        return run_buckets(self, event, state, MAX_BUCKETS)

    def detect_key(self, event: Event, key: str, bucket: Bucket | None) -> tuple[Bucket, list[Signal]]:
        """The listing's photos filed in bucket `key` against the bucket's photos; matches as a partial."""
        held: list[list[str]] = bucket.get("photos", []) if bucket else []
        if not isinstance(event, ListingEvent):
            return {"photos": held}, []
        filed = self._filed(event).get(key)
        if not filed:
            return {"photos": held}, []
        p = self.params
        limit = p.max_distance
        seller_best: dict[str, int] = {}
        added: list[list[str]] = []
        held_ints = [(int(hx, 16), seller) for hx, seller in held]
        for h in filed:
            same_seller_same_photo = False
            for x, seller in held_ints:
                d = (x ^ h).bit_count()
                if d > limit:
                    continue
                if seller == event.seller_id:
                    same_seller_same_photo = same_seller_same_photo or d == 0
                    continue
                seller_best[seller] = min(d, seller_best.get(seller, 64))
            if not same_seller_same_photo:
                added.append([f"{h:016x}", event.seller_id])
        new: Bucket = {"photos": (held + added)[-p.bucket_photos:]} if added else {"photos": held}
        if not seller_best:
            return new, []
        return new, [partial(self.id, event, entity_type="listing", entity_id=event.listing_id,
                             evidence={"sellers": seller_best})]

    def combine(self, event: Event, partials: list[Signal]) -> list[Signal]:
        """Other sellers matched in any of the listing's buckets; a signal when they are enough."""
        if not isinstance(event, ListingEvent):
            return []
        best: dict[str, int] = {}
        for s in partials:
            if s.code != PARTIAL or s.detector != self.id:
                continue
            for seller, d in s.evidence.get("sellers", {}).items():
                best[seller] = min(int(d), best.get(seller, 64))
        if len(best) < self.params.min_other_sellers:
            return []
        hashes = [parse_hash(h) for h in event.image_hashes]
        return [signal(
            self.id, event, code=self.REUSED, entity_type="listing", entity_id=event.listing_id,
            score=min(1.0, 0.5 + 0.1 * len(best)),
            evidence={"other_sellers": len(best), "sample_sellers": sorted(best)[:5],
                      "min_distance": min(best.values()), "max_distance": self.params.max_distance,
                      "invalid_hashes": len(hashes) - sum(h is not None for h in hashes)},
        )]
