"""Idempotency keys expire after the replay horizon, and never before an event that old is refused."""

from __future__ import annotations

import asyncio

from riskstream.settings import Settings
from riskstream.stream.dedupe import DAY, DedupeRecord, changelog_configs, horizon_seconds, sweep


def test_horizon_outlives_the_event_age_window() -> None:
    limits = Settings.from_env({}).limits
    assert limits.max_event_age_days is not None
    # a replay after a key expired is older than the age window by event time: refused at decode
    assert horizon_seconds(limits.max_event_age_days) > limits.max_event_age_days * DAY
    assert horizon_seconds(None, override_days=2) == 2 * DAY
    assert Settings.from_env({"RISKSTREAM_DEDUPE_HORIZON_DAYS": "3"}).dedupe_horizon_days == 3.0


def test_a_key_is_live_within_the_horizon_only() -> None:
    v = DedupeRecord.dump(b"evt-1", now=5_000)
    assert DedupeRecord.enforced_at(v) == 5_000
    assert DedupeRecord.live(v, now=5_000 + 100, horizon=100)
    assert not DedupeRecord.live(v, now=5_000 + 101, horizon=100)
    assert not DedupeRecord.live(None, now=0, horizon=100)
    # event ids may contain "|": only the leading number is the time
    assert DedupeRecord.enforced_at(DedupeRecord.dump(b"a|b", now=7)) == 7


def test_changelog_deletes_what_the_horizon_expires() -> None:
    cfg = changelog_configs(31 * DAY)
    assert cfg["cleanup.policy"] == "compact,delete"
    assert cfg["retention.ms"] == 31 * 86_400_000
    assert 60_000 <= cfg["segment.ms"] < cfg["retention.ms"]


def test_sweep_removes_only_expired_keys() -> None:
    store = {f"k{i}".encode(): DedupeRecord.dump(b"e", now=1_000 if i % 3 == 0 else 9_000) for i in range(5_000)}
    store[b"legacy"] = b"event-without-time"
    removed = asyncio.run(sweep(store, now=10_000, horizon=5_000, chunk=100))
    assert removed == len([i for i in range(5_000) if i % 3 == 0])
    assert all(DedupeRecord.live(v, 10_000, 5_000) for v in store.values())
    assert b"legacy" in store and b"k1" in store and b"k0" not in store
