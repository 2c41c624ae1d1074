"""Regular expressions in policy params, refused before a detector compiles them.

A detector compiles its params' patterns as they are (``re.compile``), and
Python's backtracking engine takes exponential time on a pattern such as
``(a+)+$`` against a long run of ``a``: one policy file with one such pattern
would stall every worker on every listing.  The loader therefore checks
every pattern a detector reads from its params (`REGEX_PARAMS`) and refuses,
with the pattern's ``file:line:col``:

* a pattern longer than `MAX_PATTERN_CHARS`;
* a pattern that does not compile;
* a repeated group that contains a repeat of variable length (nested
  quantifiers: ``(a+)+``, ``(\\w+\\s?)*``, ``(?:a|b+){2,}``), the shape behind
  catastrophic backtracking (``(\\d{3}-)*``, a fixed-length repeat inside, is fine);
* a bounded repeat larger than `MAX_REPEAT` (``a{1,100000}`` compiles to a
  program as large as its bound).

>>> pattern_problem(r"[A-Z]{2}-\\d{6}") is None
True
>>> pattern_problem(r"(a+)+$")
'nested quantifiers (a quantified group repeats another quantifier): catastrophic backtracking'
>>> pattern_problem("(unclosed")
'does not compile: missing ), unterminated subpattern at position 0'
"""

from __future__ import annotations

import re
import re._parser as _sre_parse  # the stdlib's own parser (Python 3.11+): the tree re.compile builds
from collections.abc import Iterator
from re._constants import MAXREPEAT
from typing import Any, Final

MAX_PATTERN_CHARS: Final = 512
MAX_REPEAT: Final = 1000

REGEX_PARAMS: Final[dict[str, tuple[str, ...]]] = {
    # detector id -> the params that hold patterns (a string, a list of them, or a mapping to them);
    # "name[].field": the field of each mapping in the list `name` (prohibited_terms' licence groups)
    "prohibited_terms": ("licensed_terms[].licence_pattern",),
    "category_rules": ("licence_pattern",),
    "mandatory_attributes": ("attribute_formats",),
    "health_claims": ("health_patterns",),
}

_REPEATS: Final = frozenset(("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"))
_NESTED: Final = "nested quantifiers (a quantified group repeats another quantifier): catastrophic backtracking"


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` may not be used, or None."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"pattern of {len(pattern)} characters; at most {MAX_PATTERN_CHARS}"
    try:
        re.compile(pattern)
        parsed = _sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as exc:
        return f"does not compile: {exc}"
    return _walk(parsed)


def _walk(items: Any) -> str | None:
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            _low, high, body = arg
            if high != MAXREPEAT and high > MAX_REPEAT:
                return f"repeat bound {high} is larger than {MAX_REPEAT}"
            if (high == MAXREPEAT or high > 1) and _has_variable(body):
                return _NESTED
            found = _walk(body)
        else:
            found = None
            for sub in _children(name, arg):
                found = found or _walk(sub)
        if found:
            return found
    return None


def _has_variable(items: Any) -> bool:
    """Whether `items` holds a repeat of variable length (``+``, ``*``, ``?``, ``{1,3}``)."""
    for op, arg in items:
        name = str(op)
        if name in _REPEATS:
            if arg[0] != arg[1] or _has_variable(arg[2]):
                return True
        elif any(_has_variable(sub) for sub in _children(name, arg)):
            return True
    return False


def _children(name: str, arg: Any) -> Iterator[Any]:
    """The sub-patterns of one parsed node (groups, branches, lookarounds, conditionals)."""
    if name == "SUBPATTERN":
        yield arg[-1]
    elif name == "BRANCH":
        yield from arg[1]
    elif name in ("ASSERT", "ASSERT_NOT"):
        yield arg[1]
    elif name == "ATOMIC_GROUP":
        yield arg
    elif name == "GROUPREF_EXISTS":
        yield arg[1]
        if arg[2] is not None:
            yield arg[2]


def patterns_in(det_id: str, params: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path under params, pattern) for each pattern `det_id`'s params hold (non-strings skipped).

    >>> list(patterns_in("prohibited_terms", {"licensed_terms": [{"licence_pattern": "A-[0-9]+"}, {}, 3]}))
    [(('licensed_terms', 0, 'licence_pattern'), 'A-[0-9]+')]
    """
    if not isinstance(params, dict):
        return
    for name in REGEX_PARAMS.get(det_id, ()):
        if "[]." in name:
            outer, field = name.split("[].", 1)
            items = params.get(outer)
            for i, item in enumerate(items if isinstance(items, list) else ()):
                for sub, pattern in _patterns((field,), item.get(field) if isinstance(item, dict) else None):
                    yield (outer, i, *sub), pattern
        else:
            yield from _patterns((name,), params.get(name))


def _patterns(path: tuple[str | int, ...], value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, str):
        if value:
            yield path, value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, str):
                yield (*path, i), item
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, str):
                yield (*path, key), item
