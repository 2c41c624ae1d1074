"""The Faust application, built by a function: ``create_app(settings)``.

Thin glue only.  Nothing happens on import: the entry point (``riskstream
worker``) reads the settings once and calls ``create_app``, which declares the
topics and tables and registers the agents on the app it builds.
``faust -A riskstream.stream.app worker`` also works: the module attribute
``app`` is built on first access from the environment.  ``/metrics`` on the
worker's web port serves the project's Prometheus metrics (prometheus-client,
not faust's sensor); ``/healthz`` says whether the worker is consuming.
"""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from riskstream.settings import Settings
from riskstream.stream import observe
from riskstream.stream.batch_send import RECORD_BATCH_BYTES
from riskstream.stream.faust_fixes import App, QuietWorker, RiskstreamTableManager
from riskstream.stream.metrics import REGISTRY
from riskstream.stream.security import faust_broker_credentials
from riskstream.stream.topics import Topics


def build_faust_app(settings: Settings) -> faust.App:
    """The bare Faust app with riskstream's settings (no topics, tables or agents)."""
    return App(
        settings.kafka.app_id,
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka.bootstrap_servers.split(",")],
        broker_credentials=faust_broker_credentials(settings),  # SASL/TLS from KAFKA_* (issue 13)
        autodiscover=False,
        datadir=str(settings.data_dir),
        processing_guarantee=settings.kafka.processing_guarantee,
        topic_partitions=settings.kafka.partitions,
        topic_replication_factor=settings.kafka.replication_factor,
        key_serializer="raw",
        value_serializer="raw",
        web_port=settings.metrics.port,
        web_bind=settings.metrics.host,
        web_host=settings.metrics.host,
        # An agent must never ack a message whose processing raised: our agents
        # catch everything and dead-letter it, this is the belt to those braces.
        stream_ack_exceptions=False,
        consumer_auto_offset_reset="earliest",
        # A dead worker's partitions move to the others after 15 s, not the default 60 s.
        broker_session_timeout=15.0,
        broker_heartbeat_interval=3.0,
        producer_acks=-1,
        producer_linger=settings.kafka.producer_linger_ms / 1000.0,
        # An outbox's flush hands each topic partition its records as record batches of this size
        # (stream/batch_send.py): a batch's outputs in a few requests, well under a topic's 1 MB limit.
        producer_max_batch_size=RECORD_BATCH_BYTES,
        store=settings.store,
        table_standby_replicas=0,
        # aiokafka refreshes a consumer's metadata only every metadata_max_age_ms (faust: 5 min) and
        # does not retry a subscribed topic the broker did not know yet (a topic this worker has
        # just created): the group leader's assignor then drops it ("Ignoring missing topic") and
        # nobody consumes it until the next refresh.  A refresh every 5 s adds the topic (and a
        # rebalance) within seconds; the cost is one MetadataRequest per 5 s.
        consumer_metadata_max_age_ms=5000,
        # faust's recovery resumes the streams before repositioning them and then clears
        # their queues, losing events after a restart or rebalance: see stream/faust_fixes.py.
        TableManager=RiskstreamTableManager,
        # faust's terminal spinner turns every debug call into a log record (see QuietWorker).
        Worker=QuietWorker,
    )


def create_app(settings: Settings) -> faust.App:
    """The worker: topics, tables, agents, tasks and web pages on a new app."""
    from riskstream.stream.agents import Pipeline

    app = build_faust_app(settings)
    topics = Topics(app, settings)
    pipeline = Pipeline(app, topics, settings)
    pipeline.register()
    # Observability (issue 12): rebalance sensor, lag collector, table sampler (riskstream.stream.observe).
    observe.install(app, settings)

    @app.page("/metrics")
    async def metrics(view: Any, request: faust.web.Request) -> Any:
        return view.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])

    @app.page("/healthz")
    async def healthz(view: Any, request: faust.web.Request) -> Any:
        health = pipeline.health()
        return view.json(health, status=200 if health["ok"] else 503)

    return app


_built: dict[str, faust.App] = {}


def __getattr__(name: str) -> Any:
    # `faust -A riskstream.stream.app worker`: build the app on first access, not on import.
    if name == "app":
        if "app" not in _built:
            _built["app"] = create_app(Settings.from_env())
        return _built["app"]
    raise AttributeError(name)
