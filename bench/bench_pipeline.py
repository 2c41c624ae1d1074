"""Where a riskstream worker's time goes: engine alone, a plain consumer, trivial Faust, the real worker.

Run from the repository root (starts its own Kafka unless KAFKA_BOOTSTRAP_SERVERS is set):

    python bench/bench_pipeline.py [--events 30000] [--policies policies] [--json OUT] [--profile]

N simulator events (the listing / review / content mix of `riskstream.stream.producer.live_stream`)
are encoded once and pre-loaded into fresh input topics, one topic prefix per Kafka
measurement, before anything is timed.  Then, in the same run and on the same bytes:

(a) ``engine``: `Engine.handle_raw` in-process over the bytes, no Kafka;
(a+) the same plus the worker's incident aggregation (`Aggregator.add`);
(b) ``aiokafka``: a hand-written at-least-once loop, consume -> engine -> produce
    signals/actions/dead letters, flush, commit per batch (the floor for any consumer);
(c) ``faust-noop``: `bench/noop_faust_app.py`, Faust agents that consume and do nothing;
(d) ``worker``: the real `riskstream worker` subprocess, timed by polling its
    ``riskstream_events_decided_total`` until all N went through every hop and were decided;
(d') the same worker with every rule in shadow mode (no enforced-action path);
(c-uvloop), (d-uvloop) with ``--event-loops asyncio,uvloop``: (c) and (d) again on uvloop
    (``RISKSTREAM_LOOP``), each pair side by side in the same run.

Each is reported as events/s (wall) and CPU µs per event of the consuming process
(`time.process_time()`, or /proc/PID/stat for subprocesses), which other load on a
shared machine disturbs far less than wall time.

(c) and (d) are timed from the first consumed event to the N-th (worker start-up and
the group rebalance are excluded), polling /metrics every 0.25 s.  The machine is shared
and noisy: read the ratios, not the absolute numbers; (a) is run again at the end to
show how much the machine drifted during the run.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import itertools
import json
import logging
import os
import platform
import pstats
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.honest_loops import full_loop, raw_loop
from riskstream.detectors.registry import default_registry
from riskstream.engine import Engine
from riskstream.policy import load_policy
from riskstream.policy.load import iter_policy_files
from riskstream.settings import LimitSettings, PrivacySettings, Settings
from riskstream.stream.kafka_local import LocalKafka, free_port
from riskstream.stream.producer import ensure_topics, live_stream, produce
from riskstream.topology import TOPICS

REPO = Path(__file__).resolve().parents[1]
KINDS = {"listings": "listing", "reviews": "review", "content": "content"}
NOOP_APP = REPO / "bench" / "noop_faust_app.py"
SIGNALS_TOLERANCE = 0.03  # a worker run whose signal count is further than this from (a) is flagged

Record = tuple[str, str, bytes]  # (topic key, record key, value)


@dataclass
class Result:
    name: str
    label: str
    events: int
    seconds: float
    cpu_seconds: float = 0.0  # CPU time of the consuming process over the same window
    latency_us: dict[str, float] = field(default_factory=dict)
    latency_note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_us(self) -> float:
        return self.cpu_seconds / self.events * 1e6 if self.events else 0.0

    @property
    def cores(self) -> float:
        """CPU seconds per wall second: how many cores the measured processes got."""
        return self.cpu_seconds / self.seconds if self.seconds > 0 else 0.0


# --------------------------------------------------------------------------- inputs


def simulated_events(n: int, seed: int) -> list[Record]:
    """The first `n` listing/review/content events of the simulator's live stream."""
    stream = ((t, k, v) for t, k, v in live_stream(seed) if t in KINDS)
    return list(itertools.islice(stream, n))


def read_policies(policy_dir: Path) -> dict[str, str]:
    """The policy files' texts, read once: every measurement runs the same policies."""
    texts = {path.name: path.read_text(encoding="utf-8") for path in iter_policy_files(policy_dir)}
    if not texts:
        raise SystemExit(f"no *.yaml policies in {policy_dir}")
    return texts


def write_policies(texts: dict[str, str], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def build_engine(policies: dict[str, str]) -> Engine:
    registry = default_registry()
    # The benchmark replays a simulated day in the past: no event-age window.  Outputs are
    # pseudonymised as the worker's are (it makes a random key when none is configured).
    engine = Engine(registry, limits=LimitSettings(max_event_age_days=None),
                    pseudonym_key=PrivacySettings.from_env({}).key)
    for text in policies.values():
        engine.set_policy(load_policy(text, registry))
    return engine


def percentiles(samples_s: Sequence[float]) -> dict[str, float]:
    xs = sorted(samples_s)
    if not xs:
        return {}

    def q(p: float) -> float:
        return xs[min(len(xs) - 1, int(p * len(xs)))] * 1e6

    return {"p50": q(0.50), "p90": q(0.90), "p99": q(0.99), "max": xs[-1] * 1e6}


# --------------------------------------------------------------------------- (a) engine


def bench_engine(events: list[Record], policies: dict[str, str], name: str = "a",
                 aggregates: bool = False) -> Result:
    """`Engine.handle_raw` over the bytes; with `aggregates`, also the worker's incident aggregation."""
    from riskstream.models.aggregates import Aggregator, AggregatorConfig

    engine = build_engine(policies)
    aggregator = Aggregator(AggregatorConfig(window_minutes=Settings().models.window_seconds // 60))
    inputs = [(KINDS[t], v) for t, _k, v in events]
    lat: list[float] = []
    by_kind: dict[str, float] = dict.fromkeys(KINDS.values(), 0.0)
    signals = actions = enforced = dead = 0
    clock = time.perf_counter
    cpu0, started = time.process_time(), clock()
    for kind, raw in inputs:
        t0 = clock()
        out = engine.handle_raw(kind, raw)
        if aggregates and out.event is not None and out.dead_letter is None:
            aggregator.add(out.event, out.signals, out.actions)
        dt = clock() - t0
        lat.append(dt)
        by_kind[kind] += dt
        signals += len(out.signals)
        actions += len(out.actions)
        enforced += any(a.mode == "enforced" for a in out.actions)
        dead += out.dead_letter is not None
    elapsed, cpu = clock() - started, time.process_time() - cpu0
    counts = {k: sum(1 for kind, _ in inputs if kind == k) for k in by_kind}
    label = "engine + incident aggregates, in-process" if aggregates else "engine in-process (handle_raw, no Kafka)"
    return Result(name, label, len(inputs), elapsed, cpu, percentiles(lat), "per event",
                  {"signals": signals, "actions": actions, "events_with_enforced_action": enforced,
                   "dead_letters": dead,
                   "mean_us_by_kind": {k: round(v / counts[k] * 1e6, 1) for k, v in by_kind.items() if counts[k]}})


def shadow_policies(policies: dict[str, str]) -> dict[str, str]:
    """The same policies with every rule in shadow mode: same detectors, no enforced actions."""
    import yaml

    out = {}
    for name, text in policies.items():
        doc = yaml.safe_load(text)
        doc["detectors"] = {k: {**(r if isinstance(r, dict) else {}), "mode": "shadow"}
                            for k, r in doc["detectors"].items()}
        out[name] = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    return out


def profile_engine(events: list[Record], policies: dict[str, str], top: int = 15) -> str:
    engine = build_engine(policies)
    inputs = [(KINDS[t], v) for t, _k, v in events]
    prof = cProfile.Profile()
    prof.enable()
    for kind, raw in inputs:
        engine.handle_raw(kind, raw)
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime").print_stats(top)
    return buf.getvalue()


# --------------------------------------------------------------------------- (raw), (b) aiokafka loops


def bench_raw(settings: Settings, n: int, timeout: float) -> Result:
    run = asyncio.run(raw_loop(settings, n, timeout))
    return Result("raw", "aiokafka consume -> orjson -> produce 1 record", run.events, run.seconds,
                  run.cpu_seconds, extra={**run.counts, "complete": run.complete})


def bench_full_loop(settings: Settings, policies: dict[str, str], n: int, timeout: float) -> Result:
    run = asyncio.run(full_loop(settings, build_engine(policies), n, timeout))
    return Result("b", "aiokafka + the worker's complete work", run.events, run.seconds, run.cpu_seconds,
                  extra={**run.counts, "complete": run.complete})


# --------------------------------------------------------------------------- (c), (d) subprocesses


def worker_env(bootstrap: str, prefix: str, app_id: str, port: int, policy_dir: Path, data: Path,
               loop: str = "asyncio") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FAUST_LOOP", "F_LOOP", "RISKSTREAM_LOOP")}
    if loop == "uvloop":  # the worker reads RISKSTREAM_LOOP; the trivial Faust app, Faust's own FAUST_LOOP
        env |= {"RISKSTREAM_LOOP": "uvloop", "FAUST_LOOP": "uvloop"}
    return {
        **env,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "RISKSTREAM_TOPIC_PREFIX": prefix,
        "RISKSTREAM_APP_ID": app_id,
        "RISKSTREAM_METRICS_PORT": str(port),
        "RISKSTREAM_POLICY_DIR": str(policy_dir),
        "RISKSTREAM_DATA_DIR": str(data),
        "RISKSTREAM_MAX_EVENT_AGE_DAYS": "off",
    }


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def metric_sum(text: str, name: str) -> float | None:
    """Sum of all samples of `name` (any labels); None if the metric is absent."""
    total = None
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] == name:
            total = (total or 0.0) + float(value)
    return total


def histogram(text: str, name: str) -> tuple[list[tuple[float, float]], float, float]:
    """Cumulative (le, count) buckets summed over labels, plus _sum and _count."""
    buckets: dict[float, float] = {}
    for line in text.splitlines():
        if line.startswith(name + "_bucket{"):
            head, _, value = line.rpartition(" ")
            le = head.split('le="')[1].split('"')[0]
            bound = float("inf") if le == "+Inf" else float(le)
            buckets[bound] = buckets.get(bound, 0.0) + float(value)
    return sorted(buckets.items()), metric_sum(text, name + "_sum") or 0.0, metric_sum(text, name + "_count") or 0.0


def per_kind_means(text: str, name: str) -> dict[str, float]:
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in text.splitlines():
        for suffix, into in (("_sum{", sums), ("_count{", counts)):
            if line.startswith(name + suffix):
                head, _, value = line.rpartition(" ")
                kind = head.split('kind="')[1].split('"')[0]
                into[kind] = into.get(kind, 0.0) + float(value)
    return {k: round(sums[k] / c * 1e6, 1) for k, c in counts.items() if c}


def bucket_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """The upper bound of the bucket holding quantile q (Prometheus-style, no interpolation)."""
    total = buckets[-1][1] if buckets else 0.0
    for bound, cum in buckets:
        if total and cum >= q * total:
            return bound
    return float("nan")


class Subprocess:
    """A Faust worker subprocess in its own session, stopped by its own process group id."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path = REPO) -> None:
        self.log = log
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log.open("ab"),
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def cpu_time(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


Sample = tuple[float, float, float]  # (perf_counter, CPU seconds of the processes, metric sum)


def time_consumption(procs: list[tuple[Subprocess, int]], metric: str, n: int, timeout: float,
                     poll: float = 0.25) -> tuple[int, float, float, str]:
    """Poll `metric` (summed over the processes) from the first consumed event to the n-th.

    Returns (events timed, wall seconds, CPU seconds of the processes, last scrapes).  The
    moment the n-th event was consumed is interpolated between the last two polls, so
    the poll interval (kept long: a scrape costs the worker CPU) does not bias the rate.
    When the first poll that sees events already sees most of them (a smoke run of a few
    hundred), the window starts at the last poll that saw none instead.
    """
    deadline = time.monotonic() + timeout
    zero: Sample | None = None
    first: Sample | None = None
    prev: Sample | None = None
    last_text, sample = "", (time.perf_counter(), 0.0, 0.0)
    while time.monotonic() < deadline:
        for proc, _port in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.log.name} exited early:\n{proc.tail()}")
        texts = [scrape(port) for _proc, port in procs]
        text = "\n".join(texts)
        sample = (time.perf_counter(), sum(cpu_time(p.proc.pid) for p, _ in procs), metric_sum(text, metric) or 0.0)
        if all(texts):
            last_text = text
        if sample[2] <= 0:
            zero = sample
        elif first is None:
            first = zero if zero is not None and sample[2] >= n / 2 else sample
        if sample[2] >= n:
            break
        prev = sample
        time.sleep(poll)
    if first is None:
        raise RuntimeError(f"nothing consumed in {timeout:.0f}s:\n{procs[0][0].tail()}")
    end_t, end_cpu, count = sample
    if prev is not None and prev is not first and count >= n > prev[2] and sample[2] > prev[2]:
        frac = (n - prev[2]) / (sample[2] - prev[2])
        end_t = prev[0] + frac * (sample[0] - prev[0])
        end_cpu = prev[1] + frac * (sample[1] - prev[1])
        count = n
    return int(count - first[2]), end_t - first[0], end_cpu - first[1], last_text


def _result_from(name: str, label: str, timed: tuple[int, float, float, str], metric: str, n: int) -> Result:
    events, seconds, cpu, text = timed
    consumed = metric_sum(text, metric) or 0
    result = Result(name, label, events, seconds, cpu, extra={"consumed": int(consumed), "complete": consumed >= n})
    if metric.startswith("riskstream_"):
        buckets, total, count = histogram(text, "riskstream_processing_seconds")
        if count:
            result.latency_us = {"mean": total / count * 1e6, "p50<=": bucket_quantile(buckets, 0.5) * 1e6,
                                 "p99<=": bucket_quantile(buckets, 0.99) * 1e6}
            result.latency_note = "in-agent, from riskstream_processing_seconds (bucket bounds)"
            result.extra["in_agent_seconds_total"] = total
            result.extra["in_agent_mean_us_by_kind"] = per_kind_means(text, "riskstream_processing_seconds")
        result.extra["signals"] = int(metric_sum(text, "riskstream_signals_total") or 0)
        result.extra["actions"] = int(metric_sum(text, "riskstream_actions_total") or 0)
        result.extra["dead_letters"] = int(metric_sum(text, "riskstream_dead_letters_total") or 0)
    return result


def bench_subprocess(name: str, label: str, argv: list[str], env: dict[str, str], port: int, metric: str,
                     n: int, timeout: float, log: Path, cwd: Path = REPO) -> Result:
    proc = Subprocess(argv, env, log, cwd)
    try:
        timed = time_consumption([(proc, port)], metric, n, timeout)
    finally:
        proc.stop()
    return _result_from(name, label, timed, metric, n)


def assigned(port: int, topic: str) -> float:
    """Partitions of `topic` a worker holds (riskstream_partitions_assigned), 0 when unknown."""
    for line in scrape(port).splitlines():
        if line.startswith("riskstream_partitions_assigned{") and f'topic="{topic}"' in line:
            return float(line.rpartition(" ")[2])
    return 0.0


WORKER_ARGV = [sys.executable, "-m", "riskstream.cli", "worker", "-l", "warn"]


def start_group(count: int, bootstrap: str, prefix: str, app_id: str, policy_dir: Path, work: Path,
                timeout: float, extra_env: dict[str, str] | None = None) -> list[tuple[Subprocess, int]]:
    """`count` workers in one consumer group on `prefix`'s (created, empty) topics, once the
    group has settled: every worker holds some of each input topic's partitions and together
    they hold all of them."""
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_TOPIC_PREFIX": prefix})
    asyncio.run(ensure_topics(settings))
    work.mkdir(parents=True, exist_ok=True)
    procs = []
    for i in range(count):
        port = free_port()
        env = {**worker_env(bootstrap, prefix, app_id, port, policy_dir, work / f"data{i}"), **(extra_env or {})}
        procs.append((Subprocess(WORKER_ARGV, env, work / f"worker{i}.log"), port))
    inputs = [prefix + TOPICS[k].name for k in KINDS]
    parts = settings.kafka.partitions
    deadline, settled_since = time.monotonic() + timeout, None
    try:
        while time.monotonic() < deadline:
            for proc, _ in procs:
                if not proc.alive():
                    raise RuntimeError(f"{proc.log.name} exited early:\n{proc.tail()}")
            held = [[assigned(port, t) for t in inputs] for _, port in procs]
            ok = all(all(h > 0 for h in row) for row in held) and all(
                sum(row[i] for row in held) == parts for i in range(len(inputs)))
            if ok:
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since >= 3:  # no rebalance in the last 3 s
                    return procs
            else:
                settled_since = None
            time.sleep(0.5)
        raise RuntimeError(f"the group of {count} did not settle in {timeout:.0f}s:\n{procs[-1][0].tail()}")
    except BaseException:
        for proc, _ in procs:
            proc.stop()
        raise


def bench_group(name: str, count: int, bootstrap: str, prefix: str, app_id: str, policy_dir: Path,
                events: list[Record], timeout: float, work: Path) -> Result:
    """`count` workers in one group: settle the group, then produce the events, time them decided."""
    procs = start_group(count, bootstrap, prefix, app_id, policy_dir, work, timeout=90)
    settings = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_TOPIC_PREFIX": prefix})
    feeder = threading.Thread(target=lambda: asyncio.run(produce(settings, events, progress_every=60)), daemon=True)
    try:
        feeder.start()
        timed = time_consumption(procs, "riskstream_events_decided_total", len(events), timeout)
    finally:
        feeder.join(timeout=60)
        for proc, _ in procs:
            proc.stop()
    label = f"{count} worker{'s' if count > 1 else ''}, one group, fed live"
    result = _result_from(name, label, timed, "riskstream_events_decided_total", len(events))
    result.extra["workers"] = count
    return result


# --------------------------------------------------------------------------- report


def _ratio(x: float, y: float) -> float | None:
    return x / y if y else None


def derived(by: dict[str, Result]) -> dict[str, Any]:
    """The issue's targets, from this run's measurements (None where a part was not run)."""
    out: dict[str, Any] = {}
    d, b, raw, c, a = (by.get(k) for k in ("d", "b", "raw", "c", "a"))
    if d and b:
        out["worker_vs_b_rate"] = _ratio(d.rate, b.rate)
    if d and raw:
        out["worker_vs_raw_rate"] = _ratio(d.rate, raw.rate)
    if d and c and a:
        out["glue_cpu_us"] = d.cpu_us - c.cpu_us - a.cpu_us
    if b and a:
        out["b_glue_cpu_us"] = b.cpu_us - a.cpu_us  # the plain loop's own cost beyond the engine
    if d and "d0" in by:
        out["hops_cpu_us"] = d.cpu_us - by["d0"].cpu_us  # the re-keying hops (partitioned state) per event
        out["hops_rate_ratio"] = _ratio(d.rate, by["d0"].rate)
    if d is not None and "base" in by:
        out["worker_vs_baseline_rate"] = _ratio(d.rate, by["base"].rate)
        out["worker_vs_baseline_cpu_per_event"] = _ratio(d.cpu_us, by["base"].cpu_us)
    for loop in ("uvloop",):
        if f"d-{loop}" in by and d:
            out[f"worker_{loop}_vs_asyncio_rate"] = _ratio(by[f"d-{loop}"].rate, d.rate)
            out[f"worker_{loop}_vs_asyncio_cpu_per_event"] = _ratio(by[f"d-{loop}"].cpu_us, d.cpu_us)
        if f"c-{loop}" in by and c:
            out[f"noop_{loop}_vs_asyncio_rate"] = _ratio(by[f"c-{loop}"].rate, c.rate)
            out[f"noop_{loop}_vs_asyncio_cpu_per_event"] = _ratio(by[f"c-{loop}"].cpu_us, c.cpu_us)
    if "w1" in by and "w2" in by:
        out["two_workers_vs_one_rate"] = _ratio(by["w2"].rate, by["w1"].rate)
        out["two_workers_vs_one_cpu_per_event"] = _ratio(by["w2"].cpu_us, by["w1"].cpu_us)
        out["two_workers_vs_one_cores_used"] = _ratio(by["w2"].cores, by["w1"].cores)
    return out


TARGETS = {"worker_vs_b_rate": (">=", 0.5), "worker_vs_raw_rate": (">=", 0.4), "glue_cpu_us": ("<=", 20.0)}


def markdown(results: list[Result], worker: Result | None, derived_: dict[str, Any]) -> str:
    lines = ["| | measurement | events/s | CPU µs/event | cores used | vs worker (events/s) |",
             "|---|---|---|---|---|---|"]
    for r in results:
        vs = f"{r.rate / worker.rate:.2f}x" if worker and worker.rate else "-"
        lines.append(f"| ({r.name}) | {r.label} | {r.rate:,.0f} | {r.cpu_us:,.0f} | {r.cores:.2f} | {vs} |")
    lines += ["", "| derived | value | target |", "|---|---|---|"]
    for key, value in derived_.items():
        target = TARGETS.get(key)
        shown = "-" if value is None else (f"{value:.1f} µs" if key.endswith("_us") else f"{value:.2f}x")
        lines.append(f"| {key} | {shown} | {target[0] + ' ' + str(target[1]) if target else '-'} |")
    return "\n".join(lines)


def render(results: list[Result], engine_ref: Result, worker_ref: Result | None) -> str:
    head = (f"{'':6}{'measurement':46}{'events/s':>9}{'vs (a)':>8}{'vs (d)':>8}"
            f"{'CPU µs/ev':>11}{'CPU x(a)':>9}   latency µs")
    lines = [head, "-" * len(head)]
    for r in results:
        lat = "  ".join(f"{k} {v:,.0f}" for k, v in r.latency_us.items())
        vs_d = f"{r.rate / worker_ref.rate:7.2f}x" if worker_ref and worker_ref.rate else "      -"
        vs_a = f"{r.rate / engine_ref.rate:7.2f}x" if engine_ref.rate else "      -"
        cpu_a = f"{r.cpu_us / engine_ref.cpu_us:8.2f}x" if engine_ref.cpu_us else "       -"
        lines.append(f"{'(' + r.name + ')':6}{r.label:46}{r.rate:9,.0f}{vs_a}{vs_d}{r.cpu_us:11,.0f}{cpu_a}   {lat}")
    return "\n".join(lines)


def parse_variants(specs: Sequence[str], error: Any, identifiers: bool = True) -> dict[str, dict[str, str]]:
    """``--variant NAME:KEY=VALUE[,KEY=VALUE]`` options -> {name: environment}; `error` reports a bad one.

    `identifiers`: a name must be a Python identifier (it labels a table row as ``(NAME)``).
    """
    variants: dict[str, dict[str, str]] = {}
    for spec in specs:
        vname, sep, assignments = spec.partition(":")
        pairs = [a.split("=", 1) for a in assignments.split(",") if a.strip()]
        if (not sep or not vname.strip() or (identifiers and not vname.isidentifier()) or not pairs
                or any(len(p) != 2 for p in pairs)):
            error(f"--variant {spec!r}: expected NAME:KEY=VALUE[,KEY=VALUE]")
        variants[vname] = {k.strip(): v.strip() for k, v in pairs}
    return variants


def say(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "loadavg_at_start": os.getloadavg()}


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=30_000, help="events per measurement (default 30000)")
    ap.add_argument("--policies", type=Path, default=Path("policies"), help="policy directory (default policies)")
    ap.add_argument("--json", type=Path, default=None, help="write the results here as JSON")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--timeout", type=float, default=180.0, help="max seconds per Kafka measurement")
    ap.add_argument("--shadow", action="store_true",
                    help="also run (d'), the worker with every rule in shadow mode")
    ap.add_argument("--no-shadow", action="store_true", help=argparse.SUPPRESS)  # the default now
    ap.add_argument("--no-scaling", action="store_true", help="skip (w1)/(w2), one vs two workers in one group")
    ap.add_argument("--hops", action="store_true",
                    help="also run (d0), the worker with partitioned state off (no re-keying hops): "
                         "(d) - (d0) is what the hops cost per event")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME:KEY=VALUE[,KEY=VALUE]",
                    help="also run the worker with these environment settings, as (NAME), in the same run "
                         "(for example 'linger5:RISKSTREAM_PRODUCER_LINGER_MS=5'); repeatable")
    ap.add_argument("--baseline-tree", type=Path, default=None, metavar="DIR",
                    help="also run the worker of another checkout (e.g. `git worktree add DIR main`), with that "
                         "checkout's policies, as (base), in the same run: a code change measured side by side")
    # Not "--loops": faust reads any argument starting with "--loop" from sys.argv when imported.
    ap.add_argument("--event-loops", dest="loops", default="asyncio",
                    help="event loops of (c) and (d), comma-separated: 'asyncio,uvloop' runs both side by side")
    ap.add_argument("--scaling-only", action="store_true",
                    help="only (a) and the (w1)/(w2) scaling runs (skips raw, b, c, d)")
    ap.add_argument("--smoke", action="store_true",
                    help="a few hundred events, no (d') and no scaling: checks the harness, not the speed")
    ap.add_argument("--profile", action="store_true", help="also print a cProfile of the engine over the events")
    ap.add_argument("--profile-worker", type=Path, default=None, metavar="OUT.prof",
                    help="run (d) under cProfile and save its profile here ((d)'s rate is then not comparable)")
    args = ap.parse_args(argv)
    loops = [x.strip() for x in args.loops.split(",") if x.strip()]
    variants = parse_variants(args.variant, ap.error)
    if not loops or loops[0] != "asyncio" or not set(loops) <= {"asyncio", "uvloop"}:
        ap.error("--event-loops: 'asyncio' first, then optionally 'uvloop'")
    if args.smoke:
        args.events, args.shadow, args.no_scaling = min(args.events, 300), False, True
    command = "python bench/bench_pipeline.py " + " ".join(sys.argv[1:] if argv is None else argv)
    t_start = time.monotonic()
    host = machine()
    # Leader-election retries on the just-created topics are expected; keep the output readable.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)

    # Encoded (and time-stamped) once: every measurement sees byte-identical inputs.
    events = simulated_events(args.events, args.seed)
    mix = {k: sum(1 for t, _, _ in events if t == k) for k in KINDS}
    say(f"{len(events)} events {mix}, mean {sum(len(v) for *_, v in events) / len(events):.0f} bytes")

    policies = read_policies(args.policies)
    work = Path(tempfile.mkdtemp(prefix="rsbench-pipeline-"))
    broker: LocalKafka | None = None
    results: list[Result] = []
    try:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            say("starting a local Kafka ...")
            broker = LocalKafka(data_dir=work / "kafka").start()
            bootstrap = broker.bootstrap
        run = uuid.uuid4().hex[:8]
        names = ([] if args.scaling_only else ["raw", "b", "c", "d"] + [f"{x}-{lp}" for lp in loops[1:] for x in ("c", "d")]
                 + (["s"] if args.shadow else []) + (["d0"] if args.hops else []) + list(variants)
                 + (["base"] if args.baseline_tree is not None else []))
        prefixes = {name: f"bench{run}{name}." for name in [*names, "w1", "w2"]}
        for name in names:
            t0 = time.perf_counter()
            s = Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_TOPIC_PREFIX": prefixes[name]})
            asyncio.run(produce(s, events, progress_every=60))
            say(f"pre-loaded {len(events)} events under {prefixes[name]} in {time.perf_counter() - t0:.1f}s")

        def loop_settings(name: str) -> Settings:
            return Settings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap, "RISKSTREAM_TOPIC_PREFIX": prefixes[name],
                                      "RISKSTREAM_APP_ID": f"bench-{run}-{name}",
                                      "RISKSTREAM_MAX_EVENT_AGE_DAYS": "off"})

        say("(a) engine in-process")
        results.append(bench_engine(events, policies))
        say("(a+) engine + incident aggregates in-process")
        results.append(bench_engine(events, policies, name="a+", aggregates=True))
        if not args.scaling_only:
            say("(raw) aiokafka consume -> orjson -> produce one record")
            results.append(bench_raw(loop_settings("raw"), len(events), args.timeout))
            say("(b) aiokafka + the worker's complete work")
            results.append(bench_full_loop(loop_settings("b"), policies, len(events), args.timeout))

        def faust_run(name: str, label: str, argv: list[str], metric: str, texts: dict[str, str],
                      loop: str = "asyncio", extra_env: dict[str, str] | None = None, cwd: Path = REPO) -> Result:
            port = free_port()
            folder = write_policies(texts, work / name / "policies")
            env = {**worker_env(bootstrap, prefixes[name], f"bench-{run}-{name}", port, folder, work / name / "data",
                                loop), **(extra_env or {})}
            return bench_subprocess(name, label, argv, env, port, metric, len(events), args.timeout,
                                    work / f"{name}.log", cwd)

        worker: Result | None = None
        if not args.scaling_only:
            say("(c) trivial Faust agents (consume only)")
            results.append(faust_run("c", "faust trivial agent (consume, no work)",
                                     [sys.executable, str(NOOP_APP), "worker", "-l", "warn"],
                                     "bench_noop_events_in_total", policies))
            say("(d) riskstream worker")
            profiled = ([sys.executable, "-m", "cProfile", "-o", str(args.profile_worker.resolve()),
                         *WORKER_ARGV[1:]] if args.profile_worker else WORKER_ARGV)
            worker = faust_run("d", "riskstream worker (faust, subprocess)"
                               + (" UNDER cProfile" if args.profile_worker else ""), profiled,
                               "riskstream_events_decided_total", policies)
            results.append(worker)
        for lp in [] if args.scaling_only else loops[1:]:
            say(f"(c-{lp}) trivial Faust agents on {lp}")
            results.append(faust_run(f"c-{lp}", f"faust trivial agent, {lp}",
                                     [sys.executable, str(NOOP_APP), "worker", "-l", "warn"],
                                     "bench_noop_events_in_total", policies, lp))
            say(f"(d-{lp}) riskstream worker on {lp}")
            results.append(faust_run(f"d-{lp}", f"riskstream worker, {lp}", WORKER_ARGV,
                                     "riskstream_events_decided_total", policies, lp))
        if args.shadow:
            say("(d') riskstream worker, every rule in shadow mode")
            shadow = faust_run("s", "same worker, every rule mode: shadow", WORKER_ARGV,
                               "riskstream_events_decided_total", shadow_policies(policies))
            shadow.name = "d'"
            results.append(shadow)
        if args.hops:
            say("(d0) riskstream worker, partitioned state off (no re-keying hops)")
            results.append(faust_run("d0", "same worker, per-worker state (no hops)", WORKER_ARGV,
                                     "riskstream_events_decided_total", policies,
                                     extra_env={"RISKSTREAM_PARTITIONED_STATE": "0"}))
        if args.baseline_tree is not None and not args.scaling_only:
            tree = args.baseline_tree.resolve()
            say(f"(base) riskstream worker of {tree}")
            # Its own policies: a policy file of this tree may use params the other one does not know.
            results.append(faust_run("base", f"the worker of another checkout ({tree.name}), its policies",
                                     WORKER_ARGV, "riskstream_events_decided_total",
                                     read_policies(tree / "policies"), cwd=tree))
        for vname, venv in variants.items():
            say(f"({vname}) riskstream worker with {venv}")
            results.append(faust_run(vname, f"same worker, {' '.join(f'{k}={v}' for k, v in venv.items())}",
                                     WORKER_ARGV, "riskstream_events_decided_total", policies, extra_env=venv))
        if not args.no_scaling:
            folder = write_policies(policies, work / "w" / "policies")
            for count in (1, 2):
                name = f"w{count}"
                say(f"({name}) {count} worker(s) in one group, events produced once the group settled")
                results.append(bench_group(name, count, bootstrap, prefixes[name], f"bench-{run}-{name}", folder,
                                           events, args.timeout, work / name))

        say("(a) engine in-process, again (drift check)")
        again = bench_engine(events, policies, name="a'")
        again.label = "engine in-process, re-run at the end"
        results.append(again)
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(work, ignore_errors=True)

    by = {r.name: r for r in results}
    info = derived(by)
    host["loadavg_at_end"] = os.getloadavg()
    print(f"$ {command}")
    print(f"{len(events)} events {mix}; {host['cpus']} CPUs; Python {host['python']}; load average "
          f"{host['loadavg_at_start'][0]:.1f} at start, {host['loadavg_at_end'][0]:.1f} at end; "
          f"total {time.monotonic() - t_start:.0f}s\n")
    versions = ", ".join(f"{r} {p.version}" for r, p in sorted(build_engine(policies).policies().items()))
    print(f"policies: {args.policies} ({versions})\n")
    print(render(results, results[0], worker))
    print()
    print(markdown(results, worker, info))
    print(f"\n(a) {results[0].extra['signals']} signals, {results[0].extra['actions']} actions; "
          f"{results[0].extra['events_with_enforced_action']} events carry an enforced action")
    print(f"(a) engine mean µs by kind {results[0].extra['mean_us_by_kind']}")
    want_signals = results[0].extra["signals"]
    for r in results[1:]:
        if "signals" in r.extra and r.name not in ("a+", "a'"):
            print(f"({r.name}) {r.extra['signals']} signals, {r.extra['actions']} actions"
                  + (f"; in-agent mean µs by kind {r.extra['in_agent_mean_us_by_kind']}"
                     if "in_agent_mean_us_by_kind" in r.extra else ""))
            # A faster worker that finds less is not faster: the broadcast-fed detectors and the
            # wall-clock windows differ a little from the in-process run (under 1 % in earlier runs).
            off = abs(r.extra["signals"] - want_signals) / max(want_signals, 1)
            if off > SIGNALS_TOLERANCE:
                print(f"WARNING: ({r.name}) found {r.extra['signals']} signals against {want_signals} in-process "
                      f"({off:.1%} apart): it is not doing the same work, so its speed is not comparable")
    shadow_runs = [r for r in results if r.name == "d'"]
    enforced = results[0].extra["events_with_enforced_action"]
    if shadow_runs and enforced and worker and worker.rate and shadow_runs[0].rate:
        sh = shadow_runs[0]
        extra_s = len(events) / worker.rate - len(events) / sh.rate
        extra_cpu = (worker.cpu_us - sh.cpu_us) * len(events) / 1e6
        print(f"(d) - (d'): {extra_s:+.1f}s wall, {extra_cpu:+.1f}s CPU for {enforced} events with an "
              f"enforced action ({extra_s / enforced * 1e3:+.1f} ms wall, {extra_cpu / enforced * 1e3:+.2f} ms CPU "
              f"each; the difference of two noisy runs)")
    no_hops = [r for r in results if r.name == "d0"]
    if no_hops and worker.rate and no_hops[0].rate:
        print(f"re-keying hops: (d) {worker.cpu_us:.0f} - (d0) {no_hops[0].cpu_us:.0f} = "
              f"{worker.cpu_us - no_hops[0].cpu_us:+.0f} CPU µs per event; rate ratio (d)/(d0) "
              f"{worker.rate / no_hops[0].rate:.2f}")
    for r in results:
        if r.name in variants and worker is not None and worker.rate and r.rate:
            print(f"({r.name}) / (d): events/s {r.rate / worker.rate:.2f}x, CPU µs per event "
                  f"{r.cpu_us / worker.cpu_us:.2f}x ({r.cpu_us:.0f} vs {worker.cpu_us:.0f})")
    incomplete = [r.name for r in results if r.extra.get("complete") is False]
    if incomplete:
        print(f"WARNING: timed out before all events were consumed: {incomplete}")
    if args.profile:
        print("\ncProfile of the engine over the same events (top by own time):")
        print(profile_engine(events, policies))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "command": command, "events": len(events), "mix": mix, "machine": host, "smoke": args.smoke,
            "mean_event_bytes": sum(len(v) for *_, v in events) / len(events),
            "cpus": host["cpus"], "python": host["python"], "derived": info,
            "results": [{**asdict(r), "events_per_s": r.rate, "cpu_us_per_event": r.cpu_us, "cores_used": r.cores,
                         "vs_engine": r.rate / results[0].rate if results[0].rate else None,
                         "vs_worker": r.rate / worker.rate if worker and worker.rate else None} for r in results],
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
