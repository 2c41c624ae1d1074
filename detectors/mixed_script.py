"""Spoofed text in a listing: mixed scripts, bidi overrides, invisible characters (UTS #39).

A signal of its own, whatever the words mean: sellers who write "Cаstеllanе"
with Cyrillic letters, hide a word behind a right-to-left override or split
it with zero-width spaces are dodging filters, even when no term list names
the word.  The checks are Unicode's (`riskstream.detectors.text.inspect`):

* ``mixed_script``: a word failing UTS #39's *moderately restrictive* level
  (Latin with Cyrillic or Greek in one word; Latin with Han and kana, or with
  one other script, is allowed), or a word wholly in another script than the
  text around it whose every letter looks like a letter of that script;
* ``bidi_override``: an explicit left-to-right or right-to-left override
  (U+202D, U+202E), which has no use in a product title;
* ``invisible_characters``: zero-width spaces, word joiners and the like
  between two letters (zero-width joiners, soft hyphens and variation
  selectors have honest uses and are not counted);
* ``text_truncated``: a field longer than `text.MAX_SCAN_CHARS`, of which only
  the start is read by every text detector: bad input is reported, not
  silently dropped.

Honest text in one script, whichever, raises nothing: Greek, Cyrillic,
Arabic, Thai and Japanese titles (with a Latin brand) pass.

Stateless: no state key, no state.

>>> from riskstream.contracts import ListingEvent, parse_time
>>> d = MixedScriptDetector(MixedScriptDetector.Params())
>>> def listing(title):
...     return ListingEvent(event_id="e1", event_time=parse_time("2026-01-01T00:00:00Z"), region="DE",
...         op="created", listing_id="l1", seller_id="s1", category="bags", title=title, price=90.0,
...         currency="EUR")
>>> [(s.code, s.evidence["words"]) for s in d.detect(listing("Cаstеllanе flap bag"), None)[1]]
[('mixed_script', ['Cаstеllanе'])]
>>> d.detect(listing("Δερμάτινη τσάντα ώμου"), None)[1], d.detect(listing("Sony ワイヤレスイヤホン"), None)[1]
([], [])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Final

from riskstream.contracts import Event, EventKind, ListingEvent, Signal
from riskstream.detectors.base import Stateless, signal
from riskstream.detectors.text import MAX_SCAN_CHARS, TextFindings, inspect


@dataclass(frozen=True, slots=True)
class MixedScriptParams:
    """Parameters.

    * ``min_words``: spoofed words (mixed or whole-script) needed for ``mixed_script``.
    * ``check_invisible``: report invisible characters between letters.
    * ``check_truncated``: report fields longer than what the text detectors read.
    """

    min_words: int = 1
    check_invisible: bool = True
    check_truncated: bool = True


class MixedScriptDetector(Stateless[MixedScriptParams]):
    """Flags listings whose text is spoofed with other scripts or invisible controls."""

    id: ClassVar[str] = "mixed_script"
    kinds: ClassVar[frozenset[EventKind]] = frozenset({"listing"})
    Params: ClassVar[type[MixedScriptParams]] = MixedScriptParams
    codes: ClassVar[tuple[str, ...]] = ("mixed_script", "bidi_override", "invisible_characters", "text_truncated")

    MIXED: Final = "mixed_script"
    BIDI: Final = "bidi_override"
    INVISIBLE: Final = "invisible_characters"
    TRUNCATED: Final = "text_truncated"

    def __init__(self, params: MixedScriptParams) -> None:
        if params.min_words < 1:
            raise ValueError("min_words must be >= 1")
        self.params = params

    def detect(self, event: Event, state: None) -> tuple[None, list[Signal]]:
        if not isinstance(event, ListingEvent) or event.op == "removed":
            return state, []
        brand = event.brand or ""
        if (event.title.isascii() and event.description.isascii() and brand.isascii()
                and all(v.isascii() for v in event.attributes.values())
                and max(len(event.title), len(event.description), len(brand),
                        *map(len, event.attributes.values())) <= MAX_SCAN_CHARS):
            return state, []  # every field plain ASCII and read whole: `inspect` finds nothing in any
        fields = {"title": event.title, "description": event.description, "brand": brand,
                  **{f"attributes.{k}": v for k, v in event.attributes.items()}}
        found: dict[str, TextFindings] = {name: inspect(text) for name, text in fields.items() if text}
        words = [w for f in found.values() for w in (*f.mixed_words, *f.whole_script_words)]
        p = self.params
        out: list[tuple[str, float, dict[str, Any]]] = []
        if len(words) >= p.min_words:
            out.append((self.MIXED, 0.7, {"words": list(dict.fromkeys(words)),
                                         "fields": [n for n, f in found.items() if f.mixed_words or f.whole_script_words]}))
        overrides = sum(f.bidi_overrides for f in found.values())
        if overrides:
            out.append((self.BIDI, 0.8, {"overrides": overrides,
                                        "fields": [n for n, f in found.items() if f.bidi_overrides]}))
        invisible = sum(f.invisible_in_words for f in found.values())
        if p.check_invisible and invisible:
            out.append((self.INVISIBLE, 0.7, {"characters": invisible,
                                             "fields": [n for n, f in found.items() if f.invisible_in_words]}))
        if p.check_truncated and any(f.truncated for f in found.values()):
            out.append((self.TRUNCATED, 0.5, {"max_chars": MAX_SCAN_CHARS,
                                             "fields": [n for n, f in found.items() if f.truncated]}))
        return state, [
            signal(self.id, event, code=code, entity_type="listing", entity_id=event.listing_id, score=score,
                   evidence=evidence)
            for code, score, evidence in out
        ]
