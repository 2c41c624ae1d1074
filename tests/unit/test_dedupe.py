"""Idempotency keys expire after the replay horizon, and never before an event that old is refused."""

from __future__ import annotations

import asyncio
from typing import Any

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


def test_an_entry_keeps_its_payload_and_older_unstamped_entries_are_read_whole() -> None:
    action = b'{"action_id": "a|1", "kind": "action"}'
    v = DedupeRecord.dump(action, now=1_234)
    assert DedupeRecord.payload(v) == action and DedupeRecord.enforced_at(v) == 1_234
    assert DedupeRecord.payload(action) == action  # indexed before entries had a time
    assert DedupeRecord.enforced_at(action) is None and DedupeRecord.live(action, now=1e12, horizon=1)


def test_the_store_choice_rests_on_faust_public_classes() -> None:
    """`sweep` iterates a serialized store (RocksDB) as it is and copies anything else first:
    this fails if faust moves its stores out of (or into) `SerializedStore`."""
    from faust.stores import memory, rocksdb
    from faust.stores.base import SerializedStore

    assert issubclass(rocksdb.Store, SerializedStore)
    assert not issubclass(memory.Store, SerializedStore)


class _Event:
    """What a RocksDB store's write reads of Faust's current event: its partition."""

    def __init__(self, partition: int) -> None:
        self.message = type("Message", (), {"partition": partition})()


def test_sweep_of_a_rocksdb_store_while_agents_write_and_partitions_are_assigned(tmp_path: Any) -> None:
    import contextvars

    import faust
    from faust.types import TP

    from riskstream.stream.faust_fixes import set_current_event

    async def run() -> None:
        app = faust.App("t-sweep", store="rocksdb://", datadir=str(tmp_path), broker="kafka://127.0.0.1:1")
        table = app.Table("enforced", partitions=3, key_type=bytes, value_type=bytes, default=None)
        store: Any = table.data
        changelog = table.changelog_topic.get_topic_name()
        actives = {TP(changelog, 0), TP(changelog, 1)}
        app.assignor.assigned_actives = lambda: actives  # type: ignore[method-assign]
        await store.assign_partitions(table, set(actives))

        events = [_Event(0), _Event(1)]  # Faust holds the current event by weak reference

        def put(key: bytes, at: float, partition: int) -> None:  # an agent's write: its event is current
            def write() -> None:
                set_current_event(events[partition])
                store[key] = DedupeRecord.dump(b"e", now=at)
            contextvars.Context().run(write)  # the sweep (a timer) has no current event

        for i in range(3_000):
            put(f"k{i}".encode(), 1_000 if i % 3 == 0 else 9_000, i % 2)

        async def write_meanwhile() -> None:  # fresh keys between the sweep's chunks
            for i in range(200):
                put(f"new{i}".encode(), 10_000, i % 2)
                await asyncio.sleep(0)

        removed, _ = await asyncio.gather(sweep(store, now=10_000, horizon=5_000, chunk=100), write_meanwhile())
        assert removed == 1_000 and len(store) == 2_000 + 200
        assert store.get(b"k0") is None and store.get(b"k3") is None and store.get(b"k1") is not None
        assert store.get(b"new199") is not None

        # a rebalance between two chunks: the store's partition set changes under the iteration
        for i in range(3_000):
            put(f"old{i}".encode(), 1_000, i % 2)

        async def rebalance() -> None:
            await asyncio.sleep(0)
            actives.add(TP(changelog, 2))
            await store.assign_partitions(table, {TP(changelog, 2)})

        partial, _ = await asyncio.gather(sweep(store, now=10_000, horizon=5_000, chunk=100), rebalance())
        assert 0 < partial < 3_000  # stopped early with what it had found, did not raise
        assert len(store) == 2_200 + 3_000 - partial
        assert await sweep(store, now=10_000, horizon=5_000, chunk=100) == 3_000 - partial  # the next one finishes
        assert len(store) == 2_200

    asyncio.run(run())


def test_sweep_of_a_memory_store_copies_it_so_writes_meanwhile_are_safe() -> None:
    store = {f"k{i}".encode(): DedupeRecord.dump(b"e", now=1_000 if i % 2 else 9_000) for i in range(1_000)}

    async def run() -> int:
        async def write_meanwhile() -> None:
            for i in range(50):
                store[f"new{i}".encode()] = DedupeRecord.dump(b"e", now=1_000)  # expired, but after the copy
                await asyncio.sleep(0)

        removed, _ = await asyncio.gather(sweep(store, now=10_000, horizon=5_000, chunk=10), write_meanwhile())
        return removed

    assert asyncio.run(run()) == 500
    assert b"new0" in store and b"k1" not in store and b"k0" in store


def test_a_key_written_anew_between_the_scan_and_the_delete_is_kept() -> None:
    """An action enforced again after its key expired, while the sweep was between its scan and its deletes."""

    class Racing(dict[bytes, bytes]):
        raced = False

        def get(self, key: bytes, default: Any = None) -> Any:
            if not self.raced:  # an agent's write, as the sweep starts deleting
                self.raced = True
                self[b"k2"] = DedupeRecord.dump(b"again", now=10_000)
            return super().get(key, default)

    store = Racing({f"k{i}".encode(): DedupeRecord.dump(b"e", now=1_000) for i in range(4)})
    assert asyncio.run(sweep(store, now=10_000, horizon=5_000)) == 3
    assert store == {b"k2": DedupeRecord.dump(b"again", now=10_000)}


def test_sweep_reports_each_entry_it_removes() -> None:
    """`decide-gather`: the worker tells parts that never completed (loud) from decided markers (quiet)."""
    from riskstream.stream import gather

    store = {b"waiting": DedupeRecord.dump(b"[2,[]]", now=1_000), b"done": gather.decided_marker(now=1_000),
             b"fresh": gather.decided_marker(now=9_000)}
    seen: list[tuple[bytes, bytes]] = []
    assert asyncio.run(sweep(store, now=10_000, horizon=5_000, on_removed=lambda k, v: seen.append((k, v)))) == 2
    assert sorted(k for k, _ in seen) == [b"done", b"waiting"] and list(store) == [b"fresh"]
    assert [k for k, v in seen if gather.is_parts(v)] == [b"waiting"]
