"""Records as the stages see them (plain frozen data, no faust or Kafka types), their headers, and dead letters.

Header names shared with producers and subscribers come from `carebus.publishing`; the processors add:

- `carebus.domain`: the event's domain, on the internal identity topic (which carries every domain);
- `carebus.normalize.unmapped`: the paths of values no mapping table knew (`payload.observations[1].code`),
  comma-separated; absent when everything mapped;
- `carebus.identity.method`: how the enterprise id was found (identifier, demographic, new, merge);
- `carebus.retry.target`, `carebus.retry.attempt`: on routing retry topics, the subscriber topic and the attempt.

A dead letter keeps the original record's key and bytes, its `carebus.*` event headers (ids and types, for
tracing) and adds stage, reason, detail, sender and time (`carebus.dlq.*`). None of these carry PHI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from carebus.events import Event
from carebus.publishing import (
    DEADLETTER_HEADER_AT,
    DEADLETTER_HEADER_DETAIL,
    DEADLETTER_HEADER_REASON,
    DEADLETTER_HEADER_SENDER,
    DEADLETTER_HEADER_STAGE,
    event_headers,
)
from processors.errors import ProcessorError

__all__ = [
    "HEADER_DOMAIN",
    "HEADER_IDENTITY_METHOD",
    "HEADER_RETRY_ATTEMPT",
    "HEADER_RETRY_TARGET",
    "HEADER_UNMAPPED",
    "Headers",
    "InRecord",
    "OutRecord",
    "dead_letter",
    "event_record_headers",
    "header",
    "with_headers",
]

HEADER_DOMAIN: Final = "carebus.domain"
HEADER_UNMAPPED: Final = "carebus.normalize.unmapped"
HEADER_IDENTITY_METHOD: Final = "carebus.identity.method"
HEADER_RETRY_TARGET: Final = "carebus.retry.target"
HEADER_RETRY_ATTEMPT: Final = "carebus.retry.attempt"
_DEADLETTER_HEADERS: Final = frozenset({DEADLETTER_HEADER_STAGE, DEADLETTER_HEADER_REASON, DEADLETTER_HEADER_DETAIL,
                                        DEADLETTER_HEADER_SENDER, DEADLETTER_HEADER_AT})

Headers = tuple[tuple[str, bytes], ...]


@dataclass(frozen=True)
class InRecord:
    """A record a stage reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()
    timestamp_ms: int = 0


@dataclass(frozen=True)
class OutRecord:
    """A record a stage writes."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


def header(headers: Headers, name: str) -> str | None:
    """The last value of header `name`, decoded, or None."""
    for key, value in reversed(headers):
        if key == name:
            return value.decode("utf-8", errors="replace")
    return None


def with_headers(headers: Iterable[tuple[str, bytes]], **updates: str | None) -> Headers:
    """`headers` with the processors' headers in `updates` (domain, unmapped, identity_method, retry_target,
    retry_attempt) set, or removed when None."""
    names = {_header_name(name): value for name, value in updates.items()}
    kept = [(key, value) for key, value in headers if key not in names]
    kept.extend((name, value.encode()) for name, value in names.items() if value is not None)
    return tuple(kept)


def event_record_headers(event: Event, **extra: str | None) -> Headers:
    """The contract's event headers (`carebus.publishing.event_headers`) plus the processors' own."""
    return with_headers(event_headers(event), **extra)


def dead_letter(record: InRecord, topic: str, error: ProcessorError, *, sender: str | None, now_ms: int) -> OutRecord:
    kept = tuple((k, v) for k, v in record.headers if k.startswith("carebus.") and k not in _DEADLETTER_HEADERS)
    return OutRecord(topic, record.key, record.value, (
        *kept,
        (DEADLETTER_HEADER_STAGE, error.stage.encode()),
        (DEADLETTER_HEADER_REASON, error.reason.encode()),
        (DEADLETTER_HEADER_DETAIL, error.detail.encode()),
        (DEADLETTER_HEADER_SENDER, (sender or "").encode()),
        (DEADLETTER_HEADER_AT, str(now_ms).encode()),
    ))


_UPDATE_NAMES: Final = {
    "domain": HEADER_DOMAIN,
    "unmapped": HEADER_UNMAPPED,
    "identity_method": HEADER_IDENTITY_METHOD,
    "retry_target": HEADER_RETRY_TARGET,
    "retry_attempt": HEADER_RETRY_ATTEMPT,
}


def _header_name(name: str) -> str:
    try:
        return _UPDATE_NAMES[name]
    except KeyError:
        raise TypeError(f"unknown header {name!r}") from None
