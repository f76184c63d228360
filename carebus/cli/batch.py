"""`carebus batch load|watch|status`: CSV files (patients, lab results, payer claims) onto the bus.

`load FILE|DIR` loads one file, or every file directly in DIR, and prints a summary line per file.
`watch DIR` polls a drop folder and moves each file to DIR/done/ or DIR/failed/ once loaded. Exit
codes: 0 every row published (or the content was loaded before), 1 some rows rejected (they are on
deadletter.batch) or the bus failed mid-load (rerun to resume), 2 a file that cannot be read or
whose header fits no layout, or bad usage.

This module builds the concrete pieces (Kafka publishers, the registry client, the SQLite ledger)
and hands them to `producers.batch.BatchLoader`; docs/batch-layouts.md describes the layouts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Final, cast

import httpx
import typer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn
from rich.table import Table

from carebus.cli._context import fail, resolve_bootstrap, settings
from carebus.errors import CarebusError, KafkaError, RegistryError, SerializationError
from carebus.kafka.config import KafkaConnection
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.kafka.producer import DurableProducer
from carebus.publishing import KafkaDeadLetterPublisher, KafkaEventPublisher
from carebus.serde import RegistryPort
from producers.batch import (
    DEFAULT_BATCH_ROWS,
    LAYOUT_NAMES,
    BatchInputError,
    BatchLoader,
    DropFolder,
    LoadSummary,
    SqliteLedger,
    WatchResult,
    default_ledger_path,
    inspect_file,
    watch_folder,
)
from producers.batch.watch import DEFAULT_INTERVAL_S, DEFAULT_SETTLE_S, TRANSIENT_ERRORS, Outcome

__all__ = ["app"]

EXIT_OK: Final = 0
EXIT_REJECTED: Final = 1
EXIT_BAD_INPUT: Final = 2
SHOWN_ERRORS: Final = 10
PIPED_WIDTH: Final = 200

_REGISTRY_CLIENT_ERRORS: Final = (httpx.HTTPError, SchemaRegistryError)
"""What confluent-kafka's registry client raises when the registry is down or answers with an error."""

LayoutName = Enum("LayoutName", {name.replace("-", "_"): name for name in LAYOUT_NAMES}, type=str)  # type: ignore[misc]

app = typer.Typer(help="Load CSV batch files (Synthea patients, lab results, payer claims) onto the bus.",
                  no_args_is_help=True)

LayoutOption = Annotated[LayoutName | None, typer.Option(
    "--layout", help="The file's layout; detected from the header row when omitted.")]
SourceOption = Annotated[str | None, typer.Option(
    "--source-system", help="Source.system of the events (default: the layout's feed name).")]
BatchRowsOption = Annotated[int, typer.Option(
    "--batch-rows", min=1, help="Rows per batch: one Kafka transaction and one ledger commit each.")]
LedgerOption = Annotated[Path | None, typer.Option(
    "--ledger", help="The ledger's SQLite file (default: $CAREBUS_HOME/batch/batch-ledger.sqlite3).")]


@dataclass
class _Pieces:
    loader: BatchLoader
    transport: GroupCommitPublisher
    producer: DurableProducer
    ledger: SqliteLedger


def _registry_url() -> str:
    """SCHEMA_REGISTRY_URL, else the built-in registry on its port (DESIGN.md's embedded default)."""
    current = settings()
    return current.schema_registry_url or f"http://127.0.0.1:{current.registry_port}"


def _registry() -> RegistryPort:
    # confluent-kafka's client is the registry port at runtime; its lookup_schema has grown an `fmt` parameter
    # that the core's Protocol does not declare, so a type checker needs the cast.
    return cast(RegistryPort, SchemaRegistryClient({"url": _registry_url()}))


@contextlib.contextmanager
def _pieces(ledger_path: Path | None, batch_rows: int) -> Iterator[_Pieces]:
    connection = KafkaConnection.from_settings(settings(), resolve_bootstrap())
    transport = GroupCommitPublisher(connection,
                                     transactional_id=f"carebus-batch-{socket.gethostname()}-{os.getpid()}")
    producer = DurableProducer(connection, client_id="carebus-batch-deadletters")
    ledger = SqliteLedger(ledger_path or default_ledger_path(settings().home))
    loader = BatchLoader(publisher=KafkaEventPublisher(transport, _registry()),
                         dead_letters=KafkaDeadLetterPublisher(producer), ledger=ledger, batch_rows=batch_rows)
    transport.start()
    try:
        yield _Pieces(loader, transport, producer, ledger)
    finally:
        transport.close()
        producer.close()
        ledger.close()


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(entry for entry in path.iterdir() if entry.is_file() and not entry.name.startswith("."))
    if path.is_file():
        return [path]
    fail(f"{path}: no such file or directory", code=EXIT_BAD_INPUT)
    return []


def _print_summary(summary: LoadSummary, err: Console) -> None:
    if summary.already_loaded:
        typer.echo(f"{summary.file_name}: already loaded (sha256 {summary.sha256[:16]}): published nothing")
        return
    resumed = f" resumed_from_line={summary.resumed_from_line}" if summary.resumed_from_line else ""
    typer.echo(f"{summary.file_name}: layout={summary.layout} rows={summary.rows} "
               f"published={summary.published_rows} events={summary.events} rejected={summary.rejected_rows} "
               f"rows/s={summary.rows_per_s:.0f}{resumed}")
    if summary.replayed_in_doubt_batch:
        err.print(f"{summary.file_name}: the previous run stopped between publishing a batch and recording it; "
                  "that batch was published again with the same event ids", highlight=False)
    for (column, rule), count in sorted(summary.rejections_by_rule.items(), key=lambda item: -item[1]):
        err.print(f"  rejected {count} row(s): {f'column {column}' if column else 'row'}: {rule}", highlight=False)
    for error in summary.first_errors[:SHOWN_ERRORS]:
        err.print(f"  {error}", highlight=False)
    if summary.rejected_rows > SHOWN_ERRORS:
        err.print(f"  ... {summary.rejected_rows - SHOWN_ERRORS} more on deadletter.batch", highlight=False)


async def _load_all(loader: BatchLoader, files: list[Path], layout: str | None, source_system: str | None,
                    err: Console) -> int:
    worst = EXIT_OK
    interactive = err.is_terminal
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                        TextColumn("{task.fields[rows]} rows"), TimeRemainingColumn(), console=err,
                        transient=True, disable=not interactive)
    with progress:
        for path in files:
            task = progress.add_task(path.name, total=path.stat().st_size, rows=0)

            def update(offset: int, rows: int, task: TaskID = task) -> None:
                progress.update(task, completed=offset, rows=rows)

            try:
                summary = await loader.load(path, layout=layout, source_system=source_system, on_progress=update)
            except BatchInputError as exc:
                err.print(f"error: {exc}", highlight=False)
                worst = max(worst, EXIT_BAD_INPUT)
                continue
            finally:
                progress.remove_task(task)
            _print_summary(summary, err)
            if summary.rejected_rows:
                worst = max(worst, EXIT_REJECTED)
    return worst


@app.command()
def load(
    path: Annotated[Path, typer.Argument(help="A CSV file, or a folder whose files are all loaded.")],
    layout: LayoutOption = None,
    source_system: SourceOption = None,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    ledger: LedgerOption = None,
) -> None:
    """Load CSV files: each row validated, bad rows to deadletter.batch, the rest published in batches.

    Loading the same content again publishes nothing; an interrupted load resumes after its last committed batch.

    Exit 0: every row published. 1: some rows rejected, or the bus failed (rerun to resume). 2: a file is
    unreadable or its header fits no layout."""
    err = Console(stderr=True, soft_wrap=True)
    layout_name = layout.value if layout is not None else None
    worst = EXIT_OK
    loadable = []
    for file in _files(path):
        try:
            inspect_file(file, layout_name)  # refuse bad input before connecting to anything
            loadable.append(file)
        except BatchInputError as exc:
            err.print(f"error: {exc}", highlight=False)
            worst = EXIT_BAD_INPUT
    if not loadable and worst == EXIT_OK:
        err.print(f"{path}: no files to load", highlight=False)
    if loadable:
        try:
            with _pieces(ledger, batch_rows) as pieces:
                worst = max(worst, asyncio.run(_load_all(pieces.loader, loadable, layout_name, source_system, err)))
        except RegistryError as exc:
            fail(f"schema registry {_registry_url()}: {exc.message}; the batches committed so far are "
                 "recorded: rerun to resume", code=EXIT_REJECTED)
        except (KafkaError, SerializationError) as exc:
            fail(f"{exc}; the batches committed so far are recorded: rerun to resume", code=EXIT_REJECTED)
        except _REGISTRY_CLIENT_ERRORS as exc:
            fail(f"schema registry {_registry_url()}: {type(exc).__name__}; the batches committed so far are "
                 "recorded: rerun to resume", code=EXIT_REJECTED)
        except KeyboardInterrupt:
            fail("interrupted: the batches committed so far are recorded: rerun to resume", code=EXIT_REJECTED)
    raise typer.Exit(worst)


@app.command()
def watch(
    directory: Annotated[Path, typer.Argument(help="The drop folder.", file_okay=False, exists=True)],
    *,
    layout: LayoutOption = None,
    source_system: SourceOption = None,
    interval: Annotated[float, typer.Option(help="Seconds between polls.", min=0.05)] = DEFAULT_INTERVAL_S,
    settle: Annotated[float, typer.Option(help="Seconds a file must stay unchanged before it is loaded.",
                                          min=0.0)] = DEFAULT_SETTLE_S,
    once: Annotated[bool, typer.Option("--once", help="Load what is there, then exit.")] = False,
    batch_rows: BatchRowsOption = DEFAULT_BATCH_ROWS,
    ledger: LedgerOption = None,
) -> None:
    """Watch a drop folder: load each file once it stops growing, then move it to done/ or failed/."""
    err = Console(stderr=True, soft_wrap=True)
    layout_name = layout.value if layout is not None else None
    worst = EXIT_OK

    def report(result: WatchResult) -> None:
        nonlocal worst
        if result.summary is not None:
            _print_summary(result.summary, err)
        elif result.error is not None:
            err.print(f"{'retry later' if result.outcome is Outcome.RETRY else 'error'}: {result.error}",
                      highlight=False)
        worst = max(worst, {Outcome.FAILED: EXIT_BAD_INPUT, Outcome.REJECTED_ROWS: EXIT_REJECTED,
                            Outcome.RETRY: EXIT_REJECTED}.get(result.outcome, EXIT_OK))

    with _pieces(ledger, batch_rows) as pieces:
        folder = DropFolder(directory, settle_s=settle)
        if not once:
            err.print(f"watching {directory} (Ctrl-C to stop)", highlight=False)
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(watch_folder(folder, pieces.loader, layout=layout_name, source_system=source_system,
                                     interval_s=interval, once=once, on_result=report,
                                     transient=(*TRANSIENT_ERRORS, *_REGISTRY_CLIENT_ERRORS)))
    raise typer.Exit(worst if once else EXIT_OK)


@app.command()
def status(ledger: LedgerOption = None) -> None:
    """List the ledger: every file content loaded or partly loaded, with its progress."""
    book = SqliteLedger(ledger or default_ledger_path(settings().home))
    try:
        loads = book.loads()
    except CarebusError as exc:
        fail(str(exc), code=EXIT_BAD_INPUT)
    finally:
        book.close()
    table = Table("sha256", "file", "layout", "state", "rows", "published", "rejected", "next line", "received")
    for entry in loads:
        table.add_row(entry.sha256[:16], entry.file_name, entry.layout, entry.state, str(entry.rows),
                      str(entry.published_rows), str(entry.rejected_rows), str(entry.next_line),
                      entry.received_at.isoformat(timespec="seconds"))
    # Piped output keeps whole sha256 prefixes and file names rather than folding them to 80 columns.
    Console(file=sys.stdout, width=None if sys.stdout.isatty() else PIPED_WIDTH).print(table)
