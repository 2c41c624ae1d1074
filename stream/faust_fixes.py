"""A targeted workaround for a faust-streaming recovery bug that loses stream events.

The bug (faust-streaming 0.15.3, `faust/tables/recovery.py`, `Recovery.on_recovery_completed`):
after a rebalance with tables, recovery resumes the consumer's flow while it reads
the changelogs (recovery.py:451-453, or 477-479 when nothing needs recovering).
When it is done it

  1. resumes every stream partition (recovery.py:649-651),
  2. awaits `consumer.perform_seek()` - one OffsetFetch round trip per assigned
     partition, a few hundred milliseconds (recovery.py:652-656),
  3. calls `app.flow_control.resume()` (recovery.py:659).

During (2) flow is already active and the stream partitions are active, so the
fetcher hands the records aiokafka pre-fetched during recovery (aiokafka fetches
every assigned partition: faust filters only when it drains the buffer) to the
agents' channel queues, and aiokafka's positions move to the end of what it
fetched.  Then (3) clears every queue created with `clear_on_resume=True` -
every channel and stream buffer (mode/utils/queues.py:97-108, faust/channels.py:145,
faust/streams.py:180).  The events in those queues are dropped, and nothing
rewinds: the seek already happened, and for a partition without a committed
offset aiokafka does not seek at all (aiokafka/consumer/consumer.py:901,
`if offset and offset > 0`).  A restarted worker whose predecessor died before
its first commit thus processes the first few events per partition and never
sees the rest: its fetch positions sit at the partitions' ends.

A second race feeds the same hole: `Consumer._wait_next_records` checks that the
active-partition set is not empty, then passes that *live* set to the consumer
thread (faust/transport/consumer.py:795-803, drivers/aiokafka.py:1088-1108);
when recovery pauses the changelog partitions in between, aiokafka gets an empty
set, which `Fetcher.fetched_records` reads as "all partitions"
(aiokafka/consumer/fetcher.py:1221), and drains the paused stream partitions.

The fix (`SeekBeforeResumeRecovery.on_recovery_completed`): stop the flow
first, reposition every stream partition while nothing can be delivered -
committed offset where there is one, the `consumer_auto_offset_reset` end where
there is none - and only then resume flow (which clears the stale queues).
Whatever was fetched, delivered or dropped before that point is read again from
the committed position; replays are harmless here (enforced actions are
deduplicated by idempotency key).  Everything else is faust's own code.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any, cast

import faust
from faust.streams import _current_event
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka


class SeekBeforeResumeRecovery(Recovery):
    """faust's Recovery, with streams repositioned before (not after) flow resumes."""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        app = cast(Any, self.app)
        consumer = app.consumer
        # Nothing may reach a stream until every stream partition is repositioned.
        consumer.stop_flow()
        app.flow_control.suspend()
        self.log.info("Restore complete!")
        await app.on_rebalance_complete.send()
        self._set_recovery_ended()
        callback_coros = [
            asyncio.ensure_future(
                table.on_recovery_completed(self.actives_for_table[table], self.standbys_for_table[table])
            )
            for table in self.tables.values()
        ]
        if callback_coros:
            await asyncio.wait(callback_coros)
        assignment = consumer.assignment()
        if app.consumer_generation_id != generation_id:
            self.log.warning(
                f"Recovery rebalancing again app id {app.consumer_generation_id} param {generation_id}"
            )
            return  # the next rebalance's recovery resumes the flow
        stream_tps = {tp for tp in assignment if not self._is_changelog_tp(tp)}
        # A fetch already on the consumer thread would drain the repositioned partitions
        # and have its batch dropped (flow stopped): wait for it to return first.
        if isinstance(consumer, SnapshotConsumer):
            await self._wait(consumer.wait_fetch_idle(), timeout=app.conf.broker_request_timeout)
        consumer.resume_partitions(stream_tps)
        if assignment:
            self.log.info("Seek stream partitions to committed offsets (flow stopped).")
            await self._wait(self._reposition(consumer, stream_tps), timeout=app.conf.broker_request_timeout)
        self.completed.set()
        # Clears the queues (events fetched before the seek: they will be read again) and
        # lets the fetcher deliver from the positions set above.
        app.flow_control.resume()
        consumer.resume_flow()
        await app._fetcher.maybe_start()
        self.tables.on_actives_ready()
        if not app.assignor.assigned_standbys():
            self.tables.on_standbys_ready()
        app.on_rebalance_end()
        self.log.info("Worker ready")

    async def _reposition(self, consumer: Any, stream_tps: set[Any]) -> None:
        """`Consumer.perform_seek`, plus a reset of the stream partitions with no committed offset."""
        committed = await consumer.seek_to_committed()  # seeks where offset > 0
        consumer._read_offset.update(
            {tp: off if off is not None and off >= 0 else None for tp, off in committed.items()}
        )
        consumer._committed_offset.update(
            {tp: off if off else None for tp, off in committed.items() if off is not None}
        )
        unset = sorted(tp for tp, off in committed.items() if not off and tp in stream_tps)
        if not unset:
            return
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            self.log.info("No committed offset (or 0) for %d stream partitions: reading them from the start", len(unset))
            # aiokafka TopicPartitions (the keys seek_to_committed returned), on the consumer thread
            await consumer._thread.seek_to_beginning(*unset)
        else:  # "latest": faust's behaviour (no seek) is what the setting asks for
            self.log.info("No committed offset for %d stream partitions; auto_offset_reset=latest", len(unset))


class RiskstreamTableManager(TableManager):
    """faust's TableManager with `SeekBeforeResumeRecovery` (App(TableManager=...))."""

    @property
    def recovery(self) -> Recovery:
        if self._recovery is None:
            self._recovery = SeekBeforeResumeRecovery(self.app, self, beacon=self.beacon, loop=self.loop)
        return self._recovery


class SnapshotConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka Consumer; each fetch gets a copy of the active-partition set.

    faust hands its live `_active_partitions` set to the consumer thread, where
    aiokafka's `Fetcher.fetched_records` reads it while the event loop's thread
    pauses and resumes partitions: a fetch issued for the changelog partitions
    during recovery drained the stream partitions once they were resumed, after
    they had been repositioned, and its batch was then dropped because the flow
    was stopped - the stream positions ended at the partitions' ends again.
    A copy, taken right after faust checked the set is not empty, cannot change.
    `wait_fetch_idle` lets recovery wait for a fetch already on the thread.
    """

    _fetches_in_flight = 0
    _fetch_idle: asyncio.Event | None = None

    def _idle_event(self) -> asyncio.Event:
        if self._fetch_idle is None:
            self._fetch_idle = asyncio.Event()
            self._fetch_idle.set()
        return self._fetch_idle

    async def _getmany(self, active_partitions: Any, timeout: float) -> Any:
        snapshot = set(active_partitions) if active_partitions is not None else None
        idle = self._idle_event()
        self._fetches_in_flight += 1
        idle.clear()
        try:
            return await super()._getmany(snapshot, timeout)
        finally:
            self._fetches_in_flight -= 1
            if not self._fetches_in_flight:
                idle.set()

    async def wait_fetch_idle(self) -> None:
        await self._idle_event().wait()


class SnapshotTransport(faust_aiokafka.Transport):
    Consumer = SnapshotConsumer


class App(faust.App):
    """faust.App with `SnapshotConsumer` (and `RiskstreamTableManager` by default)."""

    def _new_transport(self) -> Any:
        return SnapshotTransport(self.conf.broker_consumer, self)


def set_current_event(event: Any) -> None:
    """Make `event` Faust's current event in this task (tables pick their partition from it).

    A batch from ``stream.take_events`` is handed to the agent after Faust iterated
    over its events in another task, so inside the agent no event is current.  A
    table read or write for an event of the batch must see that event: the store
    and the changelog partition are the event's source partition.
    """
    _current_event.set(weakref.ref(event))


class QuietWorker(faust.Worker):
    """Faust's worker without its terminal spinner.

    For the spinner to move on every log record, faust's worker sets the root logger to DEBUG
    whenever the log level is WARN or above (``faust/worker.py``, ``_setup_spinner_handler``),
    so every ``log.debug`` of aiokafka and faust builds a ``LogRecord`` that the handler then
    drops: 23 records per event in a profile of ``riskstream worker -l warn`` (8 % of its CPU).
    Without the spinner the root logger stays at the level asked for.
    """

    def on_setup_root_logger(self, logger: Any, level: int) -> None:
        self.spinner = None
        super().on_setup_root_logger(logger, level)
