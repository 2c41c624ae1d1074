"""A table's writes in one batch: the store at once, the changelog through the batch's outbox.

Faust sends a changelog record for every ``table[key] = value`` through its own
producer buffer, one record at a time (a future, a buffer task wake-up, a
callback, and a RocksDB write of the changelog offset per record), and when
more than 100 records wait, every input message drains them one by one with a
timer each.  The ``detector-state`` table takes about seven writes an event, so
that path was most of the worker's cost of partitioned state
(docs/performance.md).  A :class:`TableWriter` does what Faust does, in bulk:

* ``set`` writes the value to the table's store at once (the partition of the
  event being processed, as Faust does), so a read that follows sees it;
* ``send`` puts one changelog record per key the batch wrote into the batch's
  outbox, with the key's **latest** value: a key written twice in a batch is sent
  once, and the outbox awaits the records with the batch's other outputs, so the
  batch's inputs are committed only after the broker has its state;
* once a batch's records are delivered, the changelog offset is written to the
  store once per partition (Faust: once per record), which is where recovery
  resumes reading the changelog.

Order.  Two agents of a worker can write one key (an ingest agent's local step and
the detect agent, on one partition), each sending at the end of its own batch.  A
record therefore always carries the key's value *at send time* (and a resend after
a broker error, the value at resend time): the last record of a key on its
changelog is always sent after the key's last write, so it holds the newest value,
whatever order the two batches are sent in.  The latest value is kept here while a
batch that wrote the key has not been delivered (counted per key), and dropped after.
A batch abandoned before its flush (its agent cancelled on a rebalance or shutdown)
leaves its keys' entries behind: a few values per abandoned batch, until the worker
restarts.

Bytes on the changelog are the ones Faust would write (the table's own key and
value serializers), so Faust's recovery and standby replicas read them as usual.

>>> w = TableWriter.__new__(TableWriter)
>>> w._latest = {}
>>> w._remember(b"k", b"v1"); w._remember(b"k", b"v2"); w._latest[b"k"]
[b'v2', 2]
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from faust.types import TP

from riskstream.stream.outbox import Outbox

log = logging.getLogger("riskstream.tables")


class TableWriter:
    """Writes one Faust table's values; a batch's changelog records go with the batch's outputs."""

    def __init__(self, table: Any, *, bulk: bool = True) -> None:
        """`bulk` False: every write takes Faust's own path (``table[key] = value``), as the
        exactly-once guarantee needs (its changelog records go in the transaction)."""
        self.table = table
        self.bulk = bulk
        self._latest: dict[bytes, list[Any]] = {}  # key -> [newest value, batches that wrote it, not delivered]
        self._raw: bool | None = None  # whether the table's serializers leave bytes as they are

    def _remember(self, key: bytes, value: bytes) -> None:
        entry = self._latest.get(key)
        if entry is None:
            self._latest[key] = [value, 1]
        else:
            entry[0] = value
            entry[1] += 1

    def set(self, written: dict[bytes, int], key: bytes, value: bytes, partition: int) -> None:
        """``table[key] = value`` in the store now; its changelog record when the batch is sent.

        `written` is the batch's own record of the keys it wrote (key -> changelog partition):
        the agent keeps one per batch and passes it to `send`.
        """
        if not self.bulk:
            self.table[key] = value
            return
        self.table.data[key] = value
        if key in written:  # written before in this batch: one record, with the newest value
            self._latest[key][0] = value
        else:
            written[key] = partition
            self._remember(key, value)

    async def send(self, outbox: Outbox, written: dict[bytes, int]) -> None:
        """Queue one changelog record per key the batch wrote, with the key's value now."""
        if not written:
            return
        topic = self.table.changelog_topic
        name = topic.get_topic_name()
        offsets: dict[int, int] = {}
        latest = self._latest

        def delivered(metadata: Any) -> None:
            if metadata.offset > offsets.get(metadata.partition, -1):
                offsets[metadata.partition] = metadata.offset

        for key, partition in written.items():
            entry = latest[key]
            await outbox.add(name, self._key_bytes(key), self._value_bytes(entry[0]), partition=partition,
                             refresh=self._refresher(entry), on_sent=delivered)
        outbox.after_flush(lambda: self._delivered(written, offsets))

    def _refresher(self, entry: list[Any]) -> Callable[[], bytes]:
        return lambda: self._value_bytes(entry[0])  # the key's newest value when the record is sent again

    def _delivered(self, written: dict[bytes, int], offsets: dict[int, int]) -> None:
        latest = self._latest
        for key in written:
            entry = latest.get(key)
            if entry is not None:
                entry[1] -= 1
                if entry[1] <= 0:
                    del latest[key]
        name = self.table.changelog_topic.get_topic_name()
        for partition, offset in offsets.items():
            try:
                self.table.data.set_persisted_offset(TP(name, partition), offset)
            except Exception:  # the records are on the broker; a lost offset only lengthens a recovery
                log.exception("could not store the changelog offset %s[%d]@%d", name, partition, offset)
        written.clear()

    def _key_bytes(self, key: bytes) -> bytes:
        if self._is_raw():
            return key
        out, _ = self.table.changelog_topic.prepare_key(key, self.table.key_serializer)
        return bytes(out)

    def _value_bytes(self, value: bytes) -> bytes:
        if self._is_raw():
            return value
        out, _ = self.table.changelog_topic.prepare_value(value, self.table.value_serializer)
        return bytes(out)

    def _is_raw(self) -> bool:
        """Whether Faust would put a key's and a value's bytes on the changelog unchanged (checked once)."""
        if self._raw is None:
            topic, probe = self.table.changelog_topic, b'{"probe": [1]}'
            self._raw = (topic.prepare_key(probe, self.table.key_serializer)[0] == probe
                         and topic.prepare_value(probe, self.table.value_serializer)[0] == probe)
        return self._raw

    def pending_keys(self) -> int:
        """Keys written by a batch whose changelog records are not delivered yet (for tests)."""
        return len(self._latest)
