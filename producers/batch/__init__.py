"""Batch file exchange: CSV files (Synthea patients, lab results, payer claims) onto the canonical topics.

Pure code: `records` (CSV records with their bytes and offsets), `layouts` and the layout modules
`patients`, `lab_results`, `claims` (row models and row -> event mappings), `batching` (grouping and
batches), `deadletters`. I/O: `loader` (`BatchLoader` over the `EventPublisher` and
`DeadLetterPublisher` ports), `ledger` (SQLite), `watch` (drop folder). `carebus.cli.batch` wires
the Kafka adapters in. docs/batch-layouts.md describes the layouts and the resume guarantee.
"""

from producers.batch.batching import DEFAULT_BATCH_ROWS, Batch, Rejection, plan_batches
from producers.batch.deadletters import DEADLETTER_STAGE, dead_letter, parse_detail
from producers.batch.errors import (
    BatchError,
    BatchInputError,
    FileUnreadableError,
    LedgerConflictError,
    RowError,
    UnknownLayoutError,
)
from producers.batch.layouts import LAYOUT_NAMES, LAYOUTS, detect_layout
from producers.batch.ledger import Ledger, LoadProgress, SqliteLedger, default_ledger_path
from producers.batch.loader import BatchLoader, LoadSummary, inspect_file
from producers.batch.watch import DropFolder, Outcome, WatchResult, watch_folder

__all__ = [
    "DEADLETTER_STAGE",
    "DEFAULT_BATCH_ROWS",
    "LAYOUTS",
    "LAYOUT_NAMES",
    "Batch",
    "BatchError",
    "BatchInputError",
    "BatchLoader",
    "DropFolder",
    "FileUnreadableError",
    "Ledger",
    "LedgerConflictError",
    "LoadProgress",
    "LoadSummary",
    "Outcome",
    "Rejection",
    "RowError",
    "SqliteLedger",
    "UnknownLayoutError",
    "WatchResult",
    "dead_letter",
    "default_ledger_path",
    "detect_layout",
    "inspect_file",
    "parse_detail",
    "plan_batches",
    "watch_folder",
]
