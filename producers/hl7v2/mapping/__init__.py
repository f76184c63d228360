"""Parsed HL7 v2 messages -> canonical events, as pure functions.

    events = map_message(parse_message(frame), MappingContext(received_at=now))

`map_message` reads no clock, makes no random id and does no I/O: the same message and context always give
the same events (ids included). It raises `UnsupportedMessageError` (AR) for a message type, trigger or version
it does not take, and `MappingError` (AE) with a location and a reason code when required content is missing
or unreadable. Neither carries a value from the message.

Routing is on MSH-9.1 + MSH-9.2 (never MSH-9.3, often empty in v2.3); versions 2.3 to 2.8 (any patch level):

| MSH-9 | module | events |
|---|---|---|
| ADT^A01-A08, A11, A13, A28, A31, A40 | `adt` | patient.* and encounter.* |
| ORM^O01, OML^O21 | `orders` | order.*, one per order group |
| ORU^R01 | `results` | result.*, one per order group (OBR) |
| REF^I12, I13, I14 | `referrals` | referral.requested / updated / cancelled |
| DFT^P03, P11 | `claims` | claim.submitted, one line per FT1 |

Each module's docstring holds its field map and every decision taken where [IG] (the HL7 v2-to-FHIR IG) and
[MSFC] (microsoft/FHIR-Converter) disagree (shared/notes/hl7v2-mapping.md). Cross-cutting ones: `_envelope`
(times, ids, source), `_subject` and `_context` (which PID-3 repetition keys the patient), `_time` (zones),
`_common` (codes, identifiers), `_people`, `_contact`, `_clinical`.

Events come out in message order: for an ADT the patient event before the encounter event; for orders and
results one per group in the order of the groups. Every event's type is in `carebus.events.EVENT_TYPES`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final

from pydantic import ValidationError

from carebus.events import Event
from producers.hl7v2.errors import ErrorCode, MappingError, UnsupportedMessageError, UnsupportedReason
from producers.hl7v2.mapping._context import (
    DEFAULT_PATIENT_IDENTIFIER_RULE,
    DEFAULT_PATIENT_IDENTIFIER_TYPES,
    HL7V2_EVENT_NAMESPACE,
    MappingContext,
    PatientIdentifierRule,
    default_event_id,
)
from producers.hl7v2.mapping._envelope import Draft, Inbound, inbound, to_events
from producers.hl7v2.mapping._errors import MappingReason
from producers.hl7v2.mapping.adt import SUPPORTED_ADT_TRIGGERS, map_adt
from producers.hl7v2.mapping.claims import map_claim
from producers.hl7v2.mapping.orders import map_orders
from producers.hl7v2.mapping.referrals import REFERRAL_EVENTS, map_referral
from producers.hl7v2.mapping.results import map_results
from producers.hl7v2.parsing import ParsedMessage

__all__ = [
    "DEFAULT_PATIENT_IDENTIFIER_RULE",
    "DEFAULT_PATIENT_IDENTIFIER_TYPES",
    "HL7V2_EVENT_NAMESPACE",
    "SUPPORTED_MESSAGES",
    "SUPPORTED_VERSIONS",
    "MappingContext",
    "MappingReason",
    "PatientIdentifierRule",
    "default_event_id",
    "map_message",
]

Mapper = Callable[[Inbound], list[Draft]]

_MAPPERS: Final[Mapping[str, tuple[frozenset[str], Mapper]]] = MappingProxyType({
    "ADT": (SUPPORTED_ADT_TRIGGERS, map_adt),
    "ORM": (frozenset({"O01"}), map_orders),
    "OML": (frozenset({"O21"}), map_orders),
    "ORU": (frozenset({"R01"}), map_results),
    "REF": (frozenset(REFERRAL_EVENTS), map_referral),
    "DFT": (frozenset({"P03", "P11"}), map_claim),
})

SUPPORTED_MESSAGES: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {code: triggers for code, (triggers, _) in _MAPPERS.items()})
"""Message code (MSH-9.1) -> the triggers (MSH-9.2) the mapping takes."""

SUPPORTED_VERSIONS: Final = ((2, 3), (2, 8))
"""The first and last HL7 v2 minor versions taken (MSH-12: 2.3, 2.3.1, ... 2.8.2)."""
_VERSION: Final = re.compile(r"^2\.(\d)(?:\.\d+)?$")


def _check_version(parsed: ParsedMessage) -> None:
    match = _VERSION.match(parsed.header.version_id.strip())
    low, high = SUPPORTED_VERSIONS
    if match is None or not low <= (2, int(match.group(1))) <= high:
        raise UnsupportedMessageError(UnsupportedReason.VERSION, reply_to=parsed.header.reply_to)


def map_message(parsed: ParsedMessage, context: MappingContext) -> list[Event]:
    """The canonical events one parsed message stands for (at least one), in message order."""
    header = parsed.header
    entry = _MAPPERS.get(header.message_code.upper())
    if entry is None:
        raise UnsupportedMessageError(UnsupportedReason.MESSAGE_TYPE, reply_to=header.reply_to)
    triggers, mapper = entry
    if header.trigger_event.upper() not in triggers:
        raise UnsupportedMessageError(UnsupportedReason.EVENT, reply_to=header.reply_to)
    _check_version(parsed)
    message = inbound(parsed, context)
    try:
        return to_events(mapper(message), message)
    except ValidationError as exc:  # the contract's own rules; pydantic's errors never echo the input
        raise MappingError(MappingReason.EVENT_INVALID.value, error_code=ErrorCode.APPLICATION_INTERNAL_ERROR) from exc
