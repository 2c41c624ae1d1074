"""Whether a listing's attributes prove a licence: shared by `category_rules` and `prohibited_terms`.

A licence is proven when one of the named attributes (names compared
case-folded) holds a non-empty value that, when a pattern is given, matches it
in full.

>>> check = LicenceCheck(("pharmacy_licence_id",), "[A-Z]{2}-[A-Z0-9-]{4,32}")
>>> check.problem({"Pharmacy_Licence_ID": " DE-APO-1234567 "}) is None
True
>>> check.problem({"colour": "red"})
('missing', {'required_any_of': ['pharmacy_licence_id']})
>>> check.problem({"pharmacy_licence_id": "pending"})
('invalid', {'values': {'pharmacy_licence_id': 'pending'}, 'pattern': '[A-Z]{2}-[A-Z0-9-]{4,32}'})
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final, Literal

LicenceProblem = Literal["missing", "invalid"]

MISSING: Final = "missing"
INVALID: Final = "invalid"


class LicenceCheck:
    """One licence requirement: any of `attributes`, non-empty, matching `pattern` in full ("" = any value)."""

    __slots__ = ("_keys", "_re", "attributes", "pattern")

    def __init__(self, attributes: Iterable[str], pattern: str = "") -> None:
        self.attributes = tuple(attributes)
        self.pattern = pattern
        self._keys = frozenset(a.casefold() for a in self.attributes)
        self._re = re.compile(pattern) if pattern else None

    def problem(self, attributes: Mapping[str, str]) -> tuple[LicenceProblem, dict[str, Any]] | None:
        """None when `attributes` prove the licence; else ("missing" | "invalid", evidence)."""
        values = {k: v.strip() for k, v in attributes.items() if k.casefold() in self._keys and v.strip()}
        if not values:
            return MISSING, {"required_any_of": list(self.attributes)}
        if self._re is not None and not any(self._re.fullmatch(v) for v in values.values()):
            return INVALID, {"values": values, "pattern": self.pattern}
        return None
