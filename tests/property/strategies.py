"""Hypothesis strategies for every input contract: valid records and ways to break them.

Each strategy draws `(raw bytes, expected)` where `expected` is ``"valid"``
(built within every contract rule and limit), ``"invalid"`` (broken in a way
that must be dead-lettered) or ``"unknown"`` (arbitrary: either is fine, but
never a crash).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import orjson
from hypothesis import strategies as st

from riskstream.contracts import parse_time
from riskstream.regions import COUNTRIES
from riskstream.settings import LimitSettings

NOW = parse_time("2026-06-01T12:00:00Z")
LIMITS = LimitSettings()
Expected = Literal["valid", "invalid", "unknown"]

# Text with no lone surrogates (JSON cannot carry them); hostile code points included.
_chars = st.characters(blacklist_categories=("Cs",))
_hostile = st.sampled_from(["\ufdfa", "\u0301", "\u200b", "\U0001F600", "ß", "İ", "\u0e49", "!", "1", "|", " ", "x"])
text = st.one_of(st.text(_chars, max_size=60), st.text(_hostile, max_size=60),
                 st.builds(lambda c, n: c * n, _hostile, st.integers(0, LIMITS.max_text_chars)))
short = st.text(_chars, min_size=1, max_size=24)
ident = st.text(st.characters(min_codepoint=33, max_codepoint=0x2FFF, blacklist_categories=("Cs",)),
                min_size=1, max_size=24)
country = st.sampled_from(sorted(COUNTRIES))
valid_time = st.datetimes(min_value=datetime(2026, 5, 3), max_value=datetime(2026, 6, 2, 3),
                          timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30)),
                                                     timezone(timedelta(hours=-8))]))
any_time = st.datetimes(timezones=st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-1439, 1439)))
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**64 - 1),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(_chars, max_size=20))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(_chars, max_size=8), inner, max_size=4)), max_leaves=12)


def _base(kind: str) -> dict[str, Any]:
    return {"kind": st.just(kind), "event_id": ident, "event_time": valid_time.map(datetime.isoformat),
            "region": country}


LISTING = st.fixed_dictionaries({
    **_base("listing"), "op": st.sampled_from(["created", "updated", "removed"]), "listing_id": ident,
    "seller_id": ident, "category": ident, "title": text,
    "price": st.floats(0, LIMITS.max_price), "currency": st.sampled_from(["EUR", "USD", "GBP", "SGD", "THB"]),
}, optional={
    "description": text, "attributes": st.dictionaries(short, short, max_size=8),
    "certifications": st.lists(short, max_size=5), "brand": st.none() | short,
    "image_hashes": st.lists(ident, max_size=5), "seller_age_days": st.none() | st.integers(0, LIMITS.max_count),
})
REVIEW = st.fixed_dictionaries({
    **_base("review"), "review_id": ident, "listing_id": ident, "buyer_id": ident, "rating": st.integers(1, 5),
    "text": text, "language": st.text("abcdefghijklmnopqrstuvwxyz-", min_size=2, max_size=8),
    "verified_purchase": st.booleans(), "account_age_days": st.integers(0, LIMITS.max_count),
}, optional={"seller_id": st.none() | ident})
CONTENT = st.fixed_dictionaries({
    **_base("content"), "content_id": ident, "creator_id": ident,
    "content_kind": st.sampled_from(["video", "live", "post"]), "text": text,
}, optional={"linked_listing_ids": st.lists(ident, max_size=6), "paid_promotion": st.booleans(),
             "promotion_disclosed": st.booleans(), "language": short})
RECALL = st.fixed_dictionaries({
    **_base("recall"), "recall_id": ident, "product_terms": st.lists(short, max_size=6),
}, optional={"brand": st.none() | short, "hazard": text, "authority": short})
FEEDBACK = st.fixed_dictionaries({
    **_base("feedback"), "action_id": ident, "rule": ident,
    "outcome": st.sampled_from(["confirmed", "overturned", "appeal_granted"]),
})
VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "listing": LISTING, "review": REVIEW, "content": CONTENT, "recall": RECALL, "feedback": FEEDBACK}
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


@st.composite
def inputs(draw: st.DrawFn, kind: str) -> tuple[bytes, Expected, str]:
    """One input for `kind`: (raw bytes, what the engine must do with it, how it was made)."""
    rec = dict(draw(VALID[kind]))
    how = draw(st.sampled_from([
        "valid", "valid", "drop_required", "wrong_value", "extra_field", "bad_time", "oversized_text",
        "oversized_record", "out_of_range_number", "unknown_region", "wrong_kind", "garbage_bytes",
        "json_value", "truncated",
    ]))
    expected: Expected = "invalid"
    if how == "valid":
        expected = "valid"
    elif how == "drop_required":
        del rec[draw(st.sampled_from(REQUIRED[kind]))]
    elif how == "wrong_value":
        rec[draw(st.sampled_from(sorted(rec)))] = draw(json_value)
        expected = "unknown"
    elif how == "extra_field":  # unknown fields are tolerated (forward compatibility)
        rec["x_" + draw(st.text("abcdefgh", min_size=1, max_size=6))] = draw(json_value)
        expected = "valid"
    elif how == "bad_time":
        t = draw(any_time)
        rec["event_time"] = t.isoformat()
        try:
            inside = NOW - timedelta(days=30) <= t <= NOW + timedelta(days=1)
        except OverflowError:
            inside = False
        expected = "unknown" if inside or kind == "recall" else "invalid"
    elif how == "oversized_text":
        field = _TEXTUAL[kind]
        limit = LIMITS.max_text_chars if field in ("title", "text", "hazard") else LIMITS.max_short_chars
        rec[field] = draw(st.sampled_from(["a", "\ufdfa", "é"])) * draw(st.integers(limit + 1, 3 * limit))
    elif how == "oversized_record":
        rec["padding"] = "p" * (LIMITS.max_record_bytes + draw(st.integers(0, 1000)))
    elif how == "out_of_range_number":
        if kind in _NUMERIC:
            top = LIMITS.max_price if kind == "listing" else LIMITS.max_count
            rec[_NUMERIC[kind]] = draw(st.one_of(st.just(1e308), st.floats(top * 1.01, 1e300),
                                                 st.integers(int(top) + 1, 2**63 - 1)))
            if kind == "review" and isinstance(rec["account_age_days"], float):
                expected = "invalid"  # a float day count is a wrong type: still refused
        else:
            rec["event_time"] = draw(st.sampled_from(["0001-01-01T00:00:00Z", "9999-12-31T23:59:59+14:00"]))
    elif how == "unknown_region":
        rec["region"] = draw(st.sampled_from(["XX", "ZZ", "AA", "de", "D", "DEU", ""]))
    elif how == "wrong_kind":
        rec["kind"] = draw(st.sampled_from(["listing", "review", "content", "recall", "feedback", "other"])
                           .filter(lambda k: k != kind))
    elif how == "garbage_bytes":
        return draw(st.binary(max_size=200)), "unknown", how
    elif how == "json_value":
        return orjson.dumps(draw(json_value)), "unknown", how
    raw = orjson.dumps(rec)
    if how == "truncated":
        raw = raw[: draw(st.integers(0, len(raw) - 1))]
    return raw, expected, how
