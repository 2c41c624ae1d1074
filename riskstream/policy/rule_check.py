"""Static checks of a rule's CEL condition: names, functions, literal types and a cost bound.

The CEL implementation (``common-expression-language``, bindings to
cel-rust) parses and evaluates but has no type checker, and it resolves
names only at evaluation time.  So before a rule is accepted its condition
is scanned here, token by token, against the context a rule sees
(``CONTEXT``): every ``root.field`` path must exist for the rule's event kind,
every function and method must be one CEL or this module offers, a field
compared with (or computed with) a literal must have the literal's type, and
the estimated cost must stay under ``MAX_RULE_COST``.  Each finding carries
its offset in the condition, which the loader turns into FILE:LINE:COL.

>>> [(f.offset, f.message) for f in check_condition('event.pricee < 5.0 && lower(event.title) == "x"',
...                                                  "listing", frozenset())]  # doctest: +NORMALIZE_WHITESPACE
[(0, "unknown field 'event.pricee' for listing events; did you mean event.price?"),
 (22, "unknown function 'lower'; CEL has no lower(); text.normalized is the text lower-cased and de-obfuscated")]
>>> [f.message for f in check_condition('event.category == 5', "listing", frozenset())]
['type error: event.category is string, compared with int 5']
>>> check_condition('seller.age_days < 7 && event.price < 5.0', "listing", frozenset())
[]
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterable
from typing import Final

Type = str
"""A CEL type name: ``string``, ``int``, ``double``, ``bool``, ``list(string)``, ``map(string,string)``."""

# --------------------------------------------------------------------------- the context a rule sees

_COMMON_EVENT: Final[dict[str, Type]] = {
    "event_id": "string", "country": "string", "region": "string", "kind": "string",
}
EVENT_FIELDS: Final[dict[str, dict[str, Type]]] = {
    "listing": {
        **_COMMON_EVENT, "op": "string", "listing_id": "string", "seller_id": "string",
        "category": "string", "title": "string", "price": "double", "currency": "string",
        "description": "string", "attributes": "map(string,string)", "certifications": "list(string)",
        "brand": "string", "image_hashes": "list(string)", "seller_age_days": "int",
    },
    "review": {
        **_COMMON_EVENT, "review_id": "string", "listing_id": "string", "buyer_id": "string",
        "rating": "int", "text": "string", "language": "string", "verified_purchase": "bool",
        "account_age_days": "int", "seller_id": "string",
    },
    "content": {
        **_COMMON_EVENT, "content_id": "string", "creator_id": "string", "content_kind": "string",
        "text": "string", "linked_listing_ids": "list(string)", "paid_promotion": "bool",
        "promotion_disclosed": "bool", "language": "string",
    },
}
OPTIONAL_FIELDS: Final = frozenset({"event.brand", "event.seller_age_days", "event.seller_id",
                                    "seller.age_days", "seller.id", "price.ratio_to_baseline"})
"""Paths that are absent (``has()`` is false) when the event does not carry them: guard with ``has(...)``."""

DERIVED: Final[dict[str, dict[str, Type]]] = {
    "seller": {"age_days": "int", "id": "string"},
    "text": {"normalized": "string", "length": "int"},
    "price": {"ratio_to_baseline": "double"},
    "signals": {"codes": "list(string)", "detectors": "list(string)", "max_score": "double", "count": "int"},
}
DERIVED_KINDS: Final[dict[str, frozenset[str]]] = {
    "seller": frozenset({"listing", "review"}),
    "text": frozenset({"listing", "review", "content"}),
    "price": frozenset({"listing"}),
    "signals": frozenset({"listing", "review", "content"}),
}
ROOTS: Final = frozenset({"event", "terms", *DERIVED})

# CEL's standard functions and macros that cel-rust implements, global and as methods.
GLOBAL_FUNCTIONS: Final = frozenset({
    "has", "size", "int", "uint", "double", "string", "bool", "bytes", "type", "dyn",
    "timestamp", "duration", "max", "min", "matches", "contains", "startsWith", "endsWith",
})
METHODS: Final = frozenset({
    "size", "contains", "startsWith", "endsWith", "matches", "all", "exists", "exists_one",
    "map", "filter",
})
MACROS: Final = frozenset({"all", "exists", "exists_one", "map", "filter"})
HINTS: Final[dict[str, str]] = {
    "lower": "CEL has no lower(); text.normalized is the text lower-cased and de-obfuscated",
    "lowerAscii": "not in this CEL; text.normalized is the text lower-cased and de-obfuscated",
    "upperAscii": "not in this CEL; text.normalized is the text lower-cased and de-obfuscated",
    "len": "did you mean size()?",
    "length": "did you mean size()?",
    "in": "use the operator: x in list",
}

# --------------------------------------------------------------------------- cost

MAX_RULE_COST: Final = 400
"""Estimated evaluation steps one rule may take (cel-go estimates cost the same way, statically)."""
MAX_LIST: Final = 64
"""A comprehension's body is counted this many times: the longest list a rule can iterate in practice
(lists are capped at 256 items at decode, signal and term lists are far shorter)."""
_COST: Final[dict[str, int]] = {"matches": 25, "contains": 3, "startsWith": 2, "endsWith": 2}


@dataclasses.dataclass(frozen=True, slots=True)
class Finding:
    """One problem in a condition, at a 0-based character offset into it."""

    offset: int
    message: str


# --------------------------------------------------------------------------- lexer

_TOKEN: Final = re.compile(r"""
    (?P<space>\s+|//[^\n]*)
  | (?P<string>[rRbB]{0,2}(?:\"\"\"(?:\\.|[^\\])*?\"\"\"|'''(?:\\.|[^\\])*?'''|"(?:\\.|[^"\\\n])*"|'(?:\\.|[^'\\\n])*'))
  | (?P<double>(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+)
  | (?P<int>0[xX][0-9a-fA-F]+[uU]?|\d+[uU]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>&&|\|\||==|!=|<=|>=|[-+*/%<>!?:.,()\[\]{}])
""", re.X | re.S)


@dataclasses.dataclass(frozen=True, slots=True)
class Token:
    kind: str
    text: str
    offset: int


def tokens(src: str) -> list[Token]:
    """CEL tokens (without spaces and comments); an unknown character ends the list (the parser reports it)."""
    out: list[Token] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None:
            break
        kind = m.lastgroup or ""
        if kind != "space":
            out.append(Token(kind, m.group(), pos))
        pos = m.end()
    return out


def _literal_type(tok: Token) -> Type | None:
    if tok.kind == "string":
        return "bytes" if tok.text[:2].lower().startswith("b") or tok.text[:2].lower() == "rb" else "string"
    if tok.kind == "double":
        return "double"
    if tok.kind == "int":
        return "uint" if tok.text[-1] in "uU" else "int"
    if tok.kind == "ident" and tok.text in ("true", "false"):
        return "bool"
    return None


def _compatible(field: Type, literal: Type, op: str) -> bool:
    numeric = {"int", "uint", "double"}
    if op in ("==", "!=", "<", "<=", ">", ">="):
        # cel-rust compares int, uint and double with one another (heterogeneous numeric comparison).
        return field == literal or (field in numeric and literal in numeric)
    # arithmetic: CEL never converts between numeric types
    return field == literal


# --------------------------------------------------------------------------- the check


@dataclasses.dataclass(frozen=True, slots=True)
class Path:
    """A ``root.field...`` reference in a condition, with its type (None: a map value or unknown)."""

    text: str
    offset: int
    end: int  # index of the token after the path
    type: Type | None


def field_type(root: str, field: str, kind: str, term_lists: frozenset[str]) -> Type | None:
    if root == "event":
        return EVENT_FIELDS[kind].get(field)
    if root == "terms":
        return "list(string)" if field in term_lists else None
    return DERIVED.get(root, {}).get(field)


def _known_fields(root: str, kind: str, term_lists: frozenset[str]) -> list[str]:
    if root == "event":
        return sorted(EVENT_FIELDS[kind])
    if root == "terms":
        return sorted(term_lists)
    return sorted(DERIVED.get(root, {}))


def check_condition(src: str, kind: str, term_lists: frozenset[str]) -> list[Finding]:
    """Every name, function, literal-type and cost problem in ``src`` for a rule on ``kind`` events."""
    toks = tokens(src)
    out: list[Finding] = []
    local: set[str] = set()
    paths: list[Path] = []
    i = 0
    while i < len(toks):
        t = toks[i]
        prev = toks[i - 1] if i else None
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.kind != "ident" or t.text in ("true", "false", "null", "in"):
            i += 1
            continue
        if prev is not None and prev.text == ".":
            i += 1  # a field or method after an expression that is not a path (checked below)
            continue
        if nxt is not None and nxt.text == "(":
            if t.text not in GLOBAL_FUNCTIONS:
                hint = HINTS.get(t.text) or _suggest(t.text, GLOBAL_FUNCTIONS)
                out.append(Finding(t.offset, f"unknown function {t.text!r}" + (f"; {hint}" if hint else "")))
            i += 1
            continue
        if t.text in local:
            i += 1
            continue
        if t.text not in ROOTS:
            hint = _suggest(t.text, ROOTS)
            out.append(Finding(t.offset, f"unknown name {t.text!r}; a rule sees "
                                         f"{', '.join(sorted(ROOTS))}" + (f" ({hint})" if hint else "")))
            i += 1
            continue
        if t.text in DERIVED_KINDS and kind not in DERIVED_KINDS[t.text]:
            out.append(Finding(t.offset, f"{t.text}.* is not available for {kind} events"))
        path, j = _path(toks, i, kind, term_lists, out)
        if path is not None:
            paths.append(path)
        i = j
    # comprehension variables: `list.exists(x, ...)` binds x
    for k, t in enumerate(toks):
        if t.kind == "ident" and t.text in MACROS and k and toks[k - 1].text == "." and \
                k + 2 < len(toks) and toks[k + 1].text == "(" and toks[k + 2].kind == "ident":
            local.add(toks[k + 2].text)
    if local:  # re-check without the comprehension variables flagged as unknown names
        out = [f for f in out if not any(f.message.startswith(f"unknown name {v!r}") for v in local)]
    for k, t in enumerate(toks):
        if t.kind == "ident" and k and toks[k - 1].text == "." and k + 1 < len(toks) \
                and toks[k + 1].text == "(" and t.text not in METHODS:
            hint = HINTS.get(t.text) or _suggest(t.text, METHODS)
            out.append(Finding(t.offset, f"unknown method {t.text!r}" + (f"; {hint}" if hint else "")))
    out += _literal_types(toks, paths)
    cost = estimate_cost(toks)
    if cost > MAX_RULE_COST:
        out.append(Finding(0, f"condition too costly: estimated {cost} steps > {MAX_RULE_COST} "
                              f"(a comprehension counts its body {MAX_LIST} times)"))
    return sorted(out, key=lambda f: f.offset)


def _path(toks: list[Token], i: int, kind: str, term_lists: frozenset[str],
          out: list[Finding]) -> tuple[Path | None, int]:
    root = toks[i]
    j = i + 1
    if not (j + 1 < len(toks) and toks[j].text == "." and toks[j + 1].kind == "ident"):
        if j < len(toks) and toks[j].text == "[" and root.text == "terms":
            return None, j  # terms["name"]: checked at evaluation (a missing list is an error there)
        out.append(Finding(root.offset, f"{root.text!r} is a group of fields; name one, e.g. "
                                        f"{root.text}.{(_known_fields(root.text, kind, term_lists) or ['x'])[0]}"))
        return None, j
    field = toks[j + 1]
    ftype = field_type(root.text, field.text, kind, term_lists)
    j += 2
    text = f"{root.text}.{field.text}"
    if ftype is None:
        known = _known_fields(root.text, kind, term_lists)
        close = difflib.get_close_matches(field.text, known, n=1)
        hint = f"; did you mean {root.text}.{close[0]}?" if close else \
            (f"; known: {', '.join(known)}" if known else "; the policy declares no term_lists")
        what = "term list" if root.text == "terms" else "field"
        out.append(Finding(root.offset, f"unknown {what} {text!r} for {kind} events{hint}"))
        return None, j
    # a further `.name` that is not a method call is a field of a scalar: an error
    if j + 1 < len(toks) and toks[j].text == "." and toks[j + 1].kind == "ident" and \
            not (j + 2 < len(toks) and toks[j + 2].text == "("):
        if not ftype.startswith("map("):
            out.append(Finding(toks[j + 1].offset, f"{text} is {ftype} and has no field {toks[j + 1].text!r}"))
        return Path(text, root.offset, j + 2, None), j + 2
    return Path(text, root.offset, j, ftype), j


def _literal_types(toks: list[Token], paths: list[Path]) -> list[Finding]:
    out: list[Finding] = []
    ops = {"==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%"}
    index_of = {t.offset: k for k, t in enumerate(toks)}
    for p in paths:
        if p.type is None:
            continue
        end = p.end
        if end + 1 < len(toks) and toks[end].text in ops:
            lit = _literal_type(toks[end + 1])
            # `a.b < 5 * x` : only a literal that stands alone is judged
            after = toks[end + 2] if end + 2 < len(toks) else None
            if lit is not None and (after is None or after.text not in ("*", "/", "%", ".", "[")):
                out += _judge(p, toks[end].text, lit, toks[end + 1])
        start = index_of[p.offset]
        if start >= 2 and toks[start - 1].text in ops and toks[start - 1].text not in ("-",):
            lit = _literal_type(toks[start - 2])
            before = toks[start - 3] if start >= 3 else None
            if lit is not None and (before is None or before.text not in ("*", "/", "%", ".", "-")):
                out += _judge(p, toks[start - 1].text, lit, toks[start - 2])
    return out


def _judge(p: Path, op: str, lit: Type, tok: Token) -> list[Finding]:
    assert p.type is not None
    if _compatible(p.type, lit, op):
        return []
    if op in ("+", "-", "*", "/", "%") and {p.type, lit} <= {"int", "uint", "double"}:
        return [Finding(tok.offset, f"type error: {p.text} is {p.type} and {tok.text} is {lit}; CEL does not "
                                    f"mix them in arithmetic (write {p.type}({tok.text}) or a {p.type} literal)")]
    verb = "compared with" if op in ("==", "!=", "<", "<=", ">", ">=") else f"combined ({op}) with"
    return [Finding(p.offset, f"type error: {p.text} is {p.type}, {verb} {lit} {tok.text}")]


def estimate_cost(toks: Iterable[Token]) -> int:
    """Static cost: one step per operator, call and field access; a comprehension's body times ``MAX_LIST``."""
    cost = 0
    factor = 1
    stack: list[int] = []  # per open bracket: the factor to restore
    pending_macro = False
    for t in toks:
        if t.text == "(":
            stack.append(factor)
            if pending_macro:
                factor *= MAX_LIST
                pending_macro = False
        elif t.text in (")", "]", "}"):
            factor = stack.pop() if stack else 1
        elif t.text in ("[", "{"):
            stack.append(factor)
        elif t.kind == "ident" and t.text in MACROS:
            pending_macro = True
            cost += factor
        elif t.kind == "ident":
            cost += factor * _COST.get(t.text, 1)
        elif t.kind == "op" and t.text not in (",", ":", "?"):
            cost += factor
        factor = min(factor, MAX_LIST ** 3)
    return cost


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, sorted(choices), n=1)
    return f"did you mean {close[0]}?" if close else ""
