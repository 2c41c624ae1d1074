"""Control-topic policy documents are data: every failure is refused with a reason, a metric and a log line."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import orjson
import pytest

from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.resources import sample_policy_dir
from riskstream.stream import metrics as m
from riskstream.stream.control import PolicyRuntime

EU = (sample_policy_dir() / "eu.yaml").read_text()


@pytest.fixture
def runtime() -> PolicyRuntime:
    registry = default_registry()
    engine = Engine(registry)
    engine.set_policy(load_policy(sample_policy_dir() / "eu.yaml", registry))
    return PolicyRuntime(registry, engine)


def _doc(yaml: object, region: str = "EU") -> bytes:
    return orjson.dumps({"region": region, "version": "x", "yaml": yaml})


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (_doc(str(sample_policy_dir() / "eu.yaml")), "invalid_policy"),  # a path is text, never read
        (_doc("/etc/passwd.yaml"), "invalid_policy"),
        (_doc(str(Path("/tmp"))), "invalid_policy"),  # a directory's name
        (b"\x00\xff\xfe binary", "bad_json"),
        (b"[1, 2]", "not_a_document"),
        (orjson.dumps({"region": "EU"}), "not_a_document"),
        (_doc(12), "not_a_document"),
        (_doc("region: [unclosed"), "invalid_policy"),
        (_doc(EU, region="US"), "region_mismatch"),
    ],
)
def test_a_bad_document_is_refused_and_the_running_policy_stays(
    runtime: PolicyRuntime, raw: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    before = runtime.engine.policy("EU")
    region = m.region_label("?" if reason == "bad_json" or raw.startswith(b"[") else orjson.loads(raw).get("region", "?"))
    count = m.REGISTRY.get_sample_value("riskstream_policy_rejected_total",
                                        {"region": region, "reason": reason}) or 0
    with caplog.at_level(logging.ERROR, logger="riskstream"):
        assert runtime.apply_document(raw) == reason
    assert runtime.engine.policy("EU") is before
    assert m.REGISTRY.get_sample_value("riskstream_policy_rejected_total",
                                       {"region": region, "reason": reason}) == count + 1
    assert any(reason in r.getMessage() for r in caplog.records)


def test_a_valid_document_is_applied(runtime: PolicyRuntime) -> None:
    text = re.sub(r'^version: "[^"]+"$', 'version: "2026.12.1"', EU, count=1, flags=re.M)
    assert text != EU
    assert runtime.apply_document(_doc(text)) is None
    policy = runtime.engine.policy("EU")
    assert policy is not None and policy.version == "2026.12.1"
