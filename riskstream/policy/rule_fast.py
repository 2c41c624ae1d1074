"""A fast path for rule conditions: simple conjuncts decided in Python, the rest left to CEL.

Handing values to CEL is what a rule costs: the bindings convert every value
of the context (about 2-4 µs for a float or a string), far more than
evaluating a comparison.  Most policy rules are conjunctions of simple tests
(``event.category == "toys" && event.price < 5.0 && seller.age_days < 7``),
and a conjunction is false as soon as one conjunct is: CEL's ``&&`` is false
whenever one side is false, even if the other errs.  So the top-level
conjuncts of each condition that have one of these shapes

* ``PATH op LITERAL`` or ``LITERAL op PATH`` (``== != < <= > >=``; string,
  int or double literal without escapes),
* ``PATH`` and ``!PATH`` (a bool field), ``"lit" in PATH`` (a list field),
* ``has(PATH)``, ``size(PATH) op INT`` (a list field),
* ``PATH.contains("lit")``, ``.startsWith``, ``.endsWith`` (a string field),

are compiled, once per policy load, into one generated Python function per
bucket of rules.  For each rule it answers *definitely false* (a simple
conjunct is false: the rule does not match, no CEL call), *definitely true*
(every conjunct is simple and true) or *undecided* (CEL evaluates the whole
condition, with a context holding only the paths that rule reads).  A value
of an unexpected type (an absent field, a null) is never decided here: CEL
decides, errors included, so the verdicts are CEL's own.  The generated code
holds only names from the context catalogue and ``repr`` of literals parsed
from the condition.

>>> fast = FastPath(["event.price < 5.0 && seller.age_days < 7", 'event.title.matches("x") && event.price < 5.0'])
>>> fast.run({"event": {"price": 9.0}, "seller": {"age_days": 2}})   # both false on price
([], [])
>>> fast.run({"event": {"price": 3.0}, "seller": {"age_days": 2}})   # rule 0 true, rule 1 needs CEL
([0], [1])
>>> fast.run({"event": {"price": 3.0}, "seller": {}})               # age absent: CEL decides (it errs)
([], [0, 1])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from riskstream.policy.rule_check import DERIVED, EVENT_FIELDS, ROOTS, Token, tokens

MISSING: Final = object()
_UNSET: Final = object()
_NUM: Final = frozenset({int, float})
_CMP: Final = frozenset({"==", "!=", "<", "<=", ">", ">="})
_STR_METHODS: Final = {"contains": "{lit} in {v}", "startsWith": "{v}.startswith({lit})",
                       "endsWith": "{v}.endswith({lit})"}
_FLIP: Final = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


def _types() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for fields in EVENT_FIELDS.values():
        for f, t in fields.items():
            out.setdefault(f"event.{f}", set()).add(t)
    for root, fields in DERIVED.items():
        for f, t in fields.items():
            out.setdefault(f"{root}.{f}", set()).add(t)
    return out


_PATH_TYPES: Final = _types()
LAZY: Final = frozenset({"text", "terms"})
"""Roots whose values are computed on first use (``lazy(root, field)``): normalising text costs."""
V: Final = "\x00"  # the placeholder for the value in a test expression


def conjuncts(src: str) -> list[list[Token]] | None:
    """The top-level ``&&`` operands of a condition; None if it has a top-level ``||`` or ``?:``."""
    depth = 0
    out: list[list[Token]] = [[]]
    for t in tokens(src):
        if t.text in ("(", "[", "{"):
            depth += 1
        elif t.text in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and t.text in ("||", "?"):
            return None
        elif depth == 0 and t.text == "&&":
            out.append([])
            continue
        out[-1].append(t)
    while True:  # strip parentheses around a single conjunct: `a && (b)`
        changed = False
        for k, c in enumerate(out):
            if len(c) >= 2 and c[0].text == "(" and c[-1].text == ")" and _balanced(c[1:-1]):
                out[k] = c[1:-1]
                changed = True
                if _has_top(out[k], "&&"):
                    return conjuncts(" && ".join(" ".join(t.text for t in part) for part in out))  # re-split
        if not changed:
            return out


def _balanced(toks: list[Token]) -> bool:
    depth = 0
    for t in toks:
        depth += t.text in ("(", "[", "{")
        depth -= t.text in (")", "]", "}")
        if depth < 0:
            return False
    return depth == 0


def _has_top(toks: list[Token], op: str) -> bool:
    depth = 0
    for t in toks:
        depth += t.text in ("(", "[", "{")
        depth -= t.text in (")", "]", "}")
        if depth == 0 and t.text == op:
            return True
    return False


def _literal(t: Token) -> tuple[str, Any] | None:
    """(CEL type, Python value) of a literal simple enough to be decided in Python."""
    if t.kind == "string" and t.text[0] in "\"'" and not t.text.startswith(('"""', "'''")) and "\\" not in t.text \
            and V not in t.text:
        return "string", t.text[1:-1]
    if t.kind == "int" and t.text[-1] not in "uU":
        return "int", int(t.text, 0)
    if t.kind == "double":
        return "double", float(t.text)
    if t.kind == "ident" and t.text in ("true", "false"):
        return "bool", t.text == "true"
    return None


def _path(toks: list[Token]) -> str | None:
    if len(toks) == 3 and toks[0].kind == "ident" and toks[0].text in ROOTS and toks[1].text == "." \
            and toks[2].kind == "ident":
        p = f"{toks[0].text}.{toks[2].text}"
        if p in _PATH_TYPES:
            return p
        if toks[0].text == "terms":  # a declared term list (the loader checked the name)
            _PATH_TYPES.setdefault(p, {"list(string)"})
            return p
    return None


def simple(c: list[Token]) -> tuple[str, str, str] | None:
    """``(path, definitely-true expr, definitely-false expr)`` with ``V`` for the path's value, or None."""
    texts = [t.text for t in c]
    # PATH / !PATH (bool)
    if (p := _path(c)) is not None and "bool" in _PATH_TYPES[p]:
        return p, f"{V} is True", f"{V} is False"
    if texts[:1] == ["!"] and (p := _path(c[1:])) is not None and "bool" in _PATH_TYPES[p]:
        return p, f"{V} is False", f"{V} is True"
    # !(simple)
    if len(c) >= 4 and texts[0] == "!" and texts[1] == "(" and texts[-1] == ")" and _balanced(c[2:-1]) \
            and (inner := simple(c[2:-1])) is not None:
        return inner[0], inner[2], inner[1]
    # has(PATH)
    if texts[:2] == ["has", "("] and texts[-1] == ")" and (p := _path(c[2:-1])) is not None:
        return p, f"{V} is not MISSING", f"{V} is MISSING"
    # "lit" in PATH (list)
    if len(c) == 5 and texts[1] == "in" and (lit := _literal(c[0])) is not None and \
            (p := _path(c[2:])) is not None and _PATH_TYPES[p] <= {"list(string)"}:
        guard = f"{V}.__class__ is list"
        return p, f"{guard} and {lit[1]!r} in {V}", f"{guard} and {lit[1]!r} not in {V}"
    # size(PATH) op INT (lists only: cel-rust's size() of a string counts bytes)
    if len(c) == 8 and texts[:2] == ["size", "("] and texts[5] == ")" and texts[6] in _CMP and \
            (p := _path(c[2:5])) is not None and _PATH_TYPES[p] <= {"list(string)"} and \
            (lit := _literal(c[7])) is not None and lit[0] == "int":
        guard = f"{V}.__class__ is list"
        return p, f"{guard} and len({V}) {texts[6]} {lit[1]!r}", f"{guard} and not len({V}) {texts[6]} {lit[1]!r}"
    # PATH.contains("lit") / startsWith / endsWith (a string field)
    if len(c) == 8 and texts[3] == "." and texts[4] in _STR_METHODS and texts[5] == "(" and texts[7] == ")" \
            and (p := _path(c[:3])) is not None and _PATH_TYPES[p] <= {"string"} \
            and (lit := _literal(c[6])) is not None and lit[0] == "string":
        test = _STR_METHODS[texts[4]].format(lit=repr(lit[1]), v=V)
        guard = f"{V}.__class__ is str"
        return p, f"{guard} and {test}", f"{guard} and not {test}"
    # PATH op LIT / LIT op PATH
    if len(c) == 5 and texts[3] in _CMP and (p := _path(c[:3])) is not None and (lit := _literal(c[4])) is not None:
        op, value, ltype = texts[3], lit[1], lit[0]
    elif len(c) == 5 and texts[1] in _CMP and (p := _path(c[2:])) is not None and (lit := _literal(c[0])) is not None:
        op, value, ltype = _FLIP[texts[1]], lit[1], lit[0]
    else:
        return None
    if ltype == "string":
        guard = f"{V}.__class__ is str"
    elif ltype in ("int", "double") and op in ("==", "!="):
        guard = f"{V}.__class__ is {'int' if ltype == 'int' else 'float'}"  # no cross-type equality here
    elif ltype in ("int", "double"):
        guard = f"{V}.__class__ in _NUM"  # ordering across int and double is numeric in CEL
    elif ltype == "bool" and op in ("==", "!="):
        guard = f"{V}.__class__ is bool"
    else:
        return None
    return p, f"{guard} and {V} {op} {value!r}", f"{guard} and not {V} {op} {value!r}"


class FastPath:
    """One generated function deciding, per rule of a bucket, matched / not matched / ask CEL."""

    def __init__(self, conditions: Sequence[str]) -> None:
        paths: dict[str, str] = {}  # path -> local variable name
        lazies: dict[str, str] = {}  # lazy path -> local variable name, computed on first use
        lines = ["def run(ctx, lazy):", "    matched = []", "    undecided = []"]
        body: list[str] = []
        for i, src in enumerate(conditions):
            parts = conjuncts(src)
            decided = [simple(c) for c in parts] if parts is not None else []
            false_tests, true_tests = [], []
            # cheap tests first: a lazy value (the normalised text, term hits) is computed
            # only for an event that passed every other simple test of some rule
            for d in sorted((d for d in decided if d is not None), key=lambda d: d[0].split(".")[0] in LAZY):
                p, dt, df = d
                if p.split(".")[0] in LAZY:
                    root, field = p.split(".")
                    local = lazies.setdefault(p, f"z{len(lazies)}")
                    name = f"({local} if {local} is not UNSET else ({local} := lazy({root!r}, {field!r})))"
                else:
                    name = paths.setdefault(p, f"x{len(paths)}")
                false_tests.append("(" + df.replace(V, name) + ")")
                true_tests.append("(" + dt.replace(V, name) + ")")
            all_simple = parts is not None and all(d is not None for d in decided)
            cond_false = " or ".join(false_tests) or "False"
            if all_simple:
                body += [f"    if not ({cond_false}):",
                         f"        if {' and '.join(true_tests)}:",
                         f"            matched.append({i})",
                         "        else:",
                         f"            undecided.append({i})"]
            else:
                body += [f"    if not ({cond_false}):", f"        undecided.append({i})"]
        roots = sorted({p.split(".")[0] for p in paths})
        for r in roots:
            lines.append(f"    r_{r} = ctx.get({r!r}) or {{}}")
        for p, name in paths.items():
            root, field = p.split(".")
            lines.append(f"    {name} = r_{root}.get({field!r}, MISSING)")
        for name in lazies.values():
            lines.append(f"    {name} = UNSET")
        lines += [*body, "    return matched, undecided"]
        self.source = "\n".join(lines)
        namespace: dict[str, Any] = {"MISSING": MISSING, "UNSET": _UNSET, "_NUM": _NUM}
        exec(compile(self.source, "<rules fast path>", "exec"), namespace)
        self._run: Callable[..., tuple[list[int], list[int]]] = namespace["run"]

    def run(self, ctx: dict[str, Any], lazy: Callable[[str, str], Any] | None = None) -> tuple[list[int], list[int]]:
        """(matched, undecided) rule indexes; ``lazy(root, field)`` supplies the lazy roots' values."""
        if lazy is None:
            def lazy(root: str, field: str) -> Any:
                return (ctx.get(root) or {}).get(field, MISSING)
        return self._run(ctx, lazy)
