"""`carebus topics apply|list`: the topic catalog made real on a cluster."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from carebus.cli._context import fail, resolve_bootstrap, settings
from carebus.errors import KafkaError
from carebus.kafka.admin import apply_topics
from carebus.kafka.config import KafkaConnection
from carebus.topics import CATALOG

__all__ = ["app"]

app = typer.Typer(help="Create and inspect the topics carebus declares.", no_args_is_help=True)


@app.command("list")
def list_topics() -> None:
    """Print the catalog: every topic with its key, subject and schema."""
    table = Table("topic", "partitions", "cleanup", "key", "subject", "schema")
    for spec in CATALOG:
        table.add_row(spec.name, str(spec.partitions), spec.cleanup_policy, spec.key,
                      spec.subject or "-", spec.value_schema or "-")
    Console().print(table)


@app.command()
def apply() -> None:
    """Create missing topics and fix configs that differ (idempotent; never deletes)."""
    connection = KafkaConnection.from_settings(settings(), resolve_bootstrap())
    try:
        changes = apply_topics(connection, CATALOG)
    except KafkaError as exc:
        fail(str(exc))
    for change in changes:
        suffix = f" ({', '.join(change.details)})" if change.details else ""
        typer.echo(f"{change.action:9} {change.topic}{suffix}")
