"""Broadcast state: the policies, recalls and actioned listings that every worker reads whole.

Policies arrive as documents on the compacted ``control.policies.v1`` topic
(``{"region", "version", "yaml", "published_at"}``); the ``yaml`` field is
always policy text, never a file name.  A document that cannot be applied for
any reason is refused with the reason (``riskstream_policy_rejected_total``
and an error log line); the running policy stays and the follower goes on.

The blast-radius guard (riskstream.stream.guard) publishes on the same topic,
keyed ``guard|<region>|<rule>`` so that compaction keeps the latest word per
rule beside each region's policy: ``{"kind": "blast_radius", "region",
"rule", "shadowed", ...}``.  Every worker applies it: the region's policy
runs with the shadowed rules in shadow mode (`with_rules_shadowed`) until a
record with ``shadowed: false`` (``riskstream policy reenable``) arrives; a
newly published policy keeps them shadowed.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson

from riskstream.decisions.blast_radius import with_rules_shadowed
from riskstream.detectors.base import Registry
from riskstream.engine import Engine
from riskstream.policy import PolicyError, load_policy
from riskstream.policy.load import iter_policy_files
from riskstream.policy.model import Policy
from riskstream.settings import Settings
from riskstream.stream import metrics as m

log = logging.getLogger("riskstream")


class PolicyRuntime:
    """The engine's active policies: from the policy files at start, then from the control topic."""

    def __init__(self, registry: Registry, engine: Engine) -> None:
        self.registry = registry
        self.engine = engine
        self._base: dict[str, Policy] = {}  # as published, before the guard's shadowing
        self.shadowed: dict[str, set[str]] = {}  # region -> rules the blast-radius guard holds in shadow

    def load_files(self, settings: Settings) -> None:
        for path in iter_policy_files(settings.policies.directory):
            policy = load_policy(path, self.registry)
            self._activate(policy)
            m.POLICY_VERSION.labels(policy.region, policy.version).set(1)

    def base_policy(self, region: str) -> Policy | None:
        """The region's policy as published (the guard's shadowing not applied)."""
        return self._base.get(region)

    def _activate(self, policy: Policy) -> None:
        self._base[policy.region] = policy
        rules = self.shadowed.get(policy.region)
        self.engine.set_policy(with_rules_shadowed(policy, sorted(rules)) if rules else policy)

    def apply_guard(self, doc: dict[str, Any]) -> str | None:
        """A blast-radius record: the rule runs in shadow for the region, or is re-enabled."""
        region, rule = doc.get("region"), doc.get("rule")
        if not isinstance(region, str) or not isinstance(rule, str) or not isinstance(doc.get("shadowed"), bool):
            return self._refuse(str(region)[:16], "not_a_document", "a blast_radius record needs region, rule, shadowed")
        rules = self.shadowed.setdefault(region, set())
        if doc["shadowed"]:
            if rule not in rules:
                log.warning("blast-radius guard: rule %s now in shadow for region %s (%s)", rule, region,
                            doc.get("trip"))
            rules.add(rule)
        elif rule in rules:
            rules.discard(rule)
            log.warning("blast-radius guard: rule %s re-enabled for region %s by %s", rule, region, doc.get("by"))
        m.GUARD_SHADOWED.labels(rule, m.region_label(region)).set(1 if doc["shadowed"] else 0)
        base = self._base.get(region)
        if base is not None:
            self._activate(base)
        return None

    def versions(self) -> dict[str, str]:
        return {r: p.version for r, p in self.engine.policies().items()}

    def apply_document(self, raw: bytes) -> str | None:
        """Apply a published policy document; return None, or why it was refused (old one stays)."""
        region = "?"
        try:
            doc: Any = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            return self._refuse(region, "bad_json", str(exc))
        if not isinstance(doc, dict):
            return self._refuse(region, "not_a_document", f"expected a JSON object, got {type(doc).__name__}")
        if doc.get("kind") == "blast_radius":
            return self.apply_guard(doc)
        region = str(doc.get("region", "?"))[:16]
        text = doc.get("yaml")
        if not isinstance(text, str):
            return self._refuse(region, "not_a_document", "the document has no 'yaml' text field")
        try:
            policy = load_policy(text, self.registry)  # a str is always YAML text, never a path
        except PolicyError as exc:
            return self._refuse(region, "invalid_policy", str(exc))
        except Exception as exc:  # a loader bug must not stop the follower either
            return self._refuse(region, "unreadable", f"{type(exc).__name__}: {exc}")
        if region not in ("?", policy.region):
            return self._refuse(region, "region_mismatch",
                                f"document keyed for region {region} holds a policy for {policy.region}")
        old = self._base.get(policy.region)
        if old is not None and old.version == policy.version and old == policy:
            return None
        self._activate(policy)
        if old is not None:
            m.POLICY_VERSION.remove(policy.region, old.version)
        m.POLICY_VERSION.labels(policy.region, policy.version).set(1)
        log.info("policy %s now at version %s", policy.region, policy.version)
        return None

    @staticmethod
    def _refuse(region: str, reason: str, detail: str) -> str:
        m.POLICY_REJECTED.labels(m.region_label(region), reason).inc()
        log.error("refused policy document for region %s (%s): %s", region, reason, detail[:2000])
        return reason
