"""`riskstream tail`: follow an output topic in a terminal (own consumer group-less reader)."""

from __future__ import annotations

import asyncio
from typing import Any

import click
import orjson
from aiokafka import AIOKafkaConsumer

from riskstream.regions import region_of
from riskstream.settings import Settings
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS

_COLOURS = {"enforced": "red", "shadow": "yellow", "open": "red", "update": "yellow", "resolve": "green"}


def render(what: str, rec: dict[str, Any]) -> str:
    """One readable line per record."""
    if what == "actions":
        ev = rec.get("evidence", {})
        terms = ev.get("terms") or ev.get("matched") or ""
        line = (f"{rec['mode']:>8} {rec['action']:<15} {rec['region']} {rec['entity_type']}:{rec['entity_id']} "
                f"reasons={','.join(rec['reason_codes'])} risk={rec.get('risk_score', 0):.2f} "
                f"policy={rec['policy_version']}" + (f" terms={terms}" if terms else ""))
        return click.style(line, fg=_COLOURS.get(rec["mode"]))
    if what == "incidents":
        line = (f"{rec['status']:>7} [{rec['severity']}] {rec['incident_id']} {rec['harm_kind']} "
                f"{rec['region']} cluster={rec['cluster']} regions={','.join(rec.get('regions_affected', []))} "
                f"score={rec['score']:.2f} reach={rec.get('reach', {})} runbook={rec.get('runbook', '')}")
        return click.style(line, fg=_COLOURS.get(rec["status"]))
    if what == "deadletter":
        return click.style(f"DLQ {rec['topic']}[{rec['partition']}]@{rec['offset']} {rec['reason']}: "
                           f"{rec['detail'][:160]} | {rec['original_preview'][:80]!r}", fg="magenta")
    return (f"signal {rec['detector']}/{rec['code']} {rec['region']} {rec['entity_type']}:{rec['entity_id']} "
            f"score={rec['score']:.2f}")


async def run_tail(settings: Settings, what: str, regions: set[str], from_beginning: bool,
                   limit: int = 0, severity: set[str] | None = None) -> None:
    topic = settings.kafka.topic_prefix + TOPICS[what].name
    consumer = AIOKafkaConsumer(
        topic, **client_kwargs(settings), group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
    )
    await consumer.start()
    seen = 0
    try:
        async for msg in consumer:
            if msg.value is None:
                continue
            rec = orjson.loads(msg.value)
            region = rec.get("region", "")
            if regions and region not in regions and region_of(region) not in regions:
                continue
            if severity and rec.get("severity") not in severity:
                continue
            click.echo(render(what, rec))
            seen += 1
            if limit and seen >= limit:
                return
    except asyncio.CancelledError:
        pass
    finally:
        await consumer.stop()
