"""Tables whose entries expire: `enforced-actions` (the replay horizon) and `appealable-actions` (the appeal window).

An entry is stored with the wall time it was written (`DedupeRecord`):
``b"<unix seconds>|<payload>"``.  In ``enforced-actions`` the payload is the
event id of an enforced action, written under its idempotency key after the
broker has the action; in ``appealable-actions`` (stream/appeals.py) it is the
enforced action itself (evidence trimmed), under its action id, stamped with
the time it was enforced.  An entry counts for `horizon_seconds` after that;
later it is treated as absent and removed.  The horizon is chosen so that
expiry can never let a replay through: by default it is the input limits'
event-age window plus one day (31 days), and an event replayed after its key
expired is older than the age window by event time, so decode refuses it as
``out_of_range`` before any detector runs.  (With the age window off, as in
the labeled-day evaluation, the horizon is the documented 31 days and nothing
else guards.)  The appeals index uses the same records over a longer horizon,
the appeal window (``RISKSTREAM_APPEAL_WINDOW_DAYS``, 183 days, never shorter
than the replay horizon): an appeal for an action indexed longer ago finds no
action and is dead-lettered ``unknown_action``.

Bounded twice over, the same way for both tables:

* the changelog topic is ``compact,delete`` with ``retention.ms`` = horizon, so
  Kafka drops a key whose last write is older than the horizon and a worker
  recovering a partition restores only live keys;
* a sweep (`sweep`) run every `sweep_seconds` by the worker removes expired
  keys from the local store of the partitions this worker owns.  It deletes from
  the store only (no tombstone: outside an event Faust cannot say which changelog
  partition to write); a key the changelog still holds and that comes back on a
  later recovery is expired again on read, so correctness never depends on it.

>>> r = DedupeRecord.dump(b"e1", now=1000.0)
>>> r
b'1000|e1'
>>> DedupeRecord.live(r, now=1000.0 + 10, horizon=60)
True
>>> DedupeRecord.live(r, now=1000.0 + 61, horizon=60)
False
>>> DedupeRecord.live(b"e1", now=1e9, horizon=60)  # written before keys had a time: kept
True
>>> DedupeRecord.payload(r), DedupeRecord.payload(b'{"action_id": "a|1"}')  # an unstamped (older) entry: all of it
(b'e1', b'{"action_id": "a|1"}')
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any, cast

from faust.stores.base import SerializedStore

DAY = 86_400.0


def horizon_seconds(max_event_age_days: float | None, override_days: float | None = None) -> float:
    """The replay horizon: the configured one, else the event-age window plus one day (31 days)."""
    if override_days is not None:
        return override_days * DAY
    return ((max_event_age_days if max_event_age_days is not None else 30.0) + 1.0) * DAY


class DedupeRecord:
    """An entry stamped with the wall time it was written (an entry without a stamp never expires)."""

    @staticmethod
    def dump(payload: bytes, now: float) -> bytes:
        return b"%d|%s" % (int(now), payload)

    @staticmethod
    def payload(value: bytes) -> bytes:
        head, sep, rest = value.partition(b"|")
        return rest if sep and head.isdigit() else value

    @staticmethod
    def enforced_at(value: bytes) -> float | None:
        head, sep, _ = value.partition(b"|")
        if not sep or not head.isdigit():
            return None
        return float(head)

    @staticmethod
    def live(value: bytes | None, now: float, horizon: float) -> bool:
        if value is None:
            return False
        at = DedupeRecord.enforced_at(value)
        return at is None or now - at <= horizon


def changelog_configs(horizon: float) -> dict[str, Any]:
    """Topic configs of the table's changelog: compacted, and keys older than the horizon deleted."""
    ms = int(horizon * 1000)
    return {"cleanup.policy": "compact,delete", "retention.ms": ms,
            # segments roll often enough that a key is deleted within ~1/8 of the horizon after expiry
            "segment.ms": max(60_000, ms // 8)}


def expired_keys(items: Iterable[tuple[bytes, bytes]], now: float, horizon: float) -> list[bytes]:
    return [k for k, v in items if not DedupeRecord.live(v, now, horizon)]


def _snapshot(store: Any) -> Iterable[tuple[bytes, bytes]]:
    """The store's items, to be iterated while agents write to the table between chunks.

    A serialized store (`faust.stores.base.SerializedStore`: RocksDB, Aerospike) iterates its
    backend, which agents' writes do not invalidate (a RocksDB iterator reads a consistent view
    of its partition); anything else (Faust's in-memory store, a dict) is a Python mapping,
    whose iteration a write would break: it is copied first (memory stores are for tests and
    benchmarks, not a month of keys).
    """
    if isinstance(store, SerializedStore):
        return cast(Iterable[tuple[bytes, bytes]], store.items())
    return list(store.items())


async def sweep(store: Any, now: float, horizon: float, chunk: int = 2_000,
                on_removed: Callable[[bytes, bytes], None] | None = None) -> int:
    """Remove expired keys from a table's local store (this worker's partitions), yielding between chunks.

    `store` is a Faust table's ``data`` (the local store: RocksDB or memory) holding `DedupeRecord`
    values; run it outside an event (a timer: with a current event, a RocksDB store reads only that
    event's partition). Returns how many were removed.  A rebalance between two chunks changes the set of
    partitions the store iterates (RocksDB: its ``{partition: db}`` dict changes size): the sweep
    then stops early with what it found, and the next one sees the new assignment.
    `on_removed(key, value)` is called for every entry removed.
    """
    removed = 0
    batch: list[tuple[bytes, bytes]] = []
    doomed: list[bytes] = []
    try:
        for item in _snapshot(store):
            batch.append(item)
            if len(batch) >= chunk:
                doomed.extend(expired_keys(batch, now, horizon))
                batch.clear()
                await asyncio.sleep(0)  # never hold the event loop for a whole table
    except RuntimeError:  # "dictionary changed size during iteration": partitions assigned or revoked
        pass
    doomed.extend(expired_keys(batch, now, horizon))
    for i, key in enumerate(doomed):
        # Read again: an agent may have written the key anew since the scan (an action enforced
        # again after its key expired); nothing awaits between this check and the delete.
        value = store.get(key)
        if value is not None and not DedupeRecord.live(value, now, horizon):
            del store[key]
            removed += 1
            if on_removed is not None:
                on_removed(key, value)
        if i % chunk == chunk - 1:
            await asyncio.sleep(0)
    return removed
