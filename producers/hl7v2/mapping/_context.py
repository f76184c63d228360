"""What the mapping takes from outside the message: times, id sources, per-sender rules.

The mapping reads no clock and makes no random ids. Everything impure, or that differs per sender, is in
`MappingContext`, checked once when it is built (ConfigError), not per message.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from typing import Final

from carebus.errors import ConfigError
from carebus.events import DataClassification
from carebus.ids import EventId

__all__ = [
    "DEFAULT_PATIENT_IDENTIFIER_RULE",
    "DEFAULT_PATIENT_IDENTIFIER_TYPES",
    "HL7V2_EVENT_NAMESPACE",
    "MappingContext",
    "PatientIdentifierRule",
    "default_event_id",
]

HL7V2_EVENT_NAMESPACE: Final = uuid.uuid5(uuid.NAMESPACE_URL, "urn:carebus:producers:hl7v2")
"""The uuid5 namespace of every event id the default factory makes."""

DEFAULT_PATIENT_IDENTIFIER_TYPES: Final = ("MR", "MRN", "PI", "PT")
"""CX.5 types (table 0203) that name a patient's record, in order of preference (as the FHIR adapter uses)."""


def default_event_id(seed: str) -> EventId:
    """uuid5(HL7V2_EVENT_NAMESPACE, seed): the same message always gives the same ids."""
    return EventId(str(uuid.uuid5(HL7V2_EVENT_NAMESPACE, seed)))


@dataclass(frozen=True, kw_only=True)
class PatientIdentifierRule:
    """Which PID-3 repetition becomes `Subject.source_patient_id` (identity, not position, decides).

    1. For each type in `types`, in order, the first repetition of that CX.5 type whose assigning authority is
       one of `authorities` (any authority when `authorities` is empty). An authority matches CX.4.1, CX.4.2
       or CX.6 (HD.1 or HD.2), exactly.
    2. Else, when `authorities` is set, the first repetition from one of them, whatever its type.
    3. Else the first repetition with a value (the fallback [MSFC] always uses).
    4. With no PID-3 identifier at all, the same rule over PID-2, then PID-4 (see `_subject`).

    The key is `<system>|<value>`: the system is the identifier's CX.4 namespace, else its CX.6 assigning
    facility, else the sending facility (MSH-4), else the sending application: an MRN is unique within the
    facility that sent it. No identifier at all gives no key ([S] CA newborn screening sends `^^^NPI^MR`).
    """

    types: tuple[str, ...] = DEFAULT_PATIENT_IDENTIFIER_TYPES
    authorities: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if any(not item or item != item.strip() for item in (*self.types, *self.authorities)):
            raise ConfigError("patient identifier types and authorities must be non-blank, unpadded strings")


DEFAULT_PATIENT_IDENTIFIER_RULE: Final = PatientIdentifierRule()


@dataclass(frozen=True, kw_only=True)
class MappingContext:
    """Everything a mapping takes besides the parsed message.

    - `received_at`: when carebus received the message (timezone-aware); `Envelope.received_at`, and the last
      fallback of every envelope time.
    - `recorded_at`: the fallback of `Envelope.recorded_at` when the message has neither EVN-2 nor MSH-7
      (default: `received_at`).
    - `source_system` / `source_facility`: `Source.system` / `.facility`; default MSH-3 / MSH-4 (HD.1, else
      HD.2). With neither configured nor sent, the message is refused (AE, MSH-3 missing).
    - `default_timezone`: the zone of timestamps sent without an offset (default UTC; configure per sender).
    - `event_id_factory`: makes each event id from a seed `<system>|<facility>|<MSH-10>|<index>`, index = the
      event's position in the mapping's output (default `default_event_id`, uuid5). Senders must keep MSH-10
      unique: a resent message gets the same ids, which is what lets sinks de-duplicate it.
    - `correlation_id`: default `<system>|<MSH-10>`, shared by every event of one message.
    - `patient_identifier_rule`: see PatientIdentifierRule.
    - `data_classification`: v2 has no dependable sensitivity marker, so the class is per sender (default phi).
    """

    received_at: datetime
    recorded_at: datetime | None = None
    source_system: str | None = None
    source_facility: str | None = None
    default_timezone: tzinfo = UTC
    event_id_factory: Callable[[str], EventId] = field(default=default_event_id)
    correlation_id: str | None = None
    patient_identifier_rule: PatientIdentifierRule = DEFAULT_PATIENT_IDENTIFIER_RULE
    data_classification: DataClassification = "phi"

    def __post_init__(self) -> None:
        for name in ("received_at", "recorded_at"):
            moment = getattr(self, name)
            if moment is not None and (moment.tzinfo is None or moment.utcoffset() is None):
                raise ConfigError(f"{name} must be timezone-aware")
        if self.source_system is not None and not self.source_system.strip():
            raise ConfigError("source_system must not be blank")
        if self.data_classification not in ("phi", "restricted", "deidentified"):
            raise ConfigError("data_classification must be phi, restricted or deidentified")
