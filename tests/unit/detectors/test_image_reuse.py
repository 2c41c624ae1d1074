from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import orjson
import pytest

from riskstream.contracts import ListingEvent, Signal, parse_time
from riskstream.detectors.image_reuse import ImageReuseDetector, ImageReuseParams
from riskstream.detectors.lsh import bit_bands, bit_slices

T0 = parse_time("2026-03-01T10:00:00Z")


def listing(i: int, seller: str, photos: list[str], region: str = "GB") -> ListingEvent:
    return ListingEvent(event_id=f"e{i}", event_time=T0 + timedelta(seconds=i), region=region, op="created",
                        listing_id=f"l{i}", seller_id=seller, category="bags", title="Flap bag", price=300.0,
                        currency="GBP", image_hashes=photos)


def flip(rng: random.Random, value: int, n: int) -> int:
    for b in rng.sample(range(64), n):
        value ^= 1 << b
    return value


def stream(n: int, seed: int = 3) -> list[ListingEvent]:
    rng = random.Random(seed)
    base = [rng.getrandbits(64) for _ in range(40)]  # a pool of photos that sellers reuse, a few bits apart
    out = []
    for i in range(n):
        photos = [f"{flip(rng, rng.choice(base), rng.randint(0, 3)):016x}" for _ in range(rng.randint(1, 3))]
        out.append(listing(i, f"s{rng.randrange(30)}", photos))
    return out


@pytest.mark.parametrize("bands", [1, 4, 7, 13, 64])
def test_bit_slices_cover_the_64_bits_once(bands: int) -> None:
    covered = 0
    for shift, width in bit_slices(bands):
        mask = ((1 << width) - 1) << shift
        assert covered & mask == 0
        covered |= mask
    assert covered == (1 << 64) - 1 and len(bit_slices(bands)) == bands


@pytest.mark.parametrize("max_distance", [0, 3, 6, 10])
def test_hashes_within_max_distance_always_share_a_band(max_distance: int) -> None:
    """Pigeonhole: max_distance + 1 bands, so d <= max_distance flipped bits leave one band intact."""
    rng = random.Random(max_distance)
    for _ in range(2000):
        a = rng.getrandbits(64)
        b = flip(rng, a, rng.randint(0, max_distance))
        assert set(bit_bands(a, max_distance + 1)) & set(bit_bands(b, max_distance + 1))


def test_unrelated_hashes_rarely_share_a_band() -> None:
    rng = random.Random(7)
    shared = sum(bool(set(bit_bands(rng.getrandbits(64), 7)) & set(bit_bands(rng.getrandbits(64), 7)))
                 for _ in range(5000))
    assert shared / 5000 < 0.03  # 7 bands of 9-10 bits: about 7 / 512


def brute_force(events: list[ListingEvent], p: ImageReuseParams) -> list[set[str]]:
    """The old per-country index with unbounded memory: other sellers within max_distance."""
    held: list[tuple[int, str]] = []
    out = []
    for ev in events:
        photos = list(dict.fromkeys(int(h, 16) for h in ev.image_hashes))
        sellers: set[str] = set()
        added = []
        for h in photos:
            near = [(x, s) for x, s in held if (x ^ h).bit_count() <= p.max_distance]
            sellers |= {s for _, s in near if s != ev.seller_id}
            if not any(s == ev.seller_id and x == h for x, s in near):
                added.append((h, ev.seller_id))
        held += added
        out.append(sellers if len(sellers) >= p.min_other_sellers else set())
    return out


@pytest.mark.parametrize("max_distance", [2, 4, 6])
def test_band_index_finds_what_a_full_scan_finds(max_distance: int) -> None:
    params = ImageReuseParams(max_distance=max_distance, min_other_sellers=2, bucket_photos=10_000)
    d = ImageReuseDetector(params)
    events = stream(500)
    state: dict[str, Any] = d.initial_state()
    got = []
    for ev in events:
        state, out = d.detect(ev, state)
        assert len(out) <= 1  # one signal per listing, however many buckets matched
        got.append(set(out[0].evidence["sample_sellers"]) if out else set())
        if out:
            assert out[0].evidence["other_sellers"] >= 2
    want = [set(sorted(s)[:5]) for s in brute_force(events, params)]
    assert got == want and any(got)


def test_whole_index_equals_its_buckets_combined_and_round_trips() -> None:
    params = ImageReuseParams(max_distance=4, min_other_sellers=2, bucket_photos=20)
    d = ImageReuseDetector(params)
    state: dict[str, Any] = d.initial_state()
    buckets: dict[str, Any] = {}
    fired = 0
    for ev in stream(400):
        state, want = d.detect(ev, orjson.loads(orjson.dumps(state)))
        partials: list[Signal] = []
        for key in d.state_keys(ev):
            buckets[key], found = ImageReuseDetector(params).detect_key(ev, key, buckets.get(key))
            partials.extend(found)
        assert d.combine(ev, partials) == want
        fired += bool(want)
    assert buckets == state["buckets"] and fired


def test_buckets_are_bounded() -> None:
    d = ImageReuseDetector(ImageReuseParams(max_distance=0, min_other_sellers=1, bucket_photos=3))
    state: dict[str, Any] = d.initial_state()
    for i in range(10):  # the same photo from ten sellers: every bucket keeps the last three
        state, out = d.detect(listing(i, f"s{i}", ["ffff0000ffff0000"]), state)
        assert bool(out) is (i > 0)
    assert all(b["photos"] == [["ffff0000ffff0000", f"s{i}"] for i in (7, 8, 9)] for b in state["buckets"].values())


def test_keys_are_per_country_and_skip_invalid_and_removed() -> None:
    d = ImageReuseDetector(ImageReuseParams(max_distance=3))
    keys = d.state_keys(listing(1, "s", ["ffff0000ffff0000", "not-a-hash"], region="FR"))
    assert len(keys) == 4 and all(k.startswith("FR:") for k in keys)
    removed = ListingEvent(event_id="e", event_time=T0, region="FR", op="removed", listing_id="l", seller_id="s",
                           category="bags", title="t", price=1.0, currency="EUR", image_hashes=["ffff0000ffff0000"])
    assert d.state_keys(removed) == () and d.state_keys(listing(2, "s", [])) == ()
