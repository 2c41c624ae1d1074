"""Faust topics, declared from the topic table in `riskstream.topology`.

Every topic carries raw bytes: agents decode with orjson and validate with the
contracts themselves, so a malformed record reaches our code (and the
dead-letter topic) instead of failing inside Faust's deserializer.
"""

from __future__ import annotations

from typing import Any

import faust

from riskstream.settings import Settings
from riskstream.topology import TOPICS, TopicSpec


def topic_name(settings: Settings, key: str) -> str:
    return settings.kafka.topic_prefix + TOPICS[key].name


def declare(app: faust.App, settings: Settings, key: str) -> Any:
    spec: TopicSpec = TOPICS[key]
    return app.topic(
        topic_name(settings, key),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=spec.partitions or settings.kafka.partitions,
        replicas=settings.kafka.replication_factor,
        config=spec.kafka_config(),
        internal=True,  # faust creates it with these settings if it does not exist
    )


class Topics:
    """All of the app's topics, by their key in the topic table."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.by_key = {key: declare(app, settings, key) for key in TOPICS}
        self.listings = self.by_key["listings"]
        self.reviews = self.by_key["reviews"]
        self.content = self.by_key["content"]
        self.recalls = self.by_key["recalls"]
        self.signals = self.by_key["signals"]
        self.actions = self.by_key["actions"]
        self.incidents = self.by_key["incidents"]
        self.deadletter = self.by_key["deadletter"]
        self.policies = self.by_key["policies"]
        self.feedback = self.by_key["feedback"]
        self.detect = self.by_key["detect"]
        self.decide = self.by_key["decide"]
        self.aggregates = self.by_key["aggregates"]
        self.incident_links = self.by_key["incident_links"]
        self.violations = self.by_key["violations"]
