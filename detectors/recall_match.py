"""Listings of products under an official recall, in both directions of time.

Recall notices and listings share state per country (``event.region``), so
the two streams meet on one key.  A listing is checked against every active
recall when it arrives; a *new* recall is checked against the live listings
already seen, so items listed before the authority spoke are found too.  For
that the state keeps a bounded index of live listings, listing id ->
normalised text, evicting the oldest (insertion order, which JSON keeps);
removed listings leave it.  A recall matches a listing when any of its
product terms occurs (TermMatcher: obfuscation-proof, whole words) and, if
the recall names a brand, the brand occurs as well (the listing's brand field
is part of its text).  Re-delivery of a recall already held does not re-scan;
a changed one does, and one re-sent with no usable terms is withdrawn.

>>> from riskstream.contracts import ListingEvent, RecallNotice, parse_time
>>> d = RecallMatchDetector(RecallMatchDetector.Params())
>>> t = parse_time("2026-01-01T00:00:00Z")
>>> listing = ListingEvent(event_id="e1", event_time=t, region="ES", op="created",
...     listing_id="l1", seller_id="s1", category="baby", title="Hamaca b4by rocker SleepWell",
...     price=35.0, currency="EUR")
>>> state, _ = d.detect(listing, d.initial_state())
>>> recall = RecallNotice(event_id="r1", event_time=t, region="ES", recall_id="R-1",
...     product_terms=["baby rocker"], brand="SleepWell", hazard="suffocation")
>>> state, signals = d.detect(recall, state)
>>> [(s.code, s.entity_id, s.evidence["matched_terms"]) for s in signals]
[('recalled_product', 'l1', ['baby rocker'])]
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ListingEvent, RecallNotice, Signal
from riskstream.detectors.base import signal
from riskstream.detectors.bounded_cache import ByteLRU
from riskstream.detectors.text import TermMatcher, normalize, normalize_all

State = dict[str, Any]
"""``{"recalls": {recall_id: {"terms", "brand", "hazard", "authority", "time"}},
"index": {bucket: {listing_id: [seq, normalised text]}}, "seq": last seq, "live": listings held}``;
times are epoch seconds.  The older ``"listings": {listing_id: normalised text}`` form (oldest first) is
read too."""

BUCKETS: Final = 64

_DAY: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class RecallMatchParams:
    """Parameters; the defaults need no tuning, and with no recall the detector never fires.

    * ``max_listings``: live listings indexed per country for matching new recalls.
    * ``max_recalls``: active recalls held per country (oldest dropped first).
    * ``recall_ttl_days``: a recall stops matching this long after its notice (0 = never).
    * ``max_text_chars``: indexed text per listing is cut to this (at a word boundary).
    * ``min_squashed``: TermMatcher's minimum length for separator-free matching.
    """

    max_listings: int = 5000
    max_recalls: int = 2000
    recall_ttl_days: float = 0.0
    max_text_chars: int = 1000
    min_squashed: int = 6


# Matchers are derived from state, so they are cached here rather than stored
# in it.  Both caches are bounded in bytes (issue 13): an automaton costs about
# _AUTOMATON_BYTES_PER_CHAR per character of its terms.
_AUTOMATON_BYTES_PER_CHAR: Final = 400


def _chars(x: object) -> int:
    if isinstance(x, str):
        return len(x)
    return sum(_chars(i) for i in x) if isinstance(x, tuple) else 0


def _weigh(key: tuple[Any, int], value: object) -> int:
    """Estimated bytes of the automaton (and index) built from the terms in `key`."""
    return 256 + _AUTOMATON_BYTES_PER_CHAR * _chars(key[0])


_MATCHERS: Final[ByteLRU[tuple[tuple[str, ...], int], TermMatcher]] = ByteLRU(32 << 20, weigh=_weigh)
_INDEXES: Final[ByteLRU[tuple[tuple[tuple[str, tuple[str, ...]], ...], int],
                        tuple[TermMatcher, dict[str, list[tuple[str, str]]]]]] = ByteLRU(64 << 20, weigh=_weigh)


def _matcher(terms: tuple[str, ...], min_squashed: int) -> TermMatcher:
    return _MATCHERS.get_or_compute((terms, min_squashed), lambda k: TermMatcher(k[0], k[1]))


def _recall_index(
    recalls: tuple[tuple[str, tuple[str, ...]], ...], min_squashed: int
) -> tuple[TermMatcher, dict[str, list[tuple[str, str]]]]:
    """One automaton over the terms of all active recalls, and normalised term -> (recall id, term)."""
    return _INDEXES.get_or_compute((recalls, min_squashed), _build_index)


def _build_index(
    key: tuple[tuple[tuple[str, tuple[str, ...]], ...], int],
) -> tuple[TermMatcher, dict[str, list[tuple[str, str]]]]:
    recalls, min_squashed = key
    by_term: dict[str, list[tuple[str, str]]] = {}
    for rid, terms in recalls:
        for term in terms:
            by_term.setdefault(normalize(term), []).append((rid, term))
    return TermMatcher(by_term, min_squashed), by_term


class RecallMatchDetector:
    """Matches listings against recall notices for the same country."""

    # Broadcast state: recall notices reach every worker through the broadcast reader, so each
    # worker keeps this detector's state whole (it is not partitioned by its key).
    local_state: ClassVar[bool] = True
    id: ClassVar[str] = "recall_match"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing", "recall"})
    Params: ClassVar[type[RecallMatchParams]] = RecallMatchParams

    RECALLED: Final = "recalled_product"

    def __init__(self, params: RecallMatchParams) -> None:
        if params.max_listings < 0 or params.max_recalls < 1 or params.recall_ttl_days < 0:
            raise ValueError("max_listings must be >= 0, max_recalls >= 1, recall_ttl_days >= 0")
        self.params = params

    def state_key(self, event: Event) -> str | None:
        if isinstance(event, ListingEvent | RecallNotice):
            return event.region
        return None

    def initial_state(self) -> State:
        return {"recalls": {}, "index": {}, "seq": 0, "live": 0}

    def detect(self, event: Event, state: State | None) -> tuple[State, list[Signal]]:
        """`state` None (the engine passes it for events with no key) is a fresh state."""
        if state is None:
            state = self.initial_state()
        if isinstance(event, ListingEvent):
            return self._on_listing(event, state)
        if isinstance(event, RecallNotice):
            return self._on_recall(event, state)
        return state, []

    # ------------------------------------------------------------------ listings

    def _on_listing(self, event: ListingEvent, state: State) -> tuple[State, list[Signal]]:
        index, seq, live = _index_of(state)
        index = dict(index)  # the outer map; buckets are copied only where they change
        lid = event.listing_id
        bucket = _bucket(lid)
        if lid in index.get(bucket, ()):
            index[bucket] = {k: v for k, v in index[bucket].items() if k != lid}
            live -= 1
        recalls = self._active(state["recalls"], event.event_time.timestamp())
        if event.op == "removed":
            return _state(recalls, index, seq, live), []
        text = self._index_text(event)
        if self.params.max_listings:
            seq += 1
            index[bucket] = {**index.get(bucket, {}), lid: [seq, text]}
            live += 1
            while live > self.params.max_listings:
                # The oldest listing is the first of its bucket (each bucket is in seq order).
                oldest = min((b for b in index if index[b]), key=lambda b: next(iter(index[b].values()))[0])
                first = next(iter(index[oldest]))
                index[oldest] = {k: v for k, v in index[oldest].items() if k != first}
                live -= 1

        signals = []
        if recalls:
            fingerprint = tuple((rid, tuple(r["terms"])) for rid, r in recalls.items())
            matcher, by_term = _recall_index(fingerprint, self.params.min_squashed)
            hits: dict[str, list[str]] = {}
            for norm in matcher.find(text):
                for rid, term in by_term[norm]:
                    hits.setdefault(rid, []).append(term)
            for rid, terms in hits.items():
                r = recalls[rid]
                if self._brand_ok(r, text):
                    signals.append(self._signal(event, event.listing_id, rid, r, terms, "listing"))
        return _state(recalls, index, seq, live), signals

    def _index_text(self, event: ListingEvent) -> str:
        raw = " \n ".join((event.title, event.description, event.brand or "", *event.attributes.values()))
        text = normalize_all(raw)  # as stored and, behind bidi overrides, as displayed
        if len(text) > self.params.max_text_chars:
            text = text[: self.params.max_text_chars + 1].rsplit(" ", 1)[0]
        return text

    # ------------------------------------------------------------------ recalls

    def _on_recall(self, event: RecallNotice, state: State) -> tuple[State, list[Signal]]:
        now = event.event_time.timestamp()
        recalls = self._active(state["recalls"], now)
        terms = [t for t in event.product_terms if normalize(t)]
        brand = event.brand if event.brand and normalize(event.brand) else None
        old = recalls.pop(event.recall_id, None)
        record = {
            "terms": terms,
            "brand": brand,
            "hazard": event.hazard,
            "authority": event.authority,
            "time": old["time"] if old else now,
        }
        if terms:
            recalls[event.recall_id] = record
            while len(recalls) > self.params.max_recalls:
                del recalls[min(recalls, key=lambda rid: float(recalls[rid]["time"]))]
        index, seq, live = _index_of(state)
        new_state = _state(recalls, index, seq, live)
        if not terms or (old is not None and old["terms"] == terms and old["brand"] == brand):
            return new_state, []

        matcher = _matcher(tuple(terms), self.params.min_squashed)
        signals = []
        for lid, text in indexed_listings(state).items():
            found = matcher.find(text)
            if found and self._brand_ok(record, text):
                signals.append(self._signal(event, lid, event.recall_id, record, found, "recall"))
        return new_state, signals

    def _active(self, recalls: dict[str, dict[str, Any]], now: float) -> dict[str, dict[str, Any]]:
        if not self.params.recall_ttl_days:
            return dict(recalls)
        ttl = self.params.recall_ttl_days * _DAY
        return {rid: r for rid, r in recalls.items() if now - float(r["time"]) < ttl}

    # ------------------------------------------------------------------ helpers

    def _brand_ok(self, recall: dict[str, Any], text: str) -> bool:
        brand: str | None = recall["brand"]
        return brand is None or bool(_matcher((brand,), self.params.min_squashed).find(text))

    def _signal(
        self,
        event: ListingEvent | RecallNotice,
        listing_id: str,
        recall_id: str,
        recall: dict[str, Any],
        terms: list[str],
        trigger: str,
    ) -> Signal:
        return signal(
            self.id,
            event,
            code=self.RECALLED,
            entity_type="listing",
            entity_id=listing_id,
            # A brand-qualified recall that matched is more specific than terms alone.
            score=1.0 if recall["brand"] else 0.8,
            evidence={
                "recall_id": recall_id,
                "matched_terms": terms,
                "brand": recall["brand"],
                "hazard": recall["hazard"],
                "authority": recall["authority"],
                "trigger": trigger,
            },
        )


def _bucket(listing_id: str) -> str:
    """A listing's bucket: a stable hash (not Python's, which differs per process), as a JSON key."""
    return str(zlib.crc32(listing_id.encode("utf-8", "surrogatepass")) % BUCKETS)


def _index_of(state: State) -> tuple[dict[str, dict[str, list[Any]]], int, int]:
    """(buckets, last seq, live listings); converts the older flat ``listings`` form."""
    if "index" in state:
        return state["index"], int(state["seq"]), int(state["live"])
    index: dict[str, dict[str, list[Any]]] = {}
    flat: dict[str, str] = state.get("listings", {})
    for seq, (lid, text) in enumerate(flat.items(), start=1):
        index.setdefault(_bucket(lid), {})[lid] = [seq, text]
    return index, len(flat), len(flat)


def _state(recalls: dict[str, dict[str, Any]], index: dict[str, dict[str, list[Any]]], seq: int,
           live: int) -> State:
    return {"recalls": recalls, "index": index, "seq": seq, "live": live}


def indexed_listings(state: State) -> dict[str, str]:
    """The listings a state indexes, listing id -> normalised text, oldest first.

    >>> d = RecallMatchDetector(RecallMatchParams(max_listings=2))
    >>> from riskstream.contracts import ListingEvent, parse_time
    >>> state = d.initial_state()
    >>> for lid in ("a", "b", "c"):
    ...     state, _ = d.detect(ListingEvent(event_id=lid, event_time=parse_time("2026-01-01T00:00:00Z"),
    ...         region="ES", op="created", listing_id=lid, seller_id="s", category="toys", title=f"toy {lid}",
    ...         price=1.0, currency="EUR"), state)
    >>> indexed_listings(state)
    {'b': 'toy b', 'c': 'toy c'}
    """
    index, _, _ = _index_of(state)
    entries = sorted((v[0], lid, v[1]) for bucket in index.values() for lid, v in bucket.items())
    return {lid: text for _, lid, text in entries}
