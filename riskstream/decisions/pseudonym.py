"""Pseudonymous outputs: buyer, reviewer and account ids replaced by a keyed hash.

Detectors see real ids (a review farm is many *distinct* buyers); what leaves
the worker on an output topic does not.  `pseudonym` is HMAC-SHA256 keyed
with ``RISKSTREAM_PSEUDONYM_KEY``: the same id gives the same pseudonym on
every worker and every day (analysts can still count and join), and without
the key nobody can compute it from a guessed id, which a plain hash of a
short id would allow.  Sellers and creators stay in the clear: they are the
subjects of enforcement and of DSA statements of reasons.

>>> key = b"k" * 32
>>> pseudonym(key, "buyer-42") == pseudonym(key, "buyer-42") != pseudonym(b"other-key", "buyer-42")
True
>>> pseudonym(key, "buyer-42")
'ps_a6a34325ce79702dd7ddaa8ead383ee7'
>>> scrub_evidence({"buyer_ids": ["b1"], "terms": ["ivory"]}, key)["terms"]
['ivory']
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from typing import Any, Final, TypeVar

from riskstream.contracts import EnforcementAction, EntityType, IncidentCandidate, Signal

PREFIX: Final = "ps_"
# Evidence keys whose values are ids of people (a string or a list of strings).
PERSONAL_KEYS: Final = frozenset({
    "buyer_id", "buyer_ids", "reviewer_id", "reviewer_ids", "account_id", "account_ids",
})
# Entity types whose id is a person's account.
PERSONAL_ENTITIES: Final[frozenset[EntityType]] = frozenset({"buyer"})

R = TypeVar("R", Signal, EnforcementAction, IncidentCandidate)


def pseudonym(key: bytes, value: str) -> str:
    """The keyed pseudonym of one id (128 bits of HMAC-SHA256, hex)."""
    return PREFIX + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:32]


def _scrub(value: Any, key: bytes) -> Any:
    if isinstance(value, str):
        return pseudonym(key, value)
    if isinstance(value, list):
        return [_scrub(v, key) for v in value]
    return value


def scrub_evidence(evidence: Any, key: bytes) -> Any:
    """`evidence` with every personal id (see PERSONAL_KEYS) pseudonymised, at any depth."""
    if isinstance(evidence, dict):
        return {k: _scrub(v, key) if k in PERSONAL_KEYS else scrub_evidence(v, key) for k, v in evidence.items()}
    if isinstance(evidence, list):
        return [scrub_evidence(v, key) for v in evidence]
    return evidence


def pseudonymize(record: R, key: bytes) -> R:
    """An output record (signal, action, incident) fit for an output topic.

    >>> from riskstream.contracts import parse_time
    >>> s = Signal(detector="d", code="c", entity_type="buyer", entity_id="b1", region="DE", score=0.5,
    ...            event_id="e", event_time=parse_time("2026-01-01T00:00:00Z"), evidence={"buyer_ids": ["b1", "b2"]})
    >>> p = pseudonymize(s, b"k" * 32)
    >>> p.entity_id == p.evidence["buyer_ids"][0] != "b1"
    True
    """
    changes: dict[str, Any] = {"evidence": scrub_evidence(record.evidence, key)}
    if isinstance(record, Signal | EnforcementAction) and record.entity_type in PERSONAL_ENTITIES:
        changes["entity_id"] = pseudonym(key, record.entity_id)
    return dataclasses.replace(record, **changes)
