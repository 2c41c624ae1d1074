"""What a stuck worker is waiting for, in the log: the producer's queues and every task's stack.

A worker whose sends are never acknowledged stops consuming without an error (the
outbox waits, by design, rather than lose a record).  When that happens the log
must say why, without a debugger on the machine: :func:`producer_state` reads
aiokafka's producer (its sender task, the nodes with a request in flight, the
batches waiting per partition and their leaders), and :func:`task_stacks` every
asyncio task's innermost frames.  The outbox logs the first after a slow flush;
the stall watchdog logs both before it exits.  Both read private aiokafka and
faust attributes defensively: a missing attribute is reported, never raised.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any


def _aiokafka_producer(app: Any) -> Any:
    producer = getattr(app, "_producer", None)  # faust's Producer, only if it was started
    if producer is None:
        return None
    return getattr(producer, "_producer", None)


def producer_state(app: Any) -> str:
    """One line: sender task, in-flight nodes, queued and unacknowledged batches (oldest first)."""
    try:
        p = _aiokafka_producer(app)
        if p is None:
            return "producer: not started"
        sender = p._sender
        task = sender.sender_task
        if task is None:
            task_state = "not started"
        elif task.done():
            exc = None if task.cancelled() else task.exception()
            task_state = f"DONE ({type(exc).__name__}: {exc})" if exc else "DONE"
        else:
            task_state = "running"
        acc = p._message_accumulator
        cluster = p.client.cluster
        now = time.monotonic()
        queued = []
        for tp, batches in list(acc._batches.items()):
            oldest = batches[0]
            age = now - getattr(oldest, "_ctime", now)
            queued.append((age, f"{tp.topic}[{tp.partition}] x{len(batches)} age={age:.1f}s "
                                f"leader={cluster.leader_for_partition(tp)}"))
        queued.sort(reverse=True)
        unacked = []
        for batch in list(acc._pending_batches):
            age = now - getattr(batch, "_ctime", now)
            unacked.append((age, f"{batch.tp.topic}[{batch.tp.partition}] age={age:.1f}s "
                                 f"retries={getattr(batch, 'retry_count', '?')}"))
        unacked.sort(reverse=True)
        return (f"producer: sender {task_state}; in flight to nodes {sorted(sender._in_flight)}; "
                f"{len(sender._muted_partitions)} partition(s) muted; "
                f"{len(queued)} partition(s) queued: {[q for _, q in queued[:8]]}; "
                f"{len(unacked)} batch(es) sent, not acknowledged: {[u for _, u in unacked[:8]]}; "
                f"metadata update {'in progress' if p.client._md_update_fut is not None else 'idle'}")
    except Exception as exc:  # diagnostics must never take the worker down
        return f"producer: state unreadable ({type(exc).__name__}: {exc})"


def task_stacks(limit: int = 6) -> str:
    """Every asyncio task with its innermost ``limit`` frames, one task per line."""
    lines = []
    try:
        for task in asyncio.all_tasks():
            frames = task.get_stack(limit=limit)
            where = " <- ".join(f"{f.f_code.co_name}@{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno}"
                                for f in reversed(frames))
            lines.append(f"  {task.get_name()}: {where or '(no frames)'}")
    except Exception as exc:
        lines.append(f"  task stacks unreadable ({type(exc).__name__}: {exc})")
    return "\n".join(sorted(lines))
