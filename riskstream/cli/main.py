"""`riskstream`: the command line (click).

    riskstream demo                  broker + worker + generator, actions printed live
    riskstream kafka up|down|status  a local single-node Kafka without Docker
    riskstream worker                a Faust worker (reads settings from the environment)
    riskstream generate              a live marketplace stream into the input topics
    riskstream tail actions|incidents|deadletter|signals
    riskstream policy validate|diff|explain|publish
    riskstream deadletters replay    re-inject dead letters after a fix, idempotently
    riskstream schemas               JSON Schemas + topic table into docs/

Heavy imports happen inside commands so `--help` is instant.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Literal

import click

from riskstream.resources import sample_policy_dir, state_home
from riskstream.settings import Settings


def _state_file() -> Path:
    return state_home() / "kafka" / "state.json"


def _settings() -> Settings:
    settings = Settings.from_env()
    _seed_policies(settings)
    return settings


def _seed_policies(settings: Settings) -> None:
    """First use: copy the shipped sample policies into the (default) policy directory."""
    folder = settings.policies.directory
    if folder.exists():
        return
    if os.environ.get("RISKSTREAM_POLICY_DIR"):
        raise click.ClickException(f"RISKSTREAM_POLICY_DIR={folder} does not exist")
    import shutil

    shutil.copytree(sample_policy_dir(), folder)
    click.echo(f"[riskstream] copied the sample policies (examples, not legal advice) to {folder}; "
               "edit them there or set RISKSTREAM_POLICY_DIR", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """riskstream: streaming risk detection for online marketplaces."""


# ------------------------------------------------------------------ kafka


@main.group()
def kafka() -> None:
    """A local single-node Apache Kafka (KRaft) for users without Docker."""


@kafka.command("up")
@click.option("--port", type=int, default=9092, show_default=True, help="Client port (0 = any free port).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Broker storage (default: RISKSTREAM_HOME/kafka/data).")
def kafka_up(port: int, data_dir: Path | None) -> None:
    """Fetch Kafka's jars (once), format storage and start the broker."""
    data_dir = data_dir or state_home() / "kafka" / "data"
    state_file = _state_file()
    from riskstream.stream.kafka_local import LocalKafka, free_port

    if state_file.exists():
        existing = LocalKafka.load(state_file)
        if existing.alive():
            click.echo(f"Kafka already running at {existing.bootstrap} (pid {existing.pid})")
            return
    if port and not _port_free(port):
        click.echo(f"port {port} is busy; using a free port", err=True)
        port = free_port()
    k = LocalKafka(data_dir=data_dir, port=port)
    click.echo("starting Kafka ...", err=True)
    k.start()
    state_file.parent.mkdir(parents=True, exist_ok=True)
    k.save(state_file)
    # the broker runs in its own session: it outlives this command
    if k.proc is not None:
        k.proc = None
    click.echo(f"Kafka {k.version} up at {k.bootstrap} (pid {k.pid}); logs: {k.log_file}")
    click.echo(f"export KAFKA_BOOTSTRAP_SERVERS={k.bootstrap}")


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@kafka.command("down")
def kafka_down() -> None:
    """Stop the local broker started by `kafka up`."""
    state_file = _state_file()
    from riskstream.stream.kafka_local import LocalKafka

    if not state_file.exists():
        click.echo("no local Kafka recorded")
        return
    k = LocalKafka.load(state_file)
    k.stop()
    state_file.unlink()
    click.echo("Kafka stopped")


@kafka.command("status")
def kafka_status() -> None:
    """Is the local broker started by `kafka up` running?"""
    state_file = _state_file()
    from riskstream.stream.kafka_local import LocalKafka

    if state_file.exists() and LocalKafka.load(state_file).alive():
        k = LocalKafka.load(state_file)
        click.echo(f"running at {k.bootstrap} (pid {k.pid})")
    else:
        click.echo("not running")
        sys.exit(1)


# ------------------------------------------------------------------ worker


@main.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option("--loglevel", "-l", default="info", show_default=True)
@click.option("--loop", "loop", type=click.Choice(["asyncio", "uvloop"]), default=None,
              help="Event loop (default RISKSTREAM_LOOP, else asyncio).")
@click.pass_context
def worker(ctx: click.Context, loglevel: str, loop: str | None) -> None:
    """Run a Faust worker (settings from the environment; see the README's configuration table)."""
    settings = _settings()
    loglevel = {"warning": "warn", "critical": "crit"}.get(loglevel.lower(), loglevel.lower())
    # Before faust is imported: it reads `--loop` from sys.argv at import (with faust's names).
    sys.argv = ["riskstream", "worker", "-l", loglevel, *ctx.args]
    from riskstream.stream.loop import loop_in_use, use_loop

    use_loop(loop or settings.loop)
    click.echo(f"[riskstream] event loop: {loop_in_use()}", err=True)
    import asyncio

    from riskstream.stream.app import create_app
    from riskstream.stream.producer import prepare_topics

    # Every topic with its declared settings before any agent sends (stream.producer.prepare_topics).
    try:
        asyncio.run(prepare_topics(settings))
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
    app = create_app(settings)
    app.main()


# ------------------------------------------------------------------ generator


@main.command()
@click.option("--rate", type=float, default=200.0, show_default=True, help="Events per second (0 = as fast as possible).")
@click.option("--count", type=int, default=0, help="Stop after this many events (0 = run until Ctrl-C).")
@click.option("--seed", type=int, default=7, show_default=True)
def generate(rate: float, count: int, seed: int) -> None:
    """Produce a live marketplace stream (the simulator's, re-timed to now) into the input topics.

    About 3.5% of events are risky (the simulator's default scenarios); `riskstream simulate`
    writes the same stream with its ground-truth labels.
    """
    from riskstream.stream.producer import run_generator

    asyncio.run(run_generator(_settings(), rate=rate, count=count, seed=seed))


# ------------------------------------------------------------------ tail


@main.command()
@click.argument("what", type=click.Choice(["actions", "incidents", "deadletter", "signals"]))
@click.option("--region", multiple=True, help="Only these regions or countries (repeatable).")
@click.option("--from-beginning", is_flag=True)
def tail(what: str, region: tuple[str, ...], from_beginning: bool) -> None:
    """Print records from an output topic as they arrive."""
    from riskstream.cli.tail import run_tail

    asyncio.run(run_tail(_settings(), what, regions=set(region), from_beginning=from_beginning))


# ------------------------------------------------------------------ demo


@main.command()
@click.option("--rate", type=float, default=200.0, show_default=True, help="Events per second.")
@click.option("--duration", type=float, default=0.0, help="Stop after this many seconds (0 = until Ctrl-C).")
def demo(rate: float, duration: float) -> None:
    """The whole pipeline on a local broker, with a generated stream and live actions."""
    from riskstream.cli.demo import run_demo

    _settings()  # first use: the sample policies into RISKSTREAM_HOME/policies
    sys.exit(run_demo(rate=rate, duration=duration))


# ------------------------------------------------------------------ policy


@main.group()
def policy() -> None:
    """Validate, compare, explain and publish region policies."""


@policy.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def policy_validate(files: tuple[Path, ...]) -> None:
    """Check policy files; print FILE:LINE:COL: reason for every problem."""
    from riskstream.detectors.registry import default_registry
    from riskstream.policy import validate_file

    bad = 0
    for f in files:
        issues = validate_file(f, default_registry())
        errors = [i for i in issues if i.severity == "error"]
        for issue in issues:
            click.echo(str(issue), err=True)
        if errors:
            bad += 1
        else:
            click.echo(f"{f}: ok")
    sys.exit(1 if bad else 0)


@policy.command("diff")
@click.argument("old", type=click.Path(exists=True, path_type=Path))
@click.argument("new", type=click.Path(exists=True, path_type=Path))
def policy_diff(old: Path, new: Path) -> None:
    """What changes between two versions of a policy."""
    from riskstream.detectors.registry import default_registry
    from riskstream.policy import diff_policies, load_policy

    reg = default_registry()
    for line in diff_policies(load_policy(old, reg), load_policy(new, reg)) or ["(no changes)"]:
        click.echo(line)


@policy.command("explain")
@click.argument("event_file", type=click.Path(exists=True, path_type=Path))
@click.option("--policy-dir", type=click.Path(path_type=Path), default=None)
def policy_explain(event_file: Path, policy_dir: Path | None) -> None:
    """Which detectors fire on EVENT.json, why, and what action would follow."""
    import orjson

    from riskstream.contracts import EVENT_TYPES, from_obj
    from riskstream.decisions.explain import explain
    from riskstream.detectors.registry import default_registry
    from riskstream.policy import load_policy
    from riskstream.regions import region_of

    obj = orjson.loads(event_file.read_bytes())
    kind = obj.get("kind", "listing") if isinstance(obj, dict) else "listing"
    event = from_obj(obj, EVENT_TYPES[kind])
    reg = default_registry()
    region = region_of(event.region)
    folder = policy_dir or _settings().policies.directory
    pol = load_policy(folder / f"{str(region).lower()}.yaml", reg)
    click.echo(explain(event, pol, reg).render())


@policy.command("backtest")
@click.argument("candidate", type=click.Path(exists=True, path_type=Path))
@click.option("--events", "events_file", required=True, type=click.Path(exists=True, path_type=Path),
              help="A simulator JSONL file or a recorded topic range (one event object per line).")
@click.option("--in-force", type=click.Path(path_type=Path), default=None,
              help="The policy to compare with (default: the region's file in the policy directory).")
@click.option("--labels", type=click.Path(exists=True, path_type=Path), default=None,
              help="Labels (default: the simulator's FILE.labels.json beside the events, if there).")
def policy_backtest(candidate: Path, events_file: Path, in_force: Path | None, labels: Path | None) -> None:
    """Per rule and detector: actions CANDIDATE would take on the events vs the policy in force."""
    from riskstream.detectors.registry import default_registry
    from riskstream.evaluation.backtest import backtest, read_events
    from riskstream.policy import load_policy
    from riskstream.sim import labels_path_for, read_labels

    region = load_policy(candidate, default_registry()).region
    in_force = in_force or _settings().policies.directory / f"{region.lower()}.yaml"
    lpath = labels or labels_path_for(events_file)
    labelset = read_labels(lpath) if lpath.exists() else None
    click.echo(backtest(candidate, read_events(events_file), in_force=in_force, labels=labelset).render())


@policy.command("statement")
@click.argument("action_file", type=click.Path(exists=True, path_type=Path))
@click.option("--policy-dir", type=click.Path(path_type=Path), default=None)
def policy_statement(action_file: Path, policy_dir: Path | None) -> None:
    """Render an EU action (JSON from risk.actions.v1) as a DSA statement of reasons."""
    import orjson

    from riskstream.contracts import EnforcementAction, decode
    from riskstream.decisions import NoStatement, statement_of_reasons
    from riskstream.detectors.registry import default_registry
    from riskstream.policy import load_policy

    action = decode(action_file.read_bytes(), EnforcementAction)
    folder = policy_dir or _settings().policies.directory
    pol = load_policy(folder / "eu.yaml", default_registry())
    try:
        click.echo(orjson.dumps(statement_of_reasons(action, pol), option=orjson.OPT_INDENT_2).decode())
    except NoStatement as exc:
        raise click.ClickException(str(exc)) from None


@policy.command("publish")
@click.argument("file", type=click.Path(exists=True, path_type=Path))
def policy_publish(file: Path) -> None:
    """Validate FILE and publish it on the control topic: every worker switches to it."""
    from riskstream.stream.producer import publish_policy

    version = asyncio.run(publish_policy(_settings(), file))
    click.echo(f"published {file} (version {version})")


@policy.command("reenable")
@click.option("--region", required=True, help="Policy region (EU, UK, US, SEA).")
@click.option("--rule", required=True, help="The rule the blast-radius guard put in shadow (detector id or rule:<id>).")
@click.option("--by", default=None, help="Who re-enables it (recorded on the control topic); default $USER.")
def policy_reenable(region: str, rule: str, by: str | None) -> None:
    """Re-enable a rule the blast-radius guard dropped to shadow in REGION (enforced again)."""
    import os

    from riskstream.regions import REGIONS
    from riskstream.stream.producer import reenable_rule

    if region not in REGIONS:
        raise click.ClickException(f"unknown region {region!r}; expected one of {', '.join(sorted(REGIONS))}")
    who = by or os.environ.get("USER") or "policy manager"
    asyncio.run(reenable_rule(_settings(), region, rule, who))
    click.echo(f"re-enable of {rule} in {region} sent to the guard (it confirms on the control topic)")


# ------------------------------------------------------------------ simulator, replay


@main.command()
@click.argument("out", type=click.Path(path_type=Path))
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--hours", type=int, default=24, show_default=True, help="Simulated hours.")
def simulate(out: Path, seed: int, hours: int) -> None:
    """Write a seeded marketplace simulation to OUT.jsonl and its labels beside it."""
    from riskstream.sim import SimConfig, run, write_run

    result = run(SimConfig(seed=seed, duration_hours=hours))
    events_path, labels_path = write_run(result, out)
    risky = sum(lab.is_risky for lab in result.labels.labels.values())
    click.echo(f"{len(result.events)} events ({risky} risky, {len(result.labels.scenarios)} scenarios)")
    click.echo(f"events: {events_path}\nlabels: {labels_path}")


@main.command()
@click.argument("file", type=click.Path(exists=True, path_type=Path))
@click.option("--speed", type=float, default=0.0, show_default=True,
              help="1 = original pace, 60 = a minute per second, 0 = as fast as possible.")
def replay(file: Path, speed: float) -> None:
    """Play a JSONL file (from `simulate`) into the input topics."""
    from riskstream.stream.producer import replay_file

    sent = asyncio.run(replay_file(_settings(), file, speed))
    click.echo(f"replayed {sent} events from {file}")


# ------------------------------------------------------------------ evaluation


@main.group("eval")
def eval_() -> None:
    """Measure detection quality on labeled data."""


@eval_.command("run")
@click.option("--seed", type=int, default=101, show_default=True, help="Held-out seed (101-105); tuning uses 1-5.")
@click.option("--hours", type=int, default=24, show_default=True)
@click.option("--json", "json_out", type=click.Path(path_type=Path), default=None)
@click.option("--policy-dir", type=click.Path(path_type=Path), default=None)
@click.option("--broker", is_flag=True, help="Through a real broker and worker instead of in-process (slower).")
@click.option("--workers", type=click.IntRange(1, 16), default=1, show_default=True,
              help="With --broker: this many workers in one consumer group (the scores must not change).")
@click.option("--seeds", default=None,
              help="Several seeds (e.g. 101-105, the held-out ones): per-detector and per-scenario mean ± sd.")
def eval_run(seed: int, hours: int, json_out: Path | None, policy_dir: Path | None, broker: bool,
             workers: int, seeds: str | None) -> None:
    """Simulate, run the pipeline, print precision / recall / time-to-detect."""
    from riskstream.evaluation.harness import evaluate_run, render, to_json
    from riskstream.sim import SimConfig

    if seeds:
        if broker:
            raise click.BadParameter("--seeds runs in-process; use --seed with --broker")
        from riskstream.evaluation.harness import render_seeds, seed_list

        pdir = policy_dir or _settings().policies.directory
        click.echo(render_seeds({s: evaluate_run(SimConfig(seed=s, duration_hours=hours), pdir, include_incidents=False)
                                 for s in seed_list(seeds)}), nl=False)
        return

    if broker:
        from riskstream.cli.eval_broker import evaluate_through_broker
        from riskstream.evaluation.quality import render_table, report_to_json

        report = evaluate_through_broker(SimConfig(seed=seed, duration_hours=hours),
                                         policy_dir or _settings().policies.directory, workers=workers)
        click.echo(render_table(report))
        if json_out:
            json_out.write_bytes(report_to_json(report))
            click.echo(f"wrote {json_out}")
        return
    if workers != 1:
        raise click.BadParameter("--workers needs --broker (in-process there is one engine)")
    result = evaluate_run(SimConfig(seed=seed, duration_hours=hours), policy_dir or _settings().policies.directory)
    click.echo(render(result))
    if json_out:
        json_out.write_text(to_json(result))
        click.echo(f"wrote {json_out}")


@eval_.command("nab")
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Per-row score CSVs (default: RISKSTREAM_HOME/nab).")
@click.option("--time-order", type=click.Choice(["strict", "file"]), default="strict", show_default=True,
              help="strict: a repeated or backward timestamp stops the run; file: keep them in file order "
                   "(NAB's own files repeat an hour at daylight-saving changes).")
@click.option("--lofo", is_flag=True,
              help="Leave-one-folder-out: choose on four folders, score the fifth; windowed Gaussian beside it.")
def eval_nab(data_dir: Path, out: Path | None, time_order: str, lofo: bool) -> None:
    """Score a folder of labeled series (NAB layout) with the streaming detector."""
    from riskstream.evaluation import CorpusError, load_corpus, run_nab
    from riskstream.models import RangeAwareDetector

    order: Literal["strict", "file"] = "file" if time_order == "file" else "strict"
    click.echo(f"scoring {data_dir} ...", err=True)
    try:
        if lofo:
            from riskstream.evaluation.nab_candidates import lofo_candidates
            from riskstream.evaluation.nab_lofo import render, run_lofo
            from riskstream.evaluation.nab_reference import WindowedGaussian

            corpus = load_corpus(data_dir, order)
            for note in corpus.notes:
                click.echo(f"note: {note}", err=True)
            lofo_result = run_lofo(corpus, lofo_candidates(), WindowedGaussian)
            click.echo(render(lofo_result, list(corpus.profiles)))
            return
        result = run_nab(data_dir, RangeAwareDetector, out or state_home() / "nab", order)
    except CorpusError as e:
        raise click.ClickException(str(e)) from None
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    click.echo(f"{'profile':<22} {'score':>7} {'threshold':>10}")
    for name, p in result.profiles.items():
        click.echo(f"{name:<22} {p.normalized_score:7.1f} {p.threshold:10.4f}")
    click.echo(f"{result.rows_scored} rows in {result.seconds:.1f}s ({result.rows_per_second:,.0f} rows/s); "
               f"per-row scores in {out or state_home() / 'nab'}")


# ------------------------------------------------------------------ incidents and models


@main.group()
def incidents() -> None:
    """Incident candidates for the incident-response team."""


@incidents.command("tail")
@click.option("--region", multiple=True, help="Only these regions or countries (repeatable).")
@click.option("--severity", multiple=True, type=click.Choice(["low", "medium", "high", "critical"]))
@click.option("--from-beginning", is_flag=True)
def incidents_tail(region: tuple[str, ...], severity: tuple[str, ...], from_beginning: bool) -> None:
    """Show incident candidates live (open / update / resolve)."""
    from riskstream.cli.tail import run_tail

    asyncio.run(run_tail(_settings(), "incidents", regions=set(region), from_beginning=from_beginning,
                         severity=set(severity) or None))


@main.command()
@click.option("--seed", type=int, default=1, show_default=True, help="Train on this simulated seed (a tuning seed, 1-5; eval scores 101-105).")
@click.option("--events", type=click.Path(exists=True, path_type=Path), default=None,
              help="Train on a recorded JSONL stream instead (from `simulate` or a capture).")
@click.option("--out", type=click.Path(path_type=Path), default=None, help="Model directory (RISKSTREAM_MODEL_DIR).")
def train(seed: int, events: Path | None, out: Path | None) -> None:
    """Train one IsolationForest per region over windowed aggregates; save with metadata."""
    from riskstream.cli.training import train_models

    for path in train_models(_settings(), seed=seed, events=events, out=out):
        click.echo(f"saved {path}")


@main.group()
def models() -> None:
    """Trained region models."""


@models.command("list")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
def models_list(directory: Path | None) -> None:
    """List saved region models with their metadata."""
    from riskstream.models.region_model import list_models

    folder = directory or _settings().models.directory
    metas = list_models(folder) if folder.exists() else []
    if not metas:
        click.echo(f"no models in {folder} (regions use the streaming detector)")
        return
    for meta in metas:
        click.echo(f"{meta.region:<4} {meta.version:<22} windows={meta.windows:<5} "
                   f"{meta.train_start} .. {meta.train_end} data={meta.data_hash[:12]} "
                   f"features={len(meta.features)} sklearn={meta.sklearn_version}")


# ------------------------------------------------------------------ dead letters


@main.group()
def deadletters() -> None:
    """Dead letters: re-inject them after a fix."""


@deadletters.command("replay")
@click.option("--reason", required=True, help="dead-letter reason to replay (too_large, processing_error, ...), or 'all'")
@click.option("--since", required=True, help="dead-lettered at or after: ISO-8601 time with zone, or 90m / 2h / 3d")
@click.option("--dry-run", is_flag=True, help="count what would be re-injected, send nothing")
def deadletters_replay(reason: str, since: str, dry_run: bool) -> None:
    """Re-inject dead letters into their source topic, each at most once (idempotent)."""
    from riskstream.stream.replay import ReplayReport, parse_since, replay_dead_letters

    try:
        start = parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from None

    def progress(report: ReplayReport) -> None:
        click.echo(f"[replay] {report.line()}", err=True)

    report = asyncio.run(replay_dead_letters(Settings.from_env(), reason, start, dry_run=dry_run, progress=progress))
    verb = "would re-inject" if dry_run else "re-injected"
    for topic, n in sorted(report.by_topic.items()):
        click.echo(f"{verb} {n} into {topic}")


# ------------------------------------------------------------------ schemas


@main.command()
@click.option("--out", type=click.Path(path_type=Path), default=Path("docs"), show_default=True)
def schemas(out: Path) -> None:
    """Write docs/schemas/<topic>.json, docs/topics.md and policies/schema.json."""
    from riskstream.cli.docs import write_docs

    for path in write_docs(out):
        click.echo(f"wrote {path}")


if __name__ == "__main__":
    main()
