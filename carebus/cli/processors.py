"""`carebus processors run|worker|report|check`: the stream processors (normalize, identity, ownership, dedupe,
routing) as faust workers, and what they have produced.

For `make demo` and other callers, the same pieces as functions:

- `processor_options(...)`: the options a worker runs with (settings, flags);
- `worker_command(options, registry_url)`: the argv of one worker process; `spawn_workers(n, ...)` starts n;
- `run_worker_in_process(options, registry_url)`: one worker in this process, until SIGTERM/SIGINT;
- `print_report(connection, topology, rules_dir)`: normalized counts per domain and dead letters per reason.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Final

import typer
from confluent_kafka.admin import AdminClient
from confluent_kafka.schema_registry import SchemaRegistryClient
from rich.console import Console
from rich.table import Table

from carebus.cli._bootstrap import registry_url
from carebus.cli._context import fail, resolve_bootstrap, settings
from carebus.errors import CarebusError
from carebus.kafka.admin import apply_topics, cluster_size
from carebus.kafka.config import KafkaConnection
from processors.app import AT_LEAST_ONCE, EXACTLY_ONCE
from processors.config_files import DEFAULT_CONFIG_DIR, ConfigFiles
from processors.dedupe import DEFAULT_WINDOW_S
from processors.errors import ConfigFileError
from processors.options import DEFAULT_COMMIT_INTERVAL_S, ProcessorOptions
from processors.report import ProcessorReport, collect_report
from processors.runtime import required_topics, run_worker
from processors.topology import DEFAULT_APP_ID, DEFAULT_RETRY_DELAYS_S, Topology

__all__ = [
    "app",
    "internal_replication",
    "print_report",
    "processor_options",
    "run_worker_in_process",
    "spawn_workers",
    "worker_command",
]

app = typer.Typer(help="Stream processors: canonical events in, normalized events and routed copies out.",
                  no_args_is_help=True)

_CLI: Final = "from carebus.cli.main import main; main()"
DEFAULT_RETRY_TEXT: Final = ",".join(str(delay) for delay in DEFAULT_RETRY_DELAYS_S)

ConfigDirOption = Annotated[Path, typer.Option("--config-dir", envvar="CAREBUS_PROCESSORS_CONFIG_DIR",
                                               help="Mapping tables, catalog, identity and routing rules.")]
AppIdOption = Annotated[str, typer.Option("--app-id", help="faust app id: the consumer group and the prefix "
                                                           "of internal topics.")]
GuaranteeOption = Annotated[str, typer.Option("--guarantee", help=f"{EXACTLY_ONCE} or {AT_LEAST_ONCE}.")]
WindowOption = Annotated[float, typer.Option("--dedupe-window", help="Seconds a replay is recognised for.")]
CommitOption = Annotated[float, typer.Option("--commit-interval", help="Seconds between commits (each hop's "
                                                                       "output is visible at its commit).")]
RetryOption = Annotated[str, typer.Option("--retry-delays", help="Routing retry delays in seconds, "
                                                                 "comma-separated: one retry topic each.")]
PartitionsOption = Annotated[int, typer.Option("--partitions", help="Partitions of the canonical and normalized "
                                                                    "topics (the tables follow them).")]


def processor_options(*, broker: str, config_dir: Path = DEFAULT_CONFIG_DIR, app_id: str = DEFAULT_APP_ID,
                      guarantee: str = EXACTLY_ONCE, dedupe_window_s: float = DEFAULT_WINDOW_S,
                      commit_interval_s: float = DEFAULT_COMMIT_INTERVAL_S,
                      retry_delays_s: tuple[float, ...] = DEFAULT_RETRY_DELAYS_S, partitions: int | None = None,
                      prefix: str = "", datadir: Path | None = None,
                      replication_factor: int = 1) -> ProcessorOptions:
    """Options for one worker. `replication_factor` is for the topics faust creates (changelogs, the identity and
    retry topics): `internal_replication(connection)` gives the cluster's (up to 3)."""
    topology = Topology(app_id=app_id, prefix=prefix, retry_delays_s=retry_delays_s,
                        **({"partitions": partitions} if partitions else {}))
    return ProcessorOptions(broker=broker, topology=topology, config_dir=config_dir, guarantee=guarantee,
                            dedupe_window_s=dedupe_window_s, commit_interval_s=commit_interval_s,
                            datadir=datadir or settings().home / "processors",
                            replication_factor=replication_factor)


def internal_replication(connection: KafkaConnection) -> int:
    """The replication factor for the processors' own topics: 3, or the cluster's size when it is smaller."""
    admin = AdminClient({**connection.as_librdkafka_dict(), "log_level": 3})
    return max(1, min(3, cluster_size(admin)))


def worker_command(options: ProcessorOptions, registry: str) -> list[str]:
    """The argv that runs one worker with `options` (as `carebus processors worker`)."""
    topology = options.topology
    return [sys.executable, "-c", _CLI, "processors", "worker", "--broker", options.broker, "--registry-url", registry,
            "--config-dir", str(options.config_dir), "--app-id", topology.app_id, "--guarantee", options.guarantee,
            "--dedupe-window", str(options.dedupe_window_s), "--commit-interval", str(options.commit_interval_s),
            "--retry-delays", ",".join(str(d) for d in topology.retry_delays_s),
            "--partitions", str(topology.partitions), "--prefix", topology.prefix,
            *(["--datadir", str(options.datadir)] if options.datadir else [])]


def spawn_workers(count: int, options: ProcessorOptions, registry: str,
                  **popen: object) -> list[subprocess.Popen[bytes]]:
    """Start `count` worker processes of one app (extra keywords go to Popen); they share the partitions."""
    command = worker_command(options, registry)
    return [subprocess.Popen(command, **popen) for _ in range(count)]  # type: ignore[call-overload]


def run_worker_in_process(options: ProcessorOptions, registry: str) -> None:
    """One worker in this process until it is stopped (faust installs the signal handlers)."""
    with SchemaRegistryClient({"url": registry}) as client:
        run_worker(options, registry=client)


def print_report(connection: KafkaConnection, topology: Topology, *, config_dir: Path = DEFAULT_CONFIG_DIR,
                 console: Console | None = None) -> ProcessorReport:
    """Print normalized counts per domain, copies per subscriber topic and dead letters per stage and reason."""
    subscribers = ConfigFiles(config_dir).load().routing.topics
    report = collect_report(connection, topology, subscriber_topics=subscribers)
    out = console or Console()
    counts = Table("domain", "normalized events", title="normalized")
    for domain, count in report.normalized.items():
        counts.add_row(domain, str(count))
    counts.add_row("[b]total[/b]", f"[b]{report.total_normalized}[/b]")
    out.print(counts)
    if report.subscribers:
        routed = Table("subscriber topic", "copies", title="routed")
        for topic, count in report.subscribers.items():
            routed.add_row(topic, str(count))
        out.print(routed)
    dead = Table("stage", "reason", "dead letters", title="dead letters")
    for letter in report.dead_letters:
        dead.add_row(letter.stage, letter.reason, str(letter.count))
    if not report.dead_letters:
        dead.add_row("-", "-", "0")
    out.print(dead)
    if not report.complete:
        out.print("[yellow]some topics were not read to their end before the deadline[/yellow]")
    return report


def _retry_delays(text: str) -> tuple[float, ...]:
    try:
        delays = tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        fail(f"--retry-delays {text!r}: expected seconds, comma-separated", code=2)
    if any(delay < 0 for delay in delays):
        fail("--retry-delays: delays cannot be negative", code=2)
    return delays


def _check_config(config_dir: Path) -> None:
    try:
        ConfigFiles(config_dir).load()
    except ConfigFileError as exc:
        fail(str(exc), code=2)


@app.command()
def worker(
    *,
    config_dir: ConfigDirOption = DEFAULT_CONFIG_DIR,
    app_id: AppIdOption = DEFAULT_APP_ID,
    guarantee: GuaranteeOption = EXACTLY_ONCE,
    dedupe_window: WindowOption = DEFAULT_WINDOW_S,
    commit_interval: CommitOption = DEFAULT_COMMIT_INTERVAL_S,
    retry_delays: RetryOption = DEFAULT_RETRY_TEXT,
    partitions: PartitionsOption = 0,
    broker: Annotated[str | None, typer.Option(help="Bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS, "
                                                    "else the local broker).")] = None,
    registry_url_: Annotated[str | None, typer.Option("--registry-url", help="Schema registry (default: "
                                                      "SCHEMA_REGISTRY_URL, else the built-in one).")] = None,
    prefix: Annotated[str, typer.Option(help="Topic name prefix (tests).", hidden=True)] = "",
    datadir: Annotated[Path | None, typer.Option(help="faust's data folder.")] = None,
) -> None:
    """Run one processor worker in this process until stopped."""
    _check_config(config_dir)
    bootstrap = broker or resolve_bootstrap()
    connection = KafkaConnection.from_settings(settings(), bootstrap)
    options = processor_options(broker=bootstrap, config_dir=config_dir, app_id=app_id,
                                guarantee=guarantee, dedupe_window_s=dedupe_window,
                                commit_interval_s=commit_interval, retry_delays_s=_retry_delays(retry_delays),
                                partitions=partitions or None, prefix=prefix, datadir=datadir,
                                replication_factor=internal_replication(connection))
    if registry_url_:
        run_worker_in_process(options, registry_url_)
        return
    with registry_url(settings(), connection) as url:
        run_worker_in_process(options, url)


@app.command()
def run(
    *,
    workers: Annotated[int, typer.Option("--workers", "-w", min=1, help="Worker processes to start.")] = 1,
    config_dir: ConfigDirOption = DEFAULT_CONFIG_DIR,
    app_id: AppIdOption = DEFAULT_APP_ID,
    guarantee: GuaranteeOption = EXACTLY_ONCE,
    dedupe_window: WindowOption = DEFAULT_WINDOW_S,
    commit_interval: CommitOption = DEFAULT_COMMIT_INTERVAL_S,
    retry_delays: RetryOption = DEFAULT_RETRY_TEXT,
    create_topics: Annotated[bool, typer.Option(help="Create the topics the processors need first (canonical, "
                                                     "normalized, dead-letter, subscriber).")] = True,
) -> None:
    """Start N worker processes of the processor app and supervise them until SIGINT/SIGTERM."""
    _check_config(config_dir)
    options = processor_options(broker=resolve_bootstrap(), config_dir=config_dir, app_id=app_id,
                                guarantee=guarantee, dedupe_window_s=dedupe_window,
                                commit_interval_s=commit_interval, retry_delays_s=_retry_delays(retry_delays))
    connection = KafkaConnection.from_settings(settings(), options.broker)
    if create_topics:
        try:
            apply_topics(connection, required_topics(options))
        except CarebusError as exc:
            fail(str(exc))
    with registry_url(settings(), connection) as url:
        children = spawn_workers(workers, options, url)
        typer.echo(f"processors {app_id}: {workers} worker(s) started (pids "
                   f"{', '.join(str(c.pid) for c in children)}); Ctrl-C stops them")

        def forward(signum: int, _frame: object) -> None:
            for child in children:
                if child.poll() is None:
                    child.send_signal(signum)

        previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            codes = [child.wait() for child in children]
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            for child in children:
                with contextlib.suppress(ProcessLookupError):
                    if child.poll() is None:
                        child.kill()
    failed = [code for code in codes if code not in (0, -signal.SIGINT, -signal.SIGTERM)]
    if failed:
        fail(f"{len(failed)} worker(s) exited with an error (codes {failed})")


@app.command()
def report(
    config_dir: ConfigDirOption = DEFAULT_CONFIG_DIR,
    prefix: Annotated[str, typer.Option(help="Topic name prefix (tests).", hidden=True)] = "",
) -> None:
    """Print normalized events per domain, routed copies and dead letters per stage and reason."""
    _check_config(config_dir)
    connection = KafkaConnection.from_settings(settings(), resolve_bootstrap())
    print_report(connection, Topology(prefix=prefix), config_dir=config_dir)


@app.command()
def check(config_dir: ConfigDirOption = DEFAULT_CONFIG_DIR) -> None:
    """Validate the operator files (mapping tables, catalog, identity and routing rules); exit 1 if one is bad."""
    try:
        rules = ConfigFiles(config_dir).load()
    except ConfigFileError as exc:
        fail(str(exc), code=1)
    typer.echo(f"ok: {len(rules.tables.codes)} code mappings, {len(rules.tables.units)} units, "
               f"{len(rules.catalog.integrations)} integrations, {len(rules.routing.rules)} routing rules")
