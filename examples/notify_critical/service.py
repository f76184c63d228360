"""The service: which results need a notification (pure), where notifications go (a port), and the wiring.

It imports `carebus.sdk` and nothing else from carebus. Delivery is at-least-once, so a notification
may repeat after a crash; each carries the event id for the receiving end to drop repeats.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from carebus.sdk import Event

__all__ = ["FileNotifier", "Notification", "Notifier", "handle_with", "notification_for"]


@dataclass(frozen=True)
class Notification:
    """What the care team is told: ids and codes only, never patient details."""

    event_id: str
    correlation_id: str
    event_type: str
    codes: tuple[str, ...]


class Notifier(Protocol):
    def send(self, notification: Notification) -> None: ...


def notification_for(event: Event) -> Notification | None:
    """A notification when `event` is a result with at least one critical observation, else None."""
    if event.domain != "result":
        return None
    codes = tuple((observation.code.code if observation.code and observation.code.code else "?")
                  for observation in event.payload.observations if observation.critical)
    if not codes:
        return None
    envelope = event.envelope
    return Notification(str(envelope.event_id), envelope.correlation_id, envelope.event_type, codes)


class FileNotifier:
    """Appends one JSON line per notification and syncs it to disk before returning (stand-in for a pager)."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def send(self, notification: Notification) -> None:
        with self._path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(asdict(notification)) + "\n")
            out.flush()
            os.fsync(out.fileno())


def handle_with(notifier: Notifier) -> Callable[[Event], None]:
    """The subscriber's handler: notify when the event calls for it."""
    def handle(event: Event) -> None:
        notification = notification_for(event)
        if notification is not None:
            notifier.send(notification)
    return handle
