"""What every batch event shares: the load's context, deterministic ids, and the envelope.

An event's id is uuid5 of (file content hash, first line of its rows): the same file yields the same
ids on every run, so a resumed or repeated load reproduces them and sinks that write by event id
collapse any replay. No clock and no uuid4 here: `received_at` comes in with the context.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from carebus.events import SCHEMA_VERSION, Envelope, Source, Subject
from carebus.ids import CorrelationId, EventId

__all__ = ["BATCH_EVENT_NAMESPACE", "PROTOCOL", "LoadContext", "batch_envelope", "event_id_for"]

BATCH_EVENT_NAMESPACE: Final = uuid.UUID("1887f304-b460-5756-bd6e-9310ef2e7394")
"""uuid5(NAMESPACE_URL, "urn:carebus:producers:batch"): the namespace of every batch event id."""

PROTOCOL: Final = "batch"


@dataclass(frozen=True)
class LoadContext:
    """One load of one file: what the mapping needs besides the rows."""

    file_sha256: str
    """Hex sha256 of the file's bytes: the ledger key and the seed of every event id."""
    file_name: str
    """The file's base name, for `Source.original_message_id` and row errors."""
    layout: str
    source_system: str
    """`Source.system`: the feed's name (`--source-system`)."""
    received_at: datetime
    """When the first load of this content began (UTC); a resumed load reuses it from the ledger."""


def event_id_for(file_sha256: str, line: int) -> EventId:
    """The id of the event made from the rows starting at physical `line` of the file with this hash."""
    return EventId(str(uuid.uuid5(BATCH_EVENT_NAMESPACE, f"{file_sha256}:{line}")))


def batch_envelope(
    context: LoadContext,
    *,
    line: int,
    event_type: str,
    message_type: str,
    subject: Subject,
    occurred_at: datetime | None = None,
    recorded_at: datetime | None = None,
) -> Envelope:
    """The envelope of the event made from the rows starting at `line`. Times default to `received_at`."""
    return Envelope(
        event_id=event_id_for(context.file_sha256, line),
        event_type=event_type,
        occurred_at=occurred_at or context.received_at,
        recorded_at=recorded_at or occurred_at or context.received_at,
        received_at=context.received_at,
        source=Source(
            system=context.source_system,
            protocol=PROTOCOL,
            original_message_id=f"{context.file_name}:{line}",
            message_type=message_type,
        ),
        # One inbound "message" is one group of rows: the correlation id names the content and the line.
        correlation_id=CorrelationId(f"{context.source_system}|{context.file_sha256}:{line}"),
        subject=subject,
        data_classification="phi",
        schema_version=SCHEMA_VERSION,
    )
