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

from riskstream.resources import state_home


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
    # The policy files a worker starts from.  Default: RISKSTREAM_HOME/policies,
    # seeded with the shipped samples on first use (riskstream.cli), so a policy
    # manager edits files of their own, never the package's.
    directory: Path = field(default_factory=lambda: state_home() / "policies")


@dataclass(frozen=True, slots=True)
class ModelSettings:
    directory: Path = field(default_factory=lambda: state_home() / "models")
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
    data_dir: Path = field(default_factory=lambda: state_home() / "worker")
    # Faust's table store: RocksDB (via rocksdict) on disk under data_dir, so a
    # restarted worker reads its tables locally and replays only the changelog's
    # tail; "memory://" replays whole changelogs (unit tests, benchmarks).
    store: str = "rocksdb://"
    # A worker that holds partitions with lag and makes no progress on them for
    # this long is unhealthy (/healthz 503, riskstream_worker_stalled) and exits
    # non-zero so that its supervisor restarts it.
    stall_seconds: float = 60.0
    home: Path = field(default_factory=state_home)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        e = os.environ if env is None else env

        def get(name: str, default: str) -> str:
            return e.get(f"RISKSTREAM_{name}", default)

        dk = KafkaSettings()
        home = state_home(e)
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
                directory=Path(get("POLICY_DIR", str(home / "policies"))),
            ),
            models=ModelSettings(
                directory=Path(get("MODEL_DIR", str(home / "models"))),
                window_seconds=int(get("INCIDENT_WINDOW_SECONDS", "600")),
            ),
            metrics=MetricsSettings(
                port=int(get("METRICS_PORT", "6066")),
                host=get("METRICS_HOST", "127.0.0.1"),
            ),
            data_dir=Path(get("DATA_DIR", str(home / "worker"))),
            store=get("STORE", "rocksdb://"),
            stall_seconds=float(get("STALL_SECONDS", "60")),
            home=home,
        )
