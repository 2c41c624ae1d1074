"""Text normalisation and multi-pattern matching shared by term-based detectors.

Obfuscation that sellers use to slip past filters is undone before matching:
case, accents, leetspeak digits and symbols, Cyrillic/Greek homoglyphs, and
spaces or symbols inserted between letters.  Matching uses an Aho-Corasick
automaton (pyahocorasick), so the cost per event does not grow with the size
of the term list.

>>> normalize("B a b y  SL33PER")
'baby sleeper'
>>> m = TermMatcher(["baby sleeper", "ivory"])
>>> sorted(m.find("Inclined ba.by-sl eeper, real IVÖRY"))
['baby sleeper', 'ivory']
>>> m.find("ivorycoast tours")  # whole words only in the spaced form
[]
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Final

import ahocorasick

# Cyrillic and Greek letters that render like Latin ones, and leetspeak.
_CONFUSABLES: Final[dict[str, str]] = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i",
    "ј": "j", "ѕ": "s", "к": "k", "м": "m", "т": "t", "в": "b", "н": "h",
    "α": "a", "β": "b", "ε": "e", "ι": "i", "κ": "k", "ο": "o", "ρ": "p", "τ": "t",
    "υ": "u", "χ": "x", "ν": "v",
    "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s",
    "!": "i", "|": "l", "€": "e",
}
_TABLE: Final = str.maketrans(_CONFUSABLES)
_NON_WORD: Final = re.compile(r"[^\w]+", re.UNICODE)
_SINGLE_LETTER_RUN: Final = re.compile(r"\b(?:\w )+\w\b")


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def normalize(text: str) -> str:
    """Lower-case, de-accent, de-confuse; words separated by single spaces.

    Digits inside numbers are kept where they cannot be leetspeak (a token of
    digits only), so "18650 battery" stays "18650 battery".
    """
    text = _strip_accents(text.casefold())
    tokens = []
    for tok in text.split():
        tokens.append(tok if tok.isdigit() else tok.translate(_TABLE))
    text = _NON_WORD.sub(" ", " ".join(tokens)).replace("_", " ")
    # "b a b y" -> "baby": join runs of single letters that spell a word.
    text = _SINGLE_LETTER_RUN.sub(lambda m: m.group(0).replace(" ", ""), text)
    return " ".join(text.split())


def squash(normalized: str) -> str:
    """All separators removed: catches "s-l-e-e-p-e-r" and "sl eeper"."""
    return normalized.replace(" ", "")


class TermMatcher:
    """Finds which of many terms occur in a text, robust to obfuscation.

    Two automata: one over the spaced form with word-boundary checks, one over
    the squashed form for terms long enough (>= `min_squashed`) that matching
    across word boundaries is unlikely to hit an honest text.
    """

    def __init__(self, terms: Iterable[str], min_squashed: int = 6) -> None:
        self._spaced = ahocorasick.Automaton()
        self._squashed = ahocorasick.Automaton()
        self.size = 0
        for term in terms:
            norm = normalize(term)
            if not norm:
                continue
            self.size += 1
            self._spaced.add_word(norm, (norm, term))
            sq = squash(norm)
            if len(sq) >= min_squashed:
                self._squashed.add_word(sq, (sq, term))
        self._has_spaced = len(self._spaced) > 0
        self._has_squashed = len(self._squashed) > 0
        if self._has_spaced:
            self._spaced.make_automaton()
        if self._has_squashed:
            self._squashed.make_automaton()

    def find(self, text: str) -> list[str]:
        """The original terms found in `text`, each once, in order of first match."""
        norm = normalize(text)
        found: dict[str, None] = {}
        if self._has_spaced:
            padded = f" {norm} "
            for end, (key, term) in self._spaced.iter(padded):
                start = end - len(key) + 1
                if padded[start - 1] == " " and padded[end + 1] == " ":
                    found[term] = None
        if self._has_squashed:
            for _end, (_key, term) in self._squashed.iter(squash(norm)):
                found[term] = None
        return list(found)
