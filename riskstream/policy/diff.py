"""What changed between two versions of a policy, in sentences a reviewer reads.

>>> from datetime import date
>>> from riskstream.policy.model import DetectorPolicy, Policy
>>> from riskstream.detectors.prohibited_terms import ProhibitedTermsParams
>>> def pol(version, mode, terms):
...     return Policy(region="EU", version=version, owner="tns", change_note="", effective_from=date(2026, 11, 1),
...         detectors={"prohibited_terms": DetectorPolicy(mode=mode,
...             params=ProhibitedTermsParams(prohibited=terms))})
>>> for line in diff_policies(pol("2026.11.1", "shadow", ("ivory",)),
...                           pol("2026.11.2", "enforced", ("ivory", "rhino horn"))):
...     print(line)
version: 2026.11.1 -> 2026.11.2
prohibited_terms: mode shadow -> enforced
prohibited_terms.params.prohibited: +1 term (added: 'rhino horn')
"""

from __future__ import annotations

from typing import Any

import msgspec

from riskstream.policy.model import DetectorPolicy, Policy


def _plain(value: Any) -> Any:
    """JSON-like form: dataclasses to dicts, tuples to lists, sets to sorted lists."""
    return _lists(msgspec.to_builtins(value, order="sorted"))


def _lists(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_lists(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_lists(v) for v in value)
    return value


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _list_change(where: str, old: list[Any], new: list[Any]) -> str:
    added = [v for v in new if v not in old]
    removed = [v for v in old if v not in new]
    if not added and not removed:
        return f"{where}: reordered"
    parts = []
    if added:
        parts.append(f"added: {', '.join(_fmt(v) for v in added)}")
    if removed:
        parts.append(f"removed: {', '.join(_fmt(v) for v in removed)}")
    net = len(added) - len(removed)
    noun = "term" if abs(net) == 1 else "terms"
    return f"{where}: {net:+d} {noun} ({'; '.join(parts)})"


def _diff_values(where: str, old: Any, new: Any, out: list[str]) -> None:
    """Recursive comparison of plain (JSON-like) values."""
    if old == new:
        return
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            sub = f"{where}.{key}" if where else str(key)
            if key not in old:
                out.append(f"{sub}: added {_fmt(new[key])}")
            elif key not in new:
                out.append(f"{sub}: removed (was {_fmt(old[key])})")
            else:
                _diff_values(sub, old[key], new[key], out)
        return
    if isinstance(old, list) and isinstance(new, list):
        out.append(_list_change(where, old, new))
        return
    out.append(f"{where}: {_fmt(old)} -> {_fmt(new)}")


def _diff_detector(det_id: str, old: DetectorPolicy, new: DetectorPolicy, out: list[str]) -> None:
    if old.enabled != new.enabled:
        out.append(f"{det_id}: {'enabled' if new.enabled else 'disabled'}")
    if old.mode != new.mode:
        out.append(f"{det_id}: mode {old.mode} -> {new.mode}")
    if old.weight != new.weight:
        out.append(f"{det_id}: weight {old.weight} -> {new.weight}")
    _diff_values(f"{det_id}.params", _plain(old.params) or {}, _plain(new.params) or {}, out)
    for code in sorted(set(old.actions) | set(new.actions)):
        before, after = old.actions.get(code), new.actions.get(code)
        if before == after:
            continue
        if before is None:
            out.append(f"{det_id}.actions.{code}: added -> {after}")
        elif after is None:
            out.append(f"{det_id}.actions.{code}: removed (was {before})")
        else:
            out.append(f"{det_id}.actions.{code}: {before} -> {after}")


def diff_policies(old: Policy, new: Policy) -> list[str]:
    """Human-readable changes from ``old`` to ``new``; empty when they are the same."""
    out: list[str] = []
    for field in ("region", "version", "owner", "effective_from"):
        a, b = getattr(old, field), getattr(new, field)
        if a != b:
            out.append(f"{field}: {a} -> {b}")
    for det_id in sorted(set(old.detectors) - set(new.detectors)):
        out.append(f"detector removed: {det_id}")
    for det_id in sorted(set(new.detectors) - set(old.detectors)):
        rule = new.detectors[det_id]
        state = "enabled" if rule.enabled else "disabled"
        out.append(f"detector added: {det_id} ({state}, {rule.mode})")
    for det_id in sorted(set(old.detectors) & set(new.detectors)):
        _diff_detector(det_id, old.detectors[det_id], new.detectors[det_id], out)
    _diff_values("decision", _plain(old.decision), _plain(new.decision), out)
    _diff_values("enforcement", _plain(old.enforcement), _plain(new.enforcement), out)
    _diff_values("legal", _plain(old.legal), _plain(new.legal), out)
    _diff_values("term_lists", _plain(old.term_lists), _plain(new.term_lists), out)
    for rid in sorted(set(old.rules) - set(new.rules)):
        out.append(f"rule removed: {rid}")
    for rid in sorted(set(new.rules) - set(old.rules)):
        r = new.rules[rid]
        out.append(f"rule added: {rid} ({r.mode}{'' if r.enabled else ', disabled'}, {r.kind}, "
                   f"{r.reason} -> {r.action}): {r.condition}")
    for rid in sorted(set(old.rules) & set(new.rules)):
        a, b = old.rules[rid], new.rules[rid]
        if a.mode != b.mode:
            out.append(f"rule {rid}: mode {a.mode} -> {b.mode}")
        if a.enabled != b.enabled:
            out.append(f"rule {rid}: {'enabled' if b.enabled else 'disabled'}")
        if a.condition != b.condition:
            out.append(f"rule {rid}: condition {a.condition!r} -> {b.condition!r}")
        _diff_values(f"rule {rid}", {k: v for k, v in _plain(a).items() if k not in ("mode", "enabled", "condition")},
                     {k: v for k, v in _plain(b).items() if k not in ("mode", "enabled", "condition")}, out)
    return out
