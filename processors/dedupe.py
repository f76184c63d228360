"""Dedupe: drop replays of an event within a window, by event id and by the inbound message it came from.

Two keys per event, both kept in the intake stage's `dedupe` table:

- `id:<event id>`: the same event delivered twice (a producer retry outside a transaction, a re-publish).
- `msg:<sha256 of source system, original message id, event type>`: the same inbound message sent again
  (an HL7 v2 resend after a lost ACK, a FHIR retry, a batch file loaded twice), which the adapter turns into
  events with new ids. One message can make several events of one type (an ORU^R01 with three OBR groups makes
  three `result.*` events, same MSH-10): those siblings share the inbound message's `received_at`, a resend does
  not. So the table keeps the first delivery's `received_at` (µs), and an event is a replay of the message
  when the key is there with another `received_at`. With no `received_at` the message key is not used: siblings
  and resends cannot be told apart, and dropping a sibling would lose data.

Both keys live in the partition of the event's record key (the source patient id), where a replay of the same
event lands too. An entry counts for `window_s` from when it was first seen (processing time, the worker's
clock); older entries are ignored and purged (`expired`). The table's changelog is `compact,delete` with the
window as retention, so a restarted worker reloads at most about one window of entries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from carebus.events import Envelope

__all__ = ["DEFAULT_WINDOW_S", "DedupeDecision", "check_replay", "dedupe_keys", "expired"]

DEFAULT_WINDOW_S: Final = 24 * 60 * 60.0
_NO_DELIVERY: Final = -1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)

Entry = list[int]
"""A table value: `[first seen, ms since the epoch; the first delivery's received_at in µs, or -1]`."""


@dataclass(frozen=True)
class DedupeDecision:
    replay_of: str | None
    """`event-id` or `message` when the event is a replay (then drop it), else None."""
    remember: tuple[tuple[str, Entry], ...] = ()
    """Table entries to write when the event goes on."""


def dedupe_keys(envelope: Envelope) -> tuple[str, str | None]:
    """The event-id key and, when the event names its inbound message, the message key."""
    id_key = f"id:{envelope.event_id}"
    source = envelope.source
    if not source.original_message_id:
        return id_key, None
    digest = hashlib.sha256("\x1f".join((source.system, source.original_message_id, envelope.event_type))
                            .encode()).hexdigest()
    return id_key, f"msg:{digest}"


def check_replay(envelope: Envelope, seen: Mapping[str, Entry], *, now_ms: int, window_s: float) -> DedupeDecision:
    """Whether `envelope`'s event was seen within the window; the entries to remember when it was not."""
    id_key, message_key = dedupe_keys(envelope)
    if _live(seen.get(id_key), now_ms, window_s):
        return DedupeDecision("event-id")
    received = _micros(envelope)
    remember: list[tuple[str, Entry]] = [(id_key, [now_ms, received])]
    if message_key is not None and received != _NO_DELIVERY:
        first = seen.get(message_key)
        if _live(first, now_ms, window_s):
            if first is not None and first[1] != received:
                return DedupeDecision("message")
        else:
            remember.append((message_key, [now_ms, received]))
    return DedupeDecision(None, tuple(remember))


def expired(entry: Entry, *, now_ms: int, window_s: float) -> bool:
    return not _live(entry, now_ms, window_s)


def _live(entry: Entry | None, now_ms: int, window_s: float) -> bool:
    return entry is not None and now_ms - entry[0] < window_s * 1000


def _micros(envelope: Envelope) -> int:
    received = envelope.received_at
    if received is None:
        return _NO_DELIVERY
    return (received - _EPOCH) // timedelta(microseconds=1)
