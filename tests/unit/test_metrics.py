"""Metric names, labels and the emission helpers; docs/metrics.md is current."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from riskstream.contracts import EnforcementAction
from riskstream.stream import metrics as m
from riskstream.stream.observe import OpenIncidentGauge, publish_assignment
from tests.paths import REPO


def _value(name: str, **labels: str) -> float | None:
    return m.REGISTRY.get_sample_value(name, labels)


def test_docs_list_every_metric_once() -> None:
    assert (REPO / "docs" / "metrics.md").read_text() == m.markdown(), (
        "run `python -m riskstream.stream.metrics > docs/metrics.md`")


def test_names_follow_the_conventions() -> None:
    for family in m.REGISTRY.collect():
        assert family.name.startswith("riskstream_")
        if family.type == "counter":
            assert not family.name.endswith("_total")  # the client appends it
        if "seconds" in family.name or "latency" in family.name:
            assert family.name.endswith("_seconds")


@pytest.mark.parametrize(("value", "region", "country"), [
    ("DE", "EU", "DE"), ("GB", "UK", "GB"), ("SG", "SEA", "SG"), ("EU", "EU", "other"), ("XX", "other", "other"),
])
def test_region_and_country_labels_are_distinct_and_bounded(value: str, region: str, country: str) -> None:
    assert (m.region_label(value), m.country_label(value)) == (region, country)


def _action(mode: str) -> EnforcementAction:
    return EnforcementAction(
        action_id="a1", idempotency_key="k1", event_id="e1", event_time=datetime(2026, 1, 1, tzinfo=UTC),
        region="FR", entity_type="listing", entity_id="l1", action="remove", reason_codes=["ivory"],
        evidence={"detectors": ["prohibited_terms", "category_rules"]}, policy_version="v1", mode=mode,
    )


def test_an_action_counts_by_region_country_and_each_rule_behind_it() -> None:
    before = _value("riskstream_rule_hits_total", rule="prohibited_terms", mode="shadow", region="EU") or 0
    m.count_action(_action("shadow"))
    assert _value("riskstream_actions_total", action="remove", mode="shadow", region="EU", country="FR") is not None
    assert _value("riskstream_rule_hits_total", rule="prohibited_terms", mode="shadow", region="EU") == before + 1
    assert _value("riskstream_rule_hits_total", rule="category_rules", mode="shadow", region="EU") is not None


def test_end_to_end_latency_uses_the_record_timestamp() -> None:
    before = _value("riskstream_end_to_end_latency_seconds_count", kind="listing") or 0
    m.observe_end_to_end("listing", 1000.0, now=1000.2)
    m.observe_end_to_end("listing", None, now=1000.2)  # no timestamp: not observed
    assert _value("riskstream_end_to_end_latency_seconds_count", kind="listing") == before + 1


def test_a_stall_is_counted_once_per_episode() -> None:
    m.set_worker_stalled(False)  # a watchdog test run before this one may leave the gauge at 1
    before = _value("riskstream_worker_stalls_total") or 0
    for stalled in (True, True, False, True):
        m.set_worker_stalled(stalled)
    assert _value("riskstream_worker_stalls_total") == before + 2
    assert _value("riskstream_worker_stalled") == 1
    m.set_worker_stalled(False)


def test_open_incidents_follow_open_update_resolve() -> None:
    from riskstream.contracts import IncidentCandidate

    t = datetime(2026, 1, 1, tzinfo=UTC)

    def rec(status: str, severity: str) -> IncidentCandidate:
        return IncidentCandidate(incident_id="i1", status=status, event_id=status, event_time=t, region="EU",  # type: ignore[arg-type]
                                 harm_kind="counterfeit", cluster="brand:x", severity=severity,  # type: ignore[arg-type]
                                 onset_time=t, score=0.5)

    g = OpenIncidentGauge()
    labels = {"harm_kind": "counterfeit", "region": "EU"}
    g.record(rec("open", "high"))
    assert _value("riskstream_incidents_open", severity="high", **labels) == 1
    g.record(rec("update", "critical"))
    assert _value("riskstream_incidents_open", severity="high", **labels) == 0
    assert _value("riskstream_incidents_open", severity="critical", **labels) == 1
    g.record(rec("resolve", "critical"))
    assert _value("riskstream_incidents_open", severity="critical", **labels) == 0


def test_partitions_assigned_drop_to_zero_when_revoked() -> None:
    publish_assignment(["a", "a", "b"])
    assert _value("riskstream_partitions_assigned", topic="a") == 2
    publish_assignment(["a"])
    assert _value("riskstream_partitions_assigned", topic="b") == 0
