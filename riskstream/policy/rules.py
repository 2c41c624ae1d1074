"""Policy managers' rules: CEL conditions compiled once per policy load, indexed, evaluated per event.

A rule's condition is a CEL expression (https://cel.dev) over what the
engine knows about one event when it decides: the event's own fields
(``event.*``), derived features (``seller.age_days``, ``text.normalized``,
``price.ratio_to_baseline``), hits of the policy's named term lists
(``terms.<name>``) and the signals the detectors produced for the same event
(``signals.codes``, ``signals.detectors``, ...).  CEL has no loops, no
side effects and no I/O, and always terminates; a condition is also checked
statically (``riskstream.policy.rule_check``) and its estimated cost bounded.

``compile_rules`` indexes the rules by (event kind, country): an event only
ever meets the rules that can apply to it, evaluated as ONE CEL program that
returns a list of booleans, over a context holding only the fields those
rules read.  A rule that errs at evaluation (a missing optional field, say)
does not match and is counted in ``errors``; the others are still judged.

>>> from datetime import date
>>> from riskstream.contracts import ListingEvent, parse_time
>>> from riskstream.policy.model import Policy, Rule
>>> rule = Rule(condition='event.category == "cosmetics" && event.price < 5.0 && seller.age_days < 7',
...             reason="cheap_cosmetics_new_seller", action="hold", mode="shadow", countries=("FR",))
>>> policy = Policy(region="EU", version="2026.11.1", owner="tns", change_note="", detectors={},
...                 effective_from=date(2026, 11, 1), rules={"fr_cheap_cosmetics": rule})
>>> rules = compile_rules(policy)
>>> ev = ListingEvent(event_id="e1", event_time=parse_time("2026-11-02T10:00:00Z"), region="FR",
...     op="created", listing_id="l1", seller_id="s1", category="cosmetics", title="Lipstick",
...     price=3.5, currency="EUR", seller_age_days=2)
>>> [(s.detector, s.code, s.evidence["values"]) for s in rules.evaluate(ev, [])]
[('rule:fr_cheap_cosmetics', 'cheap_cosmetics_new_seller', {'event.category': 'cosmetics', 'event.price': 3.5, 'seller.age_days': 2})]
>>> import dataclasses
>>> rules.evaluate(dataclasses.replace(ev, region="DE"), [])  # not in scope: never evaluated
[]
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Sequence
from pathlib import Path as FilePath
from typing import Any, Final

from riskstream.contracts import ContentEvent, EntityType, Event, ListingEvent, ReviewEvent, Signal
from riskstream.detectors.base import signal
from riskstream.detectors.text import TermMatcher, normalize
from riskstream.policy.model import RULE_PREFIX, Policy, Rule
from riskstream.policy.rule_check import Path, check_condition, tokens
from riskstream.policy.rule_fast import MISSING, FastPath
from riskstream.regions import REGIONS


def _load_cel() -> Any:
    """The CEL extension module, without the package's ``__init__``.

    ``import cel`` also imports the package's command-line tool (typer, rich,
    prompt_toolkit): 0.4 s at every start of a worker or of ``riskstream``.
    The compiled module alone is what rules need; the package layout is pinned
    by the dependency range (``common-expression-language>=0.10,<0.11``), and
    anything unexpected falls back to the plain import.
    """
    import importlib.machinery
    import importlib.util
    import sys

    if "cel" in sys.modules:
        return sys.modules["cel"]
    try:
        spec = importlib.util.find_spec("cel")
        folder = next(iter(spec.submodule_search_locations or ())) if spec is not None else None
        if folder is not None:
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                path = FilePath(folder) / f"cel{suffix}"
                if path.exists():
                    ext = importlib.util.spec_from_file_location("cel.cel", path)
                    if ext is not None and ext.loader is not None:
                        module = importlib.util.module_from_spec(ext)
                        ext.loader.exec_module(module)
                        if hasattr(module, "compile") and hasattr(module, "Context"):
                            return module
    except (ImportError, OSError, StopIteration):
        pass
    import cel

    return cel


cel: Any = _load_cel()

_POSITION: Final = re.compile(r"<input>:(\d+):(\d+):\s*(.*)", re.S)


class RuleSyntaxError(ValueError):
    """CEL could not parse a condition; ``line``/``col`` are 1-based inside the condition."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.line, self.col = line, col


@functools.lru_cache(maxsize=4096)
def compile_condition(src: str) -> Any:
    """The compiled CEL program of one condition (cached: a condition compiles once per process)."""
    try:
        return cel.compile(src)
    except ValueError as exc:
        text = str(exc)
        m = _POSITION.search(text)
        if m is None:
            raise RuleSyntaxError(f"syntax error: {text}", 1, 1) from None
        detail = re.sub(r"^syntax error:\s*", "", m.group(3).split("\n")[0].strip(), flags=re.I)
        raise RuleSyntaxError(f"syntax error: {detail}", int(m.group(1)), int(m.group(2))) from None


@dataclasses.dataclass(frozen=True, slots=True)
class CompiledRule:
    id: str
    rule: Rule
    program: Any
    paths: tuple[str, ...]
    """The ``root.field`` paths the condition reads, in order: the context it needs, the evidence it shows."""


@dataclasses.dataclass(frozen=True, slots=True)
class RuleResult:
    """One rule judged on one event: matched or not, or the error it raised."""

    id: str
    matched: bool
    error: str | None
    values: dict[str, Any]


def _entity(event: Event) -> tuple[EntityType, str]:
    if isinstance(event, ListingEvent):
        return "listing", event.listing_id
    if isinstance(event, ReviewEvent):
        return "review", event.review_id
    assert isinstance(event, ContentEvent)
    return "content", event.content_id


def _event_text(event: Event) -> str:
    if isinstance(event, ListingEvent):
        # what prohibited_terms reads
        return " \n ".join((event.title, event.description, event.brand or "", *event.attributes.values()))
    return getattr(event, "text", "")


_EVENT_ATTR: Final[dict[str, str]] = {"country": "region", "region": "region"}


def _event_getter(field: str) -> Callable[[Event], Any]:
    if field == "region":
        from riskstream.regions import region_of

        return lambda e: region_of(e.region) or ""
    attr = _EVENT_ATTR.get(field, field)
    return lambda e: getattr(e, attr)


class Bucket:
    """The rules of one (kind, country): one CEL program over exactly the context they read."""

    def __init__(self, rules: Sequence[CompiledRule], matchers: dict[str, TermMatcher]) -> None:
        self.rules = tuple(rules)
        paths = {p for r in self.rules for p in r.paths}
        self._event = tuple(sorted((p.split(".", 1)[1], _event_getter(p.split(".", 1)[1]))
                                   for p in paths if p.startswith("event.")))
        self._seller = {p.split(".", 1)[1] for p in paths if p.startswith("seller.")}
        self._text = {p.split(".", 1)[1] for p in paths if p.startswith("text.")}
        self._price = any(p.startswith("price.") for p in paths)
        self._signals = {p.split(".", 1)[1] for p in paths if p.startswith("signals.")}
        self._terms = {name: matchers[name] for p in paths if p.startswith("terms.")
                       for name in [p.split(".", 1)[1]] if name in matchers}
        self._all_terms = any(p == "terms" for p in paths)  # terms["name"]
        if self._all_terms:
            self._terms = dict(matchers)
        self.fast = FastPath([r.rule.condition for r in self.rules])
        self.program = compile_condition("[" + ", ".join(f"({r.rule.condition})" for r in self.rules) + "]") \
            if len(self.rules) > 1 else (self.rules[0].program if self.rules else None)

    def context(self, event: Event, signals: Sequence[Signal], *, lazy: bool = False) -> dict[str, Any]:
        """What the bucket's rules read, and nothing else (converting values into CEL costs).

        With ``lazy``, the text and the term hits (normalising a text is the
        costly part) are left out; ``materialize`` adds them when a rule needs them.
        """
        ctx: dict[str, Any] = {}
        if self._event:
            ctx["event"] = {name: get(event) for name, get in self._event}
        if self._seller:
            seller: dict[str, Any] = {}
            age = getattr(event, "seller_age_days", None)
            if age is not None and "age_days" in self._seller:
                seller["age_days"] = age
            sid = getattr(event, "seller_id", None)
            if sid is not None and "id" in self._seller:
                seller["id"] = sid
            ctx["seller"] = seller
        if not lazy:
            self.materialize(ctx, event)
        if self._price:
            price: dict[str, Any] = {}
            for s in signals:
                median = s.evidence.get("baseline_median") if s.detector == "price_outlier" else None
                if isinstance(median, (int, float)) and median > 0 and isinstance(event, ListingEvent):
                    price["ratio_to_baseline"] = event.price / float(median)
            ctx["price"] = price
        if self._signals:
            want = self._signals
            sig: dict[str, Any] = {}
            if "codes" in want:
                sig["codes"] = [s.code for s in signals]
            if "detectors" in want:
                sig["detectors"] = sorted({s.detector for s in signals})
            if "max_score" in want:
                sig["max_score"] = max((s.score for s in signals), default=0.0)
            if "count" in want:
                sig["count"] = len(signals)
            ctx["signals"] = sig
        return ctx

    def materialize(self, ctx: dict[str, Any], event: Event) -> None:
        """Add the text and term hits to a lazy context (once)."""
        if "text" in ctx or "terms" in ctx or not (self._text or self._terms):
            return
        raw = _event_text(event)
        if self._text:
            ctx["text"] = {"normalized": normalize(raw) if "normalized" in self._text else "", "length": len(raw)}
        if self._terms:
            ctx["terms"] = {name: m.find(raw) for name, m in self._terms.items()}

    def matches(self, event: Event, signals: Sequence[Signal]) -> tuple[list[CompiledRule], dict[str, Any], int]:
        """The hot path: the rules that match, the context, how many erred.

        The fast path (``riskstream.policy.rule_fast``) settles every rule one of
        whose simple conjuncts is false, and every rule made only of simple
        conjuncts; CEL judges the rest, each with only the values it reads.
        """
        ctx = self.context(event, signals, lazy=True)

        def lazy(root: str, field: str) -> Any:
            self.materialize(ctx, event)
            return ctx.get(root, {}).get(field, MISSING)

        matched, undecided = self.fast.run(ctx, lazy)
        errors = 0
        if undecided:
            self.materialize(ctx, event)
            shared = cel.Context(variables=ctx) if len(undecided) > 3 else None
            for i in undecided:
                r = self.rules[i]
                try:
                    value = r.program.execute(shared if shared is not None else _only(ctx, r.paths))
                except Exception:  # CEL raises KeyError/TypeError/RuntimeError: no match, counted
                    errors += 1
                    continue
                if value is True:
                    matched.append(i)
            matched.sort()
        return [self.rules[i] for i in matched], ctx, errors

    def judge(self, event: Event, signals: Sequence[Signal]) -> tuple[list[RuleResult], dict[str, Any]]:
        """Every rule of the bucket on one event (matched or not), with the context they saw."""
        ctx = self.context(event, signals)
        if len(self.rules) > 1 and self.program is not None:
            try:
                values = self.program.execute(ctx)
                return [RuleResult(r.id, v is True, None if isinstance(v, bool) else
                                   f"condition gave {type(v).__name__}, not true/false", {})
                        for r, v in zip(self.rules, values, strict=True)], ctx
            except Exception:  # one rule erred: judge them one by one (rare)
                pass
        return self._one_by_one(ctx)

    def _one_by_one(self, ctx: dict[str, Any]) -> tuple[list[RuleResult], dict[str, Any]]:
        out = []
        for r in self.rules:
            try:
                v = r.program.execute(ctx)
                out.append(RuleResult(r.id, v is True,
                                      None if isinstance(v, bool) else f"condition gave {type(v).__name__}", {}))
            except Exception as exc:  # CEL raises KeyError/TypeError/RuntimeError
                out.append(RuleResult(r.id, False, f"{type(exc).__name__}: {str(exc)[:200]}", {}))
        return out, ctx


def _only(ctx: dict[str, Any], paths: Sequence[str]) -> dict[str, Any]:
    """The part of a context that these paths read (converting values into CEL is the cost)."""
    out: dict[str, Any] = {}
    for p in paths:
        root, _, field = p.partition(".")
        if root not in ctx:
            continue
        if not field:
            out[root] = ctx[root]
            continue
        sub = out.setdefault(root, {})
        if field in ctx[root]:
            sub[field] = ctx[root][field]
    return out


def _resolve(ctx: dict[str, Any], path: str) -> Any:
    root, _, field = path.partition(".")
    value = ctx.get(root)
    if isinstance(value, dict):
        return value.get(field, "(absent)")
    return "(absent)"


def required_category(src: str) -> str | None:
    """The category a condition requires outright (a top-level ``event.category == "x" && ...``), if any.

    Only a conjunct of the whole condition counts: with a top-level ``||`` or
    ``?:`` nothing is required.

    >>> required_category('event.category == "toys" && event.price < 5.0')
    'toys'
    >>> required_category('event.category == "toys" || event.price < 5.0') is None
    True
    """
    toks = tokens(src)
    depth = 0
    conjuncts: list[list[str]] = [[]]
    for t in toks:
        if t.text in ("(", "[", "{"):
            depth += 1
        elif t.text in (")", "]", "}"):
            depth -= 1
        elif depth == 0 and t.text in ("||", "?"):
            return None
        elif depth == 0 and t.text == "&&":
            conjuncts.append([])
            continue
        conjuncts[-1].append(t.text)
    for c in conjuncts:
        if len(c) != 5:
            continue
        if c[:4] == ["event", ".", "category", "=="]:
            lit = c[4]
        elif c[1:] == ["==", "event", ".", "category"]:
            lit = c[0]
        else:
            continue
        if len(lit) >= 2 and lit[0] in ("'", '"') and lit[-1] == lit[0] and "\\" not in lit:
            return lit[1:-1]
    return None


class CompiledRules:
    """A policy's rules, compiled and indexed by (event kind, country, category).

    A rule is indexed under the category its condition requires outright
    (``required_category``) or, requiring none, under every category: an
    event meets only the rules that can match it.  Categories no rule names
    share one bucket (event categories are input, so the index stays bounded).
    """

    def __init__(self, policy: Policy, rules: Sequence[CompiledRule], *, by_category: bool = True) -> None:
        self.policy = policy
        self.rules = {r.id: r for r in rules}
        matchers = {name: TermMatcher(terms) for name, terms in policy.term_lists.items()}
        countries = sorted(REGIONS.get(policy.region, ()))
        required = {r.id: required_category(r.rule.condition) if by_category else None for r in rules}
        categories = sorted({c for c in required.values() if c is not None})
        shared: dict[tuple[str, ...], Bucket] = {}
        self._index: dict[tuple[str, str, str | None], Bucket] = {}
        for kind in ("listing", "review", "content"):
            for country in countries:
                scoped = [r for r in rules if r.rule.enabled and r.rule.kind == kind
                          and (not r.rule.countries or country in r.rule.countries)]
                for category in (None, *categories):
                    ids = tuple(r.id for r in scoped if required[r.id] in (None, category))
                    if not ids:
                        continue
                    if ids not in shared:
                        shared[ids] = Bucket([self.rules[i] for i in ids], matchers)
                    self._index[(kind, country, category)] = shared[ids]
        self._categories = frozenset(categories)
        self.errors = 0
        """Rule evaluations that raised (counted; the rule did not match)."""

    def _bucket(self, event: Event) -> Bucket | None:
        category = getattr(event, "category", None)
        key = category if category in self._categories else None
        return self._index.get((event.kind, event.region, key))

    def applicable(self, event: Event) -> tuple[CompiledRule, ...]:
        bucket = self._bucket(event)
        return bucket.rules if bucket is not None else ()

    def judge(self, event: Event, signals: Sequence[Signal]) -> list[RuleResult]:
        """Each applicable rule's verdict with the values of the paths it read (for explain)."""
        bucket = self._bucket(event)
        if bucket is None:
            return []
        results, ctx = bucket.judge(event, signals)
        return [dataclasses.replace(res, values={p: _resolve(ctx, p) for p in self.rules[res.id].paths})
                for res in results]

    def evaluate(self, event: Event, signals: Sequence[Signal]) -> list[Signal]:
        """The signals of the rules that match ``event`` (given the detectors' ``signals``)."""
        bucket = self._bucket(event)
        if bucket is None:
            return []
        matched, ctx, errors = bucket.matches(event, signals)
        self.errors += errors
        if not matched:
            return []
        entity_type, entity_id = _entity(event)
        return [signal(RULE_PREFIX + r.id, event, code=r.rule.reason, entity_type=entity_type,
                       entity_id=entity_id, score=r.rule.score,
                       evidence={"rule": r.id, "values": {p: _resolve(ctx, p) for p in r.paths}})
                for r in matched]


def referenced_paths(src: str) -> tuple[str, ...]:
    """The ``root.field`` paths a condition reads (``terms`` alone for ``terms["name"]``)."""
    from riskstream.policy.rule_check import ROOTS

    toks = tokens(src)
    out: dict[str, None] = {}
    for i, t in enumerate(toks):
        if t.kind != "ident" or t.text not in ROOTS or (i and toks[i - 1].text == "."):
            continue
        if i + 2 < len(toks) and toks[i + 1].text == "." and toks[i + 2].kind == "ident":
            out[f"{t.text}.{toks[i + 2].text}"] = None
        else:
            out[t.text] = None
    return tuple(out)


def compile_rule(rule_id: str, rule: Rule) -> CompiledRule:
    """Compile one (already checked) rule; raises ``RuleSyntaxError`` if CEL cannot parse it."""
    return CompiledRule(rule_id, rule, compile_condition(rule.condition), referenced_paths(rule.condition))


def compile_rules(policy: Policy, *, by_category: bool = True) -> CompiledRules:
    """Every rule of ``policy``, compiled and indexed (the loader has checked them).

    ``by_category=False`` leaves the category out of the index (benchmarks, tests).
    """
    return CompiledRules(policy, [compile_rule(rid, r) for rid, r in policy.rules.items()],
                         by_category=by_category)


__all__ = ["Bucket", "CompiledRule", "CompiledRules", "Path", "RuleResult", "RuleSyntaxError",
           "check_condition", "compile_condition", "compile_rule", "compile_rules", "referenced_paths"]


# --------------------------------------------------------------------------- validation (used by the loader)

_PROBE_VALUES: Final[dict[str, Any]] = {
    "string": "", "int": 1, "double": 1.0, "bool": False, "list(string)": [], "map(string,string)": {},
}


def probe_context(kind: str, term_lists: Sequence[str]) -> dict[str, Any]:
    """A context holding every field a rule on ``kind`` events can read, each of its type."""
    from riskstream.policy.rule_check import DERIVED, DERIVED_KINDS, EVENT_FIELDS

    ctx: dict[str, Any] = {"event": {f: _PROBE_VALUES[t] for f, t in EVENT_FIELDS[kind].items()},
                           "terms": {name: [] for name in term_lists}}
    for root, fields in DERIVED.items():
        if kind in DERIVED_KINDS[root]:
            ctx[root] = {f: _PROBE_VALUES[t] for f, t in fields.items()}
    return ctx


def condition_problems(src: str, kind: str, term_lists: Sequence[str]) -> list[tuple[int, int, int | None, str]]:
    """Every problem of one condition: ``(line, col, offset, message)``, positions inside the condition.

    ``offset`` is set for a static finding (line/col are then derived by the caller
    from the YAML), None when CEL reported line and column itself.
    """
    findings = check_condition(src, kind, frozenset(term_lists))
    out: list[tuple[int, int, int | None, str]] = [(0, 0, f.offset, f.message) for f in findings]
    try:
        program = compile_condition(src)
    except RuleSyntaxError as exc:
        return [(exc.line, exc.col, None, str(exc)), *out]
    if out:
        return out
    try:
        value = program.execute(probe_context(kind, term_lists))
    except KeyError:
        return []  # a map key the probe does not hold (event.attributes["x"]): fine at run time
    except TypeError as exc:
        return [(0, 0, 0, f"type error: {str(exc).split('.')[0]}")]
    except Exception as exc:  # RuntimeError for an unknown name the scan missed, ...
        return [(0, 0, 0, f"cannot evaluate: {str(exc).split('. ')[0]}")]
    if not isinstance(value, bool):
        return [(0, 0, 0, f"a condition must be true or false; this one gives {type(value).__name__}")]
    return []
