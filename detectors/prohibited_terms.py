"""Prohibited and restricted items named in a listing, from per-region term lists.

>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = ProhibitedTermsDetector(ProhibitedTermsDetector.Params(prohibited=("ivory",)))
>>> ev = ListingEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="DE", op="created", listing_id="l1", seller_id="s1", category="art",
...     title="Carved 1v0ry figurine", price=90.0, currency="EUR")
>>> _, signals = d.detect(ev, None)
>>> [(s.code, s.evidence["terms"]) for s in signals]
[('prohibited_item', ['ivory'])]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Final

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import Stateless, signal
from riskstream.detectors.text import TermMatcher


@dataclass(frozen=True, slots=True)
class ProhibitedTermsParams:
    prohibited: tuple[str, ...] = ()
    restricted: tuple[str, ...] = ()
    min_squashed: int = 6
    exceptions: tuple[str, ...] = ()
    """Honest phrases that cancel a term they overlap: "bone china" (porcelain) for "tiger bone"."""


class ProhibitedTermsDetector(Stateless[ProhibitedTermsParams]):
    """Matches the title, description, brand and attributes against term lists."""

    id: ClassVar[str] = "prohibited_terms"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[ProhibitedTermsParams]] = ProhibitedTermsParams

    PROHIBITED: Final = "prohibited_item"
    RESTRICTED: Final = "restricted_item"

    def __init__(self, params: ProhibitedTermsParams) -> None:
        self.params = params
        self._prohibited = TermMatcher(params.prohibited, params.min_squashed, exceptions=params.exceptions)
        self._restricted = TermMatcher(params.restricted, params.min_squashed, exceptions=params.exceptions)

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ListingEvent) or event.op == "removed":
            return state, []
        text = " \n ".join(
            (event.title, event.description, event.brand or "", *event.attributes.values())
        )
        signals = []
        for code, matcher, score in (
            (self.PROHIBITED, self._prohibited, 1.0),
            (self.RESTRICTED, self._restricted, 0.6),
        ):
            terms = matcher.find(text)
            if terms:
                signals.append(
                    signal(
                        self.id,
                        event,
                        code=code,
                        entity_type="listing",
                        entity_id=event.listing_id,
                        score=score,
                        evidence={"terms": terms, "fields": ["title", "description", "brand", "attributes"]},
                    )
                )
        return state, signals
