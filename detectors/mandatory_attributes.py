"""Attributes and certifications a listing must carry in its category (CE for EU toys, FCC id for US radios).

Category keys are paths, as in ``category_rules``: a requirement on ``toys``
also binds ``toys/dolls``.  Requirements of every matching level add up.
Attribute names compare case-insensitively and a blank value counts as
missing; certifications compare ignoring case and punctuation (``c.e.`` is
``CE``).  An attribute with a format must match its regex in full.

>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = MandatoryAttributesDetector(MandatoryAttributesDetector.Params(
...     required_certifications={"toys": ("CE",)},
...     required_attributes={"toys": ("eu_responsible_person",)}))
>>> ev = ListingEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="FR", op="created", listing_id="l1", seller_id="s1", category="toys/dolls",
...     title="Poupée", price=19.0, currency="EUR", certifications=["c.e."])
>>> _, signals = d.detect(ev, None)
>>> [(s.code, s.evidence["missing"]) for s in signals]
[('attribute_missing', ['eu_responsible_person'])]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import Stateless, listing_signal
from riskstream.detectors.bounded_cache import ShortKeyMemo
from riskstream.detectors.category_rules import SEPARATOR, normalize_category

_NON_ALNUM: Final = re.compile(r"[\W_]+", re.UNICODE)


def _cert_key(cert: str) -> str:
    return _NON_ALNUM.sub("", cert.casefold())


@dataclass(frozen=True, slots=True)
class MandatoryAttributesParams:
    """Parameters; the defaults require nothing.

    * ``required_attributes``: category -> attribute names that must be present and non-blank.
    * ``required_certifications``: category -> certifications that must all be listed.
    * ``attribute_formats``: attribute name -> regex its value must match in full,
      checked wherever the attribute is required.
    """

    required_attributes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    required_certifications: dict[str, tuple[str, ...]] = field(default_factory=dict)
    attribute_formats: dict[str, str] = field(default_factory=dict)


class MandatoryAttributesDetector(Stateless[MandatoryAttributesParams]):
    """Reports missing attributes, missing certifications and malformed attribute values."""

    id: ClassVar[str] = "mandatory_attributes"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[MandatoryAttributesParams]] = MandatoryAttributesParams

    ATTRIBUTE_MISSING: Final = "attribute_missing"
    CERTIFICATION_MISSING: Final = "certification_missing"
    ATTRIBUTE_INVALID: Final = "attribute_invalid_format"

    def __init__(self, params: MandatoryAttributesParams) -> None:
        self.params = params
        self._attrs = _by_category(params.required_attributes)
        self._certs = _by_category(params.required_certifications)
        self._formats = {k.casefold(): (rx, re.compile(rx)) for k, rx in params.attribute_formats.items()}
        # Per normalised category: (required attributes, required certifications), from a few hundred categories.
        self._requirements: ShortKeyMemo[tuple[tuple[str, ...], tuple[str, ...]]] = ShortKeyMemo(
            lambda c: (tuple(_required(self._attrs, c)), tuple(_required(self._certs, c))))

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ListingEvent) or event.op == "removed":
            return state, []
        category = normalize_category(event.category)
        required_attrs, required_certs = self._requirements(category)
        if not required_attrs and not required_certs:
            return state, []

        present = {k.casefold(): v.strip() for k, v in event.attributes.items() if v.strip()}
        missing_attrs = [a for a in required_attrs if a.casefold() not in present]
        invalid: dict[str, dict[str, str]] = {}
        for a in required_attrs:
            fmt = self._formats.get(a.casefold())
            value = present.get(a.casefold())
            if fmt is not None and value is not None and not fmt[1].fullmatch(value):
                invalid[a] = {"value": value, "pattern": fmt[0]}
        listed = {_cert_key(c) for c in event.certifications}
        missing_certs = [c for c in required_certs if _cert_key(c) not in listed]

        signals = []
        if missing_certs:
            signals.append(
                self._signal(
                    event,
                    self.CERTIFICATION_MISSING,
                    0.8,
                    {"missing": missing_certs, "listed": list(event.certifications)},
                )
            )
        if missing_attrs:
            signals.append(self._signal(event, self.ATTRIBUTE_MISSING, 0.6, {"missing": missing_attrs}))
        if invalid:
            signals.append(self._signal(event, self.ATTRIBUTE_INVALID, 0.5, {"invalid": invalid}))
        return state, signals

    def _signal(self, event: ListingEvent, code: str, score: float, extra: dict[str, Any]) -> Signal:
        return listing_signal(self.id, event, code, score, {"category": event.category, **extra})


def _by_category(rules: Mapping[str, Iterable[str]]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for cat, names in rules.items():
        key = normalize_category(cat)
        out[key] = (*out.get(key, ()), *names)
    return out


def _required(rules: Mapping[str, tuple[str, ...]], category: str) -> list[str]:
    """Requirements of `category` and of every ancestor, each name once, in policy order."""
    parts = category.split(SEPARATOR)
    found: dict[str, None] = {}
    for i in range(1, len(parts) + 1):
        for name in rules.get(SEPARATOR.join(parts[:i]), ()):
            found.setdefault(name, None)
    return list(found)
