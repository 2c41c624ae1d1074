"""A worker's topics exist with their declared settings before any agent sends (stream.producer.prepare_topics)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import replace
from typing import Any

import pytest

from riskstream.settings import Settings
from riskstream.stream.producer import prepare_topics
from riskstream.topology import TOPICS

pytestmark = pytest.mark.integration


async def _describe(settings: Settings, names: list[str]) -> tuple[dict[str, int], dict[str, dict[str, str]]]:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    from riskstream.stream.security import client_kwargs

    admin = AIOKafkaAdminClient(**client_kwargs(settings))
    await admin.start()
    try:
        partitions = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics(names)
                      if t["error_code"] == 0}
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
        configs: dict[str, dict[str, str]] = {}
        for response in responses:
            for error, _, _, name, entries in response.resources:
                assert error == 0, response
                configs[name] = {str(e[0]): str(e[1]) for e in entries}
        return partitions, configs
    finally:
        await admin.close()


def test_every_topic_is_created_with_its_settings_even_by_two_workers_at_once(kafka_bootstrap: str,
                                                                               report: Any) -> None:
    base = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap})
    settings = replace(base, kafka=replace(base.kafka, topic_prefix=f"top{uuid.uuid4().hex[:6]}."))

    async def two_workers_starting() -> None:
        await asyncio.gather(prepare_topics(settings), prepare_topics(settings))  # one wins each create race
        await prepare_topics(settings)  # and a restart finds them all

    asyncio.run(two_workers_starting())
    names = {key: settings.kafka.topic_prefix + spec.name for key, spec in TOPICS.items()}
    partitions, configs = asyncio.run(_describe(settings, list(names.values())))
    for key, name in names.items():
        spec = TOPICS[key]
        assert partitions[name] == (spec.partitions or settings.kafka.partitions), (name, partitions[name])
        want = spec.kafka_config()
        assert {k: configs[name][k] for k in want} == want, (name, configs[name])
        if not spec.compacted:
            assert configs[name]["cleanup.policy"] == "delete", name
    report(f"topics: all {len(names)} created with their partitions and settings by two concurrent starts")
