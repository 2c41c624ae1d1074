"""A trivial Faust app for `bench_pipeline.py`: consume the three input topics, do nothing.

It isolates Faust's per-message machinery (fetch, stream, event, ack, commit)
from riskstream's work: the same broker settings and raw serializers as
`riskstream.stream.app`, the same three input topics and ``concurrency=1`` agents, but no
decoding, no engine, no producing, no tables.  Settings come from the same
environment variables as the real worker (``KAFKA_BOOTSTRAP_SERVERS``,
``RISKSTREAM_TOPIC_PREFIX``, ``RISKSTREAM_APP_ID``, ``RISKSTREAM_METRICS_PORT``,
``RISKSTREAM_DATA_DIR``); ``/metrics`` serves one counter,
``bench_noop_events_in_total``, polled by the bench exactly like the worker's
``riskstream_events_in_total``.

    python bench/noop_faust_app.py worker -l warn
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import faust

from riskstream.settings import Settings
from riskstream.topology import TOPICS

INPUTS = ("listings", "reviews", "content")

settings = Settings.from_env()

app = faust.App(
    settings.kafka.app_id,
    broker=[f"kafka://{hp.strip()}" for hp in settings.kafka.bootstrap_servers.split(",")],
    autodiscover=False,
    datadir=str(settings.data_dir),
    topic_partitions=settings.kafka.partitions,
    key_serializer="raw",
    value_serializer="raw",
    web_port=settings.metrics.port,
    web_bind=settings.metrics.host,
    web_host=settings.metrics.host,
    consumer_auto_offset_reset="earliest",
    broker_session_timeout=15.0,
    broker_heartbeat_interval=3.0,
    store="memory://",
)

consumed = {key: 0 for key in INPUTS}


def _topic(key: str) -> Any:
    return app.topic(settings.kafka.topic_prefix + TOPICS[key].name, key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw",
                     partitions=settings.kafka.partitions)


async def _count(stream: Any, key: str) -> None:
    async for _event in stream.events():
        consumed[key] += 1


@app.agent(_topic("listings"), concurrency=1)
async def count_listings(stream: Any) -> None:
    await _count(stream, "listings")


@app.agent(_topic("reviews"), concurrency=1)
async def count_reviews(stream: Any) -> None:
    await _count(stream, "reviews")


@app.agent(_topic("content"), concurrency=1)
async def count_content(stream: Any) -> None:
    await _count(stream, "content")


@app.page("/metrics")
async def metrics(view: Any, request: Any) -> Any:
    lines = ["# TYPE bench_noop_events_in_total counter"]
    lines += [f'bench_noop_events_in_total{{topic="{k}"}} {v}' for k, v in consumed.items()]
    return view.bytes(("\n".join(lines) + "\n").encode(), content_type="text/plain")


if __name__ == "__main__":
    app.main()
