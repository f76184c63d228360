"""`carebus kafka up|down|status`: the embedded local Apache Kafka (KRaft, jars from Maven Central)."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from carebus.cli._context import default_cluster, fail, settings
from carebus.errors import LocalKafkaError
from carebus.kafka.local import DEFAULT_KAFKA_PORT, ensure_jars

__all__ = ["app"]

app = typer.Typer(help="Run a local Apache Kafka in KRaft mode (no Docker).", no_args_is_help=True)


@app.command()
def up(
    brokers: int = typer.Option(1, min=1, max=5, help="Number of combined broker+controller nodes."),
    port: int = typer.Option(DEFAULT_KAFKA_PORT, help="First broker port; another is picked if it is taken."),
    name: str = typer.Option("default", help="Cluster name (state folder under CAREBUS_HOME/run)."),
    timeout: float = typer.Option(90.0, help="Seconds to wait for the brokers to answer."),
) -> None:
    """Start the local cluster (idempotent) and print its bootstrap servers."""
    try:
        bootstrap = default_cluster(name).up(brokers=brokers, port=port, timeout_s=timeout)
    except LocalKafkaError as exc:
        fail(str(exc))
    typer.echo(bootstrap)


@app.command()
def down(
    name: str = typer.Option("default", help="Cluster name."),
    purge: bool = typer.Option(False, "--purge", help="Also delete the cluster's data and logs."),
) -> None:
    """Stop the local cluster cleanly."""
    default_cluster(name).down(purge=purge)
    typer.echo("stopped" + (" and purged" if purge else ""))


@app.command()
def status(name: str = typer.Option("default", help="Cluster name.")) -> None:
    """Show each node and whether the cluster answers. Exit 1 when it is not running."""
    cluster = default_cluster(name)
    nodes = cluster.status()
    if not nodes:
        fail(f"no local cluster named {name!r}")
    table = Table("node", "address", "pid", "state", "log")
    for node in nodes:
        table.add_row(str(node.node_id), f"127.0.0.1:{node.port}", str(node.pid or "-"),
                      "running" if node.alive else "stopped", str(node.log_file))
    Console().print(table)
    if not all(node.alive for node in nodes) or not cluster.is_ready():
        raise typer.Exit(1)


@app.command()
def fetch() -> None:
    """Fetch the Apache Kafka jars from Maven Central into the cache (once; later calls are no-ops)."""
    current = settings()
    try:
        libs = ensure_jars(current.home, current.kafka_version)
    except LocalKafkaError as exc:
        fail(str(exc))
    typer.echo(str(libs))
