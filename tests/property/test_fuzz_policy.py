"""Property-based fuzzing of the policy loader: any text in, a Policy or a PolicyError out.

Policies arrive as files and on the control topic, so the loader meets
hostile text too.  Hypothesis draws a compact valid policy (the US policy with
its term lists cut short), mutates it at a random path (delete, replace with
any JSON value, add an unknown key), and mixes in arbitrary text and
hostile YAML (aliases, deep nesting, tags, huge scalars).  The loader must
return a policy or raise PolicyError with at least one positioned issue;
nothing else.  Cases and the worst time per document are printed.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from riskstream.detectors.registry import default_registry
from riskstream.policy import PolicyError, load_policy
from riskstream.policy.model import Policy
from tests.paths import REPO
from tests.property.strategies import json_values

REGISTRY = default_registry()


def _compact(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: _compact(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_compact(v) for v in doc[:2]]
    return doc


BASE: dict[str, Any] = _compact(yaml.safe_load((REPO / "policies" / "us.yaml").read_text()))
BASE["effective_from"] = str(BASE["effective_from"])
# Three detectors (terms, categories, a stateful one) keep a document small: PyYAML is pure
# Python and parses ~40 KB/s, and the CI profile loads 10,000 documents.
BASE["detectors"] = {k: v for k, v in BASE["detectors"].items()
                     if k in ("prohibited_terms", "category_rules", "new_seller_burst")}
BASE["change_note"] = "fuzz base"


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


PATHS = [p for p in _paths(BASE) if p]


@st.composite
def documents(draw: st.DrawFn) -> tuple[str, str]:
    how = draw(st.sampled_from(["valid", "delete", "replace", "replace", "unknown_key", "text", "hostile_yaml"]))
    doc = copy.deepcopy(BASE)
    if how in ("delete", "replace", "unknown_key"):
        path = draw(st.sampled_from(PATHS))
        parent: Any = doc
        for step in path[:-1]:
            parent = parent[step]
        if how == "delete":
            del parent[path[-1]]
        elif how == "replace":
            parent[path[-1]] = draw(json_values())
        elif isinstance(parent, dict):
            parent["x_" + draw(st.text("abcxyz_", min_size=1, max_size=8))] = draw(json_values())
    if how == "text":
        return draw(st.text(max_size=300)), how
    if how == "hostile_yaml":
        depth = draw(st.integers(1, 5000))
        return draw(st.sampled_from([
            "[" * depth + "]" * depth,
            "{a: " * depth + "1" + "}" * depth,
            "a: &x [1, 2]\nb: [*x, *x]\n",
            "region: !!python/object/apply:os.system ['true']\n",
            "region: " + "A" * depth * 20 + "\n",
            "- " * depth + "x\n",
            "region: EU\n" * depth,
            "%YAML 1.1\n---\nregion: EU\n---\nregion: US\n",
            "\t" + "region: EU",
            "region: EU\nversion: 1e400\n",
        ])), how
    return orjson.dumps(doc).decode() if draw(st.booleans()) else yaml.safe_dump(doc, allow_unicode=True), how


@pytest.mark.timeout(1800)  # the CI profile: 10,000 documents
def test_policy_loader_returns_a_policy_or_a_positioned_error(capsys: Any) -> None:
    cases = {"policy": 0, "error": 0}
    worst = (0.0, "")

    @given(case=documents())
    def run(case: tuple[str, str]) -> None:
        nonlocal worst
        text, how = case
        started = time.perf_counter()
        try:
            policy = load_policy(text, REGISTRY)
        except PolicyError as exc:
            assert exc.errors and all(e.line >= 1 and e.col >= 1 and e.message for e in exc.errors)
            assert how != "valid", str(exc)
            cases["error"] += 1
        else:
            assert isinstance(policy, Policy)
            cases["policy"] += 1
        elapsed = time.perf_counter() - started
        if elapsed > worst[0]:
            worst = (elapsed, f"{how}, {len(text)} chars")

    run()
    with capsys.disabled():
        print(f"\n[fuzz] policy: {sum(cases.values())} documents, worst {worst[0] * 1e3:.1f} ms per document "
              f"({worst[1]}); loaded={cases['policy']}, refused={cases['error']}")
    assert cases["policy"] > 0 and cases["error"] > 0


@pytest.mark.parametrize("text", ["[" * 5000 + "]" * 5000, "{a: " * 3000 + "1" + "}" * 3000])
def test_deeply_nested_yaml_is_an_error_not_a_crash(text: str) -> None:
    with pytest.raises(PolicyError):
        load_policy(text, REGISTRY)
