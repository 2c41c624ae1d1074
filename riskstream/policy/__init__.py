"""Policies as data: per-region YAML files, validated with exact line numbers.

>>> from riskstream.detectors.base import Registry
>>> from riskstream.detectors.prohibited_terms import ProhibitedTermsDetector
>>> reg = Registry.with_detectors(ProhibitedTermsDetector)
>>> sorted(policy_schema(reg)["$defs"]["Policy"]["properties"]["detectors"]["properties"])
['prohibited_terms']
"""

from __future__ import annotations

from riskstream.policy.diff import diff_policies
from riskstream.policy.load import (
    PolicyError,
    PolicyIssue,
    check,
    load_policy,
    policy_schema,
    validate_file,
    write_schema,
)
from riskstream.policy.model import (
    DecisionThresholds,
    DetectorPolicy,
    EnforcementPolicy,
    EscalationThresholds,
    LegalBasis,
    Policy,
)

__all__ = [
    "DecisionThresholds",
    "DetectorPolicy",
    "EnforcementPolicy",
    "EscalationThresholds",
    "LegalBasis",
    "Policy",
    "PolicyError",
    "PolicyIssue",
    "check",
    "diff_policies",
    "load_policy",
    "policy_schema",
    "validate_file",
    "write_schema",
]
