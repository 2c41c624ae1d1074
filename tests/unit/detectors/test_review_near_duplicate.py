from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import orjson
import pytest

from riskstream.contracts import ReviewEvent, Signal, parse_time
from riskstream.detectors.review_near_duplicate import ReviewNearDuplicateDetector, ReviewNearDuplicateParams

T0 = parse_time("2026-03-01T10:00:00Z")
FARM_EN = "Amazing quality product, arrived quickly and works perfectly, I highly recommend this seller to everyone"
FARM_DE = "Tolles Produkt, super schnelle Lieferung und funktioniert einwandfrei, ich kann den Verkäufer nur empfehlen"


def review(i: int, text: str, *, buyer: str | None = None, listing: str | None = None,
           minutes: float = 0, region: str = "DE") -> ReviewEvent:
    return ReviewEvent(
        event_id=f"e{i}", event_time=T0 + timedelta(minutes=minutes), region=region, review_id=f"r{i}",
        listing_id=listing or f"l{i}", buyer_id=buyer or f"b{i}", rating=5, text=text, language="en",
        verified_purchase=False, account_age_days=3,
    )


def run(d: ReviewNearDuplicateDetector, events: list[ReviewEvent],
        state: dict[str, Any] | None = None) -> tuple[dict[str, Any], list[list[Signal]]]:
    st = d.initial_state() if state is None else state
    out = []
    for ev in events:
        st, signals = d.detect(ev, st)
        out.append(signals)
    return st, out


DEFAULT = ReviewNearDuplicateDetector(ReviewNearDuplicateParams())


@pytest.mark.parametrize(
    ("texts", "fires_at"),
    [
        # Three accounts, three listings, the same script lightly disguised.
        ([FARM_EN, FARM_EN.upper(), FARM_EN.replace(",", " !!! ")], [2]),
        # Leetspeak and dotted letters are undone by normalisation.
        ([FARM_EN, FARM_EN.replace("quality", "qu4l1ty"), FARM_EN.replace("seller", "s.e.l.l.e.r")], [2]),
        # Not English.
        ([FARM_DE, FARM_DE.lower(), FARM_DE + "!"], [2]),
        # One word swapped at the end still leaves most shingles shared.
        ([FARM_EN, FARM_EN, FARM_EN.replace("everyone", "anyone")], [2]),
        # Only two accounts: below min_accounts = 3.
        ([FARM_EN, FARM_EN], []),
        # Honest reviews that share words but not phrasing.
        ([
            "The quality is amazing and delivery was quick, the seller packed it very carefully",
            "Works perfectly after two weeks of daily use, battery lasts longer than I expected",
            "I recommend this to everyone who needs a small kettle for the office or camping",
        ], []),
        # Short texts never count, however many accounts post them.
        (["great!"] * 6 + ["Super, danke!"] * 6, []),
    ],
)
def test_farm_detection(texts: list[str], fires_at: list[int]) -> None:
    _, out = run(DEFAULT, [review(i, t) for i, t in enumerate(texts)])
    assert [i for i, s in enumerate(out) if s] == fires_at


def test_signal_covers_every_listing_of_the_cluster_once() -> None:
    events = [review(i, FARM_EN) for i in range(4)]
    _, out = run(DEFAULT, events)
    assert sorted((s.entity_type, s.entity_id) for s in out[2]) == [
        ("listing", "l0"), ("listing", "l1"), ("listing", "l2"), ("review", "r0"), ("review", "r1"), ("review", "r2")]
    # Earlier listings and reviews were already signalled.
    assert [(s.entity_type, s.entity_id) for s in out[3]] == [("listing", "l3"), ("review", "r3")]
    s = out[2][0]
    assert (s.code, s.entity_type, s.detector) == ("near_duplicate_reviews", "listing", "review_near_duplicate")
    assert s.evidence["distinct_accounts"] == 3
    assert s.evidence["buyer_ids"] == ["b0", "b1", "b2"]
    assert s.evidence["listing_ids"] == ["l0", "l1", "l2"]
    assert s.evidence["min_similarity"] >= 0.8
    assert 0 < s.score <= 1


def test_one_account_repeating_itself_is_not_a_farm() -> None:
    _, out = run(DEFAULT, [review(i, FARM_EN, buyer="same") for i in range(6)])
    assert not any(out)


def test_farm_on_one_listing_signals_it_once() -> None:
    _, out = run(DEFAULT, [review(i, FARM_EN, listing="l1") for i in range(3)])
    assert [s.entity_id for s in out[2] if s.entity_type == "listing"] == ["l1"]


def test_old_signatures_expire() -> None:
    d = ReviewNearDuplicateDetector(ReviewNearDuplicateParams(max_age_hours=1))
    events = [review(0, FARM_EN), review(1, FARM_EN, minutes=30), review(2, FARM_EN, minutes=61)]
    st, out = run(d, events)
    assert not any(out)
    assert all([e["review_id"] for e in b["ring"]] == ["r1", "r2"] for b in st["buckets"].values())


def test_bucket_is_bounded() -> None:
    d = ReviewNearDuplicateDetector(ReviewNearDuplicateParams(bucket_size=2))
    # A slow farm: the same script four times, one per account, in buckets holding two reviews.
    st, out = run(d, [review(i, FARM_EN) for i in range(4)])
    assert all(len(b["ring"]) <= 2 for b in st["buckets"].values())
    assert not any(out[:2]) and out[2]  # three accounts still meet: two held plus the new one


@pytest.mark.parametrize(("min_tokens", "fires"), [(8, True), (40, False)])
def test_min_tokens(min_tokens: int, fires: bool) -> None:
    d = ReviewNearDuplicateDetector(ReviewNearDuplicateParams(min_tokens=min_tokens))
    _, out = run(d, [review(i, FARM_EN) for i in range(3)])
    assert bool(out[2]) is fires


def test_threshold_one_requires_identical_shingles() -> None:
    d = ReviewNearDuplicateDetector(ReviewNearDuplicateParams(threshold=1.0, min_accounts=2))
    _, same = run(d, [review(0, FARM_EN), review(1, FARM_EN.lower())])
    _, changed = run(d, [review(0, FARM_EN), review(1, FARM_EN.replace("perfectly", "badly"))])
    assert same[1] and not changed[1]


def test_state_is_plain_json_and_round_trips() -> None:
    st, _ = run(DEFAULT, [review(0, FARM_EN), review(1, FARM_EN)])
    restored = orjson.loads(orjson.dumps(st))
    assert restored == st
    entry = next(iter(st["buckets"].values()))["ring"][0]
    assert isinstance(entry["h"], str) and len(entry["h"]) == 8 * 64
    _, a = DEFAULT.detect(review(2, FARM_EN), st)
    _, b = DEFAULT.detect(review(2, FARM_EN), restored)
    assert a == b and len(a) == 6


def test_signatures_are_deterministic_across_instances() -> None:
    other = ReviewNearDuplicateDetector(ReviewNearDuplicateParams())
    assert DEFAULT.signature(FARM_EN) == other.signature(FARM_EN)
    assert DEFAULT.signature("too short") is None


def test_detect_does_not_mutate_input_state() -> None:
    st, _ = run(DEFAULT, [review(0, FARM_EN), review(1, FARM_EN)])
    before = orjson.dumps(st)
    DEFAULT.detect(review(2, FARM_EN), st)
    assert orjson.dumps(st) == before


def test_state_key_is_the_country() -> None:
    assert DEFAULT.state_key(review(0, FARM_EN, region="FR")) == "FR"


def test_state_keys_are_one_bucket_per_band() -> None:
    keys = DEFAULT.state_keys(review(0, FARM_EN, region="FR"))
    assert len(keys) == len(set(keys)) == 8 and all(k.startswith("FR:") for k in keys)
    assert DEFAULT.state_keys(review(1, "too short", region="FR")) == ()


def test_near_texts_share_a_band_and_unrelated_ones_rarely_do() -> None:
    """The band keying: what a bucket sees.  Near copies meet, other texts almost never do."""
    base = DEFAULT.state_keys(review(0, FARM_EN))
    variants = [FARM_EN.upper(), FARM_EN.replace("everyone", "anyone"), FARM_EN + " thanks again",
                FARM_EN.replace("quality", "qu4l1ty")]
    for text in variants:
        assert set(DEFAULT.state_keys(review(1, text))) & set(base), text
    vocabulary = ("battery kettle office camping delivery parcel colour size strap fabric zip box lamp cable "
                  "charger screen sound quiet loud bright warm soft hard light heavy small large blue red")
    words = vocabulary.split(" ")
    shared = 0
    for i in range(200):
        text = " ".join(words[(i * 7 + j * (i % 5 + 1)) % len(words)] for j in range(14))
        shared += bool(set(DEFAULT.state_keys(review(2 + i, text))) & set(base))
    assert shared <= 2


def test_whole_index_equals_its_buckets_combined() -> None:
    """`detect` (one state) gives what the engine's per-bucket steps and `combine` give."""
    texts = [FARM_EN, FARM_DE, FARM_EN.upper(), FARM_DE.lower(), FARM_EN + " ok", FARM_EN, FARM_DE + "!"]
    events = [review(i, t, listing=f"l{i % 3}") for i, t in enumerate(texts)]
    whole, out = run(DEFAULT, events)
    buckets: dict[str, Any] = {}
    for ev, want in zip(events, out, strict=True):
        partials = []
        for key in DEFAULT.state_keys(ev):
            buckets[key], found = DEFAULT.detect_key(ev, key, buckets.get(key))
            partials.extend(found)
        assert DEFAULT.combine(ev, partials) == want
    assert buckets == whole["buckets"] and any(out)


@pytest.mark.parametrize("bad", [{"min_accounts": 1}, {"threshold": 0.0}, {"min_tokens": 2, "shingle_size": 3},
                                 {"bands": 17, "rows": 4}, {"bucket_size": 0}])
def test_invalid_params_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ReviewNearDuplicateDetector(ReviewNearDuplicateParams(**bad))


def test_params_load_from_policy_data() -> None:
    p = msgspec.convert({"threshold": 0.9, "bucket_size": 100}, ReviewNearDuplicateParams)
    assert (p.threshold, p.bucket_size, p.num_perm, p.bands, p.rows) == (0.9, 100, 64, 8, 4)
