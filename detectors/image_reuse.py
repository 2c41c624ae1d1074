"""The same product photo listed by unrelated sellers: a counterfeit (or stolen-listing) signal.

Counterfeiters reuse the brand's or each other's product photos; honest
sellers photograph their own item.  Listings carry perceptual hashes of
their photos (`ListingEvent.image_hashes`, 64-bit pHash/dHash as 16 hex
digits); a re-encoded, resized or lightly cropped copy of a photo has a hash
a few bits away, so photos match when their Hamming distance is at most
``max_distance``.  A listing fires when one of its photos matches photos of
at least ``min_other_sellers`` *other* sellers seen in the same country.

State key: the listing's country (``event.region``); state: the most recent
``max_photos`` (hash, seller) pairs, oldest evicted first, so the size is
bounded and a match costs at most ``max_photos`` XOR-and-popcounts per photo
(one vectorised pass).  The pairs are kept in chunks of `CHUNK` photos that
successive states share (only the last chunk is copied when a photo is
added, the first dropped when it has aged out), so adding a photo costs the
same whatever ``max_photos`` is, and the detector stays pure.  The state is kept whole in each worker
(``local_state``): a country's index is a hot key whose record is too large to
rewrite per event; spreading it by hash bands is the next step.
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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

import numpy as np

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import signal

State = dict[str, Any]
"""``{"chunks": [[16 hex digits per photo, [seller_id per photo]], ...], "skip": n}``: photos oldest
first; every chunk but the last holds `CHUNK` photos, and the first `skip` photos of the first chunk have
aged out.  (The older ``{"hashes", "sellers"}`` and ``{"photos"}`` forms are read too.)"""

CHUNK: Final = 64

_MASK: Final = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class ImageReuseParams:
    """Parameters.

    * ``max_distance``: Hamming distance (bits of 64) up to which two photos are the same.
    * ``min_other_sellers``: distinct other sellers whose photo must match.
    * ``max_photos``: photos remembered per country.
    """

    max_distance: int = 6
    min_other_sellers: int = 2
    max_photos: int = 3000


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


def _chunks(state: State) -> tuple[list[list[Any]], int]:
    """The state's photos as (chunks, skip); converts the older forms."""
    if "chunks" in state:
        return state["chunks"], int(state.get("skip", 0))
    if "photos" in state:
        hexes = "".join(f"{int(h) & _MASK:016x}" for h, _ in state["photos"])
        sellers = [str(s) for _, s in state["photos"]]
    else:
        hexes, sellers = state.get("hashes", ""), list(state.get("sellers", []))
    return [[hexes[16 * i:16 * (i + CHUNK)], sellers[i:i + CHUNK]] for i in range(0, len(sellers), CHUNK)], 0


def _count(chunks: list[list[Any]], skip: int) -> int:
    return (len(chunks) - 1) * CHUNK + len(chunks[-1][1]) - skip if chunks else 0


class ImageReuseDetector:
    """Matches a listing's photo hashes against other sellers' recent photos in its country."""

    # Per-worker state, not partitioned by its key (see the module docstring).
    local_state: ClassVar[bool] = True
    id: ClassVar[str] = "image_reuse"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[ImageReuseParams]] = ImageReuseParams

    REUSED: Final = "image_reused"

    def __init__(self, params: ImageReuseParams) -> None:
        if not 0 <= params.max_distance < 32 or params.min_other_sellers < 1 or params.max_photos < 1:
            raise ValueError("max_distance must be in [0, 32), min_other_sellers >= 1, max_photos >= 1")
        self.params = params
        # The decoded form of each country's last state (its chunk list, held so that identity means
        # equality; the photos' hashes as native uint64), so a listing does not decode the whole index
        # again.  At most one entry per country, `max_photos` x 8 bytes each.
        self._decoded: dict[str, tuple[list[list[Any]], np.ndarray[Any, np.dtype[np.uint64]]]] = {}

    def _held(self, country: str, chunks: list[list[Any]], skip: int) -> np.ndarray[Any, np.dtype[np.uint64]]:
        cached = self._decoded.get(country)
        if cached is not None and cached[0] is chunks:
            return cached[1]
        hexes = "".join(c[0] for c in chunks)[16 * skip:]
        held = np.frombuffer(bytes.fromhex(hexes), dtype=">u8").astype(np.uint64)
        self._decoded[country] = (chunks, held)
        return held

    def state_key(self, event: Event) -> str | None:
        if not isinstance(event, ListingEvent) or event.op == "removed" or not event.image_hashes:
            return None
        return event.region

    def initial_state(self) -> State:
        return {"chunks": [], "skip": 0}

    def detect(self, event: Event, state: State | None) -> tuple[State, list[Signal]]:
        """`state` None (the engine passes it for events with no key) is a fresh state."""
        if state is None:
            state = self.initial_state()
        if not isinstance(event, ListingEvent) or self.state_key(event) is None:
            return state, []
        p = self.params
        chunks, skip = _chunks(state)
        count = _count(chunks, skip)
        hashes = [parse_hash(h) for h in event.image_hashes]
        valid = list(dict.fromkeys(h for h in hashes if h is not None))
        sellers: set[str] = set()
        best = 64
        added: list[int] = []
        held: np.ndarray[Any, np.dtype[np.uint64]] | None = None
        if count and valid:
            held = self._held(event.region, chunks, skip)
            # Every photo of the listing against every remembered one in one pass; most photos are
            # close to none, and then nothing else is computed.
            photos = np.array(valid, dtype=np.uint64)
            all_distances = np.bitwise_count(photos[:, None] ^ held)
            near: np.ndarray[Any, np.dtype[np.bool_]] = all_distances <= p.max_distance
            rows: list[bool] = np.any(near, axis=1).tolist()
            for row, h in enumerate(valid):
                same_seller_same_photo = False
                if not rows[row]:
                    added.append(h)
                    continue
                distances = all_distances[row]
                for i in np.flatnonzero(near[row]).tolist():
                    at = i + skip
                    seller = chunks[at // CHUNK][1][at % CHUNK]
                    if seller == event.seller_id:
                        same_seller_same_photo = same_seller_same_photo or int(held[i]) == h
                        continue
                    sellers.add(seller)
                    best = min(best, int(distances[i]))
                if not same_seller_same_photo:
                    added.append(h)
        else:
            added = valid
        if added:
            new_chunks, new_skip = _append_chunks(chunks, skip, count, added, event.seller_id, p.max_photos)
            new_state: State = {"chunks": new_chunks, "skip": new_skip}
            if held is not None:
                new_photos = photos if len(added) == len(valid) else np.array(added, dtype=np.uint64)
                fresh = np.concatenate((held, new_photos))
                if len(fresh) > p.max_photos:
                    fresh = fresh[-p.max_photos:]
                self._decoded[event.region] = (new_chunks, fresh)
        else:
            new_state = state
        if len(sellers) < p.min_other_sellers:
            return new_state, []
        return new_state, [signal(
            self.id, event, code=self.REUSED, entity_type="listing", entity_id=event.listing_id,
            score=min(1.0, 0.5 + 0.1 * len(sellers)),
            evidence={"other_sellers": len(sellers), "sample_sellers": sorted(sellers)[:5],
                      "min_distance": best, "max_distance": p.max_distance,
                      "invalid_hashes": len(hashes) - sum(h is not None for h in hashes)},
        )]


def _append_chunks(chunks: list[list[Any]], skip: int, count: int, added: list[int], seller: str,
                   keep: int) -> tuple[list[list[Any]], int]:
    """New (chunks, skip) with `added` appended and the oldest beyond `keep` dropped; `chunks` untouched."""
    out = list(chunks)
    todo = list(added)
    if out and len(out[-1][1]) < CHUNK:
        last_hex, last_sellers = out[-1]
        room = CHUNK - len(last_sellers)
        take, todo = todo[:room], todo[room:]
        out[-1] = [last_hex + "".join(f"{h:016x}" for h in take), [*last_sellers, *([seller] * len(take))]]
    for i in range(0, len(todo), CHUNK):
        part = todo[i:i + CHUNK]
        out.append(["".join(f"{h:016x}" for h in part), [seller] * len(part)])
    skip += max(0, count + len(added) - keep)
    while out and skip >= len(out[0][1]):
        skip -= len(out[0][1])
        out.pop(0)
    return out, skip
