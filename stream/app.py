"""The Faust application: `faust -A stream.app worker` (or `riskstream worker`).

Thin glue only.  Settings are read once from the environment; topics come from
the topic table; agents (in `stream.agents`) decode, call the pure engine and
send what it returns.  `/metrics` on the worker's web port serves the
project's Prometheus metrics (prometheus-client, not faust's sensor).
"""

from __future__ import annotations

from typing import Any

import faust
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from riskstream.settings import Settings
from stream.faust_fixes import App, RiskstreamTableManager
from stream.metrics import REGISTRY
from stream.topics import Topics

settings = Settings.from_env()

app = App(
    settings.kafka.app_id,
    broker=[f"kafka://{hp.strip()}" for hp in settings.kafka.bootstrap_servers.split(",")],
    autodiscover=False,
    origin="stream",
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
    store="memory://",
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
)

topics = Topics(app, settings)


@app.page("/metrics")
async def metrics(view: Any, request: faust.web.Request) -> Any:
    return view.bytes(generate_latest(REGISTRY), content_type=CONTENT_TYPE_LATEST.split(";")[0])


@app.page("/healthz")
async def healthz(view: Any, request: faust.web.Request) -> Any:
    from stream.agents import runtime

    return view.json({"ok": True, "policies": runtime.policy_versions(),
                      "control_topics_read": runtime.policies_ready.is_set()})


# Import for side effects: registers the agents on `app`.
from stream import agents  # noqa: E402, F401
