"""Loaded (via PYTHONPATH) only by bench/failure_loop.py --trace: logs what faust's fetcher drops.

Wraps faust's Consumer._wait_next_records and the aiokafka driver's _fetch_records
to log, per batch, the active-partition set faust asked for (a snapshot at call
time and at return) and every partition whose records came back but will be
discarded by Consumer.getmany's `tp in active_partitions` filter.
"""
import logging

log = logging.getLogger("fetch-trace")


def _patch() -> None:
    from faust.transport import consumer as fc
    from faust.transport.drivers import aiokafka as fa

    orig_fetch = fa.AIOKafkaConsumerThread._fetch_records

    async def _fetch_records(self, consumer, active_partitions, timeout=None, max_records=None):
        before = set(active_partitions) if active_partitions is not None else None
        res = await orig_fetch(self, consumer, active_partitions, timeout=timeout, max_records=max_records)
        after = set(active_partitions) if active_partitions is not None else None
        if res:
            summary = {f"{tp.topic.rsplit('.', 2)[-2] if '.' in tp.topic else tp.topic}:{tp.partition}":
                       (recs[0].offset, recs[-1].offset) for tp, recs in res.items()}
            log.warning("TRACE fetched_records asked=%d(%s) now=%d drained=%s",
                        len(before or ()), "EMPTY" if before is not None and not before else "",
                        len(after or ()), summary)
        return res

    fa.AIOKafkaConsumerThread._fetch_records = _fetch_records

    orig_wait = fc.Consumer._wait_next_records

    async def _wait_next_records(self, timeout):
        records, active = await orig_wait(self, timeout)
        if records and active is not None:
            dropped = {tp: (r[0].offset, r[-1].offset, len(r)) for tp, r in records.items()
                       if tp not in active and tp not in self._buffered_partitions}
            if dropped:
                log.warning("TRACE getmany WILL DROP %s (active=%d flow_active=%s)", dropped, len(active), self.flow_active)
        if records and not self.flow_active:
            log.warning("TRACE getmany flow not active with %d tps of records", len(records))
        return records, active

    fc.Consumer._wait_next_records = _wait_next_records


try:
    _patch()
except Exception:  # pragma: no cover
    logging.getLogger(__name__).exception("fetch trace not installed")
