"""Safety-complaint language in a review: fire, explosion, burns, rashes, choking.

A buyer writing "it caught fire" or "gave my baby a rash" is the earliest
sign of a dangerous product, long before a recall.  The default term list is
multilingual (en, de, fr, es, it, nl, ms/id, th) and matched with
`TermMatcher`, so "c@ught f.i.r.e" still counts.

Deliberate choices, so honest reviews stay quiet:

* Bare "fire", "burn", "hot" and "lit" are *not* terms: "this charger is
  fire" (slang for excellent), "fire red colour", "burns DVDs fast" and "hot
  deal" would swamp the signal.  Terms are event-shaped phrases ("caught
  fire", "burst into flames", "burned my").  The cost is missing a terse
  "FIRE HAZARD!!" that uses none of them; add such phrases per region.
* A negation just before a term ("did *not* catch fire", "no rash at all",
  "ist nicht explodiert") suppresses that occurrence; the suppressed terms are
  kept in the evidence of any signal the review still produces.
* `exclusions` are phrases removed before matching ("rash decision").

>>> from riskstream.contracts import ReviewEvent, parse_time
>>> d = SafetyComplaintsDetector(SafetyComplaintsDetector.Params())
>>> ev = ReviewEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="DE", review_id="r1", listing_id="l1", buyer_id="b1", rating=1,
...     text="Das Ladegerät hat Feuer gefangen!", language="de",
...     verified_purchase=True, account_age_days=400)
>>> _, signals = d.detect(ev, None)
>>> [(s.code, s.entity_id, s.evidence["terms"]) for s in signals]
[('safety_complaint', 'l1', ['feuer gefangen'])]
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import ClassVar, Final

from riskstream.contracts import Event, EventKind, ReviewEvent, Signal
from riskstream.detectors.base import Stateless, signal
from riskstream.detectors.text import TermMatcher, is_unspaced, normalize, split_bang_runs, squash

DEFAULT_TERMS: Final[tuple[str, ...]] = (
    # en
    "caught fire", "catch fire", "catches fire", "burst into flames", "went up in flames",
    "exploded", "explode", "blew up", "overheated", "overheating", "overheats",
    "burned my", "burnt my", "burns my", "melted", "smoke came out", "started smoking",
    "electric shock", "shocked me", "electrocuted", "rash", "rashes", "blisters", "hives",
    "allergic reaction", "choking", "choked", "choking hazard", "swallowed", "cut my",
    "sharp edge", "poisoned", "made me sick", "burning smell",
    # de
    "feuer gefangen", "in flammen", "explodiert", "uberhitzt", "verbrannt",
    "stromschlag", "ausschlag", "allergische reaktion", "erstickt", "verschluckt",
    # fr
    "a pris feu", "pris feu", "explose", "surchauffe", "brule", "decharge electrique",
    "eruption cutanee", "plaques rouges", "etouffe", "avale",
    # es
    "se incendio", "se prendio fuego", "exploto", "se sobrecalento", "me quemo",
    "descarga electrica", "sarpullido", "erupcion", "se atraganto", "ahogo",
    # it, nl
    "ha preso fuoco", "e esploso", "surriscaldato", "vlam gevat", "ontploft", "oververhit",
    # ms / id
    "terbakar", "meletup", "meledak", "berasap", "terlalu panas", "renjatan elektrik",
    "kesetrum", "ruam", "gatal gatal", "tercekik", "tersedak",
    # th: caught fire, exploded, electric shock, rash, choking, overheated
    "ไฟไหม้", "ลุกไหม้", "ระเบิด", "ไฟดูด", "ไฟช็อต", "ผื่นขึ้น", "ผื่นแดง", "สำลัก", "ร้อนจัด",
)
DEFAULT_NEGATIONS: Final[tuple[str, ...]] = (
    "not", "no", "never", "didnt", "didn t", "doesnt", "doesn t", "dont", "don t", "isnt", "isn t",
    "wasnt", "wasn t", "wont", "won t", "without",
    "nicht", "kein", "keine", "nie", "ohne", "pas", "jamais", "sans", "nunca", "sin", "non",
    "niet", "geen", "tidak", "tak", "bukan", "tiada", "tanpa", "ไม่",
)
DEFAULT_EXCLUSIONS: Final[tuple[str, ...]] = (
    "rash decision", "rash decisions", "rash purchase", "explode with flavour", "explode with flavor",
    "exploded in popularity", "blew up on tiktok", "blew up on instagram", "fire red", "burn a cd",
)


@dataclass(frozen=True, slots=True)
class SafetyComplaintsParams:
    terms: tuple[str, ...] = DEFAULT_TERMS
    negations: tuple[str, ...] = DEFAULT_NEGATIONS
    exclusions: tuple[str, ...] = DEFAULT_EXCLUSIONS
    negation_window: int = 2
    """How many words before a term a negation may stand.  Punctuation is gone
    after normalisation, so a wider window turns "No joke, it caught fire"
    into a negation."""
    min_squashed: int = 6
    base_score: float = 0.7
    low_rating_bonus: float = 0.2
    """Added when the rating is 1 or 2: the buyer is unhappy, not joking."""


class SafetyComplaintsDetector(Stateless[SafetyComplaintsParams]):
    """Matches review text against multilingual safety-complaint terms."""

    id: ClassVar[str] = "safety_complaints"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"review"})
    Params: ClassVar[type[SafetyComplaintsParams]] = SafetyComplaintsParams

    CODE: Final = "safety_complaint"

    def __init__(self, params: SafetyComplaintsParams) -> None:
        self.params = params
        self._terms = TermMatcher(params.terms, params.min_squashed, drop_contained=True)
        patterns = sorted({e for e in (normalize(x) for x in params.exclusions) if e}, key=len, reverse=True)
        self._exclude = (
            re.compile("(?<!\\w)(?:" + "|".join(map(re.escape, patterns)) + ")(?!\\w)") if patterns else None
        )
        self._negations = frozenset(n for n in (normalize(x) for x in params.negations) if n)
        self._unspaced_negations = tuple(squash(n) for n in self._negations if is_unspaced(n))

    def without_exclusions(self, normalized: str) -> str:
        """`normalized` text with the exclusion phrases blanked out.

        >>> d = SafetyComplaintsDetector(SafetyComplaintsDetector.Params())
        >>> d.without_exclusions(normalize("Not a RASH DECISION, it caught fire!!")).split()
        ['not', 'a', 'it', 'caught', 'fire']
        """
        return self._exclude.sub(" ", normalized) if self._exclude is not None else normalized

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ReviewEvent):
            return state, []
        norm = normalize(split_bang_runs(event.text))
        text = self.without_exclusions(norm)
        terms: list[str] = []
        negated: list[str] = []
        for term in self._terms.find(text):
            # Unspaced terms are checked in the text before blanking: squashed, the words
            # either side of a blanked exclusion would touch ("ไม่ rash decision ระเบิด").
            if is_unspaced(term):
                negative = self._all_negated_unspaced(norm, term)
            else:
                negative = self._all_negated(text, term)
            (negated if negative else terms).append(term)
        if not terms:
            return state, []
        p = self.params
        score = min(1.0, p.base_score + (p.low_rating_bonus if event.rating <= 2 else 0.0))
        evidence = {
            "terms": terms,
            "review_id": event.review_id,
            "buyer_id": event.buyer_id,
            "seller_id": event.seller_id,
            "rating": event.rating,
            "language": event.language,
            "verified_purchase": event.verified_purchase,
        }
        if negated:
            evidence["negated_terms"] = negated
        return state, [
            signal(
                self.id,
                event,
                code=self.CODE,
                entity_type="listing",
                entity_id=event.listing_id,
                score=score,
                evidence=evidence,
            )
        ]

    def _all_negated(self, text: str, term: str) -> bool:
        """True when every occurrence of a spaced-script `term` follows a negation.

        A negation must stand among the `negation_window` words before.  An
        occurrence found only in squashed form ("c a u g h t f i r e") has no
        word position and counts as not negated.
        """
        if not self._negations:
            return False
        words = text.split()
        key = normalize(term).split()
        starts = [i for i in range(len(words) - len(key) + 1) if words[i : i + len(key)] == key]
        if not starts:
            return False
        window = self.params.negation_window
        for i in starts:
            before = words[max(0, i - window) : i]
            pairs = [f"{a} {b}" for a, b in itertools.pairwise(before)]
            if not self._negations.intersection(before) and not self._negations.intersection(pairs):
                return False
        return True

    def _all_negated_unspaced(self, normalized: str, term: str) -> bool:
        """True when every occurrence of an unspaced-script `term` follows a negation
        written right before it (Thai ไม่ระเบิด "did not explode")."""
        squashed, key = squash(normalized), squash(normalize(term))
        starts = [m.start() for m in re.finditer(re.escape(key), squashed)]
        return bool(starts) and bool(self._unspaced_negations) and all(
            any(squashed[:i].endswith(neg) for neg in self._unspaced_negations) for i in starts
        )
