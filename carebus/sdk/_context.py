"""Correlation and causation ids carried from context into every event built inside it.

    with correlation("ORDER-4711"):            # every event made here shares this correlation id
        publisher.publish(new_event(...))

    with following(incoming):                  # derived events: same correlation, caused by `incoming`
        publisher.publish(new_event(...))

A `Subscriber` runs each handler inside `following(event)`, so whatever the handler publishes is
linked to the event it handled without the handler saying so. Context variables keep this correct
across threads and asyncio tasks.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

from carebus.events import Event
from carebus.ids import CorrelationId, EventId

__all__ = ["Trace", "correlation", "current_trace", "following"]


@dataclass(frozen=True)
class Trace:
    """The ids a new event inherits: its correlation id and, when derived, the event that caused it."""

    correlation_id: CorrelationId | None = None
    causation_id: EventId | None = None


_NO_TRACE = Trace()
_TRACE: ContextVar[Trace | None] = ContextVar("carebus_sdk_trace", default=None)


def current_trace() -> Trace:
    """The ids events built here inherit (empty outside any `correlation()` / `following()`)."""
    return _TRACE.get() or _NO_TRACE


@contextlib.contextmanager
def correlation(correlation_id: str, *, causation_id: str | None = None) -> Iterator[Trace]:
    """Events built inside carry `correlation_id` (and `causation_id`, when given)."""
    trace = Trace(CorrelationId(correlation_id), EventId(causation_id) if causation_id else None)
    token = _TRACE.set(trace)
    try:
        yield trace
    finally:
        _TRACE.reset(token)


@contextlib.contextmanager
def following(event: Event) -> Iterator[Trace]:
    """Events built inside continue `event`'s correlation and name it as their cause."""
    envelope = event.envelope
    with correlation(envelope.correlation_id, causation_id=envelope.event_id) as trace:
        yield trace
