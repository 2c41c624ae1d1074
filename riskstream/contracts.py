"""Event contracts: the single source of truth for every record on the wire.

Input events (listing, review, creator content, recall notice, moderator
feedback) and output records (signal, enforcement action, incident candidate,
dead letter) are frozen dataclasses.  On the wire they are JSON, encoded and
decoded with orjson; `decode` validates the decoded object against the
dataclass with msgspec, so a wrong type, a missing field or a naive timestamp
is refused with a readable reason.  `docs/schemas/*.json` is generated from
these classes (`riskstream schemas`), never written by hand.

>>> raw = encode(ListingEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="DE", op="created", listing_id="l1", seller_id="s1", category="toys",
...     title="Wooden train", price=12.5, currency="EUR"))
>>> decode(raw, ListingEvent).listing_id
'l1'
>>> decode(b'{"kind": "listing"}', ListingEvent)
Traceback (most recent call last):
...
riskstream.contracts.InvalidEvent: missing_field: Object missing required field `event_id`

With limits (`riskstream.settings.LimitSettings`), an oversized record or
field is `too_large` and a number or time outside its range `out_of_range`;
the measured size travels with the error:

>>> from riskstream.settings import LimitSettings
>>> try:
...     decode(raw, ListingEvent, LimitSettings(max_text_chars=5), now=parse_time("2026-01-02T00:00:00Z"))
... except InvalidEvent as exc:
...     print(exc.reason, exc.measured, exc.detail)
too_large 12 title: 12 chars > 5
"""

from __future__ import annotations

import dataclasses
import hashlib
import operator
import types
import typing
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
import orjson

from riskstream.regions import region_of
from riskstream.settings import LimitSettings

SCHEMA_VERSION: Final = 1

AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
"""Event time is always timezone-aware; a naive timestamp is refused."""

Country = Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{2}$")]
NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]

EventKind = Literal["listing", "review", "content", "recall", "feedback"]
EntityType = Literal["listing", "seller", "review", "buyer", "content", "creator"]
ActionKind = Literal[
    "allow", "flag", "hold", "remove", "restrict_seller", "demote_content", "strike"
]
Mode = Literal["enforced", "shadow"]


# --------------------------------------------------------------------------- inputs


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ListingEvent:
    """A listing was created, updated or removed."""

    event_id: NonEmpty
    event_time: AwareDatetime
    region: Country
    op: Literal["created", "updated", "removed"]
    listing_id: NonEmpty
    seller_id: NonEmpty
    category: NonEmpty
    title: str
    price: Annotated[float, msgspec.Meta(ge=0)]
    currency: Annotated[str, msgspec.Meta(pattern=r"^[A-Z]{3}$")]
    description: str = ""
    attributes: dict[str, str] = dataclasses.field(default_factory=dict)
    certifications: list[str] = dataclasses.field(default_factory=list)
    brand: str | None = None
    image_hashes: list[str] = dataclasses.field(default_factory=list)
    seller_age_days: Annotated[int, msgspec.Meta(ge=0)] | None = None
    kind: Literal["listing"] = "listing"
    schema_version: int = SCHEMA_VERSION


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ReviewEvent:
    """A buyer reviewed a listing."""

    event_id: NonEmpty
    event_time: AwareDatetime
    region: Country
    review_id: NonEmpty
    listing_id: NonEmpty
    buyer_id: NonEmpty
    rating: Annotated[int, msgspec.Meta(ge=1, le=5)]
    text: str
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=8)]
    verified_purchase: bool
    account_age_days: Annotated[int, msgspec.Meta(ge=0)]
    seller_id: str | None = None
    kind: Literal["review"] = "review"
    schema_version: int = SCHEMA_VERSION


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ContentEvent:
    """A creator published a video, live stream or post."""

    event_id: NonEmpty
    event_time: AwareDatetime
    region: Country
    content_id: NonEmpty
    creator_id: NonEmpty
    content_kind: Literal["video", "live", "post"]
    text: str
    linked_listing_ids: list[str] = dataclasses.field(default_factory=list)
    paid_promotion: bool = False
    promotion_disclosed: bool = False
    language: str = "en"
    kind: Literal["content"] = "content"
    schema_version: int = SCHEMA_VERSION


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RecallNotice:
    """A product recall published by an authority for a region."""

    event_id: NonEmpty
    event_time: AwareDatetime
    region: Country
    recall_id: NonEmpty
    product_terms: list[str]
    brand: str | None = None
    hazard: str = ""
    authority: str = ""
    kind: Literal["recall"] = "recall"
    schema_version: int = SCHEMA_VERSION


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ModerationFeedback:
    """A human moderator's outcome for an earlier action."""

    event_id: NonEmpty
    event_time: AwareDatetime
    region: Country
    action_id: NonEmpty
    rule: NonEmpty
    outcome: Literal["confirmed", "overturned", "appeal_granted"]
    kind: Literal["feedback"] = "feedback"
    schema_version: int = SCHEMA_VERSION


Event = ListingEvent | ReviewEvent | ContentEvent | RecallNotice | ModerationFeedback

# --------------------------------------------------------------------------- outputs


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """What a detector saw: one finding on one entity, with its evidence."""

    detector: str
    code: str
    entity_type: EntityType
    entity_id: str
    region: str
    score: Annotated[float, msgspec.Meta(ge=0, le=1)]
    event_id: str
    event_time: AwareDatetime
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class EnforcementAction:
    """What we do about it.  `idempotency_key` is stable across replays."""

    action_id: str
    idempotency_key: str
    event_id: str
    event_time: AwareDatetime
    region: str
    entity_type: EntityType
    entity_id: str
    action: ActionKind
    reason_codes: list[str]
    evidence: dict[str, Any]
    policy_version: str
    mode: Mode
    risk_score: float = 0.0
    automated_detection: bool = True
    automated_decision: bool = True
    schema_version: int = SCHEMA_VERSION


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class IncidentCandidate:
    """A surge the incident team must look at: open, update and resolve records."""

    incident_id: str
    status: Literal["open", "update", "resolve"]
    event_id: str
    event_time: AwareDatetime
    region: str
    harm_kind: str
    cluster: str
    severity: Literal["low", "medium", "high", "critical"]
    onset_time: AwareDatetime
    score: float
    regions_affected: list[str] = dataclasses.field(default_factory=list)
    series: list[str] = dataclasses.field(default_factory=list)
    sample_entity_ids: list[str] = dataclasses.field(default_factory=list)
    detectors: list[str] = dataclasses.field(default_factory=list)
    reach: dict[str, int] = dataclasses.field(default_factory=dict)
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)
    policy_version: str = ""
    runbook: str = ""
    schema_version: int = SCHEMA_VERSION


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """An input we could not process, kept whole with the reason."""

    event_id: str
    event_time: AwareDatetime
    region: str
    topic: str
    partition: int
    offset: int
    reason: str
    detail: str
    original_b64: str
    original_preview: str
    measured: int | None = None  # too_large / out_of_range: the size or value that was refused
    schema_version: int = SCHEMA_VERSION


Output = Signal | EnforcementAction | IncidentCandidate | DeadLetter

EVENT_TYPES: Final[dict[str, type[Any]]] = {
    "listing": ListingEvent,
    "review": ReviewEvent,
    "content": ContentEvent,
    "recall": RecallNotice,
    "feedback": ModerationFeedback,
}

# One typed decoder per input record: msgspec straight from bytes.
_DECODERS: Final[dict[type[Any], msgspec.json.Decoder[Any]]] = {
    cls: msgspec.json.Decoder(cls) for cls in EVENT_TYPES.values()
}

# --------------------------------------------------------------------------- codec

T = TypeVar("T")


class InvalidEvent(ValueError):
    """An input that cannot be accepted; `reason` is a short machine-readable code.

    `measured` is the refused size (bytes of a record, characters of a field,
    items of a list) or value (a price, a day count, an event time as epoch
    seconds) for ``too_large`` and ``out_of_range``.
    """

    def __init__(self, reason: str, detail: str, measured: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.measured = measured


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 timestamp that must carry a timezone."""
    t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError(f"timestamp without timezone: {value!r}")
    return t


def encode(record: Any) -> bytes:
    """JSON bytes for any contract record."""
    return orjson.dumps(record)


def to_dict(record: Any) -> dict[str, Any]:
    out: dict[str, Any] = orjson.loads(orjson.dumps(record))
    return out


def _classify(message: str) -> str:
    if "missing required field" in message:
        return "missing_field"
    if message.startswith("Expected") or "Invalid enum value" in message:
        return "wrong_type"
    return "invalid_value"


def decode(raw: bytes, cls: type[T], limits: LimitSettings | None = None, now: datetime | None = None) -> T:
    """Decode and validate JSON bytes into `cls`; raise InvalidEvent with a reason.

    Reasons: ``bad_json``, ``not_an_object``, ``wrong_kind``, ``missing_field``,
    ``wrong_type``, ``invalid_value``, ``unknown_region``; with `limits` also
    ``too_large`` and ``out_of_range`` (see `check_limits`).  The size of the
    record is checked before it is parsed, so parsing cost is bounded too.

    A valid record is decoded by msgspec straight from the bytes into `cls`
    (one pass, no intermediate dict).  Whatever msgspec refuses takes the
    two-pass path (orjson, then `from_obj`), so every refusal keeps the same
    reason and detail as before.  (One difference: msgspec skips an unknown
    field without checking that its number fits a double, so ``{"x": 1e400}``
    beside valid fields is ignored with the field instead of being
    ``bad_json``.)
    """
    if limits is not None and len(raw) > limits.max_record_bytes:
        raise InvalidEvent("too_large", f"record: {len(raw)} bytes > {limits.max_record_bytes}", len(raw))
    decoder = _DECODERS.get(cls)
    record: Any = None
    if decoder is not None:
        try:
            record = decoder.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError, ValueError):
            record = None
        else:
            if region_of(record.region) is None:
                raise InvalidEvent("unknown_region", f"country {record.region!r} belongs to no policy region")
    if record is None:
        try:
            obj = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidEvent("bad_json", str(exc)) from None
        record = from_obj(obj, cls)
    if limits is not None:
        check_limits(record, limits, now or datetime.now(UTC))
    out: T = record
    return out


# Free-text fields get `max_text_chars`; every other string `max_short_chars`.
TEXT_FIELDS: Final = frozenset({"title", "description", "text", "hazard"})
# Whole-number day counts, bounded by `max_count`.
COUNT_FIELDS: Final = frozenset({"seller_age_days", "account_age_days"})


def _too_large(name: str, size: int, limit: int, unit: str) -> InvalidEvent:
    return InvalidEvent("too_large", f"{name}: {size} {unit} > {limit}", size)


def check_limits(record: Any, limits: LimitSettings, now: datetime) -> None:
    """Raise InvalidEvent (``too_large``, ``out_of_range``) if `record` exceeds `limits`.

    Event time must lie within [now - max_event_age_days, now + max_event_lead_days]
    and always within [earliest, latest], so no later date arithmetic overflows.

    >>> ev = ListingEvent(event_id="e", event_time=parse_time("2026-01-01T00:00:00Z"), region="DE",
    ...     op="created", listing_id="l", seller_id="s", category="toys", title="t", price=1e308, currency="EUR")
    >>> check_limits(ev, LimitSettings(), now=parse_time("2026-01-01T00:00:00Z"))
    Traceback (most recent call last):
    ...
    riskstream.contracts.InvalidEvent: out_of_range: price: 1e+308 > 100000000000.0
    """
    fast = _size_plan(type(record))
    if fast is not None:  # an input record: the same checks, without looking for fields it has not got
        if not fast.within(record, limits):
            _check_sizes(record, limits)
        if fast.price:
            price = record.price
            if isinstance(price, float) and not price <= limits.max_price:  # also NaN and inf
                raise InvalidEvent("out_of_range", f"price: {price} > {limits.max_price}", _clamp_int(price))
        for name in fast.counts:
            count = getattr(record, name)
            if isinstance(count, int) and count > limits.max_count:
                raise InvalidEvent("out_of_range", f"{name}: {count} > {limits.max_count}", _clamp_int(count))
        t = record.event_time
        if isinstance(t, datetime):
            _check_time(t, record.kind, limits, now)
        return
    _check_sizes(record, limits)
    price = getattr(record, "price", None)
    if isinstance(price, float) and not price <= limits.max_price:  # also NaN and inf
        raise InvalidEvent("out_of_range", f"price: {price} > {limits.max_price}", _clamp_int(price))
    for name in COUNT_FIELDS:
        count = getattr(record, name, None)
        if isinstance(count, int) and count > limits.max_count:
            raise InvalidEvent("out_of_range", f"{name}: {count} > {limits.max_count}", _clamp_int(count))
    t = getattr(record, "event_time", None)
    if isinstance(t, datetime):
        _check_time(t, getattr(record, "kind", ""), limits, now)


def _check_sizes(record: Any, limits: LimitSettings) -> None:
    """The size limits field by field, in field order: the first field over its limit is the error."""
    for name, is_text in _sized_fields(type(record)):
        value = getattr(record, name)
        if isinstance(value, str):
            limit = limits.max_text_chars if is_text else limits.max_short_chars
            if len(value) > limit:
                raise _too_large(name, len(value), limit, "chars")
        elif isinstance(value, list):
            if len(value) > limits.max_list_items:
                raise _too_large(name, len(value), limits.max_list_items, "items")
            short = limits.max_short_chars
            for item in value:
                if isinstance(item, str) and len(item) > short:
                    raise _too_large(f"{name}[]", len(item), short, "chars")
        elif isinstance(value, dict):
            if len(value) > limits.max_attributes:
                raise _too_large(name, len(value), limits.max_attributes, "entries")
            short = limits.max_short_chars
            for k, v in value.items():
                for part in (k, v):
                    if isinstance(part, str) and len(part) > short:
                        raise _too_large(f"{name}[{k[:40]!r}]", len(part), short, "chars")


class _SizePlan:
    """For one input record class: whether a record is within every size limit, in a few C-level passes.

    It only answers "nothing is over": a record it is not sure of goes through
    `_check_sizes`, which names the first field over its limit.
    """

    def __init__(self, cls: type[Any]) -> None:
        hints = typing.get_type_hints(cls, include_extras=True)
        self.short: list[str] = []
        self.optional: list[str] = []
        self.text: list[str] = []
        self.lists: list[str] = []
        self.dicts: list[str] = []
        for name, _is_text in _sized_fields(cls):
            shape = _shape(hints[name])
            if shape == "str":
                (self.text if name in TEXT_FIELDS else self.short).append(name)
            elif shape == "str?" and name not in TEXT_FIELDS:
                self.optional.append(name)
            elif shape == "list":
                self.lists.append(name)
            elif shape == "dict":
                self.dicts.append(name)
            else:
                raise TypeError(f"{cls.__name__}.{name}: no size plan for {hints[name]!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        self.price = "price" in names  # a float (msgspec converts an integer)
        self.counts = tuple(n for n in COUNT_FIELDS if n in names)  # int or None
        # attrgetter of two names or more returns a tuple; the "kind" padding makes it two or more.
        self._short = operator.attrgetter(*self.short, "kind")
        self._text = operator.attrgetter(*self.text, "kind")

    def within(self, record: Any, limits: LimitSettings) -> bool:
        short = limits.max_short_chars
        if max(map(len, self._short(record))) > short:
            return False
        if self.text and max(map(len, self._text(record))) > limits.max_text_chars:
            return False
        for n in self.optional:
            v = getattr(record, n)
            if v is not None and len(v) > short:
                return False
        for n in self.lists:
            items = getattr(record, n)
            if items and (len(items) > limits.max_list_items or max(map(len, items)) > short):
                return False
        for n in self.dicts:
            d = getattr(record, n)
            if d and (len(d) > limits.max_attributes or max(map(len, d)) > short
                      or max(map(len, d.values())) > short):
                return False
        return True


def _shape(tp: Any) -> str:
    """"str", "str?" (str or None), "list" (of str), "dict" (str to str) or "other"."""
    if typing.get_origin(tp) is typing.Annotated:
        return _shape(typing.get_args(tp)[0])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is str or (origin is typing.Literal and all(isinstance(a, str) for a in args)):
        return "str"
    if origin in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return "str?" if len(rest) == 1 and _shape(rest[0]) == "str" else "other"
    if origin is list and args and _shape(args[0]) == "str":
        return "list"
    if origin is dict and len(args) == 2 and _shape(args[0]) == _shape(args[1]) == "str":
        return "dict"
    return "other"


_SIZE_PLANS: dict[type[Any], _SizePlan | None] = {}


def _size_plan(cls: type[Any]) -> _SizePlan | None:
    """The input record classes' plans, built on first use; None for any other class."""
    try:
        return _SIZE_PLANS[cls]
    except KeyError:
        plan = _SizePlan(cls) if cls in EVENT_TYPES.values() else None
        _SIZE_PLANS[cls] = plan
        return plan


def _clamp_int(x: float) -> int:
    return int(max(-(2**63), min(2**63 - 1, x))) if x == x else 0


def _time_bounds(limits: LimitSettings, now: datetime) -> tuple[datetime, datetime, datetime]:
    """(lowest time for an age-limited kind, lowest for an exempt kind, highest) at `now`.

    The last answer is kept: a batch (or a replay) checks many events against one `now`.
    """
    last = _BOUNDS[0]
    if last is not None and last[0] is limits and last[1] == now:
        return last[2]
    lo = exempt = limits.earliest
    hi = limits.latest
    if limits.max_event_age_days is not None:
        lo = max(lo, now - timedelta(days=limits.max_event_age_days))
    if limits.max_event_lead_days is not None:
        hi = min(hi, now + timedelta(days=limits.max_event_lead_days))
    bounds = (lo, exempt, hi)
    _BOUNDS[0] = (limits, now, bounds)
    return bounds


_BOUNDS: list[tuple[LimitSettings, datetime, tuple[datetime, datetime, datetime]] | None] = [None]


def _check_time(t: datetime, kind: str, limits: LimitSettings, now: datetime) -> None:
    aged, exempt, hi = _time_bounds(limits, now)
    lo = exempt if kind in limits.age_exempt_kinds else aged
    try:
        inside = lo <= t <= hi
    except OverflowError:  # year 1 or 9999 with an offset cannot even be moved to UTC
        inside = False
    if not inside:
        try:
            measured = _clamp_int(t.timestamp())
        except OverflowError:
            measured = 0
        raise InvalidEvent("out_of_range", f"event_time: {t.isoformat()} outside [{lo.isoformat()}, "
                           f"{hi.isoformat()}]", measured)


_SIZED: dict[type[Any], tuple[tuple[str, bool], ...]] = {}


def _sized_fields(cls: type[Any]) -> tuple[tuple[str, bool], ...]:
    """`(name, is free text)` of the fields of `cls` whose type can hold a str, list or dict, in order."""
    plan = _SIZED.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        plan = tuple((f.name, f.name in TEXT_FIELDS) for f in dataclasses.fields(cls) if _may_be_sized(hints[f.name]))
        _SIZED[cls] = plan
    return plan


def _may_be_sized(tp: Any) -> bool:
    """Whether a value of annotation `tp` can be a str, list or dict (what `check_limits` measures)."""
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _may_be_sized(typing.get_args(tp)[0])
    if origin is typing.Literal:
        return any(isinstance(a, str) for a in typing.get_args(tp))
    if origin in (typing.Union, types.UnionType):
        return any(_may_be_sized(a) for a in typing.get_args(tp))
    if origin is not None:
        return origin in (list, dict) or (isinstance(origin, type) and issubclass(origin, (str, list, dict)))
    return tp is Any or (isinstance(tp, type) and issubclass(tp, (str, list, dict)))


def from_obj(obj: Any, cls: type[T]) -> T:
    """Validate an already-decoded JSON object into `cls`."""
    if not isinstance(obj, dict):
        raise InvalidEvent("not_an_object", f"expected a JSON object, got {type(obj).__name__}")
    expected_kind = _kind_of(cls)
    if expected_kind is not None and obj.get("kind", expected_kind) != expected_kind:
        raise InvalidEvent("wrong_kind", f"expected kind {expected_kind!r}, got {obj.get('kind')!r}")
    try:
        record = msgspec.convert(obj, cls)
    except msgspec.ValidationError as exc:
        msg = str(exc)
        raise InvalidEvent(_classify(msg), msg) from None
    region = getattr(record, "region", None)
    if expected_kind is not None and region is not None and region_of(region) is None:
        raise InvalidEvent("unknown_region", f"country {region!r} belongs to no policy region")
    return record


def _kind_of(cls: type[Any]) -> str | None:
    for kind, event_cls in EVENT_TYPES.items():
        if event_cls is cls:
            return kind
    return None


def stable_id(*parts: str) -> str:
    """A short deterministic id from its parts (idempotency keys, action ids).

    >>> stable_id("a", "b") == stable_id("a", "b") != stable_id("ab")
    True
    """
    h = hashlib.blake2b(digest_size=12)
    for p in parts:
        h.update(p.encode())
        h.update(b"\x1f")
    return h.hexdigest()


def json_schema(cls: type[Any]) -> dict[str, Any]:
    """The JSON Schema of one contract record, generated from the dataclass."""
    schema: dict[str, Any] = msgspec.json.schema(cls)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
