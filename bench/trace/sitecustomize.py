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


def _patch_state_dump() -> None:
    """Every 2 s: the consumer state a stall watchdog would read (logged as TRACE state)."""
    import asyncio
    import time

    from faust.tables import recovery as fr

    orig = fr.Recovery.on_rebalance
    started: list = []

    def snapshot(app) -> str:
        c = app.consumer
        thread = c._thread
        ak = thread._consumer
        out = [f"flow_active={c.flow_active} fc_active={app.flow_control.is_active()} "
               f"rebalancing={app.rebalancing} in_recovery={app.in_recovery} gen={app.consumer_generation_id} "
               f"active={len(c._active_partitions or ())} paused={len(c._paused_partitions)} "
               f"buffered={len(c._buffered_partitions)} fetcher_task_done={ak._fetcher._fetch_task.done()} "
               f"records={len(ak._fetcher._records)} inflight={sorted(ak._fetcher._in_flight)} "
               f"drainer={app._fetcher.state if hasattr(app._fetcher, 'state') else '?'}"]
        assignment = ak._subscription.subscription.assignment if ak._subscription.subscription else None
        if assignment is not None:
            for tp in sorted(assignment.tps):
                if "listings" not in tp.topic:
                    continue
                st = assignment.state_value(tp)
                pos = st._position
                age = (time.time() - st.timestamp / 1000) if st.timestamp else None
                out.append(f"  {tp.partition}: pos={pos} hw={st.highwater} paused={st.paused} "
                           f"read={c._read_offset.get(tp)} committed={c._committed_offset.get(tp)} "
                           f"buffered_in_aiokafka={tp in ak._fetcher._records} "
                           f"fetch_age={age and round(age, 1)} in_active={tp in (c._active_partitions or ())}")
        qs = []
        for ch in app.topics:
            q = getattr(ch, "_queue", None)
            if q is not None and q.qsize():
                qs.append((ch.get_topic_name() if hasattr(ch, "get_topic_name") else str(ch), q.qsize()))
        out.append(f"  queues={qs}")
        return "\n".join(out)

    async def dump(app) -> None:
        while True:
            await asyncio.sleep(2)
            try:
                log.warning("TRACE state %s", snapshot(app))
            except Exception as exc:
                log.warning("TRACE state failed: %r", exc)

    async def on_rebalance(self, *args, **kwargs):
        if not started:
            started.append(asyncio.ensure_future(dump(self.app)))
        return await orig(self, *args, **kwargs)

    fr.Recovery.on_rebalance = on_rebalance


try:
    _patch_state_dump()
except Exception:  # pragma: no cover
    logging.getLogger(__name__).exception("state dump not installed")
