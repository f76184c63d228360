"""From mapped payloads to events: the envelope every HL7 v2 event carries.

Decisions:

- `source`: system and facility from the context, else MSH-3 and MSH-4 (HD.1, else HD.2); protocol `hl7v2`;
  `original_message_id` MSH-10; `message_type` `MSH-9.1^MSH-9.2` (the structure MSH-9.3 is left out).
- `recorded_at`: EVN-2, else MSH-7, else the context's `recorded_at`, else `received_at`.
- `occurred_at`: EVN-6, else the domain's own time (results OBR-22, orders ORC-9, referrals RF1-9; ADT and
  claims have none), else MSH-7, else `received_at`. An unreadable time is skipped, never an error.
- `event_id`: the context's factory, seeded `<system>|<facility>|<MSH-10>|<index>` (index: position in the
  output, from 0). `correlation_id`: the context's, else `<system>|<MSH-10>`. `causation_id`: null (made
  straight from source input). `schema_version`: SCHEMA_VERSION. `data_classification`: the context's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from carebus.events import (
    SCHEMA_VERSION,
    Claim,
    Encounter,
    Envelope,
    Event,
    Order,
    Patient,
    Referral,
    Result,
    Source,
    Subject,
    event_model,
)
from carebus.ids import CorrelationId
from producers.hl7v2.mapping._context import MappingContext
from producers.hl7v2.mapping._errors import missing_field
from producers.hl7v2.mapping._time import parse_ts, ts
from producers.hl7v2.parsing import ParsedMessage, segment

__all__ = ["Draft", "Inbound", "inbound", "to_events"]

Payload = Patient | Encounter | Order | Result | Referral | Claim


@dataclass(frozen=True)
class Draft:
    """One event before its envelope: what happened, the payload, whom it is about, the domain's own time."""

    event_type: str
    payload: Payload
    subject: Subject
    occurred_at: datetime | None = None


@dataclass(frozen=True)
class Inbound:
    """The parsed message with what every mapper needs resolved once."""

    parsed: ParsedMessage
    context: MappingContext
    system: str
    facility: str | None
    recorded_at: datetime
    event_occurred_at: datetime | None  # EVN-6
    message_time: datetime | None  # MSH-7

    @property
    def tz(self) -> tzinfo:
        return self.context.default_timezone

    @property
    def namespace(self) -> str:
        """The sender's namespace for identifiers that name no authority: the facility, else the system."""
        return self.facility or self.system


def inbound(parsed: ParsedMessage, context: MappingContext) -> Inbound:
    header, tz = parsed.header, context.default_timezone
    app, place = header.sending_application, header.sending_facility
    system = context.source_system or (app and (app.namespace_id or app.universal_id)) \
        or (place and (place.namespace_id or place.universal_id))
    if not system:
        raise missing_field("MSH", 1, 3)
    facility = context.source_facility or (place and (place.namespace_id or place.universal_id)) or None
    evn = segment(parsed, "EVN")
    message_time = parse_ts(header.message_datetime, tz)  # MSH-7
    recorded = (ts(evn, 2, tz) if evn else None) or message_time or context.recorded_at or context.received_at
    return Inbound(parsed, context, system, facility, recorded, ts(evn, 6, tz) if evn else None, message_time)


def to_events(drafts: Sequence[Draft], message: Inbound) -> list[Event]:
    """Wrap each draft in its envelope, in order; the index seeds the event id."""
    header, ctx = message.parsed.header, message.context
    source = Source(system=message.system, facility=message.facility, protocol="hl7v2",
                    original_message_id=header.control_id,  # MSH-10
                    message_type=f"{header.message_code}^{header.trigger_event}")  # MSH-9
    correlation = CorrelationId(ctx.correlation_id or f"{message.system}|{header.control_id}")
    events: list[Event] = []
    for index, draft in enumerate(drafts):
        seed = f"{message.system}|{message.facility or ''}|{header.control_id}|{index}"
        occurred = (message.event_occurred_at or draft.occurred_at or message.message_time
                    or ctx.received_at)
        envelope = Envelope(
            event_id=ctx.event_id_factory(seed), event_type=draft.event_type, occurred_at=occurred,
            recorded_at=message.recorded_at, received_at=ctx.received_at, source=source,
            correlation_id=correlation, subject=draft.subject,
            data_classification=ctx.data_classification, schema_version=SCHEMA_VERSION,
        )
        model = event_model(draft.event_type.partition(".")[0])
        events.append(model.model_validate({"envelope": envelope, "payload": draft.payload}))
    return events
