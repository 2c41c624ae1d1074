"""Paid or affiliate promotion without a disclosure.

Two ways to be undisclosed, both code `undisclosed_promotion` on the content:

* **declared**: the creator declared a paid promotion (`paid_promotion`) but
  did not switch on the platform's disclosure label (`promotion_disclosed`).
  When the text itself carries a disclosure ("#ad", "#Werbung") the viewer was
  told, only the label is missing: still a signal, at `text_only_score`.
* **pattern**: nothing declared, yet the content links listings and reads like
  an affiliate deal ("use my code", "link in bio", "Rabattcode", "code
  ANNA20") with no disclosure tag or phrase anywhere.  A linked listing is
  required: "link in bio" alone is how creators point at their own portfolio.

Disclosure tags are matched as hashtags (`#ad`, `#anzeige`, `#publicité`,
`#publi`, `#iklan`, ...) on the raw text, because the bare word "ad" or "pub"
in a sentence discloses nothing; disclosure phrases ("paid partnership",
"Werbung", "sponsored by") are matched as terms.

>>> from riskstream.contracts import ContentEvent, parse_time
>>> d = UndisclosedPromotionDetector(UndisclosedPromotionDetector.Params())
>>> ev = ContentEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"),
...     region="FR", content_id="c1", creator_id="cr1", content_kind="video",
...     text="Mon sérum préféré, code promo LEA15, lien en bio", linked_listing_ids=["l1"])
>>> _, signals = d.detect(ev, None)
>>> [(s.code, s.evidence["basis"], s.evidence["patterns"]) for s in signals]
[('undisclosed_promotion', 'pattern', ['code promo', 'lien en bio', 'LEA15'])]
>>> ev2 = ContentEvent(event_id="e2", event_time=ev.event_time, region="FR", content_id="c2",
...     creator_id="cr1", content_kind="video", text=ev.text + " #publicité", linked_listing_ids=["l1"])
>>> d.detect(ev2, None)[1]
[]
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from riskstream.contracts import ContentEvent, Event, EventKind, Signal
from riskstream.detectors.base import Stateless, signal
from riskstream.detectors.text import TermMatcher, split_bang_runs

DEFAULT_DISCLOSURE_TAGS: Final[tuple[str, ...]] = (
    "ad", "ads", "advert", "advertisement", "advertising", "sponsored", "spon", "paidpartnership",
    "paidpartner", "partner", "affiliate", "affiliatelink", "gifted", "werbung", "anzeige",
    "unbezahltewerbung", "publicite", "publi", "pub", "partenariat", "sponsorise", "publicidad",
    "patrocinado", "colaboracion", "iklan", "ditaja", "tajaan", "berbayar", "โฆษณา", "สปอนเซอร์",
)
DEFAULT_DISCLOSURE_PHRASES: Final[tuple[str, ...]] = (
    "paid partnership", "sponsored by", "in partnership with", "affiliate link", "i earn a commission",
    "werbung", "bezahlte partnerschaft", "enthalt werbung", "partenariat remunere", "sponsorise par",
    "colaboracion pagada", "patrocinado por", "kerjasama berbayar", "ditaja oleh", "โฆษณา",
)
DEFAULT_PROMO_PATTERNS: Final[tuple[str, ...]] = (
    "use my code", "use code", "discount code", "promo code", "coupon code", "link in bio",
    "link in my bio", "swipe up", "shop my link", "my affiliate",
    "mit meinem code", "rabattcode", "gutscheincode", "link in der bio", "link in bio",
    "code promo", "avec mon code", "lien en bio", "lien dans ma bio",
    "codigo de descuento", "usa mi codigo", "con mi codigo", "enlace en la bio", "link en la bio",
    "guna kod", "kod diskaun", "kod promo", "pakai kode", "kode promo", "pautan di bio", "link di bio",
    "ใช้โค้ด", "โค้ดส่วนลด", "ลิงก์ในไบโอ",
)
# "code ANNA20", "Code: SUMMER15", "code promo LEA15": a word then an upper-case
# code with letters and digits.  Case-sensitive on the code so "code red" is not one.
DEFAULT_CODE_PATTERN: Final = (
    r"(?i:\b(?:code|codigo|código|kod|kode|gutschein|gutscheincode|rabattcode)(?:\s+promo)?\b|โค้ด)\s*[:\-]?\s*((?=[A-Z0-9]*\d)(?=[A-Z0-9]*[A-Z])[A-Z0-9]{4,})\b"
)
_HASHTAG: Final = re.compile(r"#(\w+)")


@dataclass(frozen=True, slots=True)
class UndisclosedPromotionParams:
    disclosure_tags: tuple[str, ...] = DEFAULT_DISCLOSURE_TAGS
    """Hashtags without '#', compared case- and accent-insensitively."""
    disclosure_phrases: tuple[str, ...] = DEFAULT_DISCLOSURE_PHRASES
    promo_patterns: tuple[str, ...] = DEFAULT_PROMO_PATTERNS
    code_pattern: str = DEFAULT_CODE_PATTERN
    """Regular expression for a discount code; group 1 is the code.  Empty disables it."""
    require_linked_listing: bool = True
    min_squashed: int = 8
    declared_score: float = 0.9
    text_only_score: float = 0.4
    pattern_score: float = 0.6


class UndisclosedPromotionDetector(Stateless[UndisclosedPromotionParams]):
    """Declared-but-unlabelled paid promotion, and affiliate patterns without disclosure."""

    id: ClassVar[str] = "undisclosed_promotion"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"content"})
    Params: ClassVar[type[UndisclosedPromotionParams]] = UndisclosedPromotionParams

    CODE: Final = "undisclosed_promotion"

    def __init__(self, params: UndisclosedPromotionParams) -> None:
        self.params = params
        self._tags = frozenset(_fold(t.lstrip("#")) for t in params.disclosure_tags)
        self._phrases = TermMatcher(params.disclosure_phrases, params.min_squashed, drop_contained=True)
        self._promo = TermMatcher(params.promo_patterns, params.min_squashed, drop_contained=True)
        self._code = re.compile(params.code_pattern) if params.code_pattern else None

    def disclosures(self, text: str) -> list[str]:
        """Disclosure hashtags (with '#') and phrases found in `text`."""
        tags = [f"#{t}" for t in dict.fromkeys(_fold(m) for m in _HASHTAG.findall(text)) if t in self._tags]
        return tags + self._phrases.find(split_bang_runs(text))

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ContentEvent) or event.promotion_disclosed:
            return state, []
        p = self.params
        disclosed = self.disclosures(event.text)
        evidence: dict[str, Any]
        if event.paid_promotion:
            score = p.text_only_score if disclosed else p.declared_score
            evidence = {"basis": "declared", "text_disclosures": disclosed}
        else:
            if disclosed or (p.require_linked_listing and not event.linked_listing_ids):
                return state, []
            patterns = self._promo.find(split_bang_runs(event.text))
            if self._code is not None:
                patterns += [m.group(1) for m in self._code.finditer(event.text)]
            if not patterns:
                return state, []
            score = p.pattern_score
            evidence = {"basis": "pattern", "patterns": patterns}
        evidence |= {
            "creator_id": event.creator_id,
            "content_kind": event.content_kind,
            "paid_promotion": event.paid_promotion,
            "linked_listing_ids": list(event.linked_listing_ids),
        }
        found = signal(
            self.id,
            event,
            code=self.CODE,
            entity_type="content",
            entity_id=event.content_id,
            score=score,
            evidence=evidence,
        )
        return state, [found]


def _fold(text: str) -> str:
    if text.isascii():  # NFKD leaves ASCII as it is, with no combining marks; casefold is lower there
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
