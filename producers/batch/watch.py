"""A watched drop folder: load each new file once it has stopped growing, then move it aside.

A file is ready when its size and modification time have not changed for `settle_s` seconds (a
sender still writing it keeps changing one or the other). Hidden files (`.name`) and names ending
in `.tmp`, `.part`, `.partial` or `.filepart` are in-progress uploads and are left alone; so are
folders, including `done/` and `failed/`.

After a load the file moves to `DIR/done/` (loaded, including files with rejected rows, which are
on `deadletter.batch`, and files whose content was loaded before) or to `DIR/failed/` (unreadable,
unknown layout, or a ledger conflict), with a `<name>.error.txt` beside it giving the reason. A
name already taken in the target folder gets the content hash's first 12 hex digits added. A
failure of the bus (broker, registry) leaves the file where it is: the next poll tries again and the
load resumes from the ledger.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Final

from carebus.errors import CarebusError, KafkaError, RegistryError
from producers.batch.errors import BatchInputError
from producers.batch.loader import BatchLoader, LoadSummary

__all__ = [
    "DONE_DIR",
    "FAILED_DIR",
    "TRANSIENT_ERRORS",
    "DropFolder",
    "FileSeen",
    "Outcome",
    "WatchResult",
    "is_candidate",
    "process_ready",
    "settled",
    "watch_folder",
]

logger = logging.getLogger(__name__)

DONE_DIR: Final = "done"
FAILED_DIR: Final = "failed"
IN_PROGRESS_SUFFIXES: Final = (".tmp", ".part", ".partial", ".filepart")
DEFAULT_SETTLE_S: Final = 5.0
DEFAULT_INTERVAL_S: Final = 2.0
TRANSIENT_ERRORS: Final[tuple[type[Exception], ...]] = (KafkaError, RegistryError)
"""Failures of the bus, not of the file: the file stays and the next poll resumes it."""


@dataclass(frozen=True)
class FileSeen:
    """A file's size and mtime as last seen, and since when they have not changed (monotonic seconds)."""

    size: int
    mtime_ns: int
    stable_since: float


def is_candidate(name: str) -> bool:
    """Whether a file name in the drop folder is one to load (not hidden, not an upload in progress)."""
    return not name.startswith(".") and not name.lower().endswith(IN_PROGRESS_SUFFIXES)


def settled(
    previous: Mapping[str, FileSeen], listing: Mapping[str, tuple[int, int]], now: float, settle_s: float
) -> tuple[dict[str, FileSeen], list[str]]:
    """Pure: the new observation of each file in `listing` ((size, mtime_ns) by name), and the names that
    have been unchanged for at least `settle_s`, in name order. A file must be seen twice to be ready."""
    seen: dict[str, FileSeen] = {}
    ready = []
    for name, (size, mtime_ns) in sorted(listing.items()):
        before = previous.get(name)
        if before is None or (before.size, before.mtime_ns) != (size, mtime_ns):
            seen[name] = FileSeen(size, mtime_ns, now)
            continue
        seen[name] = before
        if now - before.stable_since >= settle_s:
            ready.append(name)
    return seen, ready


class Outcome(Enum):
    LOADED = "loaded"
    REJECTED_ROWS = "loaded-with-rejections"
    ALREADY_LOADED = "already-loaded"
    FAILED = "failed"
    RETRY = "retry"


@dataclass(frozen=True)
class WatchResult:
    path: Path
    outcome: Outcome
    moved_to: Path | None
    summary: LoadSummary | None = None
    error: str | None = None


class DropFolder:
    """The folder's files, their settling, and where processed files go."""

    def __init__(self, directory: Path, *, settle_s: float = DEFAULT_SETTLE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if settle_s < 0:
            raise ValueError("settle_s must not be negative")
        self.directory = directory
        self._settle_s = settle_s
        self._clock = clock
        self._seen: dict[str, FileSeen] = {}

    def poll(self) -> tuple[list[Path], int]:
        """The files ready to load, and how many candidates are still settling."""
        listing = {}
        for entry in self.directory.iterdir():
            if not is_candidate(entry.name):
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:
                continue
            if entry.is_file():
                listing[entry.name] = (stat.st_size, stat.st_mtime_ns)
        self._seen, ready = settled(self._seen, listing, self._clock(), self._settle_s)
        return [self.directory / name for name in ready], len(listing) - len(ready)

    def move(self, path: Path, folder: str, sha256: str | None, error: str | None = None) -> Path:
        target_dir = self.directory / folder
        target_dir.mkdir(exist_ok=True)
        target = _free_name(target_dir, path.name, sha256)
        path.rename(target)
        self._seen.pop(path.name, None)
        if error is not None:
            target.with_name(target.name + ".error.txt").write_text(error + "\n")
        return target


def _free_name(folder: Path, name: str, sha256: str | None) -> Path:
    target = folder / name
    if not target.exists():
        return target
    stem, dot, suffix = name.rpartition(".")
    if not dot:
        stem, suffix = name, ""
    tag = sha256[:12] if sha256 else "dup"
    for attempt in range(1, 10_000):
        numbered = f".{attempt}" if attempt > 1 else ""
        candidate = folder / (f"{stem}.{tag}{numbered}.{suffix}" if suffix else f"{stem}.{tag}{numbered}")
        if not candidate.exists():
            return candidate
    raise FileExistsError(f"no free name for a processed file in {folder}")


async def process_ready(folder: DropFolder, loader: BatchLoader, path: Path, *, layout: str | None,
                        source_system: str | None,
                        transient: tuple[type[Exception], ...] = TRANSIENT_ERRORS) -> WatchResult:
    """Load one ready file and move it to done/ or failed/ (or leave it, when the bus failed)."""
    try:
        summary = await loader.load(path, layout=layout, source_system=source_system)
    except BatchInputError as exc:
        logger.warning("batch file failed reason=%s", type(exc).__name__)
        return WatchResult(path, Outcome.FAILED, folder.move(path, FAILED_DIR, None, str(exc)), error=str(exc))
    except transient as exc:
        logger.warning("batch file left for retry reason=%s", type(exc).__name__)
        return WatchResult(path, Outcome.RETRY, None, error=f"{path.name}: {type(exc).__name__}: {_safe(exc)}")
    if summary.already_loaded:
        outcome = Outcome.ALREADY_LOADED
    else:
        outcome = Outcome.REJECTED_ROWS if summary.rejected_rows else Outcome.LOADED
    return WatchResult(path, outcome, folder.move(path, DONE_DIR, summary.sha256), summary)


async def watch_folder(
    folder: DropFolder,
    loader: BatchLoader,
    *,
    layout: str | None = None,
    source_system: str | None = None,
    interval_s: float = DEFAULT_INTERVAL_S,
    once: bool = False,
    on_result: Callable[[WatchResult], None] | None = None,
    transient: tuple[type[Exception], ...] = TRANSIENT_ERRORS,
) -> list[WatchResult]:
    """Poll `folder` every `interval_s` and load what is ready. With `once`, stop when nothing is left
    settling and every ready file has been handled once; else run until cancelled. `transient` are the
    errors that leave a file for the next poll (the CLI adds its registry client's); any other error stops
    the watch."""
    results: list[WatchResult] = []
    retried: set[Path] = set()  # with `once`, a file the bus failed on is tried once, not forever
    while True:
        ready, settling = folder.poll()
        ready = [path for path in ready if path not in retried]
        for path in ready:
            result = await process_ready(folder, loader, path, layout=layout, source_system=source_system,
                                         transient=transient)
            results.append(result)
            if result.outcome is Outcome.RETRY and once:
                retried.add(path)
            if on_result is not None:
                on_result(result)
        if once and not settling and not ready:
            return results
        await asyncio.sleep(interval_s)


def _safe(exc: Exception) -> str:
    """Our errors' text (they carry no values); for anyone else's, only the type."""
    return str(exc) if isinstance(exc, CarebusError) else "see the log"
