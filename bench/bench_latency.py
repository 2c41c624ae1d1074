"""Latency and sustainable rate of one live `riskstream worker`, at a normal and at a surge mix.

Run from the repository root (starts its own Kafka unless KAFKA_BOOTSTRAP_SERVERS is set):

    python bench/bench_latency.py [--seconds 60] [--json bench/results/latency.json] [--smoke]

Inputs are listing events from the simulator (`riskstream.sim`): *risky* ones are the listings its
ground truth labels ``is_risky`` (drawn from runs of the listing scenarios prohibited_surge,
counterfeit_wave, missing_certification and cross_region_spread at 10x intensity), *benign* ones
are background listings labelled not risky.  A mix is the share of risky listings (5 %: normal
traffic; 50 %: a surge of prohibited listings).  Each event is re-timed to the moment it is sent.
How many of each pool the engine acts on is measured in-process and reported, so a mix's
share of enforced actions is known, not assumed.

For each mix, every measurement below gets a fresh worker subprocess, a fresh topic prefix and
consumer group (no state carried over between runs):

1. **max rate**: N events of the mix pre-loaded, then timed from the first decided event to
   the N-th (``riskstream_events_decided_total``): how fast the worker drains a backlog.
2. **fixed rates**: the mix offered at 25 %, 50 % and 80 % of that mix's own max rate for
   ``--seconds``, once the fresh worker has decided 50 warm-up events (`warm_up`: what a new
   worker does once is reported as ``warmup_seconds``, not counted as latency).  End-to-end latency per event = the action record's Kafka timestamp minus
   the input record's (both set at send, same clock), matched by event id; events that got no
   action (most benign ones) have no latency.  p50/p95/p99/max over the events with an action.
   **Where the time goes** (``stages_ms``): after each fixed rate the internal topics are read
   too (``risk.detect.v1``, ``risk.decide.v1``: each record's envelopes name their event), and
   each acted-on event's latency is split at the Kafka timestamps of its hop records: input ->
   first hop, hop -> hop (hop by hop, the default, an event visits one detect partition per state
   owner after the other; with fan-out it visits them all at once and "hop -> hop" is the spread
   of its parts), last hop -> decide (its last decide record: fan-out's parts are gathered there),
   decide -> action; with the hops per event.  ``--compare-fanout`` offers each fixed rate also to
   a worker with ``RISKSTREAM_FANOUT=1``, right after the same rate hop by hop
   (``--variant NAME:KEY=VALUE`` the same with any settings).  The 2026-12-06 results were taken
   while fan-out was the default, with ``--compare-hop-by-hop`` (now ``--variant "hop by
   hop:RISKSTREAM_FANOUT=0"`` against a fan-out worker).  ``slow_seconds`` lists the seconds of
   the offering (by send time) whose slowest event took over 1 s: a stall shows there, a
   rate the worker cannot keep up with shows in every later second.
3. **max flat-lag rate**: the consumer group's lag (input end offsets minus the group's
   committed offsets, sampled every second) is *flat* when its least-squares slope over the
   offering's second half is at most 5 % of the offered rate and the last sample is at most 5 s
   of input (Faust commits about every 3 s, so the committed lag is a sawtooth of that size).  Start from the highest flat
   fixed rate (lo) and 120 % of the max rate (hi, assumed not flat), then bisect
   ``--search-steps`` times; the answer is lo, the highest rate seen flat.

The machine is shared and noisy: read the ratios between the mixes, measured in one run.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from bench.bench_pipeline import (
    WORKER_ARGV,
    Subprocess,
    build_engine,
    machine,
    metric_sum,
    parse_variants,
    read_policies,
    say,
    scrape,
    start_group,
    time_consumption,
    worker_env,
    write_policies,
)
from riskstream.contracts import encode
from riskstream.settings import Settings
from riskstream.sim import SimConfig, run
from riskstream.sim.scenarios import DEFAULT_SCENARIOS
from riskstream.sim.spec import ScenarioSpec
from riskstream.sim.world import Record
from riskstream.stream.kafka_local import LocalKafka, free_port
from riskstream.stream.producer import produce, producer
from riskstream.stream.security import client_kwargs
from riskstream.topology import TOPICS

LISTING_SCENARIOS = ("prohibited_surge", "counterfeit_wave", "missing_certification", "cross_region_spread")
FLAT_SLOPE = 0.05  # lag may grow by at most 5 % of the offered rate (the slope of a sawtooth is noisy)
WARMUP_EVENTS = 50  # decided before a fixed rate is offered (a new worker's first seconds are not its rate)
FLAT_LEVEL_S = 5.0  # and end at most 5 s of input behind (Faust commits every ~3 s: a sawtooth of that size)


# --------------------------------------------------------------------------- inputs


@dataclasses.dataclass
class Pools:
    """Simulated listings labelled risky / not risky (distinct event ids), grown on demand."""

    seed: int
    risky: dict[str, Record] = dataclasses.field(default_factory=dict)
    benign: dict[str, Record] = dataclasses.field(default_factory=dict)
    _days: list[int] = dataclasses.field(default_factory=lambda: [0, 0])

    def ensure(self, risky_needed: int, benign_needed: int) -> None:
        scenarios = tuple(ScenarioSpec(s.kind, s.countries, 0, 24, intensity=10.0)
                          for s in DEFAULT_SCENARIOS if s.kind in LISTING_SCENARIOS)
        while len(self.risky) < risky_needed:
            res = run(SimConfig(seed=self.seed + self._days[0], scenarios=scenarios, events_per_hour=200))
            self._days[0] += 1
            for _t, _k, rec in res.events:
                if rec.kind == "listing" and res.labels.labels[rec.event_id].is_risky:
                    self.risky[rec.event_id] = rec
        while len(self.benign) < benign_needed:
            res = run(SimConfig(seed=self.seed + 5000 + self._days[1], scenarios=()))
            self._days[1] += 1
            for _t, _k, rec in res.events:
                lab = res.labels.labels[rec.event_id]
                if rec.kind == "listing" and not lab.is_risky and lab.scenario is None:
                    self.benign[rec.event_id] = rec

    def mix(self, n: int, risky_pct: int) -> list[Record]:
        """`n` distinct listings, risky_pct % of them risky, evenly interleaved."""
        r_need = n * risky_pct // 100 + 1
        self.ensure(r_need, n - r_need + 1)
        risky, benign = list(self.risky.values()), list(self.benign.values())
        out: list[Record] = []
        r = b = 0
        for i in range(n):
            if (r + 1) * 100 <= (i + 1) * risky_pct:  # risky when the running share falls below the target
                out.append(risky[r])
                r += 1
            else:
                out.append(benign[b])
                b += 1
        return out


def action_share(records: list[Record], policies: dict[str, str]) -> dict[str, float]:
    """In-process: the share of these listings the engine acts on (any action, enforced action)."""
    engine = build_engine(policies)
    acted = enforced = 0
    for rec in records:
        out = engine.handle_raw("listing", encode(dataclasses.replace(rec, event_time=datetime.now(UTC))))
        acted += bool(out.actions)
        enforced += any(a.mode == "enforced" for a in out.actions)
    n = max(1, len(records))
    return {"with_action": acted / n, "with_enforced_action": enforced / n}


def _triples(records: list[Record]) -> list[tuple[str, str, bytes]]:
    """(event id, record key, bytes) with the event time re-set to now."""
    now = datetime.now(UTC)
    return [(rec.event_id, rec.listing_id, encode(dataclasses.replace(rec, event_time=now)))  # type: ignore[union-attr]
            for rec in records]


# --------------------------------------------------------------------------- Kafka helpers


def settings_for(bootstrap: str, prefix: str, app_id: str = "") -> Settings:
    env = {"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_TOPIC_PREFIX": prefix}
    if app_id:
        env["RISKSTREAM_APP_ID"] = app_id
    return Settings.from_env(env)


class LagProbe:
    """The group's lag on the listings topic: end offsets minus committed offsets, summed."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.kafka.topic_prefix + TOPICS["listings"].name
        self.tps = [TopicPartition(self.topic, p) for p in range(settings.kafka.partitions)]
        self.admin = AIOKafkaAdminClient(**client_kwargs(settings))
        self.reader = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False)

    async def start(self) -> None:
        await self.admin.start()
        await self.reader.start()

    async def stop(self) -> None:
        await self.reader.stop()
        await self.admin.close()

    async def lag(self) -> int:
        committed = await self.admin.list_consumer_group_offsets(self.settings.kafka.app_id, partitions=self.tps)
        end = await self.reader.end_offsets(self.tps)
        done = {tp: (meta.offset if meta is not None and meta.offset >= 0 else 0) for tp, meta in committed.items()}
        return sum(max(0, end[tp] - done.get(tp, 0)) for tp in self.tps)


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over t."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mt = sum(t for t, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((t - mt) ** 2 for t, _ in points)
    return sum((t - mt) * (y - my) for t, y in points) / var if var else 0.0


async def offer(settings: Settings, events: list[tuple[str, str, bytes]], rate: float, seconds: float,
                ) -> dict[str, Any]:
    """Send `rate` events/s for `seconds` (each with its send time as the record timestamp),
    sampling the group's lag every second.  Returns the send times by event id and the lag."""
    prod = producer(settings)
    probe = LagProbe(settings)
    await prod.start()
    await probe.start()
    sent_at: dict[str, int] = {}
    lag: list[tuple[float, float]] = []
    topic = settings.kafka.topic_prefix + TOPICS["listings"].name
    total = min(len(events), int(rate * seconds))

    async def sample() -> None:
        t0 = time.monotonic()
        while True:
            lag.append((time.monotonic() - t0, float(await probe.lag())))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample())
    started = time.monotonic()
    i = 0
    try:
        while i < total:
            due = min(total, int((time.monotonic() - started) * rate) + 1)
            while i < due:
                eid, key, value = events[i]
                ts = int(time.time() * 1000)
                await prod.send(topic, value, key=key.encode(), timestamp_ms=ts)
                sent_at[eid] = ts
                i += 1
            await asyncio.sleep(0.005)
        await prod.flush()
        elapsed = time.monotonic() - started
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
        await prod.stop()
        await probe.stop()
    half = [p for p in lag if p[0] >= elapsed / 2]
    growth = slope(half)
    final = lag[-1][1] if lag else 0.0
    return {"sent_at": sent_at, "lag": lag, "seconds": elapsed, "achieved_per_s": i / elapsed if elapsed else 0.0,
            "lag_slope_per_s": growth, "final_lag": final,
            "flat": growth <= FLAT_SLOPE * rate and final <= FLAT_LEVEL_S * rate}


async def drain_and_collect(settings: Settings, sent_at: dict[str, int], timeout: float) -> dict[str, int]:
    """Wait until the group's lag is 0 (or timeout), then the first action timestamp per event id."""
    probe = LagProbe(settings)
    await probe.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and await probe.lag() > 0:
            await asyncio.sleep(1.0)
    finally:
        await probe.stop()
    await asyncio.sleep(3.0)  # actions of the last events are produced before their offsets are committed
    topic = settings.kafka.topic_prefix + TOPICS["actions"].name
    reader = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False,
                              auto_offset_reset="earliest")
    await reader.start()
    first: dict[str, int] = {}
    try:
        tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        async def behind() -> bool:
            return any([await reader.position(tp) < end[tp] for tp in tps])

        while await behind():
            batch = await reader.getmany(timeout_ms=1000)
            for records in batch.values():
                for rec in records:
                    obj = json.loads(rec.value or b"{}")
                    eid = obj.get("event_id")
                    if eid in sent_at and (eid not in first or rec.timestamp < first[eid]):
                        first[eid] = rec.timestamp
    finally:
        await reader.stop()
    return first


def latency_stats(sent_at: dict[str, int], acted_at: dict[str, int]) -> dict[str, float]:
    xs = sorted(acted_at[e] - sent_at[e] for e in acted_at)
    if not xs:
        return {"count": 0}

    def q(p: float) -> float:
        return float(xs[min(len(xs) - 1, int(p * len(xs)))])

    return {"count": len(xs), "p50": q(0.50), "p95": q(0.95), "p99": q(0.99), "max": float(xs[-1])}


def warm_up(settings: Settings, events: list[tuple[str, str, bytes]], port: int, timeout: float) -> float:
    """Send `events` and wait until the worker decided them all; the seconds it took.

    A new worker's first events wait for what happens once (its changelog topics created and
    seen by its consumer's next metadata refresh, stores opened): in the 2026-12-03 runs without
    a warm-up that was a 2-3 s stall at the start of each offering, which set the p99 at 50 %
    load.  It is reported here (``warmup_seconds``) and left out of the offering's latency.
    """
    records = [("listings", key, value) for _eid, key, value in events]
    started = time.monotonic()
    asyncio.run(produce(settings, records, progress_every=600))
    while time.monotonic() - started < timeout:
        decided = metric_sum(scrape(port), "riskstream_events_decided_total") or 0.0
        if decided >= len(events):
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"the worker did not decide {len(events)} warm-up events in {timeout:.0f} s")


async def hop_times(settings: Settings, wanted: set[str]) -> dict[str, dict[str, list[int]]]:
    """The Kafka timestamps of the hop records (detect, decide) that carried each wanted event."""
    reader = AIOKafkaConsumer(**client_kwargs(settings), group_id=None, enable_auto_commit=False,
                              auto_offset_reset="earliest")
    await reader.start()
    out: dict[str, dict[str, list[int]]] = {}
    try:
        for kind in ("detect", "decide"):
            topic = settings.kafka.topic_prefix + TOPICS[kind].name
            tps = [TopicPartition(topic, p) for p in range(settings.kafka.partitions)]
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            end = await reader.end_offsets(tps)

            async def behind(tps: list[TopicPartition] = tps, end: dict[Any, int] = end) -> bool:
                return any([await reader.position(tp) < end[tp] for tp in tps])

            while await behind():
                for records in (await reader.getmany(timeout_ms=1000)).values():
                    for rec in records:
                        obj = json.loads(rec.value or b"[]")
                        for env in obj if isinstance(obj, list) else [obj]:
                            eid = env.get("e", {}).get("event_id")
                            if eid in wanted:
                                out.setdefault(eid, {}).setdefault(kind, []).append(rec.timestamp)
    finally:
        await reader.stop()
    return out


def stage_stats(sent_at: dict[str, int], acted_at: dict[str, int],
                hops: dict[str, dict[str, list[int]]]) -> dict[str, Any]:
    """Each acted-on event's latency split at its hop records' timestamps (ms): p50/p90/mean per stage."""
    stages: dict[str, list[float]] = {"input_to_first_hop": [], "hop_to_hop": [], "last_hop_to_decide": [],
                                      "decide_to_action": [], "detect_hops_per_event": []}
    for eid, acted in acted_at.items():
        h = hops.get(eid, {})
        # With fan-out an event's parts reach decide in several records: it is decided at the last one.
        detect, decide = sorted(h.get("detect", [])), max(h.get("decide", []), default=None)
        if decide is None:  # its decide record was not read (or it decided without a hop): not split
            continue
        path = [sent_at[eid], *detect, decide, acted]
        stages["input_to_first_hop"].append(path[1] - path[0])
        stages["hop_to_hop"].extend(b - a for a, b in itertools.pairwise(detect))
        if detect:
            stages["last_hop_to_decide"].append(decide - detect[-1])
        stages["decide_to_action"].append(acted - decide)
        stages["detect_hops_per_event"].append(len(detect))

    def summary(xs: list[float]) -> dict[str, float]:
        xs = sorted(xs)
        return {"n": len(xs), "p50": xs[len(xs) // 2], "p90": xs[min(len(xs) - 1, int(0.9 * len(xs)))],
                "mean": round(sum(xs) / len(xs), 1)} if xs else {"n": 0}

    return {k: summary(v) for k, v in stages.items()}


def slow_seconds(sent_at: dict[str, int], acted_at: dict[str, int], over_ms: float = 1000.0) -> dict[int, float]:
    """Second of the offering (by send time) -> its slowest event's latency, where that is over `over_ms`."""
    if not acted_at:
        return {}
    t0 = min(sent_at.values())
    worst: dict[int, float] = {}
    for eid, acted in acted_at.items():
        sec = (sent_at[eid] - t0) // 1000
        worst[sec] = max(worst.get(sec, 0.0), float(acted - sent_at[eid]))
    return {sec: ms for sec, ms in sorted(worst.items()) if ms > over_ms}


# --------------------------------------------------------------------------- runs


class Bench:
    def __init__(self, bootstrap: str, pools: Pools, policy_dir: Path, work: Path, seconds: float) -> None:
        self.bootstrap = bootstrap
        self.pools = pools
        self.policy_dir = policy_dir
        self.work = work
        self.seconds = seconds
        self.run_id = uuid.uuid4().hex[:6]
        self.count = 0

    def _fresh(self, tag: str) -> tuple[str, str, Path]:
        self.count += 1
        name = f"lat{self.run_id}{self.count}{tag}"
        return f"{name}.", f"bench-{name}", self.work / name

    def max_rate(self, risky_pct: int, n: int, timeout: float) -> dict[str, Any]:
        """Pre-load n events of the mix, start a worker, time it to the n-th decided event."""
        prefix, app_id, work = self._fresh(f"max{risky_pct}")
        work.mkdir(parents=True, exist_ok=True)
        settings = settings_for(self.bootstrap, prefix)
        records = [("listings", k, v) for _e, k, v in _triples(self.pools.mix(n, risky_pct))]
        asyncio.run(produce(settings, records, progress_every=60))
        port = free_port()
        proc = Subprocess(WORKER_ARGV, worker_env(self.bootstrap, prefix, app_id, port, self.policy_dir,
                                                  work / "data"), work / "worker.log")
        try:
            events, seconds, cpu, _text = time_consumption([(proc, port)], "riskstream_events_decided_total",
                                                           n, timeout)
        finally:
            proc.stop()
        rate = events / seconds if seconds > 0 else 0.0
        say(f"  max rate at {risky_pct} % risky: {rate:,.0f} events/s ({cpu / max(1, events) * 1e6:,.0f} CPU µs/event)")
        return {"events": events, "seconds": seconds, "events_per_s": rate,
                "cpu_us_per_event": cpu / events * 1e6 if events else 0.0}

    def at_rate(self, risky_pct: int, rate: float, purpose: str,
                extra_env: dict[str, str] | None = None) -> dict[str, Any]:
        """Offer the mix at `rate` for `seconds` to a fresh worker (its settings changed by `extra_env`); latency and lag."""
        prefix, app_id, work = self._fresh(f"r{risky_pct}")
        work.mkdir(parents=True, exist_ok=True)
        settings = settings_for(self.bootstrap, prefix, app_id)
        procs = start_group(1, self.bootstrap, prefix, app_id, self.policy_dir, work, timeout=90, extra_env=extra_env)
        n = int(rate * self.seconds) + 1
        events = _triples(self.pools.mix(n + WARMUP_EVENTS, risky_pct))
        events, warmup = events[:n], events[n:]
        try:
            warmup_s = warm_up(settings, warmup, procs[0][1], timeout=120)
            offered = asyncio.run(offer(settings, events, rate, self.seconds))
            acted = asyncio.run(drain_and_collect(settings, offered["sent_at"], timeout=max(30.0, self.seconds * 3)))
            hops = asyncio.run(hop_times(settings, set(acted)))
        finally:
            for proc, _ in procs:
                proc.stop()
        stats = latency_stats(offered["sent_at"], acted)
        out = {"risky_pct": risky_pct, "purpose": purpose, "offered_per_s": rate, "sent": len(offered["sent_at"]),
               "achieved_per_s": offered["achieved_per_s"], "seconds": offered["seconds"],
               "lag_slope_per_s": offered["lag_slope_per_s"], "final_lag": offered["final_lag"],
               "flat": offered["flat"], "lag_samples": offered["lag"], "latency_ms": stats,
               "warmup_seconds": warmup_s, "stages_ms": stage_stats(offered["sent_at"], acted, hops),
               "slow_seconds": slow_seconds(offered["sent_at"], acted)}
        say(f"  {risky_pct:>2} % risky at {rate:,.0f}/s ({purpose}, after a {warmup_s:.1f} s warm-up): sent {out['sent']} at "
            f"{out['achieved_per_s']:,.0f}/s, lag slope {out['lag_slope_per_s']:+,.1f}/s "
            f"({'flat' if out['flat'] else 'GROWING'}), latency ms {stats}")
        say("    stages (mean ms): " + ", ".join(f"{k} {v.get('mean', '-')}" for k, v in out["stages_ms"].items())
            + (f"; seconds with an event over 1 s: {out['slow_seconds']}" if out["slow_seconds"] else ""))
        return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mixes", default="5,50", help="risky shares in percent (default 5,50)")
    ap.add_argument("--fractions", default="0.25,0.5,0.8", help="of each mix's max rate (default 0.25,0.5,0.8)")
    ap.add_argument("--seconds", type=float, default=60.0, help="offering time per fixed rate (default 60)")
    ap.add_argument("--max-events", type=int, default=20_000, help="pre-loaded events for the max rate (default 20000)")
    ap.add_argument("--search-steps", type=int, default=3, help="bisection steps for the flat-lag rate (default 3)")
    ap.add_argument("--policies", type=Path, default=Path("policies"))
    ap.add_argument("--seed", type=int, default=3001, help="first simulator seed of the listing pools")
    ap.add_argument("--timeout", type=float, default=240.0)
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--compare-fanout", action="store_true",
                    help="offer each fixed rate also to a worker with RISKSTREAM_FANOUT=1 (an event sent to all "
                         "of its detector owners at once), right after the same rate hop by hop")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                    help="offer each fixed rate also to a worker with these settings, right after the default "
                         "one (repeatable); --compare-fanout is 'fan-out:RISKSTREAM_FANOUT=1'")
    ap.add_argument("--smoke", action="store_true",
                    help="5%% and 50%%, one fixed rate each, one search step, a few hundred events")
    args = ap.parse_args(argv)
    if args.smoke:
        args.fractions, args.seconds, args.max_events, args.search_steps = "0.5", 3.0, 400, 0
    variants = parse_variants(args.variant + (["fan-out:RISKSTREAM_FANOUT=1"] if args.compare_fanout else []),
                              ap.error, identifiers=False)
    mixes = [int(x) for x in args.mixes.split(",")]
    fractions = [float(x) for x in args.fractions.split(",")]
    command = "python bench/bench_latency.py " + " ".join(sys.argv[1:] if argv is None else argv)
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    t_start = time.monotonic()
    host = machine()
    policies = read_policies(args.policies)

    say("simulating listing pools ...")
    pools = Pools(args.seed)
    pools.ensure(2000, 2000)
    shares = {"risky": action_share(list(pools.risky.values())[:2000], policies),
              "benign": action_share(list(pools.benign.values())[:2000], policies)}
    say(f"in-process, the engine acts on {shares['risky']['with_action']:.0%} of risky and "
        f"{shares['benign']['with_action']:.1%} of benign listings")

    work = Path(tempfile.mkdtemp(prefix="rsbench-latency-"))
    broker: LocalKafka | None = None
    report: dict[str, Any] = {"command": command, "machine": host, "smoke": args.smoke, "seconds": args.seconds,
                              "flat_slope_share": FLAT_SLOPE, "flat_max_lag_seconds": FLAT_LEVEL_S, "engine_action_share": shares,
                              "max_rate": {}, "fixed_rates": [], "flat_lag": {}}
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            say("starting a local Kafka ...")
            broker = LocalKafka(data_dir=work / "kafka").start()
            bootstrap = broker.bootstrap
        folder = write_policies(policies, work / "policies")
        bench = Bench(bootstrap, pools, folder, work, args.seconds)
        for pct in mixes:
            say(f"mix {pct} % risky")
            mx = bench.max_rate(pct, args.max_events, args.timeout)
            report["max_rate"][str(pct)] = mx
            runs = []
            for f in fractions:
                runs.append(bench.at_rate(pct, f * mx["events_per_s"], f"{f:.0%} of max"))
                report["fixed_rates"].append(runs[-1])
                for vname, venv in variants.items():  # right after, at the same rate: side by side
                    report["fixed_rates"].append(bench.at_rate(pct, f * mx["events_per_s"], f"{f:.0%} of max, {vname}",
                                                               venv))
            flat = [r for r in runs if r["flat"]]
            lo = max((r["offered_per_s"] for r in flat), default=0.0)
            hi = 1.2 * mx["events_per_s"]
            for _ in range(args.search_steps):
                mid = (lo + hi) / 2
                r = bench.at_rate(pct, mid, "flat-lag search")
                report["fixed_rates"].append(r)
                lo, hi = (mid, hi) if r["flat"] else (lo, mid)
            report["flat_lag"][str(pct)] = {"max_flat_per_s": lo, "first_growing_per_s": hi,
                                            "vs_max_rate": lo / mx["events_per_s"] if mx["events_per_s"] else None}
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)
    host["loadavg_at_end"] = os.getloadavg()
    if "5" in report["flat_lag"] and "50" in report["flat_lag"] and report["flat_lag"]["5"]["max_flat_per_s"]:
        report["surge_vs_normal_flat_rate"] = (report["flat_lag"]["50"]["max_flat_per_s"]
                                               / report["flat_lag"]["5"]["max_flat_per_s"])
    print(f"$ {command}")
    print(f"{host['cpus']} CPUs; Python {host['python']}; load average {host['loadavg_at_start'][0]:.1f} at start, "
          f"{host['loadavg_at_end'][0]:.1f} at end; total {time.monotonic() - t_start:.0f}s; "
          f"engine acts on {shares['risky']['with_action']:.0%} of risky, {shares['benign']['with_action']:.1%} "
          f"of benign listings\n")
    print(markdown(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2))
    return 0


def markdown(report: dict[str, Any]) -> str:
    lines = ["| mix | max rate (drain) | CPU µs/event | max flat-lag rate | flat / max |", "|---|---|---|---|---|"]
    for pct, mx in report["max_rate"].items():
        fl = report["flat_lag"].get(pct, {})
        ratio = fl.get("vs_max_rate")
        lines.append(f"| {pct} % risky | {mx['events_per_s']:,.0f}/s | {mx['cpu_us_per_event']:,.0f} | "
                     f"{fl.get('max_flat_per_s', 0):,.0f}/s | {ratio:.2f} |" if ratio is not None else
                     f"| {pct} % risky | {mx['events_per_s']:,.0f}/s | {mx['cpu_us_per_event']:,.0f} | - | - |")
    if "surge_vs_normal_flat_rate" in report:
        lines.append(f"\nflat-lag rate at 50 % risky / at 5 % risky: {report['surge_vs_normal_flat_rate']:.2f}")
    lines += ["", "| mix | offered/s | purpose | sent | with action | p50 ms | p95 ms | p99 ms | max ms | lag |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["fixed_rates"]:
        lat = r["latency_ms"]
        cells = [f"{lat[k]:,.0f}" if k in lat else "-" for k in ("p50", "p95", "p99", "max")]
        lag = ("flat" if r["flat"] else f"grows {r['lag_slope_per_s']:,.0f}/s"
               if r["lag_slope_per_s"] > FLAT_SLOPE * r["offered_per_s"] else f"{r['final_lag']:,.0f} behind")
        lines.append(f"| {r['risky_pct']} % | {r['offered_per_s']:,.0f} | {r['purpose']} | {r['sent']:,} | "
                     f"{lat.get('count', 0):,} | {' | '.join(cells)} | {lag} |")
    names = ("input_to_first_hop", "hop_to_hop", "last_hop_to_decide", "decide_to_action")
    lines += ["", "Where the latency goes (mean ms per stage; detect hops per event; seconds with an event over 1 s):",
              "", "| mix | offered/s | input -> hop | hop -> hop | hop -> decide | decide -> action | hops | slow seconds |",
              "|---|---|---|---|---|---|---|---|"]
    for r in report["fixed_rates"]:
        st = r.get("stages_ms", {})
        cells = [f"{st.get(k, {}).get('mean', '-')}" for k in names]
        hops = st.get("detect_hops_per_event", {}).get("mean", "-")
        lines.append(f"| {r['risky_pct']} % | {r['offered_per_s']:,.0f} | {' | '.join(cells)} | {hops} | "
                     f"{len(r.get('slow_seconds', {}))} of {round(r['seconds'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
