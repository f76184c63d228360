"""The `carebus` command: `carebus <noun> <verb>`, one entry point, `--help` everywhere.

Exit codes: 0 ok, 1 a check failed, 2 bad usage or input. This package is the one place that
wires layers together; each noun lives in its own module and registers here.
"""

from __future__ import annotations

import logging

import typer

from carebus.cli import batch as batch_cli
from carebus.cli import catalog as catalog_cli
from carebus.cli import demo as demo_cli
from carebus.cli import docs as docs_cli
from carebus.cli import fhir as fhir_cli
from carebus.cli import hl7 as hl7_cli
from carebus.cli import kafka as kafka_cli
from carebus.cli import processors as processors_cli
from carebus.cli import registry as registry_cli
from carebus.cli import schemas as schemas_cli
from carebus.cli import topics as topics_cli

__all__ = ["app", "main"]

app = typer.Typer(
    name="carebus",
    help="carebus: HL7 v2, FHIR and batch feeds in, one governed stream of canonical events out.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(kafka_cli.app, name="kafka")
app.add_typer(topics_cli.app, name="topics")
app.add_typer(schemas_cli.app, name="schemas")
app.add_typer(batch_cli.app, name="batch")
app.add_typer(registry_cli.app, name="registry")
app.add_typer(hl7_cli.app, name="hl7")
app.add_typer(fhir_cli.app, name="fhir")
app.add_typer(docs_cli.app, name="docs")
app.add_typer(processors_cli.app, name="processors")
app.add_typer(catalog_cli.app, name="catalog")
app.command("demo")(demo_cli.demo)


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log at DEBUG instead of INFO."),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # One line per HTTP request from the registry client is noise at INFO.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def main() -> None:
    app()
