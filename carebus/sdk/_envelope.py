"""Building events: the envelope fields a publisher need not think about are filled here.

`new_event(payload, event_type=..., source=..., subject=...)` picks the event model from the payload
(`Result` -> `ResultEvent`) and fills the envelope: a fresh UUID4 event id, `recorded_at` now (and
`occurred_at` too unless given), the contract's schema version, and the correlation and causation ids
from the surrounding `correlation()` / `following()` context (a new correlation id when there is none).
Anything the caller passes wins. Every failure is an `InvalidEventError` naming the fields.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from carebus.events import DOMAINS, SCHEMA_VERSION, DataClassification, Envelope, Event, Source, Subject, event_model
from carebus.ids import CorrelationId, SourcePatientId
from carebus.sdk._context import current_trace
from carebus.sdk.errors import FieldProblem, InvalidEventError

__all__ = ["SDK_PROTOCOL", "check_event", "new_envelope", "new_event", "parse_event", "revalidate"]

SDK_PROTOCOL = "sdk"
"""`Envelope.source.protocol` of events whose source is given by name only."""

_EVENT_MODEL_BY_PAYLOAD: Mapping[type[BaseModel], type[Event]] = {
    event_model(domain).model_fields["payload"].annotation: event_model(domain)  # type: ignore[misc]
    for domain in DOMAINS
}
_EVENT_MODELS: tuple[type[Event], ...] = tuple(_EVENT_MODEL_BY_PAYLOAD.values())
_CONTRACT_MAJOR = SCHEMA_VERSION.split(".", 1)[0]


def new_envelope(
    event_type: str,
    *,
    source: Source | str,
    subject: Subject | str,
    occurred_at: datetime | None = None,
    data_classification: DataClassification = "phi",
    event_id: str | None = None,
    recorded_at: datetime | None = None,
    received_at: datetime | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
    now: datetime | None = None,
) -> Envelope:
    """An envelope with the defaults filled in; `source` may be a system name, `subject` a source patient id."""
    trace = current_trace()
    moment = now or datetime.now(UTC)
    fields: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "occurred_at": occurred_at or moment,
        "recorded_at": recorded_at or moment,
        "received_at": received_at,
        "source": Source(system=source, protocol=SDK_PROTOCOL) if isinstance(source, str) else source,
        "correlation_id": correlation_id or trace.correlation_id or CorrelationId(str(uuid.uuid4())),
        "causation_id": causation_id or trace.causation_id,
        "subject": Subject(source_patient_id=SourcePatientId(subject)) if isinstance(subject, str) else subject,
        "data_classification": data_classification,
        "schema_version": SCHEMA_VERSION,
    }
    try:
        return Envelope.model_validate(fields)
    except ValidationError as exc:
        raise InvalidEventError.from_validation("Envelope", exc, prefix="envelope") from None


def new_event(payload: BaseModel, *, event_type: str, source: Source | str, subject: Subject | str,
              **envelope: Any) -> Event:
    """The event model for `payload` (e.g. a `Result` makes a `ResultEvent`), with a filled envelope.

    Keyword arguments beyond these go to `new_envelope` (occurred_at, data_classification, ids).
    """
    model = _EVENT_MODEL_BY_PAYLOAD.get(type(payload))
    if model is None:
        raise TypeError(f"{type(payload).__name__} is not the payload of a canonical event")
    built = new_envelope(event_type, source=source, subject=subject, **envelope)
    try:
        return model(envelope=built, payload=payload)
    except ValidationError as exc:
        raise InvalidEventError.from_validation(model.__name__, exc) from None


def parse_event(domain: str, data: Mapping[str, Any]) -> Event:
    """Validate plain data (e.g. parsed JSON) into `domain`'s event model, or raise `InvalidEventError`."""
    model = event_model(domain)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidEventError.from_validation(model.__name__, exc) from None


def check_event(event: object) -> Event:
    """`event` if it may be published; `InvalidEventError` naming the field if not.

    Models validate when built, so this re-checks only what construction cannot promise: a model
    made with `model_construct` (no validation) and the contract version the topic carries.
    """
    if not isinstance(event, _EVENT_MODELS):
        raise TypeError(f"expected a canonical event model, got {type(event).__name__}")
    if _constructed(event):
        event = revalidate(event)
    version = getattr(event.envelope, "schema_version", "")
    if str(version).split(".", 1)[0] != _CONTRACT_MAJOR:
        raise InvalidEventError(type(event).__name__,
                                (FieldProblem("envelope.schema_version", "major_version_mismatch"),))
    return event


def revalidate(event: Event) -> Event:
    """Validate `event` again from its field values, translating failures to `InvalidEventError`."""
    model = type(event)
    try:
        fields = {name: getattr(event, name) for name in model.model_fields if hasattr(event, name)}
        return model.model_validate(fields)
    except ValidationError as exc:
        raise InvalidEventError.from_validation(model.__name__, exc) from None
    except (TypeError, ValueError, AttributeError):
        raise InvalidEventError(model.__name__, (FieldProblem("(event)", "not_serializable"),)) from None


def _constructed(event: Event) -> bool:
    # model_construct skips validation and leaves no mark; a missing part or a plain dict where a model
    # belongs gives it away cheaply. Anything subtler surfaces when serializing, and is diagnosed then.
    envelope = getattr(event, "envelope", None)
    return not isinstance(envelope, Envelope) or not isinstance(getattr(event, "payload", None), BaseModel)
