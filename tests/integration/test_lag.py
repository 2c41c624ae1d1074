"""The lag collector against the real broker: committed offsets vs high watermarks."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from riskstream.stream import metrics as m
from riskstream.stream.lag import collect, run_lag_collector

pytestmark = pytest.mark.integration


async def _scenario(bootstrap: str) -> None:
    run = uuid.uuid4().hex[:8]
    topic, idle, group = f"lag{run}.in", f"lag{run}.idle", f"lag-{run}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    await reader.start()
    try:
        await admin.create_topics([NewTopic(topic, 2, 1), NewTopic(idle, 1, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            for i in range(10):
                await producer.send_and_wait(topic, b"x", partition=i % 2)  # 5 per partition
            await producer.send_and_wait(idle, b"x", partition=0)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0), TopicPartition(topic, 1)])
            await consumer.commit({TopicPartition(topic, 0): 3, TopicPartition(topic, 1): 5})
        finally:
            await consumer.stop()
        lags = await collect(admin, reader, group, [idle, "no.such.topic"])
        got = {(p.topic, p.partition): (p.committed, p.end, p.lag) for p in lags}
        assert got == {(topic, 0): (3, 5, 2), (topic, 1): (5, 5, 0), (idle, 0): (0, 1, 1)}

        # the task publishes the same numbers, with the series Prometheus scrapes
        task = asyncio.create_task(run_lag_collector(bootstrap, group, [idle], interval=0.2))
        try:
            for _ in range(100):
                if m.REGISTRY.get_sample_value("riskstream_consumer_lag_records",
                                               {"group": group, "topic": topic, "partition": "0"}) == 2:
                    break
                await asyncio.sleep(0.1)
            assert m.REGISTRY.get_sample_value(
                "riskstream_consumer_lag_records", {"group": group, "topic": topic, "partition": "0"}) == 2
            assert m.REGISTRY.get_sample_value(
                "riskstream_topic_end_offset", {"topic": idle, "partition": "0"}) == 1
            assert (m.REGISTRY.get_sample_value("riskstream_lag_collections_total", {"outcome": "ok"}) or 0) >= 1
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    finally:
        await reader.stop()
        await admin.close()


def test_lag_is_end_minus_committed_per_partition(kafka_bootstrap: str) -> None:
    asyncio.run(_scenario(kafka_bootstrap))
