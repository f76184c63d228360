"""Load one CSV file onto the bus: hash, check the ledger, stream batches, publish, record progress.

    file ─▶ sha256 ─▶ ledger (done? skip : resume at next_offset)
         ─▶ read_records ─▶ plan_batches ─▶ reject_repeated_groups ─▶ dead letters, events ─▶ ledger commit

Each batch is one `EventPublisher.publish` call (one Kafka transaction: all of the batch's events or
none) followed by one ledger commit. Its rejected rows go to the dead-letter port first. While a
batch is being committed the next one is parsed and mapped, so the broker's round trip overlaps the
CPU work; at most one batch is in flight, and batches commit in file order.

A failure to publish (broker or registry) stops the load and propagates: the ledger holds every
batch committed so far, and loading the same file again resumes at the first uncommitted batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Final

from carebus.errors import PublishError
from carebus.publishing import DeadLetterPublisher, EventPublisher
from producers.batch._envelope import LoadContext
from producers.batch._layout import Header
from producers.batch.batching import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MAX_GROUP_ROWS,
    Batch,
    Rejection,
    plan_batches,
    reject_repeated_groups,
)
from producers.batch.deadletters import dead_letter
from producers.batch.errors import FileUnreadableError, LedgerConflictError, RowError
from producers.batch.layouts import detect_layout
from producers.batch.ledger import BatchCommit, Ledger, LoadProgress
from producers.batch.records import read_header, read_records

__all__ = ["BatchLoader", "LoadSummary", "ProgressCallback", "file_sha256", "inspect_file"]

logger = logging.getLogger(__name__)

HASH_CHUNK_BYTES: Final = 1 << 20
IN_FLIGHT_SETTLE_S: Final = 30.0
"""How long a stopping load waits for its batch in flight to commit (and be recorded) before giving up."""
MAX_ERRORS_KEPT: Final = 20
"""How many row errors a summary keeps for display; the dead-letter topic has them all."""

ProgressCallback = Callable[[int, int], None]
"""Called after each committed batch with (bytes of the file done, rows done in this run)."""


@dataclass(frozen=True)
class LoadSummary:
    """What one `load` did (counts are for this run; a resumed run counts from where it resumed)."""

    file_name: str
    sha256: str
    layout: str
    rows: int = 0
    published_rows: int = 0
    events: int = 0
    rejected_rows: int = 0
    batches: int = 0
    elapsed_s: float = 0.0
    already_loaded: bool = False
    resumed_from_line: int | None = None
    replayed_in_doubt_batch: bool = False
    """The previous run stopped between publishing a batch and recording it; it was published again."""
    rejections_by_rule: Mapping[tuple[str | None, str], int] = field(default_factory=dict)
    """(column, rule) -> rows rejected for it."""
    first_errors: tuple[RowError, ...] = ()

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.elapsed_s if self.elapsed_s > 0 else 0.0


def file_sha256(stream: BinaryIO) -> tuple[str, int]:
    """Hex sha256 and size of the stream's bytes, read in 1 MiB chunks from the start."""
    digest, size = hashlib.sha256(), 0
    stream.seek(0)
    while chunk := stream.read(HASH_CHUNK_BYTES):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except OSError as exc:
        raise FileUnreadableError(path.name, f"cannot be opened ({type(exc).__name__})") from exc


def _header(path: Path, stream: BinaryIO, layout: str | None) -> tuple[Header, int, int]:
    """The file's header matched to its layout, and the offset and line where the data starts."""
    try:
        record = read_header(stream)
    except OSError as exc:
        raise FileUnreadableError(path.name, f"cannot be read ({type(exc).__name__})") from exc
    if record is None:
        raise FileUnreadableError(path.name, "is empty: no header row")
    if record.fields is None:
        raise FileUnreadableError(path.name, f"the header row is unreadable ({record.problem})")
    return detect_layout(path.name, record.fields, layout), record.end_offset, record.next_line


def inspect_file(path: Path, layout: str | None = None) -> str:
    """The layout name of the file's header, without loading it; raises BatchInputError like `load`."""
    with _open(path) as stream:
        header, _, _ = _header(path, stream, layout)
    return header.layout.name


def _utc_now() -> datetime:
    return datetime.now(UTC)


class BatchLoader:
    """Loads files through the ports; `carebus.cli.batch` builds it with the Kafka adapters."""

    def __init__(
        self,
        *,
        publisher: EventPublisher,
        dead_letters: DeadLetterPublisher,
        ledger: Ledger,
        clock: Callable[[], datetime] = _utc_now,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        max_group_rows: int = DEFAULT_MAX_GROUP_ROWS,
    ) -> None:
        if batch_rows < 1 or max_group_rows < 1:
            raise ValueError("batch_rows and max_group_rows must be positive")
        self._publisher = publisher
        self._dead_letters = dead_letters
        self._ledger = ledger
        self._clock = clock
        self._batch_rows = batch_rows
        self._max_group_rows = max_group_rows

    async def load(
        self,
        path: Path,
        *,
        layout: str | None = None,
        source_system: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> LoadSummary:
        """Load `path` (or finish loading it). Raises BatchInputError for a file that cannot be loaded, and
        the publishers' errors when the bus fails; bad rows are dead-lettered and counted, never raised."""
        started = time.perf_counter()
        with _open(path) as stream:
            try:
                sha256, size = file_sha256(stream)
            except OSError as exc:
                raise FileUnreadableError(path.name, f"cannot be read ({type(exc).__name__})") from exc
            with self._ledger.lock(sha256):
                progress = self._ledger.lookup(sha256)
                if progress is not None and progress.state == "done":
                    logger.info("batch file already loaded sha256=%s layout=%s", sha256[:16], progress.layout)
                    return LoadSummary(path.name, sha256, progress.layout, already_loaded=True,
                                       elapsed_s=time.perf_counter() - started)
                known_layout = progress.layout if progress is not None else None
                header, data_offset, data_line = _header(path, stream, layout or known_layout)
                progress = self._resume_or_start(path, header, progress, sha256=sha256, size=size,
                                                 source_system=source_system, data_offset=data_offset,
                                                 data_line=data_line)
                return await self._run(stream, header, progress, started, on_progress)

    def _resume_or_start(self, path: Path, header: Header, progress: LoadProgress | None, *, sha256: str,
                         size: int, source_system: str | None, data_offset: int, data_line: int) -> LoadProgress:
        layout = header.layout
        if progress is not None:
            if progress.layout != layout.name or (source_system and source_system != progress.source_system):
                raise LedgerConflictError(path.name, f"partly loaded as layout {progress.layout} from "
                                                     f"{progress.source_system}; resume it with the same options")
            return progress
        progress = LoadProgress(sha256=sha256, file_name=path.name, layout=layout.name,
                                source_system=source_system or layout.default_source_system, size_bytes=size,
                                state="loading", received_at=self._clock(), next_offset=data_offset,
                                next_line=data_line)
        self._ledger.start(progress, self._clock())
        return progress

    async def _run(self, stream: BinaryIO, header: Header, progress: LoadProgress, started: float,
                   on_progress: ProgressCallback | None) -> LoadSummary:
        context = LoadContext(file_sha256=progress.sha256, file_name=progress.file_name,
                              layout=progress.layout, source_system=progress.source_system,
                              received_at=progress.received_at)
        resumed = progress.batches > 0 or progress.in_flight_end_offset is not None
        logger.info("batch load %s sha256=%s layout=%s from_line=%d", "resumed" if resumed else "started",
                    progress.sha256[:16], progress.layout, progress.next_line)
        tally = _Tally()
        stream.seek(progress.next_offset)
        records = read_records(stream, start_offset=progress.next_offset, start_line=progress.next_line)
        batches = plan_batches(records, header, context, start_offset=progress.next_offset,
                               start_line=progress.next_line, batch_rows=self._batch_rows,
                               max_group_rows=self._max_group_rows)
        group_column = header.columns.get(header.layout.group_column or "", header.layout.group_column)
        in_flight: asyncio.Task[None] | None = None
        in_flight_keys: dict[bytes, int] = {}
        try:
            for batch in batches:
                keys = [key for key, _ in batch.group_keys]
                seen = {**self._ledger.seen_groups(progress.sha256, keys), **in_flight_keys}
                reject_repeated_groups(batch, seen, context.file_name, group_column)
                if in_flight is not None:
                    # Shielded: Ctrl-C cancels this load, not the batch being committed (see the finally).
                    await asyncio.shield(in_flight)
                in_flight_keys = dict(batch.group_keys)
                in_flight = asyncio.create_task(self._publish(batch, context, tally, on_progress))
                await asyncio.sleep(0)  # let it serialize and hand over to the publisher before we parse on
            if in_flight is not None:
                await asyncio.shield(in_flight)
        finally:
            if in_flight is not None and not in_flight.done():
                # Stopping (an error or Ctrl-C): let the batch in flight settle so its ledger commit lands.
                await asyncio.wait([in_flight], timeout=IN_FLIGHT_SETTLE_S)
            if in_flight is not None and in_flight.done() and not in_flight.cancelled():
                in_flight.exception()  # retrieved: it is either raised above or superseded by the error in flight
        self._ledger.finish(progress.sha256, self._clock())
        summary = tally.summary(context, started, resumed_from_line=progress.next_line if resumed else None,
                                replayed=progress.in_flight_end_offset is not None)
        logger.info("batch load done sha256=%s layout=%s rows=%d events=%d rejected=%d batches=%d",
                    progress.sha256[:16], progress.layout, summary.rows, summary.events, summary.rejected_rows,
                    summary.batches)
        return summary

    async def _publish(self, batch: Batch, context: LoadContext, tally: _Tally,
                       on_progress: ProgressCallback | None) -> None:
        events, rejections = batch.events, batch.rejections
        if not batch.rows:
            return
        if rejections:
            await asyncio.gather(*(self._dead_letters.publish(dead_letter(rejection, context))
                                   for rejection in rejections))
        # From here until the ledger commit the batch may be on the bus without the ledger knowing it.
        self._ledger.mark_in_flight(context.file_sha256, batch.end_offset, self._clock())
        try:
            await self._publisher.publish(events)
        except PublishError:
            # The port is atomic per call: a PublishError means none of the batch is visible, so it is not
            # in doubt. Anything else (Ctrl-C, a crash) leaves the mark, and a resume says it replayed.
            self._ledger.mark_in_flight(context.file_sha256, None, self._clock())
            raise
        self._ledger.commit_batch(context.file_sha256, BatchCommit(
            next_offset=batch.end_offset, next_line=batch.next_line, rows=batch.rows,
            published_rows=batch.published_rows, events=len(events), rejected_rows=batch.rejected_rows,
            group_keys=batch.group_keys), self._clock())
        tally.add(batch, len(events), rejections)
        logger.debug("batch committed sha256=%s end_line=%d events=%d rejected=%d", context.file_sha256[:16],
                     batch.next_line - 1, len(events), len(rejections))
        if on_progress is not None:
            on_progress(batch.end_offset, tally.rows)


@dataclass
class _Tally:
    rows: int = 0
    published_rows: int = 0
    events: int = 0
    rejected_rows: int = 0
    batches: int = 0
    by_rule: Counter[tuple[str | None, str]] = field(default_factory=Counter)
    first_errors: list[RowError] = field(default_factory=list)

    def add(self, batch: Batch, events: int, rejections: list[Rejection]) -> None:
        self.rows += batch.rows
        self.published_rows += batch.published_rows
        self.events += events
        self.rejected_rows += batch.rejected_rows
        self.batches += 1
        for rejection in rejections:
            error = rejection.errors[0]
            self.by_rule[(error.column, error.rule)] += 1
            if len(self.first_errors) < MAX_ERRORS_KEPT:
                self.first_errors.append(error)

    def summary(self, context: LoadContext, started: float, *, resumed_from_line: int | None,
                replayed: bool) -> LoadSummary:
        return LoadSummary(
            file_name=context.file_name, sha256=context.file_sha256, layout=context.layout, rows=self.rows,
            published_rows=self.published_rows, events=self.events, rejected_rows=self.rejected_rows,
            batches=self.batches, elapsed_s=time.perf_counter() - started, resumed_from_line=resumed_from_line,
            replayed_in_doubt_batch=replayed, rejections_by_rule=dict(self.by_rule),
            first_errors=tuple(self.first_errors),
        )

