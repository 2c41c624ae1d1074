"""Regexes in policy params: catastrophic, invalid or oversized patterns are refused at their line."""

from __future__ import annotations

import time

import pytest

from riskstream.detectors.registry import default_registry
from riskstream.policy import PolicyError, check, load_policy
from riskstream.policy.regex_check import MAX_PATTERN_CHARS, pattern_problem

REGISTRY = default_registry()


@pytest.mark.parametrize(("pattern", "refused"), [
    (r"[A-Z]{2}-\d{6}", None),
    (r"^(?:LIC|PER)-\d{4,8}$", None),
    (r"(\d{3}-)*\d{4}", None),  # a fixed-length repeat inside a repeat: linear
    (r"\b(?:miracle|instant) cure\b", None),
    (r"(a+)+$", "nested quantifiers"),
    (r"(\w+\s?)*$", "nested quantifiers"),
    (r"(?:a|b+){2,}", "nested quantifiers"),
    (r"((ab)*c)+", "nested quantifiers"),
    (r"(?=(a*)*)x", "nested quantifiers"),  # inside a lookahead too
    (r"a{1,100000}", "repeat bound"),
    (r"(unclosed", "does not compile"),
    (r"[z-a]", "does not compile"),
    ("a" * (MAX_PATTERN_CHARS + 1), "characters; at most"),
])
def test_pattern_problem(pattern: str, refused: str | None) -> None:
    problem = pattern_problem(pattern)
    assert (problem is None) == (refused is None), problem
    if refused is not None:
        assert refused in (problem or "")


def test_refused_patterns_would_indeed_backtrack_catastrophically() -> None:
    # Why "nested quantifiers" is refused: the accepted shape stays linear, the refused one explodes.
    import re

    subject = "a" * 22 + "!"
    started = time.perf_counter()
    re.match(r"(a{1})*$", subject)
    fast = time.perf_counter() - started
    started = time.perf_counter()
    re.match(r"(a+)+$", subject)
    slow = time.perf_counter() - started
    assert slow > 20 * fast  # a ratio within one run, never an absolute time


POLICY = """\
region: US
version: "2026.11.1"
owner: tns
change_note: regex test
effective_from: 2026-11-01
detectors:
  mandatory_attributes:
    params:
      attribute_formats:
        licence_id: '{fmt}'
  category_rules:
    params:
      licence_pattern: '{lic}'
  health_claims:
    params:
      health_patterns:
        - 'cures? \\w+'
        - '{health}'
"""


def text(fmt: str = r"[A-Z]{2}\d{6}", lic: str = r"LIC-\d+", health: str = r"\d+ ?kg in \d+ days") -> str:
    return POLICY.format(fmt=fmt, lic=lic, health=health)


def test_good_patterns_load() -> None:
    policy = load_policy(text(), REGISTRY)
    assert policy.detectors["category_rules"].params.licence_pattern == r"LIC-\d+"


@pytest.mark.parametrize(("kwargs", "line", "where"), [
    ({"fmt": r"(\w+\s?)*$"}, 10, "detectors.mandatory_attributes.params.attribute_formats.licence_id"),
    ({"lic": "(unclosed"}, 13, "detectors.category_rules.params.licence_pattern"),
    ({"health": r"(a+)+"}, 18, "detectors.health_claims.params.health_patterns[1]"),
])
def test_bad_pattern_is_refused_at_its_line(kwargs: dict[str, str], line: int, where: str) -> None:
    policy, issues = check(text(**kwargs), REGISTRY, "us.yaml")
    assert policy is None
    (issue,) = [i for i in issues if i.severity == "error"]
    assert issue.line == line and where in issue.message and "regex refused" in issue.message
    assert str(issue).startswith(f"us.yaml:{line}:")
    with pytest.raises(PolicyError):
        load_policy(text(**kwargs), REGISTRY)
