"""Unsubstantiated health or financial claims in creator content.

Two kinds, both code `unsubstantiated_claim`, told apart by `evidence["kind"]`:

* **health**: "cures cancer", "heilt Krebs", "lose 10kg in a week", "abnehmen
  ohne Diät", ... from a multilingual term list plus regular expressions for
  "<n> kg in <n> days/weeks" in several languages (numbers cannot be terms:
  `normalize` reads "10kg" as leetspeak).
* **financial**: "guaranteed returns", "double your money", "rendement
  garanti", ...  "Guaranteed returns" is also what a shop says about its
  refund policy, so with `financial_needs_context` (the default) a financial
  term counts only when the text also speaks of investing (`financial_context`:
  "invest", "crypto", "forex", ...) or quotes a percentage.  A lone "double
  your money" on a cashback post therefore stays quiet; that is the price.

Deliberately absent: "cure for cancer" and "fight cancer", which fundraisers
and research news use far more than sellers do.

>>> from riskstream.contracts import ContentEvent, parse_time
>>> d = HealthClaimsDetector(HealthClaimsDetector.Params())
>>> ev = ContentEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="MY", content_id="c1", creator_id="cr1", content_kind="live",
...     text="This tea CURES C4NCER and you will lose 10kg in a week!")
>>> _, signals = d.detect(ev, None)
>>> [(s.code, s.evidence["kind"], s.evidence["claims"]) for s in signals]
[('unsubstantiated_claim', 'health', ['cures cancer', '10kg in a week'])]
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import ClassVar, Final

from riskstream.contracts import ContentEvent, Event, EventKind, Signal
from riskstream.detectors.base import Stateless, signal
from riskstream.detectors.text import TermMatcher, split_bang_runs

DEFAULT_HEALTH_TERMS: Final[tuple[str, ...]] = (
    # en
    "cures cancer", "cure cancer guaranteed", "kills cancer cells", "cures diabetes",
    "reverses diabetes", "cures autism", "cures covid", "prevents covid", "cures arthritis",
    "miracle cure", "no more insulin", "lose weight without diet", "lose weight without exercise",
    "burn fat while you sleep", "melts belly fat", "detox cures",
    # de
    "heilt krebs", "heilt diabetes", "wundermittel", "abnehmen ohne diat", "fett weg im schlaf",
    # fr
    "guerit le cancer", "guerit le diabete", "remede miracle", "maigrir sans regime",
    # es
    "cura el cancer", "cura la diabetes", "cura milagrosa", "adelgazar sin dieta",
    # ms / id
    "sembuh kanser", "menyembuhkan kanser", "menyembuhkan kanker", "ubat ajaib", "kurus tanpa diet",
    # th: cures cancer, cures diabetes, miracle cure
    "รักษามะเร็ง", "หายขาดจากเบาหวาน", "ยาวิเศษ",
)
DEFAULT_FINANCIAL_TERMS: Final[tuple[str, ...]] = (
    "guaranteed returns", "guaranteed return", "guaranteed profit", "guaranteed income",
    "double your money", "triple your money", "risk free profit", "risk free returns", "get rich quick",
    "garantierte rendite", "garantierter gewinn", "geld verdoppeln", "verdoppeln sie ihr geld",
    "rendement garanti", "profit garanti", "doublez votre argent", "doubler votre argent",
    "rentabilidad garantizada", "ganancias garantizadas", "duplica tu dinero",
    "pulangan dijamin", "untung dijamin", "keuntungan dijamin", "gandakan wang", "gandakan uang",
    "ผลตอบแทนการันตี", "กำไรแน่นอน",
)
DEFAULT_FINANCIAL_CONTEXT: Final[tuple[str, ...]] = (
    "invest", "investment", "investing", "investor", "crypto", "bitcoin", "forex", "trading", "trade",
    "stocks", "portfolio", "deposit", "passive income", "signals", "mining",
    "investieren", "anlage", "aktien", "investir", "placement", "invertir", "inversion",
    "pelaburan", "pelabur", "saham", "ลงทุน",
)
# A number starts where no digit precedes it: without the lookbehind every digit
# of a long run is a start and `\d+` backtracks over the rest, so 10,000 digits of
# content text took 57 s (quadratic; found by the property tests, issue 13).
_NUM = r"(?<![\d.,])\d+(?:[.,]\d+)?"
_ONE = r"(?:\d+|a|one|a single|ein(?:er)?|une?|una?|se|satu)"
DEFAULT_HEALTH_PATTERNS: Final[tuple[str, ...]] = (
    # "10kg in a week", "10 kg in 7 Tagen", "10 kilos en une semaine", "turun 10kg dalam seminggu"
    _NUM + r"\s*(?:kg|kgs|kilos?|kilogram\w*|lbs?|pounds|pfund)\s+(?:in|en|dalam|innerhalb|within)\s+(?:nur\s+|only\s+|just\s+)?"
    + _ONE + r"\s*(?:days?|weeks?|tag(?:en)?|wochen?|jours?|semaines?|dias?|semanas?|hari|minggu)\b",
    _NUM + r"\s*(?:kg|kilos?|lbs?)\s+(?:dalam\s+)?(?:seminggu|sehari|sebulan)\b",
)
_PERCENT: Final = re.compile(_NUM + r"\s*%")


@dataclass(frozen=True, slots=True)
class HealthClaimsParams:
    health_terms: tuple[str, ...] = DEFAULT_HEALTH_TERMS
    health_patterns: tuple[str, ...] = DEFAULT_HEALTH_PATTERNS
    """Regular expressions, matched case-insensitively on the accent-stripped text."""
    financial_terms: tuple[str, ...] = DEFAULT_FINANCIAL_TERMS
    financial_context: tuple[str, ...] = DEFAULT_FINANCIAL_CONTEXT
    financial_needs_context: bool = True
    min_squashed: int = 6
    health_score: float = 0.8
    financial_score: float = 0.8


class HealthClaimsDetector(Stateless[HealthClaimsParams]):
    """Term lists and number patterns for health and financial promises."""

    id: ClassVar[str] = "health_claims"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"content"})
    Params: ClassVar[type[HealthClaimsParams]] = HealthClaimsParams

    CODE: Final = "unsubstantiated_claim"

    def __init__(self, params: HealthClaimsParams) -> None:
        self.params = params
        self._health = TermMatcher(params.health_terms, params.min_squashed, drop_contained=True)
        self._health_patterns = tuple(re.compile(p, re.IGNORECASE) for p in params.health_patterns)
        self._financial = TermMatcher(params.financial_terms, params.min_squashed, drop_contained=True)
        # Context words are short ("trade"): never squashed, so "tradesman" is not "trade".
        self._context = TermMatcher(params.financial_context, min_squashed=10_000, drop_contained=True)

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ContentEvent):
            return state, []
        p = self.params
        plain = _plain(event.text)
        text = split_bang_runs(event.text)
        health = self._health.find(text)
        for pattern in self._health_patterns:
            health.extend(m.group(0) for m in pattern.finditer(plain) if m.group(0) not in health)
        financial = self._financial.find(text)
        context: list[str] = []
        if financial and p.financial_needs_context:
            context = self._context.find(text) + _PERCENT.findall(plain)
            if not context:
                financial = []
        signals: list[Signal] = []
        for kind, claims, score in (("health", health, p.health_score), ("financial", financial, p.financial_score)):
            if not claims:
                continue
            evidence: dict[str, object] = {
                "kind": kind,
                "claims": claims,
                "creator_id": event.creator_id,
                "content_kind": event.content_kind,
                "language": event.language,
            }
            if kind == "financial" and context:
                evidence["context"] = context
            signals.append(
                signal(
                    self.id,
                    event,
                    code=self.CODE,
                    entity_type="content",
                    entity_id=event.content_id,
                    score=score,
                    evidence=evidence,
                )
            )
        return state, signals


def _plain(text: str) -> str:
    """Case-folded, combining marks dropped (NFKD); ASCII text has none to drop and folds as it lowers.

    >>> _plain("Perdez 10 KILOS en une SEMAINE"), _plain("Café Über")
    ('perdez 10 kilos en une semaine', 'cafe uber')
    """
    if text.isascii():
        return text.lower()
    return "".join(c for c in unicodedata.normalize("NFKD", text.casefold()) if not unicodedata.combining(c))
