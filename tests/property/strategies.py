"""Hypothesis strategies for every input contract: valid records and ways to break them.

`inputs(kind)` draws `(raw bytes, expected, how)` where `expected` is
``"valid"`` (built within every contract rule and limit), ``"invalid"``
(broken in a way that must be dead-lettered) or ``"unknown"`` (arbitrary:
either is fine, but never a crash).

Hypothesis chooses how to break the record (`how`, shrinkable) and a seed;
the record's field values come from a `random.Random` with that seed.  One
hypothesis draw per field made 10,000 cases cost 3 minutes per kind (about
46 draws per case); three draws per case keep the CI profile in budget while
hypothesis still explores, replays (`print_blob`) and shrinks the choice of
mutation.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import orjson
from hypothesis import strategies as st

from riskstream.contracts import parse_time
from riskstream.regions import COUNTRIES
from riskstream.settings import LimitSettings

NOW = parse_time("2026-06-01T12:00:00Z")
LIMITS = LimitSettings()
Expected = Literal["valid", "invalid", "unknown"]

_COUNTRIES = sorted(COUNTRIES)
_HOSTILE = ["\ufdfa", "\u0301", "\u200b", "\U0001f600", "ß", "İ", "\u0e49", "!", "1", "|", " ", "x", "\x00", "\ufeff"]
_PLANES = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x52F), (0x600, 0x6FF), (0xE00, 0xE7F), (0x3040, 0x9FFF),
           (0xFB00, 0xFDFF), (0x1F300, 0x1FAFF), (0x0, 0x1F), (0xE000, 0xF8FF)]


def _char(rng: random.Random) -> str:
    lo, hi = rng.choice(_PLANES)
    return chr(rng.randint(lo, hi))


def text(rng: random.Random, max_size: int = 60) -> str:
    r = rng.random()
    if r < 0.5:
        return "".join(_char(rng) for _ in range(rng.randint(0, max_size)))
    if r < 0.8:
        return "".join(rng.choice(_HOSTILE) for _ in range(rng.randint(0, max_size)))
    return rng.choice(_HOSTILE) * rng.randint(0, LIMITS.max_text_chars)


def ident(rng: random.Random) -> str:
    return "".join(_char(rng) for _ in range(rng.randint(1, 24)))


def valid_time(rng: random.Random) -> str:
    t = NOW - timedelta(days=29.9) + timedelta(seconds=rng.uniform(0, 30.8 * 86400))
    return t.astimezone(timezone(timedelta(minutes=rng.choice([0, 330, -480, 840])))).isoformat()


def any_time(rng: random.Random) -> datetime:
    t = datetime(1, 1, 2, tzinfo=UTC) + timedelta(seconds=rng.uniform(0, 3.15e11))
    return t.replace(tzinfo=timezone(timedelta(minutes=rng.randint(-1439, 1439))))


def json_value(rng: random.Random, depth: int = 0) -> Any:
    r = rng.random()
    if depth < 3 and r < 0.15:
        return [json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    if depth < 3 and r < 0.3:
        return {text(rng, 8): json_value(rng, depth + 1) for _ in range(rng.randint(0, 4))}
    return rng.choice([
        None, True, False, rng.randint(-(2**63), 2**64 - 1), rng.randint(-10, 10), rng.uniform(-1e308, 1e308),
        rng.random(), text(rng, 20), "", "2026-06-01T00:00:00", "2026-06-01T00:00:00Z", "NaN",
    ])


def _base(rng: random.Random, kind: str) -> dict[str, Any]:
    return {"kind": kind, "event_id": ident(rng), "event_time": valid_time(rng), "region": rng.choice(_COUNTRIES)}


def _optional(rng: random.Random, rec: dict[str, Any], fields: dict[str, Any]) -> None:
    for name, make in fields.items():
        if rng.random() < 0.5:
            rec[name] = make()


def valid_record(rng: random.Random, kind: str) -> dict[str, Any]:
    rec = _base(rng, kind)

    def short() -> str:
        return "".join(_char(rng) for _ in range(rng.randint(1, 24)))

    def shorts(n: int) -> list[str]:
        return [short() for _ in range(rng.randint(0, n))]

    if kind == "listing":
        rec.update(op=rng.choice(["created", "updated", "removed"]), listing_id=ident(rng), seller_id=ident(rng),
                   category=ident(rng), title=text(rng), price=rng.choice([0.0, 1.0, rng.uniform(0, LIMITS.max_price)]),
                   currency=rng.choice(["EUR", "USD", "GBP", "SGD", "THB"]))
        _optional(rng, rec, {
            "description": lambda: text(rng, 200), "attributes": lambda: {short(): short() for _ in range(rng.randint(0, 8))},
            "certifications": lambda: shorts(5), "brand": lambda: rng.choice([None, short()]),
            "image_hashes": lambda: shorts(5),
            "seller_age_days": lambda: rng.choice([None, 0, rng.randint(0, LIMITS.max_count)])})
    elif kind == "review":
        rec.update(review_id=ident(rng), listing_id=ident(rng), buyer_id=ident(rng), rating=rng.randint(1, 5),
                   text=text(rng), language="".join(rng.choice("abcdefghijklmnopqrstuvwxyz-")
                                                     for _ in range(rng.randint(2, 8))),
                   verified_purchase=rng.random() < 0.5, account_age_days=rng.randint(0, LIMITS.max_count))
        _optional(rng, rec, {"seller_id": lambda: rng.choice([None, ident(rng)])})
    elif kind == "content":
        rec.update(content_id=ident(rng), creator_id=ident(rng), content_kind=rng.choice(["video", "live", "post"]),
                   text=text(rng))
        _optional(rng, rec, {"linked_listing_ids": lambda: shorts(6), "paid_promotion": lambda: rng.random() < 0.5,
                             "promotion_disclosed": lambda: rng.random() < 0.5, "language": short})
    elif kind == "recall":
        rec.update(recall_id=ident(rng), product_terms=shorts(6))
        _optional(rng, rec, {"brand": lambda: rng.choice([None, short()]), "hazard": lambda: text(rng),
                             "authority": short})
    else:
        rec.update(action_id=ident(rng), rule=ident(rng),
                   outcome=rng.choice(["confirmed", "overturned", "appeal_granted"]))
    return rec


REQUIRED: dict[str, list[str]] = {
    "listing": ["event_id", "event_time", "region", "op", "listing_id", "seller_id", "category", "title", "price",
                "currency"],
    "review": ["event_id", "event_time", "region", "review_id", "listing_id", "buyer_id", "rating", "text",
               "language", "verified_purchase", "account_age_days"],
    "content": ["event_id", "event_time", "region", "content_id", "creator_id", "content_kind", "text"],
    "recall": ["event_id", "event_time", "region", "recall_id", "product_terms"],
    "feedback": ["event_id", "event_time", "region", "action_id", "rule", "outcome"],
}
_NUMERIC = {"listing": "price", "review": "account_age_days"}
_TEXTUAL = {"listing": "title", "review": "text", "content": "text", "recall": "hazard", "feedback": "rule"}
MUTATIONS = ["valid", "drop_required", "wrong_value", "extra_field", "bad_time", "oversized_text",
             "oversized_list", "oversized_record", "out_of_range_number", "unknown_region", "wrong_kind",
             "garbage_bytes", "json_value", "truncated"]


def make_input(kind: str, how: str, seed: int) -> tuple[bytes, Expected]:
    """One input for `kind`, broken the way `how` says, its values drawn from `seed`."""
    rng = random.Random(seed)
    rec = valid_record(rng, kind)
    expected: Expected = "invalid"
    if how == "valid":
        expected = "valid"
    elif how == "drop_required":
        del rec[rng.choice(REQUIRED[kind])]
    elif how == "wrong_value":
        rec[rng.choice(sorted(rec))] = json_value(rng)
        expected = "unknown"
    elif how == "extra_field":  # unknown fields are tolerated (forward compatibility)
        rec["x_" + "".join(rng.choice("abcdefgh") for _ in range(rng.randint(1, 6)))] = json_value(rng)
        expected = "valid"
    elif how == "bad_time":
        t = any_time(rng)
        rec["event_time"] = t.isoformat()
        try:
            inside = NOW - timedelta(days=30) <= t <= NOW + timedelta(days=1)
        except OverflowError:
            inside = False
        expected = "unknown" if inside or kind == "recall" else "invalid"
    elif how == "oversized_text":
        field = _TEXTUAL[kind]
        limit = LIMITS.max_text_chars if field in ("title", "text", "hazard") else LIMITS.max_short_chars
        rec[field] = rng.choice(["a", "\ufdfa", "é"]) * rng.randint(limit + 1, 3 * limit)
    elif how == "oversized_list":
        field = {"listing": "certifications", "content": "linked_listing_ids", "recall": "product_terms"}.get(kind)
        if field is None:  # no list field: an oversized id instead
            field = "event_id"
            rec[field] = "i" * rng.randint(LIMITS.max_short_chars + 1, 4 * LIMITS.max_short_chars)
        else:
            rec[field] = ["t"] * rng.randint(LIMITS.max_list_items + 1, 4 * LIMITS.max_list_items)
    elif how == "oversized_record":
        rec["padding"] = "p" * (LIMITS.max_record_bytes + rng.randint(0, 1000))
    elif how == "out_of_range_number":
        if kind in _NUMERIC:
            top = LIMITS.max_price if kind == "listing" else LIMITS.max_count
            rec[_NUMERIC[kind]] = rng.choice([1e308, rng.uniform(top * 1.01, 1e300), rng.randint(int(top) + 1, 2**63 - 1)])
        else:
            rec["event_time"] = rng.choice(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00"])
    elif how == "unknown_region":
        rec["region"] = rng.choice(["XX", "ZZ", "AA", "de", "D", "DEU", ""])
    elif how == "wrong_kind":
        rec["kind"] = rng.choice([k for k in ("listing", "review", "content", "recall", "feedback", "other") if k != kind])
    elif how == "garbage_bytes":
        return rng.randbytes(rng.randint(0, 200)), "unknown"
    elif how == "json_value":
        return orjson.dumps(json_value(rng)), "unknown"
    raw = orjson.dumps(rec)
    if how == "truncated":
        raw = raw[: rng.randint(0, len(raw) - 1)]
    return raw, expected


def inputs(kind: str) -> st.SearchStrategy[tuple[bytes, Expected, str]]:
    """Hypothesis strategy of (raw, expected, how) for one input kind."""
    return st.builds(lambda how, seed: (*make_input(kind, how, seed), how),
                     st.sampled_from(MUTATIONS), st.integers(0, 2**32 - 1))


def json_values() -> st.SearchStrategy[Any]:
    """Arbitrary JSON values (for the policy fuzz)."""
    return st.integers(0, 2**32 - 1).map(lambda seed: json_value(random.Random(seed)))
