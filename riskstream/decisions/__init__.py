"""The decision layer: signals in, enforcement actions, escalations and statements out.

>>> from riskstream.decisions import strongest
>>> strongest(["flag", "hold"])
'hold'
"""

from __future__ import annotations

from riskstream.decisions.decide import (
    ACTION_STRENGTH,
    decide,
    idempotency_key,
    risk_score,
    strongest,
    threshold_action,
)
from riskstream.decisions.dsa import NoStatement, statement_of_reasons
from riskstream.decisions.ledger import Escalation, Ledger, Violation, apply, subject_of
from riskstream.decisions.pseudonym import pseudonym, pseudonymize

__all__ = [
    "ACTION_STRENGTH",
    "Escalation",
    "Ledger",
    "NoStatement",
    "Violation",
    "apply",
    "decide",
    "idempotency_key",
    "pseudonym",
    "pseudonymize",
    "risk_score",
    "statement_of_reasons",
    "strongest",
    "subject_of",
    "threshold_action",
]
