"""Load and validate policy files, reporting every problem with its exact line.

The YAML is composed into nodes (not straight into Python objects) so that
every mapping key and value keeps its ``line:column``.  The document is then
checked three ways, and ALL problems are collected before anything fails:

1. against the JSON Schema generated from the model and the registry
   (``policy_schema``; the same schema ``write_schema`` writes to
   ``policies/schema.json``), with each detector's ``params`` validated
   against that detector's own ``Params``;
2. by semantic checks a schema cannot express (thresholds ordered, action
   keys are codes the detector emits, every EU restriction has a legal
   ground, ...);
3. by converting each detector's params into its ``Params`` class with
   ``msgspec.convert`` (unknown param, wrong type).

Each problem is a ``PolicyIssue`` printed as ``file:line:col: message``.

>>> from riskstream.detectors.base import Registry
>>> from riskstream.detectors.prohibited_terms import ProhibitedTermsDetector
>>> reg = Registry.with_detectors(ProhibitedTermsDetector)
>>> text = '''
... region: EU
... version: "2026.11.1"
... owner: tns-eu
... change_note: example
... effective_from: 2026-11-01
... detectors:
...   prohibited_terms:
...     params: {prohibited: [ivory], min_squashed: "six"}
...     actions: {prohibited_item: ban}
... '''
>>> try:
...     load_policy(text, reg)
... except PolicyError as err:
...     print(err)
<text>:9:49: detectors.prohibited_terms.params.min_squashed: expected integer, got string 'six'
<text>:10:32: detectors.prohibited_terms.actions.prohibited_item: unknown action 'ban'; expected one of allow, flag, hold, remove, restrict_seller, demote_content, strike
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final, Literal

import jsonschema
import msgspec
import yaml

from riskstream.detectors.base import Registry
from riskstream.policy.model import (
    ACTION_KINDS,
    DetectorPolicy,
    Policy,
    declared_codes,
    inferred_codes,
)
from riskstream.regions import REGIONS

JsonPath = tuple[str | int, ...]
Severity = Literal["error", "warning"]

SCHEMA_ID: Final = "https://riskstream.example/policies/schema.json"
_RESTRICTIVE: Final = frozenset(ACTION_KINDS) - {"allow", "flag"}


@dataclasses.dataclass(frozen=True, slots=True)
class PolicyIssue:
    """One problem in a policy file, at a 1-based line and column."""

    file: str
    line: int
    col: int
    message: str
    severity: Severity = "error"
    path: JsonPath = ()

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.col}: {prefix}{self.message}"


class PolicyError(ValueError):
    """A policy file that cannot be loaded; ``errors`` lists every problem."""

    def __init__(self, errors: list[PolicyIssue]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


# --------------------------------------------------------------------------- YAML with positions


@dataclasses.dataclass(frozen=True, slots=True)
class _Doc:
    data: Any
    keys: dict[JsonPath, tuple[int, int]]
    values: dict[JsonPath, tuple[int, int]]
    scalars: dict[JsonPath, tuple[int, int, str | None]] = dataclasses.field(default_factory=dict)
    """Per string scalar: start and end index in the text and the YAML style (to place rule errors)."""
    text: str = ""

    def where(self, path: JsonPath, *, prefer_key: bool = True) -> tuple[int, int]:
        """Position of ``path``: its key if it has one, else its value; else the nearest parent."""
        p = path
        while True:
            if prefer_key and p in self.keys:
                return self.keys[p]
            if p in self.values:
                return self.values[p]
            if p in self.keys:
                return self.keys[p]
            if not p:
                return (1, 1)
            p = p[:-1]


_SCALARS: Final = yaml.SafeLoader("")


def _pos(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _scalar(node: yaml.ScalarNode) -> Any:
    if node.tag == "tag:yaml.org,2002:timestamp":
        # Dates stay strings, as they would be in JSON; the model parses them.
        return node.value
    try:
        return _SCALARS.construct_object(node, deep=True)
    except (ValueError, yaml.constructor.ConstructorError):
        # "2026.11.1" resolves as a YAML float but is not one: keep the text.
        return node.value


def _build(
    node: yaml.Node, path: JsonPath, doc: _Doc, issues: list[tuple[JsonPath, str, tuple[int, int]]]
) -> Any:
    doc.values[path] = _pos(node)
    if len(path) > MAX_POLICY_DEPTH and not isinstance(node, yaml.ScalarNode):
        issues.append((path, f"nested more than {MAX_POLICY_DEPTH} levels deep", _pos(node)))
        return None
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                # A policy is JSON-shaped: keys are strings.  `on:`/`yes:` become
                # booleans in YAML 1.1, a classic trap worth naming.
                issues.append((path, f"key {key_node.value!r} must be a string (quote it)", _pos(key_node)))
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            if key in out:
                issues.append(((*path, key), f"duplicate key {key!r}", _pos(key_node)))
            doc.keys[(*path, key)] = _pos(key_node)
            out[key] = _build(value_node, (*path, key), doc, issues)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), doc, issues) for i, item in enumerate(node.value)]
    assert isinstance(node, yaml.ScalarNode)
    doc.scalars[path] = (node.start_mark.index, node.end_mark.index, node.style)
    return _scalar(node)


# A policy also arrives on the control topic, so its size is bounded and YAML
# aliases are refused: nine nested aliases of nine items ("billion laughs")
# expand to 531,441 nodes and took 15 s to walk.  Policy files use neither.
MAX_POLICY_BYTES: Final = 128 << 10  # 7x the largest policy (eu.yaml, 18 KB); PyYAML parses ~40 KB/s
MAX_POLICY_DEPTH: Final = 32  # the deepest real path is detectors.<id>.params.<name>.<key>[i]


_NOT_BRACKET: Final = re.compile(r"[^\[\]{}]+")


def _bracket_depth(text: str) -> int:
    """Deepest nesting of flow brackets, quotes ignored (an over-estimate is harmless at this bound)."""
    depth = deepest = 0
    for ch in _NOT_BRACKET.sub("", text):
        depth = depth + 1 if ch in "[{" else max(0, depth - 1)
        deepest = max(deepest, depth)
    return deepest


def _refuse_hostile(text: str, filename: str) -> PolicyIssue | None:
    if len(text) > MAX_POLICY_BYTES:
        return PolicyIssue(filename, 1, 1, f"policy file too large: {len(text)} characters > {MAX_POLICY_BYTES}")
    # PyYAML's scanner is quadratic in flow nesting: 1,600 "[" took 7.5 s.
    if (depth := _bracket_depth(text)) > 2 * MAX_POLICY_DEPTH:
        return PolicyIssue(filename, 1, 1, f"invalid YAML: [ and {{ nested {depth} levels deep "
                                           f"(at most {2 * MAX_POLICY_DEPTH})")
    if "*" not in text:
        return None
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.AliasEvent):
                mark = event.start_mark
                line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
                return PolicyIssue(filename, line, col,
                                   f"YAML alias *{event.anchor} is not allowed in a policy file")
    except yaml.YAMLError:
        return None  # reported with its position by the composer below
    return None


def _parse(text: str, filename: str) -> tuple[_Doc | None, list[PolicyIssue]]:
    hostile = _refuse_hostile(text, filename)
    if hostile is not None:
        return None, [hostile]
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:  # PyYAML's composer recurses per nesting level
        return None, [PolicyIssue(filename, 1, 1, "invalid YAML: nested too deeply")]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
        msg = f"invalid YAML: {exc.problem or exc}"
        if exc.context and exc.context_mark is not None and exc.context_mark is not mark:
            msg += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return None, [PolicyIssue(filename, line, col, msg)]
    except yaml.YAMLError as exc:
        return None, [PolicyIssue(filename, 1, 1, f"invalid YAML: {exc}")]
    if root is None:
        return None, [PolicyIssue(filename, 1, 1, "empty policy file")]
    doc = _Doc(None, {}, {}, {}, text)
    raw: list[tuple[JsonPath, str, tuple[int, int]]] = []
    data = _build(root, (), doc, raw)
    issues = [PolicyIssue(filename, line, col, msg, path=p) for p, msg, (line, col) in raw]
    if not isinstance(data, dict):
        issues.append(PolicyIssue(filename, *_pos(root), "a policy file must be a mapping"))
    return _Doc(data, doc.keys, doc.values, doc.scalars, text), issues


# --------------------------------------------------------------------------- schema


def _close_objects(schema: Any) -> None:
    """Forbid unknown fields in every object schema that lists its properties."""
    if isinstance(schema, dict):
        if schema.get("type") == "object" and "properties" in schema:
            schema.setdefault("additionalProperties", False)
        for value in schema.values():
            _close_objects(value)
    elif isinstance(schema, list):
        for value in schema:
            _close_objects(value)


def _params_schema(det_id: str, params_cls: type[Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema of one detector's Params, its $defs prefixed by the detector id."""
    prefix = f"{det_id}."
    (ref,), defs = msgspec.json.schema_components(
        [params_cls], ref_template="#/$defs/" + prefix + "{name}"
    )
    defs = {prefix + name: d for name, d in defs.items()}
    _close_objects(defs)
    return ref, defs


def policy_schema(registry: Registry) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy file for this registry's detectors."""
    (root_ref,), defs = msgspec.json.schema_components([Policy], ref_template="#/$defs/{name}")
    _close_objects(defs)
    generic = defs.pop("DetectorPolicy")
    detectors: dict[str, Any] = {}
    for det_id in registry.names():
        params_ref, params_defs = _params_schema(det_id, registry.get(det_id).Params)
        defs.update(params_defs)
        variant = copy.deepcopy(generic)
        variant["title"] = f"DetectorPolicy[{det_id}]"
        variant["properties"]["params"] = {**params_ref, "default": {}}
        defs[f"detector.{det_id}"] = variant
        detectors[det_id] = {"$ref": f"#/$defs/detector.{det_id}"}
    defs["Policy"]["properties"]["detectors"] = {
        "type": "object",
        "properties": detectors,
        "additionalProperties": False,
    }
    # Regions come from riskstream.regions, the single list of them.
    defs["Policy"]["properties"]["region"] = {"enum": sorted(REGIONS)}
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "riskstream region policy",
        **root_ref,
        "$defs": dict(sorted(defs.items())),
    }
    # Through JSON once, so the result equals what write_schema writes (tuples -> lists).
    out: dict[str, Any] = json.loads(json.dumps(schema))
    return out


@functools.lru_cache(maxsize=8)
def _cached_schema(detectors: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """The schema is a pure function of the registry and costs ~0.2 s to build: once per registry."""
    return policy_schema(Registry(dict(detectors)))


def write_schema(registry: Registry, path: str | Path) -> dict[str, Any]:
    """Write ``policy_schema(registry)`` as stable, sorted JSON; return it."""
    schema = policy_schema(registry)
    Path(path).write_text(json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return schema


def _dotted(path: Iterable[str | int]) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "<root>"


_JSON_TYPES: Final = {
    bool: "boolean", int: "integer", float: "number", str: "string",
    list: "array", dict: "mapping", type(None): "null",
}


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _schema_issues(doc: _Doc, schema: dict[str, Any], registry: Registry, filename: str) -> list[PolicyIssue]:
    validator = jsonschema.Draft202012Validator(schema)
    out: list[PolicyIssue] = []
    for err in validator.iter_errors(doc.data):
        path: JsonPath = tuple(err.absolute_path)
        where = _dotted(path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            allowed = set(err.schema.get("properties", {}))
            for extra in sorted(k for k in err.instance if k not in allowed):
                if path == ("detectors",):
                    msg = f"unknown detector {extra!r}; known: {', '.join(registry.names()) or '(none)'}"
                elif len(path) == 3 and path[0] == "detectors" and path[2] == "params":
                    msg = (f"unknown param {extra!r} for detector {path[1]!r}; "
                           f"known: {', '.join(sorted(allowed)) or '(none)'}")
                else:
                    msg = f"{where}: unknown field {extra!r}; expected one of {', '.join(sorted(allowed))}"
                line, col = doc.where((*path, extra))
                out.append(PolicyIssue(filename, line, col, msg, path=(*path, extra)))
            continue
        if err.validator == "required":
            missing = re.findall(r"'([^']+)' is a required property", err.message)
            msg = f"{where}: missing required field {missing[0]!r}" if missing else f"{where}: {err.message}"
            line, col = doc.where(path)
        elif err.validator == "type":
            expected = err.validator_value
            expected_s = " or ".join(expected) if isinstance(expected, list) else str(expected)
            msg = f"{where}: expected {expected_s}, got {_json_type(err.instance)} {err.instance!r}"
            line, col = doc.where(path, prefer_key=False)
        elif err.validator == "enum" and len(path) == 4 and path[0] == "detectors" and path[2] == "actions":
            msg = f"{where}: unknown action {err.instance!r}; expected one of {', '.join(ACTION_KINDS)}"
            line, col = doc.where(path, prefer_key=False)
        elif err.validator == "enum":
            choices = ", ".join(str(v) for v in err.validator_value)
            msg = f"{where}: {err.instance!r} is not one of {choices}"
            line, col = doc.where(path, prefer_key=False)
        elif err.validator == "pattern" and path == ("version",):
            msg = f"version {err.instance!r} must look like YEAR.MONTH.SEQUENCE, e.g. '2026.11.1'"
            line, col = doc.where(path, prefer_key=False)
        else:
            msg = f"{where}: {err.message}"
            line, col = doc.where(path, prefer_key=False)
        out.append(PolicyIssue(filename, line, col, msg, path=path))
    return out


# --------------------------------------------------------------------------- semantic checks


def _semantic_issues(doc: _Doc, registry: Registry, filename: str) -> list[PolicyIssue]:
    data = doc.data
    out: list[PolicyIssue] = []

    def issue(path: JsonPath, msg: str, severity: Severity = "error", *, key: bool = True) -> None:
        line, col = doc.where(path, prefer_key=key)
        out.append(PolicyIssue(filename, line, col, msg, severity, path))

    def ordered(path: JsonPath, names: tuple[str, ...]) -> None:
        block = _get(data, path)
        if not isinstance(block, dict):
            return
        values = [(n, float(v)) for n in names if isinstance(v := block.get(n), (int, float))]
        for (a, va), (b, vb) in itertools.pairwise(values):
            if not va < vb:
                issue((*path, b), f"{_dotted(path)}: {b} ({vb}) must be greater than {a} ({va})")

    ordered(("decision",), ("flag", "hold", "remove"))
    for subject in ("seller", "creator"):
        ordered(("enforcement", subject), ("warning", "restriction", "suspension"))

    points = _get(data, ("enforcement", "points"))
    if isinstance(points, dict):
        for kind in points:
            if kind not in ACTION_KINDS:
                issue(("enforcement", "points", kind),
                      f"enforcement.points: {kind!r} is not an action kind; expected one of "
                      f"{', '.join(ACTION_KINDS)}")

    detectors = data.get("detectors")
    emitted: set[str] = set()
    restrictive: set[str] = set()
    if isinstance(detectors, dict):
        for det_id, rule in detectors.items():
            if det_id not in registry.detectors or not isinstance(rule, dict):
                continue
            actions = rule.get("actions")
            if not isinstance(actions, dict):
                continue
            cls = registry.get(det_id)
            declared = declared_codes(cls)
            known = declared if declared is not None else inferred_codes(cls)
            for code, action in actions.items():
                emitted.add(code)
                # the schema reports a non-string action; here it must not crash the check
                if isinstance(action, str) and action in _RESTRICTIVE and rule.get("enabled", True) is not False:
                    restrictive.add(code)
                path = ("detectors", det_id, "actions", code)
                if declared is not None and code not in declared:
                    issue(path, f"detector {det_id!r} does not emit code {code!r}; it emits "
                                f"{', '.join(sorted(declared)) or '(nothing)'}")
                elif declared is None and known and code not in known:
                    issue(path, f"detector {det_id!r} does not declare its codes and {code!r} is not "
                                f"among the codes it seems to emit ({', '.join(sorted(known))})", "warning")

    for term_path, msg in _licensed_terms_problems(detectors):
        issue(term_path, msg, "warning", key=False)

    rules = data.get("rules")
    for rule in (rules.values() if isinstance(rules, dict) else ()):
        if isinstance(rule, dict) and isinstance(rule.get("reason"), str):
            emitted.add(rule["reason"])
    legal = data.get("legal")
    legal = legal if isinstance(legal, dict) else {}
    if data.get("region") == "EU":
        # A restriction in the EU needs a statement of reasons (DSA art. 17),
        # and a statement needs a ground.
        for code in sorted(restrictive - set(legal)):
            paths = [("detectors", d, "actions", code) for d in (detectors or {})
                     if isinstance(detectors[d], dict) and isinstance(detectors[d].get("actions"), dict)
                     and code in detectors[d]["actions"]]
            issue(paths[0], f"code {code!r} leads to a restriction but has no entry under legal: "
                            "an EU statement of reasons needs its ground")
    for code in legal:
        if emitted and code not in emitted:
            issue(("legal", code), f"legal entry {code!r} is not mapped by any detector's actions",
                  "warning")
    return out


def _licensed_terms_problems(detectors: Any) -> Iterator[tuple[JsonPath, str]]:
    """`prohibited_terms`' licence groups: a term also in `prohibited` or `restricted` is never cleared.

    (The schema checks each group's shape; `regex_check` its pattern.)  Terms are
    compared as the detector matches them, normalised.
    """
    from riskstream.detectors.text import normalize

    params = _get(detectors, ("prohibited_terms", "params"))
    groups = params.get("licensed_terms") if isinstance(params, dict) else None
    if not isinstance(groups, list):
        return
    lists = {name: {normalize(t) for t in terms if isinstance(t, str)}
             for name in ("prohibited", "restricted") if isinstance(terms := params.get(name), list)}
    for i, group in enumerate(groups):
        terms = group.get("terms") if isinstance(group, dict) else None
        for k, term in enumerate(terms if isinstance(terms, list) else ()):
            if not isinstance(term, str):
                continue
            for name, listed in lists.items():
                if normalize(term) in listed:
                    yield (("detectors", "prohibited_terms", "params", "licensed_terms", i, "terms", k),
                           f"detectors.prohibited_terms.params.licensed_terms[{i}].terms[{k}]: {term!r} is also "
                           f"in {name}, so no licence clears it; list it in one place")


# --------------------------------------------------------------------------- rules


def _in_scalar(doc: _Doc, path: JsonPath, offset: int) -> tuple[int, int]:
    """File line:col of character ``offset`` of the string scalar at ``path``.

    Plain, quoted and folded scalars join their source lines with one space,
    a literal block (``|``) with a newline; escapes in quoted scalars are not
    unfolded (a position after one is off by the escape's length).
    """
    span = doc.scalars.get(path)
    if span is None:
        return doc.where(path, prefer_key=False)
    start, end, style = span
    src = doc.text[start:end]
    line0 = doc.text.count("\n", 0, start) + 1
    col0 = start - (doc.text.rfind("\n", 0, start) + 1) + 1
    segments: list[tuple[int, int, str]] = []  # (line, col of first char, text)
    lines = src.split("\n")
    if style in ("|", ">"):
        body = lines[1:]
        indent = min((len(x) - len(x.lstrip(" ")) for x in body if x.strip()), default=0)
        for k, x in enumerate(body):
            if x.strip():
                segments.append((line0 + 1 + k, indent + 1, x[indent:]))
    else:
        skip = 1 if style in ('"', "'") else 0
        for k, x in enumerate(lines):
            if k == 0:
                segments.append((line0, col0 + skip, x[skip:]))
            else:
                stripped = x.lstrip(" \t")
                if stripped:
                    segments.append((line0 + k, len(x) - len(stripped) + 1, stripped))
    pos = 0
    for line, col, text in segments:
        if offset <= pos + len(text):
            return line, col + max(0, offset - pos)
        pos += len(text) + 1
    return segments[-1][0] if segments else line0, col0


def _rule_issues(doc: _Doc, filename: str) -> list[PolicyIssue]:
    """Each rule's condition compiled and checked; scopes and EU grounds; every problem at its place."""
    from riskstream.policy.rules import condition_problems

    data = doc.data
    rules = data.get("rules")
    if not isinstance(rules, dict):
        return []
    out: list[PolicyIssue] = []
    region = data.get("region")
    countries = REGIONS.get(region, frozenset()) if isinstance(region, str) else frozenset()
    term_lists = data.get("term_lists")
    names = sorted(term_lists) if isinstance(term_lists, dict) else []
    legal = data.get("legal") if isinstance(data.get("legal"), dict) else {}
    for rid, rule in rules.items():
        base: JsonPath = ("rules", rid)
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", rid):
            line, col = doc.where(base)
            out.append(PolicyIssue(filename, line, col, f"rule id {rid!r} must be lower_snake_case "
                                                        "(it is a metric label)", path=base))
        if not isinstance(rule, dict):
            continue
        kind = rule.get("kind", "listing")
        cond = rule.get("condition")
        if isinstance(cond, str) and cond.strip() and kind in ("listing", "review", "content"):
            for line, col, offset, msg in condition_problems(cond, kind, names):
                if offset is None:  # CEL's own line:col inside the condition
                    offset = sum(len(x) + 1 for x in cond.split("\n")[: line - 1]) + col - 1
                fl, fc = _in_scalar(doc, (*base, "condition"), offset)
                out.append(PolicyIssue(filename, fl, fc, f"rules.{rid}.condition: {msg}",
                                       path=(*base, "condition")))
        scope = rule.get("countries")
        if isinstance(scope, list) and countries:
            for k, c in enumerate(scope):
                if isinstance(c, str) and c not in countries:
                    line, col = doc.where((*base, "countries", k), prefer_key=False)
                    out.append(PolicyIssue(filename, line, col, f"rules.{rid}.countries: {c!r} is not in "
                                                                f"region {region}", path=(*base, "countries", k)))
        action, reason = rule.get("action"), rule.get("reason")
        if (region == "EU" and action in _RESTRICTIVE and rule.get("enabled", True) is not False
                and rule.get("legal") is None and reason not in legal):
            line, col = doc.where((*base, "action"))
            out.append(PolicyIssue(filename, line, col,
                                   f"rules.{rid}: action {action!r} restricts in the EU but neither the rule "
                                   f"nor legal.{reason} gives its ground (a statement of reasons needs one)",
                                   path=(*base, "action")))
        if isinstance(rule.get("legal"), dict) and isinstance(legal.get(reason), dict) \
                and rule["legal"] != legal[reason]:
            line, col = doc.where((*base, "legal"))
            out.append(PolicyIssue(filename, line, col, f"rules.{rid}.legal differs from legal.{reason}: "
                                                        "one reason code has one ground", path=(*base, "legal")))
    return out


def _regex_issues(doc: _Doc, filename: str) -> list[PolicyIssue]:
    """Every pattern a detector would compile from its params, checked (riskstream.policy.regex_check)."""
    from riskstream.policy.regex_check import pattern_problem, patterns_in

    detectors = doc.data.get("detectors")
    out: list[PolicyIssue] = []
    for det_id, rule in (detectors.items() if isinstance(detectors, dict) else ()):
        params = rule.get("params") if isinstance(rule, dict) else None
        for sub, pattern in patterns_in(str(det_id), params):
            problem = pattern_problem(pattern)
            if problem is not None:
                path: JsonPath = ("detectors", det_id, "params", *sub)
                line, col = doc.where(path, prefer_key=False)
                out.append(PolicyIssue(filename, line, col, f"{_dotted(path)}: regex refused: {problem}", path=path))
    return out


def _get(data: Any, path: JsonPath) -> Any:
    for p in path:
        if isinstance(data, dict) and isinstance(p, str):
            data = data.get(p)
        elif isinstance(data, list) and isinstance(p, int) and p < len(data):
            data = data[p]
        else:
            return None
    return data


# --------------------------------------------------------------------------- conversion


_MSGSPEC_PATH: Final = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)


def _msgspec_path(text: str) -> tuple[str, JsonPath]:
    m = _MSGSPEC_PATH.match(text)
    assert m is not None
    path: list[str | int] = []
    for name, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", m.group("path") or ""):
        path.append(int(index) if index else name)
    return m.group("msg"), tuple(path)


def _convert(doc: _Doc, registry: Registry, filename: str) -> tuple[Policy | None, list[PolicyIssue]]:
    out: list[PolicyIssue] = []
    data = dict(doc.data)
    rules: dict[str, DetectorPolicy] = {}
    detectors = data.pop("detectors", None) or {}
    for det_id, raw in detectors.items():
        base: JsonPath = ("detectors", det_id)
        params_cls = registry.get(det_id).Params
        raw_params = raw.get("params") or {}
        unknown = set(raw_params) - {f.name for f in dataclasses.fields(params_cls)} \
            if dataclasses.is_dataclass(params_cls) else set()
        for name in sorted(unknown):  # msgspec ignores unknown dataclass fields; we do not
            line, col = doc.where((*base, "params", name))
            out.append(PolicyIssue(filename, line, col, f"unknown param {name!r} for detector {det_id!r}"))
        try:
            params = msgspec.convert(raw_params, params_cls)
            rule = msgspec.convert({**raw, "params": None}, DetectorPolicy)
        except msgspec.ValidationError as exc:
            msg, sub = _msgspec_path(str(exc))
            path = (*base, "params", *sub) if "params" in raw else base + sub
            line, col = doc.where(path, prefer_key=False)
            out.append(PolicyIssue(filename, line, col, f"{_dotted(path)}: {msg}", path=path))
            continue
        rules[det_id] = dataclasses.replace(rule, params=params)
    try:
        policy = msgspec.convert({**data, "detectors": {}}, Policy)
    except msgspec.ValidationError as exc:
        msg, path = _msgspec_path(str(exc))
        line, col = doc.where(path, prefer_key=False)
        out.append(PolicyIssue(filename, line, col, f"{_dotted(path)}: {msg}", path=path))
        return None, out
    if out:
        return None, out
    # A rule's own legal ground becomes its reason code's (the statement of reasons looks there).
    legal = {**{r.reason: r.legal for r in policy.rules.values() if r.legal is not None}, **policy.legal}
    return dataclasses.replace(policy, detectors=rules, legal=legal), out


# --------------------------------------------------------------------------- API


def _read(source: str | Path) -> tuple[str, str]:
    """A ``Path`` is a file to read; a ``str`` is always YAML text, never a file name.

    (A policy document published on the control topic is text: a one-line
    document ending in ``.yaml`` must not make every worker read a local file.)
    """
    if isinstance(source, Path):
        try:
            return source.read_text(encoding="utf-8"), str(source)
        except (OSError, UnicodeDecodeError) as exc:
            raise PolicyError([PolicyIssue(str(source), 1, 1, f"cannot read policy file: {exc}")]) from exc
    return source, "<text>"


def check(text: str, registry: Registry, filename: str = "<text>") -> tuple[Policy | None, list[PolicyIssue]]:
    """Validate YAML text; return the policy (None if any error) and every issue, by line."""
    doc, issues = _parse(text, filename)
    if doc is None or not isinstance(doc.data, dict):
        return None, issues
    issues += _schema_issues(doc, _cached_schema(tuple(sorted(registry.detectors.items()))), registry, filename)
    issues += _semantic_issues(doc, registry, filename)
    issues += _rule_issues(doc, filename)
    issues += _regex_issues(doc, filename)
    policy: Policy | None = None
    if not any(i.severity == "error" for i in issues):
        policy, more = _convert(doc, registry, filename)
        issues += more
    return policy, _unique_sorted(issues)


def _unique_sorted(issues: list[PolicyIssue]) -> list[PolicyIssue]:
    seen: dict[tuple[int, int, str], PolicyIssue] = {}
    for i in issues:
        seen.setdefault((i.line, i.col, i.message), i)
    return sorted(seen.values(), key=lambda i: (i.line, i.col, i.message))


def load_policy(path_or_text: str | Path, registry: Registry) -> Policy:
    """Load a policy; raise ``PolicyError`` listing every error (warnings are not fatal)."""
    text, filename = _read(path_or_text)
    policy, issues = check(text, registry, filename)
    errors = [i for i in issues if i.severity == "error"]
    if errors or policy is None:
        raise PolicyError(errors)
    return policy


def validate_file(path: str | Path, registry: Registry) -> list[PolicyIssue]:
    """Every error and warning in a policy file, sorted by line; empty when clean."""
    text = Path(path).read_text(encoding="utf-8")
    return check(text, registry, str(path))[1]


def iter_policy_files(folder: str | Path) -> Iterator[Path]:
    """The region policy files in a folder (``*.yaml``), in name order."""
    yield from sorted(Path(folder).glob("*.yaml"))
