"""One frozen settings object, read from the environment, split by concern.

Every variable has the prefix ``RISKSTREAM_`` except the ``KAFKA_*`` ones
(``KAFKA_BOOTSTRAP_SERVERS`` and the security settings, the de-facto standard
names).  Secrets are `Secret`s: their repr never shows the value.  Settings are read once at start-up and passed
explicitly; detectors never see them (they get their own typed params from
the region's policy).

>>> s = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": "k1:9092", "RISKSTREAM_METRICS_PORT": "9100"})
>>> s.kafka.bootstrap_servers, s.metrics.port
('k1:9092', 9100)
>>> Settings.from_env({"RISKSTREAM_MAX_EVENT_AGE_DAYS": "off"}).limits.max_event_age_days is None
True
"""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

from riskstream.resources import state_home


class Secret:
    """A credential whose repr and str never show it; `.reveal()` is the one way to read it.

    >>> s = Secret("hunter2")
    >>> s, f"{s}", s.reveal(), bool(Secret(""))
    (Secret('**********'), '**********', 'hunter2', False)
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", len(self._value)))

    def __reduce__(self) -> tuple[object, ...]:  # never pickled into a changelog or a log record
        raise TypeError("a Secret is not serialisable")


SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
_PROTOCOLS: tuple[SecurityProtocol, ...] = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_MECHANISMS: tuple[SaslMechanism, ...] = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, slots=True)
class KafkaSecuritySettings:
    """How every Kafka client authenticates and encrypts (`riskstream.stream.security`).

    Read from KAFKA_SECURITY_PROTOCOL, KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME,
    KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE), KAFKA_SSL_CAFILE,
    KAFKA_SSL_CERTFILE, KAFKA_SSL_KEYFILE, KAFKA_SSL_CHECK_HOSTNAME.

    >>> k = KafkaSecuritySettings.from_env({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    ...     "KAFKA_SASL_USERNAME": "worker", "KAFKA_SASL_PASSWORD": "s3cret"})
    >>> k.sasl_mechanism, k.sasl_password, "s3cret" in repr(k)
    ('SCRAM-SHA-512', Secret('**********'), False)
    """

    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    sasl_username: str = ""
    sasl_password: Secret = field(default_factory=lambda: Secret(""))
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSecuritySettings:
        protocol = env.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper()
        if protocol not in _PROTOCOLS:
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL must be one of {', '.join(_PROTOCOLS)}, got {protocol!r}")
        mechanism = env.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512").upper()
        if mechanism not in _MECHANISMS:
            raise ValueError(f"KAFKA_SASL_MECHANISM must be one of {', '.join(_MECHANISMS)}, got {mechanism!r}")
        password = env.get("KAFKA_SASL_PASSWORD", "")
        if not password and env.get("KAFKA_SASL_PASSWORD_FILE"):
            password = Path(env["KAFKA_SASL_PASSWORD_FILE"]).read_text().strip()
        username = env.get("KAFKA_SASL_USERNAME", "")
        if protocol.startswith("SASL_") and not (username and password):
            raise ValueError(f"KAFKA_SECURITY_PROTOCOL={protocol} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD")

        def path(name: str) -> Path | None:
            value = env.get(name)
            return Path(value) if value else None

        return cls(
            security_protocol=next(p for p in _PROTOCOLS if p == protocol),
            sasl_mechanism=next(m for m in _MECHANISMS if m == mechanism),
            sasl_username=username,
            sasl_password=Secret(password),
            ssl_cafile=path("KAFKA_SSL_CAFILE"),
            ssl_certfile=path("KAFKA_SSL_CERTFILE"),
            ssl_keyfile=path("KAFKA_SSL_KEYFILE"),
            ssl_check_hostname=env.get("KAFKA_SSL_CHECK_HOSTNAME", "true").lower() not in ("0", "false", "no"),
        )


@dataclass(frozen=True, slots=True)
class KafkaSettings:
    bootstrap_servers: str = "127.0.0.1:9092"
    app_id: str = "riskstream"
    topic_prefix: str = ""
    partitions: int = 4
    replication_factor: int = 1
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    security: KafkaSecuritySettings = field(default_factory=KafkaSecuritySettings)
    # How long the worker's producer waits to fill a request (RISKSTREAM_PRODUCER_LINGER_MS).
    # faust's default, 0, sends a produce request per record or two; 2 ms measured 0.89x the CPU
    # per event, side by side (docs/performance.md). The default stays 0, what every earlier CI run
    # passed with: a rare start-up stall was first seen with 2 ms, then once with 0 too, so the
    # linger is probably not its cause (not found yet; docs/performance.md).
    producer_linger_ms: float = 0.0
    # An outbox hands its records to the producer as one record batch per topic partition at flush
    # (RISKSTREAM_BATCH_SENDS, default on; 0 sends record by record, as before): stream/batch_send.py.
    batch_sends: bool = True


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
class LimitSettings:
    """What an input may hold; anything beyond is dead-lettered at decode (`too_large`, `out_of_range`).

    Sizes are counted in bytes for the whole record and in characters for a
    field.  The event-time window is relative to the time of processing;
    `None` switches a side of it off (replaying a historic file), the hard
    bounds `earliest`/`latest` always hold.  Recall notices are exempt from
    the age limit: the compacted recall topic is re-read from its start.
    """

    max_record_bytes: int = 262_144
    max_text_chars: int = 10_000  # free text: title, description, review and content text, hazard
    max_short_chars: int = 512  # ids, codes, brand, category, list items, attribute keys and values
    max_list_items: int = 256
    max_attributes: int = 128
    max_price: float = 1e11
    max_count: int = 36_500  # day counts (seller_age_days, account_age_days): 100 years
    max_event_age_days: float | None = 30.0
    max_event_lead_days: float | None = 1.0
    age_exempt_kinds: frozenset[str] = frozenset({"recall"})
    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    latest: datetime = datetime(2100, 1, 1, tzinfo=UTC)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LimitSettings:
        d = cls()

        def num(name: str, default: float) -> float:
            return float(env.get(f"RISKSTREAM_{name}", str(default)))

        def window(name: str, default: float | None) -> float | None:
            raw = env.get(f"RISKSTREAM_{name}")
            if raw is None:
                return default
            return None if raw.strip().lower() in ("off", "none", "") else float(raw)

        return cls(
            max_record_bytes=int(num("MAX_RECORD_BYTES", d.max_record_bytes)),
            max_text_chars=int(num("MAX_TEXT_CHARS", d.max_text_chars)),
            max_short_chars=int(num("MAX_SHORT_CHARS", d.max_short_chars)),
            max_list_items=int(num("MAX_LIST_ITEMS", d.max_list_items)),
            max_attributes=int(num("MAX_ATTRIBUTES", d.max_attributes)),
            max_price=num("MAX_PRICE", d.max_price),
            max_count=int(num("MAX_COUNT", d.max_count)),
            max_event_age_days=window("MAX_EVENT_AGE_DAYS", d.max_event_age_days),
            max_event_lead_days=window("MAX_EVENT_LEAD_DAYS", d.max_event_lead_days),
        )


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """The key of the pseudonyms on output topics (RISKSTREAM_PSEUDONYM_KEY, or ..._FILE).

    Without one, a random key is made at start-up (`ephemeral`): outputs are
    still pseudonymous, but pseudonyms differ between workers and restarts.

    >>> PrivacySettings.from_env({"RISKSTREAM_PSEUDONYM_KEY": "x" * 32}).key
    b'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'
    >>> PrivacySettings.from_env({}).ephemeral
    True
    """

    pseudonym_key: Secret = field(default_factory=lambda: Secret(secrets.token_hex(32)))
    ephemeral: bool = True

    @property
    def key(self) -> bytes:
        return self.pseudonym_key.reveal().encode()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PrivacySettings:
        value = env.get("RISKSTREAM_PSEUDONYM_KEY", "")
        if not value and env.get("RISKSTREAM_PSEUDONYM_KEY_FILE"):
            value = Path(env["RISKSTREAM_PSEUDONYM_KEY_FILE"]).read_text().strip()
        if not value:
            return cls()
        if len(value) < 16:
            raise ValueError("RISKSTREAM_PSEUDONYM_KEY must be at least 16 characters (32 random bytes, hex, advised)")
        return cls(pseudonym_key=Secret(value), ephemeral=False)


@dataclass(frozen=True, slots=True)
class GuardSettings:
    """The blast-radius guard (riskstream.decisions.blast_radius, wired by riskstream.stream.guard).

    Per (rule, policy region) and event-time window of `window_seconds`: a rule
    whose enforced-action rate exceeds `multiple` times its baseline (the last
    `baseline_windows` closed windows, at least `min_baseline_windows` of them)
    with at least `min_actions` enforced actions drops to shadow for the region.
    A window closes once a window `grace_seconds` later has been seen.
    `exempt_rules` are not watched: a recall notice from an authority is meant
    to remove every listing it matches at once.  `min_actions` is the floor that
    keeps a real, bounded surge from tripping a rule that is usually quiet: on
    the simulated days (seeds 1-5, ``bench/guard_day.py``) the largest real one,
    a review farm, is 87 enforced actions in a 10-minute window, which tripped
    the guard at 50; set it from the deployment's own volume.
    """

    enabled: bool = True
    window_seconds: int = 600
    grace_seconds: int = 600
    multiple: float = 5.0
    min_actions: int = 100
    baseline_windows: int = 24
    min_baseline_windows: int = 6
    exempt_rules: tuple[str, ...] = ("recall_match",)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GuardSettings:
        d = cls()

        def get(name: str, default: object) -> str:
            return env.get(f"RISKSTREAM_GUARD_{name}", str(default))

        return cls(
            enabled=get("ENABLED", "1").strip().lower() in ("1", "true", "yes", "on"),
            window_seconds=max(1, int(get("WINDOW_SECONDS", d.window_seconds))),
            grace_seconds=max(0, int(get("GRACE_SECONDS", d.grace_seconds))),
            multiple=float(get("MULTIPLE", d.multiple)),
            min_actions=int(get("MIN_ACTIONS", d.min_actions)),
            baseline_windows=max(1, int(get("BASELINE_WINDOWS", d.baseline_windows))),
            min_baseline_windows=max(1, int(get("MIN_BASELINE_WINDOWS", d.min_baseline_windows))),
            exempt_rules=tuple(r.strip() for r in get("EXEMPT_RULES", ",".join(d.exempt_rules)).split(",")
                               if r.strip()),
        )


@dataclass(frozen=True, slots=True)
class Settings:
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    policies: PolicySettings = field(default_factory=PolicySettings)
    models: ModelSettings = field(default_factory=ModelSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    guard: GuardSettings = field(default_factory=GuardSettings)
    data_dir: Path = field(default_factory=lambda: state_home() / "worker")
    # Faust's table store: RocksDB (via rocksdict) on disk under data_dir, so a
    # restarted worker reads its tables locally and replays only the changelog's
    # tail; "memory://" replays whole changelogs (unit tests, benchmarks).
    store: str = "rocksdb://"
    # A worker that holds partitions with lag and makes no progress on them for
    # this long is unhealthy (/healthz 503, riskstream_worker_stalled) and exits
    # non-zero so that its supervisor restarts it.
    stall_seconds: float = 60.0
    # Partitioned detector state (the default; RISKSTREAM_PARTITIONED_STATE=0 turns it
    # off): every partitioned detector's state in the changelog-backed `detector-state`
    # table on the partition that owns its key (risk.detect.v1 / risk.decide.v1 hops).
    # Off, detector state is per worker process (one worker that is never restarted).
    partitioned_state: bool = True
    # RISKSTREAM_FANOUT=1 (opt-in): an event whose steps are owned by several detect partitions
    # goes to all of them at once and its parts are gathered at decide (stream/gather.py): one hop
    # of latency, not one per owner.  Off by default: after a SIGKILL or a rebalance it lost
    # image_reuse signals in CI (docs/architecture.md).  Off: hop from owner to owner.
    fanout: bool = False
    # Agents take up to this many events at once (or what arrived within batch_seconds),
    # send all of their outputs, await the broker's acknowledgements together, and only
    # then let Faust acknowledge the inputs.
    batch_events: int = 500
    batch_seconds: float = 0.025
    # Idempotency keys of enforced actions are remembered this long (None: the input
    # limits' event-age window plus one day, so a replay older than that is refused
    # by its event time before a key could have expired; see stream/dedupe.py), and
    # expired keys are swept from the local store this often.
    dedupe_horizon_days: float | None = None
    dedupe_sweep_seconds: float = 600.0
    # Enforced actions stay in the appeals index (stream/appeals.py) this long, or the dedupe
    # horizon if that is longer: the DSA (Art. 20(1)) has users appeal for at least six months.
    appeal_window_days: float = 183.0
    # The worker's asyncio event loop (RISKSTREAM_LOOP, `riskstream worker --loop`): "asyncio"
    # (the standard library's) or "uvloop" (libuv; see docs/capacity.md for what it measured).
    loop: str = "asyncio"
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
            security=KafkaSecuritySettings.from_env(e),
            producer_linger_ms=float(get("PRODUCER_LINGER_MS", str(dk.producer_linger_ms))),
            batch_sends=get("BATCH_SENDS", "1").strip().lower() in ("1", "true", "yes", "on"),
        )
        if not 0 <= kafka.producer_linger_ms <= 1000:
            raise ValueError(f"RISKSTREAM_PRODUCER_LINGER_MS must be in [0, 1000], got {kafka.producer_linger_ms}")
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
            limits=LimitSettings.from_env(e),
            privacy=PrivacySettings.from_env(e),
            guard=GuardSettings.from_env(e),
            data_dir=Path(get("DATA_DIR", str(home / "worker"))),
            store=get("STORE", "rocksdb://"),
            stall_seconds=float(get("STALL_SECONDS", "60")),
            partitioned_state=get("PARTITIONED_STATE", "1").strip().lower() in ("1", "true", "yes", "on"),
            fanout=get("FANOUT", "0").strip().lower() in ("1", "true", "yes", "on"),
            batch_events=int(get("BATCH_EVENTS", "500")),
            batch_seconds=float(get("BATCH_MS", "25")) / 1000.0,
            dedupe_horizon_days=float(h) if (h := get("DEDUPE_HORIZON_DAYS", "")) else None,
            appeal_window_days=float(get("APPEAL_WINDOW_DAYS", "183")),
            dedupe_sweep_seconds=float(get("DEDUPE_SWEEP_SECONDS", "600")),
            loop=_loop_name(get("LOOP", "asyncio")),
            home=home,
        )


EVENT_LOOPS: Final = ("asyncio", "uvloop")


def _loop_name(value: str) -> str:
    """RISKSTREAM_LOOP, checked: one of `EVENT_LOOPS`.

    >>> _loop_name(" UVLOOP "), _loop_name("asyncio")
    ('uvloop', 'asyncio')
    """
    name = value.strip().lower()
    if name not in EVENT_LOOPS:
        raise ValueError(f"RISKSTREAM_LOOP must be one of {', '.join(EVENT_LOOPS)}, got {value!r}")
    return name
