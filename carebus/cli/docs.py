"""`carebus docs ...`: documents generated from the source of truth (the topic catalog and `schemas/`)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml

from carebus.asyncapi import DEFAULT_REGISTRY, DEFAULT_SERVER, build_asyncapi

__all__ = ["app"]

EXIT_BAD_INPUT = 2

app = typer.Typer(help="Generate documentation from the topic catalog and the Avro contracts.", no_args_is_help=True)


class Format(StrEnum):
    yaml = "yaml"
    json = "json"


@app.callback()
def _docs() -> None:
    pass


@app.command()
def asyncapi(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="yaml or json.")] = Format.yaml,
    server: Annotated[str, typer.Option("--server", help="Bootstrap servers to name in the document.")]
    = DEFAULT_SERVER,
    registry: Annotated[str, typer.Option("--registry", help="Registry URL to name in the document.")]
    = DEFAULT_REGISTRY,
) -> None:
    """The AsyncAPI 3.0 document of every topic: channel, key, Avro message schema, producers and consumers."""
    document = build_asyncapi(server=server, registry_url=registry)
    if fmt is Format.json:
        text = json.dumps(document, indent=2) + "\n"
    else:
        text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=120)
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        typer.echo(f"error: cannot write {output}: {exc.strerror or type(exc).__name__}", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from exc
    typer.echo(f"wrote {output} ({len(document['channels'])} channels)")
