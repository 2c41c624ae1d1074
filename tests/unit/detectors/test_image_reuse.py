from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import orjson
import pytest

from riskstream.contracts import ListingEvent, Signal, parse_time
from riskstream.detectors.image_reuse import CHUNK, ImageReuseDetector, ImageReuseParams

T0 = parse_time("2026-03-01T10:00:00Z")


def listing(i: int, seller: str, photos: list[str]) -> ListingEvent:
    return ListingEvent(event_id=f"e{i}", event_time=T0 + timedelta(seconds=i), region="GB", op="created",
                        listing_id=f"l{i}", seller_id=seller, category="bags", title="Flap bag", price=300.0,
                        currency="GBP", image_hashes=photos)


def stream(n: int, seed: int = 3) -> list[ListingEvent]:
    rng = random.Random(seed)
    base = [rng.getrandbits(64) for _ in range(40)]  # a pool of photos that sellers reuse, a few bits apart
    out = []
    for i in range(n):
        photos = [f"{rng.choice(base) ^ (1 << rng.randrange(64)):016x}" for _ in range(rng.randint(1, 3))]
        out.append(listing(i, f"s{rng.randrange(30)}", photos))
    return out


def held_pairs(state: dict[str, Any]) -> list[tuple[int, str]]:
    hexes = "".join(c[0] for c in state["chunks"])[16 * state["skip"]:]
    sellers = [s for c in state["chunks"] for s in c[1]][state["skip"]:]
    assert len(hexes) == 16 * len(sellers)
    return [(int(hexes[16 * i:16 * i + 16], 16), s) for i, s in enumerate(sellers)]


@pytest.mark.parametrize("max_photos", [1, 5, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 7])
def test_chunked_state_keeps_exactly_the_most_recent_photos(max_photos: int) -> None:
    params = ImageReuseParams(max_distance=0, min_other_sellers=1, max_photos=max_photos)
    d = ImageReuseDetector(params)
    events = stream(400)
    state: dict[str, Any] = d.initial_state()
    reference: list[tuple[int, str]] = []  # the remembered photos as one plain FIFO list
    for ev in events:
        state, _ = d.detect(ev, state)
        chunks, skip = state["chunks"], state["skip"]
        assert all(len(c[1]) == CHUNK for c in chunks[:-1]) and 0 <= skip < len(chunks[0][1])
        valid = list(dict.fromkeys(int(h, 16) for h in ev.image_hashes))
        added = [h for h in valid if (h, ev.seller_id) not in reference]  # max_distance 0: the same photo
        reference = (reference + [(h, ev.seller_id) for h in added])[-max_photos:]
        assert held_pairs(state) == reference
    assert len(reference) == max_photos


def test_signals_do_not_depend_on_the_decoded_cache_or_the_older_state_form() -> None:
    params = ImageReuseParams(max_distance=4, min_other_sellers=2, max_photos=150)
    events = stream(600)
    warm = ImageReuseDetector(params)
    state: dict[str, Any] = warm.initial_state()
    out_warm: list[list[Signal]] = []
    out_cold: list[list[Signal]] = []
    for ev in events:
        # A fresh detector each time (no cache) from a JSON round trip must see what the warm one sees.
        cold_state, cold = ImageReuseDetector(params).detect(ev, orjson.loads(orjson.dumps(state)))
        state, signals = warm.detect(ev, state)
        assert cold_state == state
        out_warm.append(signals)
        out_cold.append(cold)
    assert out_warm == out_cold and any(out_warm)
    # The older form: one hex string and one list of sellers.
    pairs = held_pairs(state)
    older = {"hashes": "".join(f"{h:016x}" for h, _ in pairs), "sellers": [s for _, s in pairs]}
    probe = listing(10_000, "s-new", [f"{pairs[0][0]:016x}"])
    assert ImageReuseDetector(params).detect(probe, older)[1] == warm.detect(probe, state)[1]
