"""The normalized event's own identity: a new event id derived from the canonical one, which it points back to.

The contract's `causation_id` is "the event_id of the event this one was derived from (a normalized event
points at its canonical one)". So a normalized event gets its own id, uuid5 of the canonical id: the same
canonical event always gives the same normalized id (a replay or a reprocessing cannot mint a second one, and
sinks that write idempotently by event id stay idempotent), and `causation_id` leads back to the canonical
event. `correlation_id` is copied unchanged.
"""

from __future__ import annotations

import uuid
from typing import Final

from carebus.events import Event
from carebus.ids import EnterpriseId, EventId

__all__ = ["NORMALIZED_NAMESPACE", "normalized_event", "normalized_event_id"]

NORMALIZED_NAMESPACE: Final = uuid.UUID("0c6e3f0a-8b1d-4d2e-b7a4-5f9e8d7c6b5a")


def normalized_event_id(canonical_event_id: str) -> EventId:
    return EventId(str(uuid.uuid5(NORMALIZED_NAMESPACE, canonical_event_id)))


def normalized_event(event: Event, enterprise_id: EnterpriseId) -> Event:
    """`event` (canonical, already normalized) as the normalized topic carries it."""
    envelope = event.envelope
    subject = envelope.subject.model_copy(update={"enterprise_id": enterprise_id})
    return event.model_copy(update={"envelope": envelope.model_copy(update={
        "event_id": normalized_event_id(envelope.event_id),
        "causation_id": envelope.event_id,
        "subject": subject,
    })})
