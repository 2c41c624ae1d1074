"""Creator content promoting prohibited or restricted items, or linking to actioned listings.

Two findings on one piece of content:

* its text names a prohibited (`promotes_prohibited`) or restricted
  (`promotes_restricted`) item from the region's term lists, matched with the
  same obfuscation-robust matcher as listings;
* it links to a listing we already removed or held because of what it sells
  (`links_actioned_listing`): a prohibited, restricted, recalled or
  counterfeit item (``link_reasons``, reason codes of the listing's action).
  A listing held for its paperwork (a missing CE mark or responsible person)
  or for its reviews (a review farm) sells a lawful item, and an honest
  creator's post about it promotes nothing prohibited.
  Params cannot know those listings, so the state, keyed by country, holds a
  bounded set of actioned listing ids.  The stream layer feeds it through the
  pure helpers `with_actioned(state, ids, reasons)` (after an enforcement
  action) and `without_actioned(state, ids)` (after an appeal is granted);
  `detect` only reads it.

>>> from riskstream.contracts import ContentEvent, parse_time
>>> d = ContentProhibitedDetector(ContentProhibitedDetector.Params(prohibited=("ivory",)))
>>> state = d.with_actioned(d.initial_state(), ["l9"], reasons=["prohibited_item"])
>>> d.with_actioned(state, ["l5"], reasons=["certification_missing"]) == state
True
>>> ev = ContentEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="DE", content_id="c1", creator_id="cr1", content_kind="video",
...     text="Unboxing real 1v0ry carvings", linked_listing_ids=["l1", "l9"])
>>> _, signals = d.detect(ev, state)
>>> [(s.code, s.entity_id, s.evidence.get("terms") or s.evidence["listing_ids"]) for s in signals]
[('promotes_prohibited', 'c1', ['ivory']), ('links_actioned_listing', 'c1', ['l9'])]
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from riskstream.contracts import ContentEvent, Event, EventKind, Signal
from riskstream.detectors.base import signal
from riskstream.detectors.text import TermMatcher, split_bang_runs

ActionedState = dict[str, Any]
"""``{"actioned": {listing_id: None, ...}}``: a JSON object used as an ordered set, oldest first."""

DEFAULT_PROHIBITED: Final[tuple[str, ...]] = (
    # Prohibited in every region we operate in; a region's policy adds its own.
    # Not bare "ivory": "ivory white dress" is a colour.
    "elephant ivory", "real ivory", "ivory tusk", "ivory carving", "rhino horn", "pangolin scales", "tiger bone", "fentanyl", "counterfeit banknotes",
    "fake banknotes", "ghost gun", "untraceable gun", "stolen credit cards", "fake passport",
)
DEFAULT_LINK_REASONS: Final[tuple[str, ...]] = (
    # What the listing sells is the problem: banned, restricted or recalled goods (prohibited_terms,
    # category_rules, recall_match) and counterfeits (price_outlier, image_reuse, new_seller_wave).
    "prohibited_item", "restricted_item", "category_banned", "recalled_product",
    "price_below_baseline", "image_reused", "new_seller_wave",
)
DEFAULT_RESTRICTED: Final[tuple[str, ...]] = (
    "nicotine pouches", "e liquid", "disposable vape", "cbd oil", "kratom", "pepper spray",
    "prescription drugs", "without prescription", "ohne rezept", "sans ordonnance", "sin receta",
)


@dataclass(frozen=True, slots=True)
class ContentProhibitedParams:
    prohibited: tuple[str, ...] = DEFAULT_PROHIBITED
    restricted: tuple[str, ...] = DEFAULT_RESTRICTED
    min_squashed: int = 6
    max_actioned: int = 50_000
    """Cap on remembered actioned listings per country; the oldest are forgotten first."""
    link_reasons: tuple[str, ...] = DEFAULT_LINK_REASONS
    """Reason codes of a listing's remove or hold that make a link to it a finding (any one of them)."""
    prohibited_score: float = 0.9
    restricted_score: float = 0.5
    actioned_link_score: float = 0.8


class ContentProhibitedDetector:
    """Term lists over the content text, plus a per-country set of actioned listings."""

    # Broadcast state: the actioned-listing set is fed by every worker's broadcast reader, so each
    # worker keeps this detector's state whole (it is not partitioned by its key).
    local_state: ClassVar[bool] = True
    id: ClassVar[str] = "content_prohibited"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"content"})
    Params: ClassVar[type[ContentProhibitedParams]] = ContentProhibitedParams

    PROHIBITED: Final = "promotes_prohibited"
    RESTRICTED: Final = "promotes_restricted"
    ACTIONED_LINK: Final = "links_actioned_listing"

    def __init__(self, params: ContentProhibitedParams) -> None:
        if params.max_actioned < 1:
            raise ValueError("max_actioned must be positive")
        self.params = params
        self._prohibited = TermMatcher(params.prohibited, params.min_squashed, drop_contained=True)
        self._restricted = TermMatcher(params.restricted, params.min_squashed, drop_contained=True)
        self._link_reasons = frozenset(params.link_reasons)

    def state_key(self, event: Event) -> str | None:
        return event.region if isinstance(event, ContentEvent) else None

    def initial_state(self) -> ActionedState:
        return {"actioned": {}}

    def with_actioned(self, state: ActionedState, listing_ids: Iterable[str],
                      reasons: Iterable[str] | None = None) -> ActionedState:
        """A new state that also remembers `listing_ids` as actioned (pure; refreshes age).

        `reasons` are the action's reason codes: unless one is in ``link_reasons`` the listings
        are not remembered (`state` is returned as it is).  None: the caller does not know why,
        and they are remembered.

        >>> d = ContentProhibitedDetector(ContentProhibitedDetector.Params(max_actioned=2))
        >>> s = d.with_actioned(d.initial_state(), ["a", "b"])
        >>> list(d.with_actioned(s, ["c"])["actioned"])
        ['b', 'c']
        """
        if reasons is not None and self._link_reasons.isdisjoint(reasons):
            return state
        actioned = dict(state.get("actioned", {}))
        for lid in listing_ids:
            actioned.pop(lid, None)
            actioned[lid] = None
        excess = len(actioned) - self.params.max_actioned
        if excess > 0:
            for lid in list(actioned)[:excess]:
                del actioned[lid]
        return {**state, "actioned": actioned}

    def without_actioned(self, state: ActionedState, listing_ids: Iterable[str]) -> ActionedState:
        """A new state that forgets `listing_ids` (an appeal was granted; pure)."""
        drop = set(listing_ids)
        return {**state, "actioned": {k: v for k, v in state.get("actioned", {}).items() if k not in drop}}

    def detect(self, event: Event, state: ActionedState) -> tuple[ActionedState, list[Signal]]:
        if not isinstance(event, ContentEvent):
            return state, []
        p = self.params
        text = split_bang_runs(event.text)
        findings: list[tuple[str, float, dict[str, Any]]] = []
        for code, matcher, score in (
            (self.PROHIBITED, self._prohibited, p.prohibited_score),
            (self.RESTRICTED, self._restricted, p.restricted_score),
        ):
            terms = matcher.find(text)
            if terms:
                findings.append((code, score, {"terms": terms}))
        actioned = state.get("actioned", {})
        hits = [lid for lid in dict.fromkeys(event.linked_listing_ids) if lid in actioned]
        if hits:
            findings.append((self.ACTIONED_LINK, p.actioned_link_score, {"listing_ids": hits}))
        signals = [
            signal(
                self.id,
                event,
                code=code,
                entity_type="content",
                entity_id=event.content_id,
                score=score,
                evidence={
                    **extra,
                    "creator_id": event.creator_id,
                    "content_kind": event.content_kind,
                    "linked_listing_ids": list(event.linked_listing_ids),
                },
            )
            for code, score, extra in findings
        ]
        return state, signals
