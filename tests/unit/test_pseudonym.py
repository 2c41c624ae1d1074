"""Buyer, reviewer and account ids leave the engine only as keyed pseudonyms."""

from __future__ import annotations

import pytest

from riskstream.contracts import ReviewEvent, encode, parse_time
from riskstream.decisions.pseudonym import PERSONAL_KEYS, pseudonym, scrub_evidence
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.settings import PrivacySettings
from tests.paths import REPO

KEY = b"0123456789abcdef0123456789abcdef"
TEXT = "Amazing quality product, arrived quickly and works perfectly, highly recommend this seller to all"


def _farm(engine: Engine) -> list[bytes]:
    out: list[bytes] = []
    for i in range(5):
        ev = ReviewEvent(event_id=f"e{i}", event_time=parse_time("2026-01-01T00:00:00Z"), region="DE",
                         review_id=f"r{i}", listing_id=f"l{i}", buyer_id=f"real-buyer-{i}", rating=5,
                         text=TEXT, language="en", verified_purchase=False, account_age_days=2)
        o = engine.process(ev)
        out += [encode(s) for s in o.signals] + [encode(a) for a in o.actions]
    return out


def _engine(key: bytes | None) -> Engine:
    eng = Engine(default_registry(), pseudonym_key=key)
    eng.set_policy(load_policy(REPO / "policies" / "eu.yaml", default_registry()))
    return eng


def test_review_farm_outputs_carry_pseudonyms_not_buyer_ids() -> None:
    clear = _farm(_engine(None))
    assert any(b"real-buyer-0" in r for r in clear)  # the farm is detected, with ids, without a key
    masked = _farm(_engine(KEY))
    assert len(masked) == len(clear)  # the same signals and actions
    assert not any(b"real-buyer-" in r for r in masked)
    assert any(pseudonym(KEY, "real-buyer-0").encode() in r for r in masked)


@pytest.mark.parametrize("field", sorted(PERSONAL_KEYS))
def test_every_personal_key_is_scrubbed_at_any_depth(field: str) -> None:
    ev = {"signals": [{"evidence": {field: ["a", "b"] if field.endswith("s") else "a"}}], "terms": ["a"]}
    out = scrub_evidence(ev, KEY)
    assert out["terms"] == ["a"]
    inner = out["signals"][0]["evidence"][field]
    assert "a" not in (inner if isinstance(inner, list) else [inner])


def test_the_key_comes_from_the_environment_and_is_never_printed() -> None:
    p = PrivacySettings.from_env({"RISKSTREAM_PSEUDONYM_KEY": KEY.decode()})
    assert p.key == KEY and not p.ephemeral and KEY.decode() not in repr(p)
    with pytest.raises(ValueError):
        PrivacySettings.from_env({"RISKSTREAM_PSEUDONYM_KEY": "short"})
