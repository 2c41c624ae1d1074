"""One frozen settings object, read from the environment, split by concern.

Every variable has the prefix ``RISKSTREAM_`` except ``KAFKA_BOOTSTRAP_SERVERS``
(the de-facto standard name).  Settings are read once at start-up and passed
explicitly; detectors never see them (they get their own typed params from
the region's policy).

>>> s = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "RISKSTREAM_METRICS_PORT": "9100"})
>>> s.kafka.bootstrap_servers, s.metrics.port
('k1:9092', 9100)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = "riskstream"
    topic_prefix: str = ""
    partitions: int = 4
    replication_factor: int = 1
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"


@dataclass(frozen=True, slots=True)
class PolicySettings:
    directory: Path = REPO / "policies"


@dataclass(frozen=True, slots=True)
class ModelSettings:
    directory: Path = REPO / "var" / "models"
    window_seconds: int = 600


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    port: int = 6066
    host: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    policies: PolicySettings = field(default_factory=PolicySettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    data_dir: Path = REPO / "var" / "worker"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return e.get(f"RISKSTREAM_{name}", default)

        dk, dp, dm = KafkaSettings(), PolicySettings(), ModelSettings()
        guarantee = get("PROCESSING_GUARANTEE", "at_least_once")
        if guarantee not in ("at_least_once", "exactly_once"):
            raise ValueError(f"RISKSTREAM_PROCESSING_GUARANTEE must be at_least_once or exactly_once, got {guarantee!r}")
        kafka = KafkaSettings(
            bootstrap_servers=e.get("KAFKA_BOOTSTRAP_SERVERS", dk.bootstrap_servers),
            app_id=get("APP_ID", dk.app_id),
            topic_prefix=get("TOPIC_PREFIX", ""),
            partitions=int(get("PARTITIONS", str(dk.partitions))),
            replication_factor=int(get("REPLICATION_FACTOR", "1")),
            processing_guarantee="exactly_once" if guarantee == "exactly_once" else "at_least_once",
        )
        return cls(
            kafka=kafka,
            policies=PolicySettings(
                directory=Path(get("POLICY_DIR", str(dp.directory))),
            ),
            models=ModelSettings(
                directory=Path(get("MODEL_DIR", str(dm.directory))),
                window_seconds=int(get("INCIDENT_WINDOW_SECONDS", "600")),
            ),
            metrics=MetricsSettings(
                port=int(get("METRICS_PORT", "6066")),
                host=get("METRICS_HOST", "127.0.0.1"),
            ),
            data_dir=Path(get("DATA_DIR", str(REPO / "var" / "worker"))),
        )
