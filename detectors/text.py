"""Text normalisation to the Unicode standard, and multi-pattern matching for term-based detectors.

Obfuscation that sellers use to slip past filters is undone before matching,
with Unicode's own data and algorithms (ICU, through PyICU) rather than a
hand-picked table:

* at most `MAX_SCAN_CHARS` code points are read and NFKC_Casefold output is
  capped at `MAX_NORMALIZED_CHARS` (300 KB of U+FDFA, which expands 18-fold,
  costs what 8 K characters cost); `inspect` reports the truncation;
* NFKC_Casefold (UAX #15 / UAX #44): compatibility forms (fullwidth,
  mathematical alphanumerics, ligatures) folded, case folded, and every
  default-ignorable code point removed: zero-width spaces and joiners, soft
  hyphens, bidirectional controls, variation selectors, tags;
* explicit bidirectional overrides and embeddings are also resolved with the
  Unicode Bidirectional Algorithm (UAX #9): a title whose right-to-left
  override *displays* as "elephant ivory" is matched as displayed as well as
  as stored;
* confusables per UTS #39: in a word that mixes scripts, and in a word wholly
  in another script than the text around it whose every letter has a
  look-alike in that script, characters are replaced by their confusable
  skeleton (ICU's `SpoofChecker`, built on Unicode's confusables.txt); words
  of a text written in one script ("Деревянный поезд", "ξύλινο τρένο") are
  left alone, so honest Greek, Cyrillic, Arabic or Japanese text is untouched;
* accents on Latin, Greek and Cyrillic letters dropped; leetspeak digits and
  symbols read as letters inside words; single letters spaced out joined.

Matching uses Aho-Corasick automata (pyahocorasick), so the cost per event
does not grow with the number of terms.

>>> normalize("B a b y  SL33PER")
'baby sleeper'
>>> normalize("ｅｌｅｐｈａｎｔ 𝐢𝐯𝐨𝐫𝐲"), normalize("іvоrу tusk"), normalize("i\\u200bv\\u00ado\\u2060ry")
('elephant ivory', 'ivory tusk', 'ivory')
>>> m = TermMatcher(["baby sleeper", "ivory"])
>>> sorted(m.find("Inclined ba.by-sl eeper, real IVÖRY"))
['baby sleeper', 'ivory']
>>> m.find("ivorycoast tours")  # whole words only in the spaced form
[]
>>> TermMatcher(["elephant ivory"]).find("\\u202eyrovi tnahpele\\u202c carving")
['elephant ivory']

Honest text in other scripts keeps its letters:

>>> normalize("Деревянный поезд"), normalize("Ξύλινο τρένο"), normalize("ソニー ワイヤレスイヤホン")
('деревянныи поезд', 'ξυλινο τρενο', 'ソニー ワイヤレスイヤホン')

"!", "1" and "|" are leetspeak only inside a word, so punctuation stays
punctuation; marks on letters of other scripts (Thai tone marks) are kept;
terms in scripts written without spaces (Thai, CJK, ...) match as substrings.

>>> normalize("a rash! #ad! f!re a||ergic 1v0ry")
'a rash ad fire allergic ivory'
>>> TermMatcher(["ไฟไหม้"]).find("ชาร์จแล้วไฟไหม้!"), TermMatcher(["ไฟไหม้"]).find("เปิดไฟไหม")
(['ไฟไหม้'], [])

Exceptions cancel a term inside an honest phrase: bone china is porcelain.

>>> TermMatcher(["tiger bone"], exceptions=["bone china"]).find("Tiger bone china tea set")
[]
>>> TermMatcher(["tiger bone"], exceptions=["bone china"]).find("Tiger bone powder")
['tiger bone']
"""

from __future__ import annotations

import functools
import itertools
import re
import sys
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

import ahocorasick
import icu

from riskstream.detectors.bounded_cache import ByteLRU

MAX_SCAN_CHARS: Final = 8192
"""Code points of one text that are read; the rest is ignored and `inspect` says so."""
MAX_NORMALIZED_CHARS: Final = 16384
"""Hard cap on NFKC_Casefold output (one code point can expand to 18)."""
_CHUNK: Final = 1024

_NFKC_CF: Final = icu.Normalizer2.getNFKCCasefoldInstance()
_NFKC: Final = icu.Normalizer2.getNFKCInstance()
_SPOOF: Final = icu.SpoofChecker()
_RESTRICTION: Final = icu.SpoofChecker()
# UTS #39 section 5.2: Latin plus at most one other Recommended script (not Cyrillic or Greek) per word.
_RESTRICTION.setRestrictionLevel(icu.URestrictionLevel.MODERATELY_RESTRICTIVE)
_RESTRICTION.setChecks(icu.USpoofChecks.RESTRICTION_LEVEL)

# Explicit directional embeddings, overrides and isolates (UAX #9 X1-X8): they reorder what is displayed.
_REORDERING: Final = re.compile("[\u202a-\u202e\u2066-\u2069]")
_OVERRIDES: Final = re.compile("[\u202d\u202e]")
# Invisible format characters with no honest use between two letters (ZWJ/ZWNJ, soft hyphens and
# variation selectors have one: emoji sequences, Persian and Indic spelling, hyphenation hints).
_INVISIBLE_IN_WORD: Final = re.compile(r"(?<=\w)[\u200b\u2060-\u2064\ufeff\u180e\u034f\u115f\u1160\u3164\uffa0]+(?=\w)")
_SURROGATE: Final = re.compile("[\ud800-\udfff]")


def _ignorable_class() -> str:
    """A regex character class of every Default_Ignorable_Code_Point, from ICU's property data."""
    chars = icu.UnicodeSet("[:Default_Ignorable_Code_Point:]")
    ranges = ((ord(chars.getRangeStart(i)), ord(chars.getRangeEnd(i))) for i in range(chars.getRangeCount()))
    return "[" + "".join(f"\\U{a:08x}-\\U{b:08x}" for a, b in ranges) + "]+"


_IGNORABLE: Final = re.compile(_ignorable_class())

# Leetspeak: digits and symbols read as letters (not a confusables table: these are not look-alikes).
_LEET: Final[dict[str, str]] = {"0": "o", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "€": "e"}
_TABLE: Final = str.maketrans(_LEET)
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
# Scripts that UTS #39 treats as one writing system with Han (its "augmented script sets").
_AUGMENTED: Final[dict[str, str]] = {"Hira": "Jpan", "Kana": "Jpan", "Hang": "Kore", "Bopo": "Hanb"}
_NO_SCRIPT: Final = frozenset({"Zyyy", "Zinh", "Zzzz"})
_EXCEPTION_MARK: Final = " \x1f "


# ------------------------------------------------------------------ Unicode building blocks


def bounded(text: str) -> str:
    """The part of `text` that is read: at most `MAX_SCAN_CHARS`, lone surrogates replaced."""
    if len(text) > MAX_SCAN_CHARS:
        text = text[:MAX_SCAN_CHARS]
    if text.isascii():  # no surrogate can be in it, and isascii is a flag, not a scan
        return text
    return _SURROGATE.sub("\ufffd", text) if _SURROGATE.search(text) else text


def nfkc_casefold(text: str) -> str:
    """NFKC_Casefold (default ignorables removed), output capped: linear, bounded.

    >>> len(nfkc_casefold("\\ufdfa" * 300_000)) == MAX_NORMALIZED_CHARS
    True
    """
    if text.isascii():
        return text.lower()[:MAX_NORMALIZED_CHARS]
    return _capped(_NFKC_CF, text)


def nfkc(text: str) -> str:
    """NFKC with default-ignorable code points removed, case kept (UTS #39 skeletons are case-sensitive)."""
    if text.isascii():
        return text[:MAX_NORMALIZED_CHARS]
    return _IGNORABLE.sub("", _capped(_NFKC, text))


def _capped(normalizer: icu.Normalizer2, text: str) -> str:
    """`normalizer` over `text` in chunks that end on a normalisation boundary, output capped."""
    out: list[str] = []
    size, i, n = 0, 0, len(text)
    while i < n and size < MAX_NORMALIZED_CHARS:
        j = min(n, i + _CHUNK)
        # A chunk ends before a character normalisation cannot reach across; a
        # run of marks longer than 32 is cut anyway (its rendering is garbage).
        k = j
        while k < n and k - j < 32 and not normalizer.hasBoundaryBefore(text[k]):
            k += 1
        piece = normalizer.normalize(text[i:k])
        out.append(piece)
        size += len(piece)
        i = k
    return "".join(out)[:MAX_NORMALIZED_CHARS]


def visual_order(text: str) -> str | None:
    """The text as displayed (UAX #9), when explicit embeddings or overrides reorder it; else None.

    >>> visual_order("\\u202eyrovi tnahpele\\u202c"), visual_order("plain")
    ('elephant ivory', None)
    """
    if not _REORDERING.search(text):
        return None
    bidi = icu.Bidi()
    bidi.setPara(icu.UnicodeString(text), icu.Bidi.DEFAULT_LTR)
    shown = str(bidi.writeReordered(icu.Bidi.REMOVE_BIDI_CONTROLS))
    return shown if shown != text else None


@functools.lru_cache(maxsize=65536)
def script_of(ch: str) -> str:
    """ISO 15924 code of a character's script, Han's partners folded into its writing system.

    >>> script_of("a"), script_of("а"), script_of("カ"), script_of("1")
    ('Latn', 'Cyrl', 'Jpan', 'Zyyy')
    """
    code = str(icu.Script.getScript(ord(ch)).getShortName())
    return _AUGMENTED.get(code, code)


def _scripts(word: str) -> set[str]:
    found = {script_of(c) for c in word if c.isalpha()} - _NO_SCRIPT
    if "Hani" in found and len(found) == 2:
        found.discard("Hani")  # Han with kana, hangul or bopomofo is one writing system
    return found


@functools.lru_cache(maxsize=16384)
def _into(ch: str, target: str) -> str | None:
    """`ch`'s confusable prototype when it is written in `target` (or has no script), else None.

    Prototypes are case-sensitive: a capital whose prototype is a small letter (Greek
    capital iota's is "l", as Latin "I"'s is) is read through its small form ("ι" -> "i"),
    since the text around it is compared case-folded.
    """
    raw = str(_SPOOF.getSkeleton(0, ch))
    if ch.isupper() and len(raw) == 1 and raw.islower():
        small = _into(ch.lower(), target) if ch.lower() != ch else None
        if small is not None:
            return small
    sk = nfkc_casefold(raw)
    if sk == ch or not sk:
        return None
    return sk if all(script_of(c) in (target, "Zyyy", "Zinh") for c in sk) else None


def dominant_script(text: str) -> str | None:
    """The script most letters of `text` are written in (None for no letters)."""
    # Count characters first (C speed), then look up the script of each distinct one:
    # linear in the text, one ICU call per distinct character.
    counts: Counter[str] = Counter()
    for c, n in Counter(text).items():
        if c.isalpha():
            counts[script_of(c)] += n
    for s in _NO_SCRIPT:
        counts.pop(s, None)
    return counts.most_common(1)[0][0] if counts else None


def unconfuse(word: str, dominant: str | None) -> tuple[str, str | None]:
    """`word` with look-alikes from other scripts replaced by their skeleton, and why.

    Returns (word, reason): reason ``"mixed"`` for a word that mixes scripts,
    ``"whole"`` for a word wholly in another script than `dominant` whose every
    letter has a look-alike in it, None when the word is left as it is.

    >>> unconfuse("іvоry", "Latn"), unconfuse("слон", "Latn"), unconfuse("рос", "Latn")
    (('ivory', 'mixed'), ('слон', None), ('poc', 'whole'))
    """
    if word.isascii():
        return word, None
    scripts = _scripts(word)
    if len(scripts) > 1:
        # Read as the script of the text around it; a lone word, as its majority script.
        counts = Counter(script_of(c) for c in word if c.isalpha() and script_of(c) in scripts)
        target = dominant if dominant in scripts else min(counts, key=lambda s: (-counts[s], s))
        out = []
        for c in word:
            s = script_of(c) if c.isalpha() else "Zyyy"
            mapped = _into(c, target) if s not in (target, "Zyyy", "Zinh") else None
            out.append(mapped if mapped is not None else c)
        return "".join(out), "mixed"
    if len(scripts) == 1 and dominant is not None and dominant not in scripts:
        mapped_word = []
        for c in word:
            if not c.isalpha() or script_of(c) in _NO_SCRIPT:
                mapped_word.append(c)
                continue
            m = _into(c, dominant)
            if m is None:
                return word, None
            mapped_word.append(m)
        return "".join(mapped_word), "whole"
    return word, None


# ------------------------------------------------------------------ normalisation


@functools.lru_cache(maxsize=8192)
def _strips_marks(base: str) -> bool:
    """Whether combining marks on `base` are dropped: accents of Latin, Greek and Cyrillic letters.

    Marks are part of the spelling in other scripts (Thai ไหม้ "burnt" is not
    ไหม, the question particle), so they stay; marks on no letter at all
    (emoji variation selectors, a mark at the start) carry no word and go.
    """
    return not base.isalpha() or unicodedata.name(base, "").startswith(_STRIP_MARKS_OF)


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    decomposed = unicodedata.normalize("NFD", text)
    if _MARK_AT.search(decomposed) is None:  # no combining mark at all: nothing to strip
        return unicodedata.normalize("NFC", text)
    out: list[str] = []
    base = ""
    for ch in decomposed:
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


def _normalize_form(text: str) -> str:
    if text.isascii():
        text = text.lower()[:MAX_NORMALIZED_CHARS]
        tokens = [tok if tok.isdigit() else _deleet(tok) for tok in text.split()]
    else:
        # Skeletons before case folding: capital Greek Beta looks like B, small beta does not.
        text = _strip_accents(nfkc(text))
        dominant = dominant_script(text)
        tokens = []
        # Each distinct token is normalised once per text: hostile input repeats a few
        # words thousands of times (one U+FDFA is four words), honest text repeats some.
        done: dict[str, str] = {}
        for tok in text.split():
            if not tok.isdigit():
                found = done.get(tok)
                if found is None:
                    found = done[tok] = _deleet(_strip_accents(nfkc_casefold(unconfuse(tok, dominant)[0])))
                tok = found
            tokens.append(tok)
    text = _NON_WORD.sub(" ", " ".join(tokens)).replace("_", " ")
    # "b a b y" -> "baby": join runs of single letters that spell a word.
    text = _SINGLE_LETTER_RUN.sub(lambda m: m.group(0).replace(" ", ""), text)
    return " ".join(text.split())


# Several detectors normalise the same title/description of one event (one
# call per term list): a small cache makes that one normalisation per text.
# Bounded in bytes, keyed by the part that is read (issue 13): an
# lru_cache(4096) keyed by whole texts kept ~1 MB per distinct 1 MB title.
_FORMS: Final[ByteLRU[str, tuple[str, ...]]] = ByteLRU(
    max_bytes=16 << 20, weigh=lambda k, v: sys.getsizeof(k) + sum(sys.getsizeof(f) for f in v))


def forms(text: str) -> tuple[str, ...]:
    """The normalised text as stored and, when bidi controls reorder it, as displayed."""
    return _FORMS.get_or_compute(bounded(text), _forms)


def _forms(raw: str) -> tuple[str, ...]:
    logical = _normalize_form(raw)
    shown = visual_order(raw)
    if shown is None:
        return (logical,)
    visual = _normalize_form(shown)
    return (logical,) if visual == logical else (logical, visual)


def normalize(text: str) -> str:
    """Lower-case, de-accent, de-confuse; words separated by single spaces.

    Digits inside numbers are kept where they cannot be leetspeak (a token of
    digits only), so "18650 battery" stays "18650 battery".  The stored
    order only; `forms` also gives the displayed order.
    """
    return forms(text)[0]


def normalize_all(text: str) -> str:
    """Every form of `forms`, joined: what an index of texts stores."""
    return " ".join(forms(text))


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


# ------------------------------------------------------------------ inspection (mixed_script)


@dataclass(frozen=True, slots=True)
class TextFindings:
    """What `inspect` saw in one text: the evidence of the `mixed_script` detector."""

    mixed_words: tuple[str, ...] = ()
    """Words failing UTS #39's moderately restrictive level (e.g. Latin with Cyrillic)."""
    whole_script_words: tuple[str, ...] = ()
    """Words wholly in another script than the text whose letters all look like its own."""
    bidi_overrides: int = 0
    invisible_in_words: int = 0
    truncated: bool = False


def inspect(text: str) -> TextFindings:
    """Spoofing tell-tales in `text` (bounded like `normalize`).

    >>> f = inspect("Cаstеllanе bag \\u202egab\\u202c sh\\u200bop")
    >>> f.mixed_words, f.bidi_overrides, f.invisible_in_words
    (('Cаstеllanе',), 1, 1)
    >>> inspect("Sony ワイヤレスイヤホン 充電器") == TextFindings()
    True
    """
    truncated = len(text) > MAX_SCAN_CHARS
    if text.isascii():  # bidi controls and invisible characters are all outside ASCII
        return _TRUNCATED if truncated else _CLEAN
    raw = bounded(text)
    overrides = len(_OVERRIDES.findall(raw))
    invisible = len(_INVISIBLE_IN_WORD.findall(raw))
    if raw.isascii():
        return TextFindings(truncated=truncated, bidi_overrides=overrides, invisible_in_words=invisible)
    folded = _strip_accents(nfkc(raw))
    dominant = dominant_script(folded)
    mixed: dict[str, None] = {}
    whole: dict[str, None] = {}
    for tok in dict.fromkeys(_NON_WORD.sub(" ", folded).split()):  # each distinct word once
        if tok.isascii():
            continue
        if len(_scripts(tok)) > 1 and _RESTRICTION.check(tok):
            mixed[tok] = None
        elif unconfuse(tok, dominant)[1] == "whole":
            whole[tok] = None
    return TextFindings(tuple(mixed), tuple(whole), overrides, invisible, truncated)


_CLEAN: Final = TextFindings()
_TRUNCATED: Final = TextFindings(truncated=True)


# ------------------------------------------------------------------ matching


class _FoundMemo:
    """`TermMatcher.find`'s results by (matcher, text), bounded in bytes: full, it starts again empty.

    A hit is one dict look-up (an LRU's bookkeeping costs more than the look-up on
    this path); texts longer than `max_key_chars` are matched and not kept, so the
    memo holds at most `max_bytes` of keys and results (`sys.getsizeof`).
    """

    def __init__(self, max_bytes: int, max_key_chars: int) -> None:
        self.max_bytes = max_bytes
        self.max_key_chars = max_key_chars
        self.nbytes = 0
        self.data: dict[tuple[int, str], tuple[str, ...]] = {}
        self._lock = threading.Lock()  # inserts only (the incident task runs models in a thread)

    def put(self, key: tuple[int, str], found: tuple[str, ...]) -> None:
        if len(key[1]) > self.max_key_chars:
            return
        size = sys.getsizeof(key[1]) + 120 + sum(sys.getsizeof(t) for t in found)
        with self._lock:
            if self.nbytes + size > self.max_bytes:
                self.data = {}
                self.nbytes = 0
            self.data[key] = found
            self.nbytes += size

    def clear(self) -> None:
        with self._lock:
            self.data = {}
            self.nbytes = 0


_FOUND: Final = _FoundMemo(max_bytes=8 << 20, max_key_chars=4096)
_MATCHER_SERIAL: Final = itertools.count()


class TermMatcher:
    """Finds which of many terms occur in a text, robust to obfuscation.

    Three automata: one over the spaced form with word-boundary checks, one over
    the squashed form for terms long enough (>= `min_squashed`) that matching
    across word boundaries is unlikely to hit an honest text, and one over the
    squashed form for terms in unspaced scripts, matched as substrings that
    end on a whole character (not before a combining mark).  Every form of
    the text (`forms`: as stored, as displayed) is searched.

    With `drop_contained`, a term found inside a longer term also found is not
    reported: "exploded" also holds "explode" once squashed.  `exceptions`
    are honest phrases that cancel a term they overlap ("bone china" for
    "tiger bone"): they are blanked out of the text before terms are matched.

    >>> TermMatcher(["explode", "exploded"], drop_contained=True).find("it EXPLODED")
    ['exploded']
    """

    def __init__(self, terms: Iterable[str], min_squashed: int = 6, *, drop_contained: bool = False,
                 exceptions: Iterable[str] = ()) -> None:
        self._drop_contained = drop_contained
        self._serial = next(_MATCHER_SERIAL)  # its key in `_FOUND` (an id() could be reused)
        self._keys: dict[str, str] = {}
        self._spaced = ahocorasick.Automaton()
        self._squashed = ahocorasick.Automaton()
        self._unspaced = ahocorasick.Automaton()
        self._exceptions = ahocorasick.Automaton()
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
        for phrase in exceptions:
            norm = normalize(phrase)
            if norm:
                self._exceptions.add_word(norm, norm)
        self._has_spaced = len(self._spaced) > 0
        self._has_squashed = len(self._squashed) > 0
        self._has_unspaced = len(self._unspaced) > 0
        self._has_exceptions = len(self._exceptions) > 0
        for automaton in (self._spaced, self._squashed, self._unspaced, self._exceptions):
            if len(automaton):
                automaton.make_automaton()

    def _blank_exceptions(self, norm: str) -> str:
        padded = f" {norm} "
        spans = []
        for end, key in self._exceptions.iter(padded):
            start = end - len(key) + 1
            if padded[start - 1] == " " and padded[end + 1] == " ":
                spans.append((start, end + 1))
        if not spans:
            return norm
        out, last = [], 0
        for start, end in sorted(spans):
            if start < last:
                start = last
            out.append(padded[last:start])
            out.append(_EXCEPTION_MARK)
            last = max(last, end)
        out.append(padded[last:])
        return "".join(out).strip()

    def find(self, text: str) -> list[str]:
        """The original terms found in `text`, each once, in order of first match."""
        key = (self._serial, text)
        hit = _FOUND.data.get(key)
        if hit is not None:
            return list(hit)
        result = self._find(text)
        _FOUND.put(key, tuple(result))
        return result

    def _find(self, text: str) -> list[str]:
        found: dict[str, None] = {}
        for norm in forms(text):
            if self._has_exceptions:
                norm = self._blank_exceptions(norm)
            self._find_in(norm, found)
        if self._drop_contained and len(found) > 1:
            keys = [self._keys[t] for t in found]
            return [t for t in found if not any(self._keys[t] in k and self._keys[t] != k for k in keys)]
        return list(found)

    def _find_in(self, norm: str, found: dict[str, None]) -> None:
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
