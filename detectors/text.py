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

"!", "1" and "|" are leetspeak only inside a word, so punctuation stays
punctuation; marks on letters of other scripts (Thai tone marks) are kept;
terms in scripts written without spaces (Thai, CJK, ...) match as substrings.

>>> normalize("a rash! #ad! f!re a||ergic 1v0ry")
'a rash ad fire allergic ivory'
>>> TermMatcher(["ไฟไหม้"]).find("ชาร์จแล้วไฟไหม้!"), TermMatcher(["ไฟไหม้"]).find("เปิดไฟไหม")
(['ไฟไหม้'], [])
"""

from __future__ import annotations

import functools
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
    "0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "€": "e",
}
_TABLE: Final = str.maketrans(_CONFUSABLES)
# Leetspeak that is just as often punctuation or a number: "rash!", "#ad!", "1 | 2".
# Read as a letter only inside a word ("f!re", "a||ergic", "p1ll"); a run of
# "1" may also start one ("1v0ry"); never at the end of a token.
_AMBIGUOUS: Final[dict[str, str]] = {"!": "i", "1": "i", "|": "l"}
_AMBIGUOUS_RUN: Final = re.compile("[" + re.escape("".join(_AMBIGUOUS)) + "]+")
# A "!" not followed by a letter, also within a run: "!!" before a letter splits the word.
_BANG: Final = re.compile(r"!+(?!\w)")


def _mark_class() -> str:
    """A regex character class body of every combining mark (categories Mn, Mc, Me)."""
    ranges: list[tuple[int, int]] = []
    for cp in (*range(0x30000), *range(0xE0100, 0xE01F0)):
        if unicodedata.category(chr(cp))[0] == "M":
            if ranges and ranges[-1][1] == cp - 1:
                ranges[-1] = (ranges[-1][0], cp)
            else:
                ranges.append((cp, cp))
    return "".join(f"\\U{a:08x}-\\U{b:08x}" if a != b else f"\\U{a:08x}" for a, b in ranges)


_MARKS: Final = _mark_class()
# `\w` does not cover combining marks, so they are listed: "ไหม้" stays one word.
_NON_WORD: Final = re.compile(rf"[^\w{_MARKS}]+", re.UNICODE)
_MARK_AT: Final = re.compile(rf"[{_MARKS}]")
_SINGLE_LETTER_RUN: Final = re.compile(rf"(?<![\w{_MARKS}])(?:\w )+\w(?![\w{_MARKS}])")
# Scripts written without spaces between words: a term in one of them cannot be
# matched on word boundaries, so it is matched as a substring.
_UNSPACED_SCRIPT: Final = re.compile(r"[\u0e00-\u0eff\u1000-\u109f\u1780-\u17ff\u3040-\u30ff\u3400-\u9fff]")
_STRIP_MARKS_OF: Final = ("LATIN", "GREEK", "CYRILLIC")


@functools.lru_cache(maxsize=8192)
def _strips_marks(base: str) -> bool:
    """Whether combining marks on `base` are dropped: accents of Latin, Greek and Cyrillic letters.

    Marks are part of the spelling in other scripts (Thai ไหม้ "burnt" is not
    ไหม, the question particle), so they stay; marks on no letter at all
    (emoji variation selectors, a mark at the start) carry no word and go.
    """
    return not base.isalpha() or unicodedata.name(base, "").startswith(_STRIP_MARKS_OF)


def _strip_accents(text: str) -> str:
    out: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFD", unicodedata.normalize("NFKC", text)):
        if unicodedata.category(ch)[0] != "M":
            base = ch
        elif _strips_marks(base):
            continue
        out.append(ch)
    return unicodedata.normalize("NFC", "".join(out))


def _ambiguous(m: re.Match[str]) -> str:
    run, s = m.group(0), m.string
    before = s[m.start() - 1] if m.start() else ""
    after = s[m.end()] if m.end() < len(s) else ""
    inside = after.isalpha() and (before.isalpha() or (not before.isalnum() and set(run) == {"1"}))
    return "".join(_AMBIGUOUS[c] for c in run) if inside else run


def _deleet(token: str) -> str:
    token = token.translate(_TABLE)
    return _AMBIGUOUS_RUN.sub(_ambiguous, token) if ("!" in token or "1" in token or "|" in token) else token


# Several detectors normalise the same title/description of one event (one
# call per term list): a small cache makes that one normalisation per text.
@functools.lru_cache(maxsize=4096)
def normalize(text: str) -> str:
    """Lower-case, de-accent, de-confuse; words separated by single spaces.

    Digits inside numbers are kept where they cannot be leetspeak (a token of
    digits only), so "18650 battery" stays "18650 battery".
    """
    text = _strip_accents(text.casefold())
    tokens = []
    for tok in text.split():
        tokens.append(tok if tok.isdigit() else _deleet(tok))
    text = _NON_WORD.sub(" ", " ".join(tokens)).replace("_", " ")
    # "b a b y" -> "baby": join runs of single letters that spell a word.
    text = _SINGLE_LETTER_RUN.sub(lambda m: m.group(0).replace(" ", ""), text)
    return " ".join(text.split())


def split_bang_runs(text: str) -> str:
    """Space out "!" runs that end a word, even when the next word is glued on.

    `normalize` already drops a "!" at the end of a word, but reads a run
    between letters as leetspeak ("rash!!Avoid" -> "rashiiavoid").  Only a
    lone "!" inside a word ("f!re") is left for `normalize` to read as "i".

    >>> split_bang_runs("a rash!!Avoid f!re !!!")
    'a rash !Avoid f!re  '
    >>> normalize(split_bang_runs("a rash!!Avoid")), normalize("a rash!!Avoid")
    ('a rash avoid', 'a rashiiavoid')
    """
    return _BANG.sub(" ", text)


def is_unspaced(term: str) -> bool:
    """True for a term in a script written without spaces (Thai, Lao, Myanmar, Khmer, Japanese kana, CJK).

    >>> is_unspaced("ไฟไหม้"), is_unspaced("caught fire")
    (True, False)
    """
    return _UNSPACED_SCRIPT.search(term) is not None


def squash(normalized: str) -> str:
    """All separators removed: catches "s-l-e-e-p-e-r" and "sl eeper"."""
    return normalized.replace(" ", "")


class TermMatcher:
    """Finds which of many terms occur in a text, robust to obfuscation.

    Three automata: one over the spaced form with word-boundary checks, one over
    the squashed form for terms long enough (>= `min_squashed`) that matching
    across word boundaries is unlikely to hit an honest text, and one over the
    squashed form for terms in unspaced scripts, matched as substrings that
    end on a whole character (not before a combining mark).

    With `drop_contained`, a term found inside a longer term also found is not
    reported: "exploded" also holds "explode" once squashed.

    >>> TermMatcher(["explode", "exploded"], drop_contained=True).find("it EXPLODED")
    ['exploded']
    """

    def __init__(self, terms: Iterable[str], min_squashed: int = 6, *, drop_contained: bool = False) -> None:
        self._drop_contained = drop_contained
        self._keys: dict[str, str] = {}
        self._spaced = ahocorasick.Automaton()
        self._squashed = ahocorasick.Automaton()
        self._unspaced = ahocorasick.Automaton()
        self.size = 0
        for term in terms:
            norm = normalize(term)
            if not norm:
                continue
            self.size += 1
            sq = squash(norm)
            self._keys[term] = sq
            if is_unspaced(norm):
                self._unspaced.add_word(sq, (sq, term))
                continue
            self._spaced.add_word(norm, (norm, term))
            if len(sq) >= min_squashed:
                self._squashed.add_word(sq, (sq, term))
        self._has_spaced = len(self._spaced) > 0
        self._has_squashed = len(self._squashed) > 0
        self._has_unspaced = len(self._unspaced) > 0
        for automaton in (self._spaced, self._squashed, self._unspaced):
            if len(automaton):
                automaton.make_automaton()

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
        if self._has_squashed or self._has_unspaced:
            squashed = squash(norm)
            if self._has_squashed:
                for _end, (_key, term) in self._squashed.iter(squashed):
                    found[term] = None
            if self._has_unspaced:
                for end, (_key, term) in self._unspaced.iter(squashed):
                    if not _MARK_AT.match(squashed, end + 1):
                        found[term] = None
        if self._drop_contained and len(found) > 1:
            keys = [self._keys[t] for t in found]
            return [t for t in found if not any(self._keys[t] in k and self._keys[t] != k for k in keys)]
        return list(found)
