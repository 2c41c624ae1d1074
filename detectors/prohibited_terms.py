"""Prohibited and restricted items named in a listing, from per-region term lists.

* ``prohibited``: never allowed (``prohibited_item``); no licence clears them.
* ``restricted``: allowed to nobody without a review (``restricted_item``); no licence clears them.
* ``licensed_terms``: groups of terms restricted unless the listing proves the
  group's licence (`riskstream.detectors.licence`, the check `category_rules`
  uses): one of the group's ``licence_attributes`` holds a value matching its
  ``licence_pattern`` in full.  A licence clears only its own group's terms,
  so a pharmacy licence does not clear nicotine pouches.  A term listed in
  several groups is cleared by any of their licences.

>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = ProhibitedTermsDetector(ProhibitedTermsDetector.Params(prohibited=("ivory",)))
>>> ev = ListingEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="DE", op="created", listing_id="l1", seller_id="s1", category="art",
...     title="Carved 1v0ry figurine", price=90.0, currency="EUR")
>>> _, signals = d.detect(ev, None)
>>> [(s.code, s.evidence["terms"]) for s in signals]
[('prohibited_item', ['ivory'])]

A pharmacy's melatonin passes; the same listing without the licence is held:

>>> d = ProhibitedTermsDetector(ProhibitedTermsDetector.Params(licensed_terms=(
...     LicensedTerms(terms=("melatonin 5 mg",), licence_attributes=("pharmacy_licence_id",),
...                   licence_pattern="[A-Z]{2}-[A-Z0-9-]{4,32}", name="pharmacy"),)))
>>> ev = ListingEvent(event_id="e2", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="DE", op="created", listing_id="l2", seller_id="s2", category="health/supplements/melatonin",
...     title="Melatonin 5 mg, 120 Tabletten", price=11.0, currency="EUR",
...     attributes={"pharmacy_licence_id": "DE-APO-1234567"})
>>> d.detect(ev, None)[1]
[]
>>> import dataclasses
>>> _, signals = d.detect(dataclasses.replace(ev, attributes={}), None)
>>> [(s.code, s.evidence["terms"], s.evidence["licences"]) for s in signals]
[('restricted_item', ['melatonin 5 mg'], [{'licence': 'pharmacy', 'terms': ['melatonin 5 mg'], \
'problem': 'missing', 'required_any_of': ['pharmacy_licence_id']}])]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Final

import msgspec

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import Stateless, listing_signal
from riskstream.detectors.licence import LicenceCheck
from riskstream.detectors.text import TermMatcher, normalize

NonEmpty = Annotated[str, msgspec.Meta(min_length=1)]


@dataclass(frozen=True, slots=True)
class LicensedTerms:
    """Terms restricted unless the listing proves this licence.

    * ``terms``: the terms (matched like ``restricted``).
    * ``licence_attributes``: attribute names any one of which, non-empty, proves the licence.
    * ``licence_pattern``: optional regex the licence value must match in full ("" = any value).
    * ``name``: what the licence is (``pharmacy``), for the evidence; default the first attribute.
    """

    terms: Annotated[tuple[NonEmpty, ...], msgspec.Meta(min_length=1)]
    licence_attributes: Annotated[tuple[NonEmpty, ...], msgspec.Meta(min_length=1)]
    licence_pattern: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class ProhibitedTermsParams:
    prohibited: tuple[str, ...] = ()
    restricted: tuple[str, ...] = ()
    """Restricted whatever licence the listing carries."""
    licensed_terms: tuple[LicensedTerms, ...] = ()
    """Restricted unless the listing proves the group's licence (`LicensedTerms`)."""
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
    _FIELDS: Final = ("title", "description", "brand", "attributes")

    def __init__(self, params: ProhibitedTermsParams) -> None:
        self.params = params
        self._prohibited = TermMatcher(params.prohibited, params.min_squashed, exceptions=params.exceptions)
        self._restricted = TermMatcher(params.restricted, params.min_squashed, exceptions=params.exceptions)
        # Every group's terms in one matcher (the cost per event stays flat in terms and groups);
        # a found term leads to the licences that clear it.
        self._licences = tuple(LicenceCheck(g.licence_attributes, g.licence_pattern) for g in params.licensed_terms)
        self._names = tuple(g.name or next(iter(g.licence_attributes), "licence") for g in params.licensed_terms)
        # Keyed by the normalised term: "Semaglutid" in one group and "semaglutid" in another are one term.
        groups_of: dict[str, list[int]] = {}
        for i, group in enumerate(params.licensed_terms):
            for term in group.terms:
                groups = groups_of.setdefault(normalize(term), [])
                if i not in groups:
                    groups.append(i)
        self._groups_of = {t: tuple(gs) for t, gs in groups_of.items()}
        self._licensed = TermMatcher((t for g in params.licensed_terms for t in g.terms), params.min_squashed,
                                     exceptions=params.exceptions)

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ListingEvent) or event.op == "removed":
            return state, []
        text = " \n ".join(
            (event.title, event.description, event.brand or "", *event.attributes.values())
        )
        signals = []
        prohibited = self._prohibited.find(text)
        if prohibited:
            signals.append(self._signal(event, self.PROHIBITED, 1.0, {"terms": prohibited}))
        restricted = self._restricted.find(text)
        unlicensed, licences = self._unlicensed(self._licensed.find(text), event.attributes)
        terms = restricted + [t for t in unlicensed if t not in restricted]
        if terms:
            evidence: dict[str, Any] = {"terms": terms}
            if licences:
                evidence["licences"] = licences
            signals.append(self._signal(event, self.RESTRICTED, 0.6, evidence))
        return state, signals

    def _unlicensed(self, found: list[str], attributes: dict[str, str]) -> tuple[list[str], list[dict[str, Any]]]:
        """The found licensed terms no licence of theirs clears, and per failed licence what was wrong."""
        if not found:
            return [], []
        problems: dict[int, tuple[str, dict[str, Any]] | None] = {}
        failed: dict[int, list[str]] = {}
        out = []
        for term in found:
            groups = self._groups_of[normalize(term)]
            for g in groups:
                if g not in problems:
                    problems[g] = self._licences[g].problem(attributes)
            if all(problems[g] is not None for g in groups):
                out.append(term)
                for g in groups:
                    failed.setdefault(g, []).append(term)
        licences = []
        for g, terms in failed.items():
            problem = problems[g]
            assert problem is not None
            licences.append({"licence": self._names[g], "terms": terms, "problem": problem[0], **problem[1]})
        return out, licences

    def _signal(self, event: ListingEvent, code: str, score: float, evidence: dict[str, Any]) -> Signal:
        return listing_signal(self.id, event, code, score, {**evidence, "fields": list(self._FIELDS)})
