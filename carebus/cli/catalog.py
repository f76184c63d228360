"""`carebus catalog`: the integration inventory (config/integrations.yaml) as a table; `carebus catalog check`
validates it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from carebus.cli._context import fail
from processors.config_files import DEFAULT_CONFIG_DIR
from processors.errors import ConfigFileError
from processors.ownership import INTEGRATIONS_FILE, Catalog, load_catalog

__all__ = ["app", "catalog_table"]

app = typer.Typer(help="The integration catalog: which system is the source of truth for which domain.",
                  invoke_without_command=True)

FileOption = Annotated[Path, typer.Option("--file", "-f", envvar="CAREBUS_INTEGRATIONS_FILE",
                                          help="The catalog file.")]
DEFAULT_FILE = DEFAULT_CONFIG_DIR / INTEGRATIONS_FILE


def catalog_table(catalog: Catalog) -> Table:
    table = Table("system", "name", "protocol", "owns (facilities)", "sensitivity", "criticality", "purpose",
                  title=f"integrations ({len(catalog.integrations)})")
    for integration in sorted(catalog.integrations, key=lambda i: (i.criticality != "critical", i.system.lower())):
        owns = "\n".join(f"{domain} ({', '.join(facilities)})" for domain, facilities in integration.owns.items())
        table.add_row(integration.system, integration.name, ", ".join(integration.protocols), owns,
                      integration.sensitivity, integration.criticality, integration.purpose)
    return table


def _load(path: Path, code: int) -> Catalog:
    try:
        return load_catalog(path)
    except ConfigFileError as exc:
        fail(str(exc), code=code)
        raise  # unreachable: fail() raises


@app.callback()
def show(ctx: typer.Context, file: FileOption = DEFAULT_FILE) -> None:
    """Print the inventory: each integration's system, protocol, owned domains and facilities, sensitivity,
    criticality and purpose."""
    if ctx.invoked_subcommand is None:
        Console().print(catalog_table(_load(file, code=2)))


@app.command()
def check(file: FileOption = DEFAULT_FILE) -> None:
    """Validate the catalog; exit 1 if it does not load."""
    catalog = _load(file, code=1)
    typer.echo(f"ok: {len(catalog.integrations)} integrations")
