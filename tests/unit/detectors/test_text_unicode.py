"""Unicode-grade normalisation, the mixed_script detector and image_reuse: obfuscated and honest cases."""

from __future__ import annotations

from typing import Any

import pytest

from riskstream.contracts import ListingEvent, parse_time
from riskstream.detectors.image_reuse import ImageReuseDetector, ImageReuseParams
from riskstream.detectors.mixed_script import MixedScriptDetector, MixedScriptParams
from riskstream.detectors.prohibited_terms import ProhibitedTermsDetector, ProhibitedTermsParams
from riskstream.detectors.text import MAX_NORMALIZED_CHARS, TermMatcher, forms, inspect, normalize

T0 = parse_time("2026-03-02T10:00:00Z")
TERMS = ("elephant ivory", "semaglutide", "tiger bone", "inclined sleeper", "rhino horn")
MATCHER = TermMatcher(TERMS, exceptions=("bone china",))


def listing(title: str, i: int = 0, **kw: Any) -> ListingEvent:
    base: dict[str, Any] = dict(event_id=f"e{i}", event_time=T0, region="DE", op="created", listing_id=f"l{i}",
                                seller_id=f"s{i}", category="home", title=title, price=50.0, currency="EUR")
    base.update(kw)
    return ListingEvent(**base)


OBFUSCATED = [
    ("Carved еlерhаnt іvоrу figure", "elephant ivory"),                 # Cyrillic homoglyphs
    ("Carved \u202eyrovi tnahpele\u202c figure", "elephant ivory"),      # right-to-left override, displays right
    ("ｅｌｅｐｈａｎｔ ｉｖｏｒｙ", "elephant ivory"),                          # fullwidth
    ("𝐞𝐥𝐞𝐩𝐡𝐚𝐧𝐭 𝐢𝐯𝐨𝐫𝐲 statue", "elephant ivory"),                        # mathematical bold
    ("ele\u200bphant iv\u200do\u00adry", "elephant ivory"),             # zero-width space, ZWJ, soft hyphen
    ("sema\u2060glutide drops", "semaglutide"),                          # word joiner
    ("rhinο hοrn", "rhino horn"),                                        # Greek omicron
    ("ΙNCLΙNED SLEEPER", "inclined sleeper"),                            # Greek capital iota
    ("rhinо hоrn powder", "rhino horn"),                                 # Cyrillic o
    ("s3m4glut1de", "semaglutide"),                                      # leetspeak
]

HONEST = [
    "Tiger bone china tea set",                  # porcelain
    "Fine bone china teacups, tiger pattern",
    "Ivory white linen blouse",
    "Деревянный поезд 40 деталей",               # Russian
    "Ξύλινο τρενάκι 40 τεμάχια",                 # Greek
    "قطار خشبي ٤٠ قطعة",                          # Arabic
    "ソニー ワイヤレスイヤホン ノイズキャンセリング",   # Japanese
    "Sony ワイヤレスイヤホン 充電器付き",            # Japanese with a Latin brand
    "ชุดรถไฟไม้ 40 ชิ้น WiFi",                     # Thai with Latin
    "Schlaf\u00adsack für Babys",                # soft hyphen, honest
    "Family 👨\u200d👩\u200d👧 mug",              # emoji ZWJ sequence
]


@pytest.mark.parametrize(("title", "term"), OBFUSCATED)
def test_obfuscated_terms_are_found(title: str, term: str) -> None:
    assert term in MATCHER.find(title)


@pytest.mark.parametrize("title", HONEST)
def test_honest_look_alikes_match_no_term(title: str) -> None:
    assert MATCHER.find(title) == []


@pytest.mark.parametrize("title", HONEST)
def test_honest_titles_raise_no_mixed_script_signal(title: str) -> None:
    _, signals = MixedScriptDetector(MixedScriptParams()).detect(listing(title), None)
    assert signals == []


@pytest.mark.parametrize(
    ("title", "code"),
    [
        ("Cаstеllanе flap bag", "mixed_script"),
        ("Carved \u202eyrovi\u202c", "bidi_override"),
        ("sema\u200bglutide", "invisible_characters"),
        ("рoрс bag", "mixed_script"),              # a word wholly in Cyrillic look-alikes in Latin text
        ("x" * 9000, "text_truncated"),
    ],
)
def test_spoofing_is_a_signal_of_its_own(title: str, code: str) -> None:
    _, signals = MixedScriptDetector(MixedScriptParams()).detect(listing(title), None)
    assert code in [s.code for s in signals]


def test_tiger_bone_china_is_not_prohibited_but_tiger_bone_is() -> None:
    d = ProhibitedTermsDetector(ProhibitedTermsParams(prohibited=("tiger bone",), exceptions=("bone china",)))
    assert d.detect(listing("Tiger bone china tea set"), None)[1] == []
    assert [s.code for s in d.detect(listing("Tiger bone wine, healing"), None)[1]] == ["prohibited_item"]


def test_nfkc_expansion_is_capped() -> None:
    text = "\ufdfa" * 300_000  # 300 K characters, each expanding to 18 under NFKC
    out = normalize(text)
    assert len(out) <= MAX_NORMALIZED_CHARS
    assert inspect(text).truncated


def test_visual_and_logical_forms() -> None:
    assert forms("\u202eyrovi tnahpele\u202c") == ("yrovi tnahpele", "elephant ivory")
    assert forms("plain ivory") == ("plain ivory",)


# ------------------------------------------------------------------ image_reuse


def photo_listing(i: int, seller: str, *hashes: str) -> ListingEvent:
    return listing("Flap bag", i, seller_id=seller, image_hashes=list(hashes))


def test_same_photo_across_sellers_fires_near_matches_too() -> None:
    d = ImageReuseDetector(ImageReuseParams(max_distance=4, min_other_sellers=2))
    state = d.initial_state()
    outs = []
    for i, (seller, h) in enumerate([("a", "ffff0000ffff0000"), ("b", "ffff0000ffff0003"), ("c", "ffff0000ffff0007")]):
        state, out = d.detect(photo_listing(i, seller, h), state)
        outs.append(out)
    assert [len(o) for o in outs] == [0, 0, 1]
    assert outs[2][0].evidence["min_distance"] == 1


@pytest.mark.parametrize(
    "events",
    [
        [("a", "ffff0000ffff0000"), ("a", "ffff0000ffff0000"), ("a", "ffff0000ffff0000")],  # one seller's own photo
        [("a", "ffff0000ffff0000"), ("b", "0000ffff0000ffff"), ("c", "123456789abcdef0")],  # unrelated photos
        [("a", "not-a-hash"), ("b", "not-a-hash"), ("c", "not-a-hash")],                    # invalid input
    ],
)
def test_no_reuse_no_signal(events: list[tuple[str, str]]) -> None:
    d = ImageReuseDetector(ImageReuseParams(min_other_sellers=2))
    state = d.initial_state()
    for i, (seller, h) in enumerate(events):
        state, out = d.detect(photo_listing(i, seller, h), state)
        assert out == []


def test_image_state_is_bounded() -> None:
    d = ImageReuseDetector(ImageReuseParams(bucket_photos=5))
    state = d.initial_state()
    for i in range(20):
        state, _ = d.detect(photo_listing(i, f"s{i}", "ffff0000ffff0000"), state)
    assert all(b["photos"] == [["ffff0000ffff0000", f"s{i}"] for i in range(15, 20)]
               for b in state["buckets"].values())
