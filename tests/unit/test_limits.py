"""Input limits at decode: oversized records and fields, numbers and times out of range."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest

from riskstream.contracts import parse_time
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.settings import LimitSettings, Settings
from tests.paths import REPO

NOW = parse_time("2026-06-01T12:00:00Z")


def listing(**over: Any) -> bytes:
    rec: dict[str, Any] = {
        "kind": "listing", "event_id": "e1", "event_time": NOW.isoformat(), "region": "DE", "op": "created",
        "listing_id": "l1", "seller_id": "s1", "category": "toys", "title": "Wooden train", "price": 12.5,
        "currency": "EUR",
    }
    rec.update(over)
    return orjson.dumps(rec)


@pytest.fixture(scope="module")
def engine() -> Engine:
    eng = Engine(default_registry())
    eng.set_policy(load_policy(REPO / "policies" / "eu.yaml", default_registry()))
    return eng


@pytest.mark.parametrize(("raw", "reason", "measured"), [
    (listing(title="x" * 10_001), "too_large", 10_001),
    (listing(description="x" * 20_000), "too_large", 20_000),
    (listing(seller_id="s" * 600), "too_large", 600),
    (listing(certifications=["CE"] * 300), "too_large", 300),
    (listing(image_hashes=["h" * 513]), "too_large", 513),
    (listing(attributes={f"k{i}": "v" for i in range(129)}), "too_large", 129),
    (listing(attributes={"material": "v" * 1000}), "too_large", 1000),
    (listing(title="x" * 300_000), "too_large", None),  # the record, counted in bytes before parsing
    (listing(price=1e308), "out_of_range", None),
    (listing(price=1e11 + 1), "out_of_range", int(1e11 + 1)),
    (listing(seller_age_days=10**9), "out_of_range", 10**9),
    (listing(event_time="0001-01-01T00:00:00Z"), "out_of_range", None),
    (listing(event_time="0001-01-01T00:00:00+05:00"), "out_of_range", None),
    (listing(event_time="9999-12-31T23:59:59Z"), "out_of_range", None),
    (listing(event_time="9999-12-31T23:59:59-05:00"), "out_of_range", None),
    (listing(event_time=(NOW - timedelta(days=31)).isoformat()), "out_of_range", None),
    (listing(event_time=(NOW + timedelta(days=2)).isoformat()), "out_of_range", None),
])
def test_refused_with_reason_and_measured_size(engine: Engine, raw: bytes, reason: str, measured: int | None) -> None:
    out = engine.handle_raw("listing", raw, now=NOW)
    assert out.dead_letter is not None and out.dead_letter[0] == reason, out.dead_letter
    assert out.measured is not None
    if measured is not None:
        assert out.measured == measured
    if reason == "too_large" and measured is None:
        assert out.measured == len(raw)


@pytest.mark.parametrize("raw", [
    listing(title="x" * 10_000),
    listing(price=1e11),
    listing(event_time=(NOW - timedelta(days=29)).isoformat()),
    listing(event_time=(NOW + timedelta(hours=23)).isoformat()),
    listing(attributes={f"k{i}": "v" * 512 for i in range(128)}),
])
def test_at_the_limit_is_accepted(engine: Engine, raw: bytes) -> None:
    assert engine.handle_raw("listing", raw, now=NOW).dead_letter is None


def test_recall_notices_are_exempt_from_the_age_window(engine: Engine) -> None:
    old = orjson.dumps({"kind": "recall", "event_id": "r", "event_time": "2025-01-01T00:00:00Z", "region": "DE",
                        "recall_id": "R-1", "product_terms": ["baby rocker"]})
    assert engine.handle_raw("recall", old, now=NOW).dead_letter is None


def test_window_can_be_switched_off_but_hard_bounds_hold() -> None:
    limits = Settings.from_env({"RISKSTREAM_MAX_EVENT_AGE_DAYS": "off"}).limits
    eng = Engine(default_registry(), limits=limits)
    eng.set_policy(load_policy(REPO / "policies" / "eu.yaml", default_registry()))
    assert eng.handle_raw("listing", listing(event_time="2020-01-01T00:00:00Z"), now=NOW).dead_letter is None
    out = eng.handle_raw("listing", listing(event_time="1900-01-01T00:00:00Z"), now=NOW)
    assert out.dead_letter is not None and out.dead_letter[0] == "out_of_range"


def test_limits_read_from_the_environment() -> None:
    limits = LimitSettings.from_env({"RISKSTREAM_MAX_RECORD_BYTES": "1000", "RISKSTREAM_MAX_TEXT_CHARS": "50",
                                     "RISKSTREAM_MAX_EVENT_LEAD_DAYS": "0.5", "RISKSTREAM_MAX_PRICE": "1e6"})
    assert (limits.max_record_bytes, limits.max_text_chars, limits.max_event_lead_days, limits.max_price) == (
        1000, 50, 0.5, 1e6)


def test_the_fast_size_check_agrees_with_the_field_by_field_one() -> None:
    """`check_limits` skips the field-by-field pass when a few C-level passes show nothing is over."""
    import random

    from riskstream.contracts import EVENT_TYPES, InvalidEvent, _check_sizes, _size_plan, decode

    rng = random.Random(5)
    pools = {
        "listing": lambda n: listing(title="t" * n(), description="d" * n(), brand=rng.choice([None, "b" * n()]),
                                     attributes={"k" * n(): "v" * n() for _ in range(n() % 5)},
                                     certifications=["c" * n() for _ in range(n() % 4)],
                                     image_hashes=["h" * n() for _ in range(n() % 4)], category="c" * (1 + n())),
        "review": lambda n: orjson.dumps({"event_id": "e" * (1 + n()), "event_time": NOW.isoformat(), "region": "DE",
                                          "review_id": "r", "listing_id": "l", "buyer_id": "b", "rating": 3,
                                          "text": "x" * n(), "language": "en", "verified_purchase": True,
                                          "account_age_days": 1, "seller_id": rng.choice([None, "s" * n()])}),
    }
    seen = {True: 0, False: 0}
    for _ in range(400):
        kind = rng.choice(sorted(pools))
        raw = pools[kind](lambda: rng.randrange(0, 14))
        record = decode(raw, EVENT_TYPES[kind])
        limits = LimitSettings(max_text_chars=rng.randrange(7, 14), max_short_chars=rng.randrange(8, 14),
                               max_list_items=rng.randrange(1, 4), max_attributes=rng.randrange(1, 4))
        plan = _size_plan(type(record))
        assert plan is not None
        try:
            _check_sizes(record, limits)
            over = False
        except InvalidEvent:
            over = True
        assert plan.within(record, limits) is not over
        seen[over] += 1
    assert min(seen.values()) > 50  # both outcomes were exercised
