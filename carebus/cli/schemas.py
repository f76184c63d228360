"""`carebus schemas ...`: contract checks for people and CI.

`compatible` compares two schema files with the registry's own checker. `check` holds every canonical
contract in `schemas/` to its subject's level (BACKWARD_TRANSITIVE) against a git ref's history or a
running registry; CI runs it before the tests, and another repository's CI can run it too. Exit codes
follow the CLI's convention: 0 compatible, 1 incompatible (each reason printed with its location),
2 a file, ref or registry that cannot be read, or an invalid schema.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from carebus.errors import CarebusError, InvalidSchemaError, SchemaError
from carebus.registry.avro_schema import AvroSchema, parse_schema
from carebus.registry.compatibility import check_reader_writer
from carebus.registry.governance import SubjectVerdict, check_against_git, check_against_registry, contracts_in
from schemas import SCHEMA_DIR

__all__ = ["app"]

EXIT_INCOMPATIBLE = 1
EXIT_BAD_INPUT = 2

app = typer.Typer(
    help="Check Avro contracts: compatibility between two schemas, or against a git ref.",
    no_args_is_help=True,
)


@app.callback()
def _schemas() -> None:
    # A callback keeps `schemas` a command group while it has a single command, so `compatible` stays a
    # subcommand (and more can join it) instead of becoming the group itself.
    pass


@app.command()
def compatible(
    reader: Annotated[Path, typer.Option("--reader", help="The schema that reads (.avsc).")],
    writer: Annotated[Path, typer.Option("--writer", help="The schema the data was written with (.avsc).")],
) -> None:
    """Can READER read data written with WRITER? Avro Java's (and so Confluent's) rules."""
    reader_schema = _load(reader)
    writer_schema = _load(writer)
    try:
        incompatibilities = check_reader_writer(reader_schema, writer_schema)
    except SchemaError as exc:
        typer.echo(f"incompatible: {reader} cannot read data written with {writer}: {exc}")
        raise typer.Exit(EXIT_INCOMPATIBLE) from exc
    if not incompatibilities:
        typer.echo(f"compatible: {reader} can read data written with {writer}")
        return
    typer.echo(f"incompatible: {reader} cannot read data written with {writer}:")
    for incompatibility in incompatibilities:
        typer.echo(f"  {incompatibility}")
    raise typer.Exit(EXIT_INCOMPATIBLE)


@app.command()
def check(
    against: Annotated[str | None, typer.Option("--against", help="A git ref: check against its history.")] = None,
    registry: Annotated[str | None, typer.Option("--registry", help="A running registry's URL.")] = None,
    schema_dir: Annotated[Path, typer.Option("--schemas", help="Folder of .avsc contracts.")] = SCHEMA_DIR,
    repo: Annotated[Path, typer.Option("--repo", help="The git repository (with --against).")] = Path("."),
) -> None:
    """Fail when a contract in SCHEMAS breaks its subject's compatibility level."""
    if (against is None) == (registry is None):
        typer.echo("error: give exactly one of --against REF or --registry URL", err=True)
        raise typer.Exit(EXIT_BAD_INPUT)
    try:
        if against is not None:
            verdicts = check_against_git(repo, against, schema_dir=schema_dir)
        else:
            verdicts = check_against_registry(str(registry), contracts_in(schema_dir))
    except CarebusError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    except OSError as exc:
        typer.echo(f"error: cannot reach {registry}: {type(exc).__name__}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    _report(verdicts)
    if not all(verdict.ok for verdict in verdicts):
        raise typer.Exit(EXIT_INCOMPATIBLE)


def _report(verdicts: list[SubjectVerdict]) -> None:
    for verdict in verdicts:
        against = f"{len(verdict.compared_with)} version(s)" if verdict.compared_with else "no earlier version"
        typer.echo(f"{'ok  ' if verdict.ok else 'FAIL'} {verdict.subject} [{verdict.level}] against {against}")
        for message in verdict.messages:
            typer.echo(f"       {message}")


def _load(path: Path) -> AvroSchema:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot read {path}: {exc.strerror or type(exc).__name__}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    except UnicodeDecodeError as exc:
        typer.echo(f"error: cannot read {path}: not UTF-8 text", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    try:
        return parse_schema(text)
    except InvalidSchemaError as exc:
        typer.echo(f"error: {path}: {exc}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
