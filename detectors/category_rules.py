"""Categories a region bans outright, bans in some of its countries, or restricts to licensed sellers.

Categories are paths (``weapons/knives``): a rule on ``weapons`` covers every
sub-category, but not ``weaponsmith_books``.  Comparison ignores case and
surrounding spaces.  The listing's text is not read here, so a toy gun listed
under ``toys`` is never caught by a rule on ``weapons`` (text is the job of
``prohibited_terms``).

>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = CategoryRulesDetector(CategoryRulesDetector.Params(
...     banned_by_country={"DE": ("militaria/insignia",)}, restricted=("pharmacy",)))
>>> ev = ListingEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="DE", op="created", listing_id="l1", seller_id="s1",
...     category="Militaria/Insignia/Badges", title="Abzeichen", price=40.0, currency="EUR")
>>> _, signals = d.detect(ev, None)
>>> [(s.code, s.evidence["rule"], s.evidence["matched_rule"]) for s in signals]
[('category_banned', 'banned_in_country', 'militaria/insignia')]
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import Stateless, listing_signal
from riskstream.detectors.bounded_cache import ShortKeyMemo
from riskstream.detectors.licence import MISSING, LicenceCheck

SEPARATOR: Final = "/"


def _normalize_category(category: str) -> str:
    parts = (p.strip() for p in category.casefold().split(SEPARATOR))
    return SEPARATOR.join(p for p in parts if p)


_CATEGORIES: Final[ShortKeyMemo[str]] = ShortKeyMemo(_normalize_category, max_entries=8192, max_key_chars=128)


def normalize_category(category: str) -> str:
    """``" Weapons / Knives "`` -> ``"weapons/knives"``: case-folded, spaces trimmed per level."""
    return _CATEGORIES(category)


def category_rule_for(category: str, rules: Iterable[str]) -> str | None:
    """The first rule (normalized) that `category` is equal to or a sub-category of.

    >>> category_rule_for("Weapons/Knives", ["weapons"])
    'weapons'
    >>> category_rule_for("weaponsmith_books", ["weapons"]) is None
    True
    """
    return _rule_for(normalize_category(category), tuple(normalize_category(r) for r in rules))


def _rule_for(cat: str, rules: tuple[str, ...]) -> str | None:
    """`category_rule_for` with the category and the rules already normalized."""
    for r in rules:
        if r and (cat == r or cat.startswith(r + SEPARATOR)):
            return r
    return None


@dataclass(frozen=True, slots=True)
class CategoryRulesParams:
    """Parameters; the defaults ban and restrict nothing.

    * ``banned``: categories banned everywhere in the region.
    * ``banned_by_country``: country code -> categories banned in that country only.
    * ``restricted``: categories that need a licence attribute, region-wide.
    * ``restricted_by_country``: country code -> categories restricted in that country only.
    * ``licence_attributes``: attribute names any one of which, non-empty, proves a licence.
    * ``licence_pattern``: optional regex the licence value must match in full ("" = any value).
    """

    banned: tuple[str, ...] = ()
    banned_by_country: dict[str, tuple[str, ...]] = field(default_factory=dict)
    restricted: tuple[str, ...] = ()
    restricted_by_country: dict[str, tuple[str, ...]] = field(default_factory=dict)
    licence_attributes: tuple[str, ...] = ("licence_id",)
    licence_pattern: str = ""


class CategoryRulesDetector(Stateless[CategoryRulesParams]):
    """Checks a listing's category against the region's banned and restricted lists."""

    id: ClassVar[str] = "category_rules"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[CategoryRulesParams]] = CategoryRulesParams

    BANNED: Final = "category_banned"
    LICENCE_MISSING: Final = "licence_missing"
    LICENCE_INVALID: Final = "licence_invalid"

    def __init__(self, params: CategoryRulesParams) -> None:
        self.params = params
        self._licence = LicenceCheck(params.licence_attributes, params.licence_pattern)
        # Rules normalized once, not per event.
        self._banned = _normalized(params.banned)
        self._banned_by_country = {c: _normalized(rs) for c, rs in params.banned_by_country.items()}
        self._restricted = _normalized(params.restricted)
        self._restricted_by_country = {c: _normalized(rs) for c, rs in params.restricted_by_country.items()}

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ListingEvent) or event.op == "removed":
            return state, []
        banned = self._match(event, self._banned, self._banned_by_country)
        if banned is not None:
            rule, country = banned
            return state, [self._signal(event, self.BANNED, 1.0, rule, country, {})]
        restricted = self._match(event, self._restricted, self._restricted_by_country)
        if restricted is None:
            return state, []
        rule, country = restricted
        code, extra = self._licence_problem(event.attributes)
        if code is None:
            return state, []
        score = 0.7 if code == self.LICENCE_MISSING else 0.5
        return state, [self._signal(event, code, score, rule, country, extra)]

    @staticmethod
    def _match(
        event: ListingEvent, region_wide: tuple[str, ...], by_country: Mapping[str, tuple[str, ...]]
    ) -> tuple[str, str | None] | None:
        """(matched rule, country or None when region-wide), or None.  Rules are normalized."""
        cat = normalize_category(event.category)
        country_rules = by_country.get(event.region)
        if country_rules:
            rule = _rule_for(cat, country_rules)
            if rule is not None:
                return rule, event.region
        rule = _rule_for(cat, region_wide) if region_wide else None
        return None if rule is None else (rule, None)

    def _licence_problem(self, attributes: Mapping[str, str]) -> tuple[str | None, dict[str, Any]]:
        found = self._licence.problem(attributes)
        if found is None:
            return None, {}
        problem, evidence = found
        return (self.LICENCE_MISSING if problem == MISSING else self.LICENCE_INVALID), evidence

    def _signal(
        self,
        event: ListingEvent,
        code: str,
        score: float,
        rule: str,
        country: str | None,
        extra: dict[str, Any],
    ) -> Signal:
        kind = "banned" if code == self.BANNED else "restricted"
        evidence: dict[str, Any] = {
            "category": event.category,
            "matched_rule": rule,
            "rule": f"{kind}_in_country" if country else kind,
            **({"country": country} if country else {}),
            **extra,
        }
        return listing_signal(self.id, event, code, score, evidence)


def _normalized(rules: Iterable[str]) -> tuple[str, ...]:
    return tuple(normalize_category(r) for r in rules)
