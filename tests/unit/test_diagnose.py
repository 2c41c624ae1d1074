"""The stuck-worker diagnostics read a real (unstarted) aiokafka producer and the running tasks."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiokafka import AIOKafkaProducer

from riskstream.stream.diagnose import producer_state, task_stacks


def test_producer_state_names_queued_partitions_and_never_raises() -> None:
    async def go() -> tuple[str, str, str]:
        p = AIOKafkaProducer(bootstrap_servers="127.0.0.1:1")  # never started: no broker needed
        builder = p._message_accumulator.create_builder()
        from aiokafka.structs import TopicPartition

        batch = p._message_accumulator._append_batch(builder, TopicPartition("actions", 3))
        batch.append(b"k", b"v", None)
        state = producer_state(SimpleNamespace(_producer=SimpleNamespace(_producer=p)))
        broken = producer_state(SimpleNamespace(_producer=SimpleNamespace(_producer=object())))
        none = producer_state(SimpleNamespace(_producer=None))
        await p.client.close()
        return state, broken, none

    state, broken, none = asyncio.run(go())
    assert "sender not started" in state and "1 partition(s) queued" in state and "actions[3] x1" in state
    assert broken.startswith("producer: state unreadable (AttributeError")
    assert none == "producer: not started"


def test_task_stacks_names_a_waiting_task_and_where_it_waits() -> None:
    async def waits_here(ev: asyncio.Event) -> None:
        await ev.wait()

    async def go() -> str:
        ev = asyncio.Event()
        t = asyncio.create_task(waits_here(ev), name="stuck-agent")
        await asyncio.sleep(0)
        out = task_stacks()
        ev.set()
        await t
        return out

    out: Any = asyncio.run(go())
    assert "stuck-agent: waits_here@" in out
