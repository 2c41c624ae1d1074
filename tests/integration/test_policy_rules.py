"""A policy manager's rule through the real broker: published in shadow, then enforced, no restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from riskstream.stream.producer import publish_policy
from tests.integration.conftest import FIXTURE_POLICIES, Worker
from tests.integration.test_pipeline import listing
from tests.integration.test_policy_rollout import wait_metric

pytestmark = pytest.mark.integration

RULE = """
rules:
  fr_cheap_cosmetics_new_sellers:
    description: In France, cosmetics under 5 EUR from sellers younger than a week.
    kind: listing
    countries: [FR]
    condition: >-
      event.category == "cosmetics" && event.price < 5.0
      && has(seller.age_days) && seller.age_days < 7
    reason: cheap_cosmetics_new_seller
    action: hold
    mode: {mode}
    legal:
      ground: incompatible_content
      category: STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS
      reference: Seller Terms, section 4 (new sellers)
      explanation: Cosmetics priced far below the market from a brand-new seller are held for review.
"""


def _publish(worker: Worker, tmp_path: Path, version: str, mode: str) -> None:
    text = (FIXTURE_POLICIES / "eu.yaml").read_text().replace('version: "2026.11.1"', f'version: "{version}"')
    path = tmp_path / f"eu-{version}.yaml"
    path.write_text(text.rstrip("\n") + "\n" + RULE.format(mode=mode))
    asyncio.run(publish_policy(worker.settings, path))
    wait_metric(worker, "riskstream_policy_info", lambda v: v == 1.0, region="EU", version=version)


def _cosmetics(listing_id: str, **extra: Any) -> tuple[str, bytes]:
    fields: dict[str, Any] = {"region": "FR", "category": "cosmetics", "price": 3.5, "seller_age_days": 2}
    fields.update(extra)
    return listing(listing_id, "Lip gloss, 12 shades", **fields)


def _by_rule(actions: list[dict[str, Any]], entity: str) -> list[dict[str, Any]]:
    return [a for a in actions if a["entity_id"] == entity
            and "rule:fr_cheap_cosmetics_new_sellers" in a["evidence"]["detectors"]]


def test_a_published_rule_acts_in_shadow_then_enforced_without_restart(worker: Worker, tmp_path: Path) -> None:
    pid = worker.proc.pid if worker.proc else None
    # before the rule: the same listing is not actioned at all
    worker.produce("listings", [_cosmetics("before"), listing("marker-0", "ivory box")])
    actions = worker.collect("actions", until=lambda rs: any(a["entity_id"] == "marker-0" for a in rs))
    assert not [a for a in actions if a["entity_id"] == "before"]

    # 1. the rule in shadow: decided and recorded, never enforced
    published = time.monotonic()
    _publish(worker, tmp_path, "2026.11.2", "shadow")
    worker.produce("listings", [
        _cosmetics("shadow-hit"),
        _cosmetics("shadow-old-seller", seller_age_days=400),  # condition false
        _cosmetics("shadow-de", region="DE"),  # country out of scope
        listing("marker-1", "ivory box"),
    ])
    actions = worker.collect("actions", until=lambda rs: bool(_by_rule(rs, "shadow-hit"))
                             and any(a["entity_id"] == "marker-1" for a in rs))
    [shadow] = _by_rule(actions, "shadow-hit")
    print(f"drill: first shadow action {time.monotonic() - published:.1f} s after publishing")  # measured, not asserted
    assert (shadow["mode"], shadow["action"], shadow["reason_codes"]) == \
        ("shadow", "hold", ["cheap_cosmetics_new_seller"])
    assert shadow["policy_version"] == "2026.11.2"
    assert shadow["evidence"]["enforced_action"] == "allow"
    signal = shadow["evidence"]["signals"][0]
    assert signal["evidence"]["values"] == {"event.category": "cosmetics", "event.price": 3.5,
                                            "seller.age_days": 2}
    assert not [a for a in actions if a["entity_id"] in ("shadow-old-seller", "shadow-de")]
    wait_metric(worker, "riskstream_rule_hits_total", lambda v: v == 1.0,
                rule="rule:fr_cheap_cosmetics_new_sellers", mode="shadow")

    # 2. switched to enforced: the next listing is held, with its own idempotency key
    _publish(worker, tmp_path, "2026.11.3", "enforced")
    worker.produce("listings", [_cosmetics("enforced-hit")])
    actions = worker.collect("actions", until=lambda rs: bool(_by_rule(rs, "enforced-hit")))
    [enforced] = _by_rule(actions, "enforced-hit")
    assert (enforced["mode"], enforced["action"], enforced["policy_version"]) == ("enforced", "hold", "2026.11.3")
    assert enforced["idempotency_key"] != shadow["idempotency_key"]
    wait_metric(worker, "riskstream_rule_hits_total", lambda v: v == 1.0,
                rule="rule:fr_cheap_cosmetics_new_sellers", mode="enforced")
    assert worker.proc is not None and worker.proc.pid == pid  # the same worker process throughout
