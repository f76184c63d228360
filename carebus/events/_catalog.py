"""The canonical domains and the event types each one allows.

Event types live here, not in the Avro schemas: the envelope carries `event_type` as a plain string
so that adding a type is not a schema change and never breaks a reader. Producers and the event
models check membership against `EVENT_TYPES`, so a typo fails at the producer, not in a sink.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final, Literal, cast, get_args

__all__ = ["DOMAINS", "EVENT_TYPES", "SCHEMA_VERSION", "Domain", "check_event_type"]

Domain = Literal["patient", "encounter", "order", "result", "referral", "claim"]

DOMAINS: Final[tuple[Domain, ...]] = get_args(Domain)
"""Every canonical domain; each has topics `canonical.<domain>.v1` and `normalized.<domain>.v1`."""

SCHEMA_VERSION: Final = "1.0"
"""The contract version producers write into `Envelope.schema_version`; its major is the topic's `.v1`."""

EVENT_TYPES: Final[Mapping[Domain, frozenset[str]]] = MappingProxyType(
    {
        "patient": frozenset({"patient.upserted", "patient.updated", "patient.merged"}),
        "encounter": frozenset(
            {
                # A05 pre-admit and, per the HL7 V2-to-FHIR IG, A04: an encounter that has not begun.
                "encounter.planned",
                "encounter.started",
                "encounter.updated",
                "encounter.ended",
                "encounter.cancelled",
                "encounter.reopened",
            }
        ),
        "order": frozenset({"order.placed", "order.status-changed", "order.cancelled", "order.updated"}),
        "result": frozenset(
            {
                "result.preliminary",
                "result.finalized",
                "result.corrected",
                "result.cancelled",
                "result.retracted",
            }
        ),
        "referral": frozenset({"referral.requested", "referral.updated", "referral.cancelled"}),
        # claim.submitted covers v2 DFT charge posts as well as FHIR Claim submissions.
        "claim": frozenset({"claim.submitted", "claim.updated", "claim.cancelled"}),
    }
)
"""The allowed `Envelope.event_type` values of each domain."""


def check_event_type(domain: str, event_type: str) -> None:
    """Raise ValueError unless `event_type` is one of `domain`'s event types."""
    if domain not in EVENT_TYPES:
        raise ValueError(f"unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}")
    allowed = EVENT_TYPES[cast(Domain, domain)]
    if event_type not in allowed:
        raise ValueError(f"event type {event_type!r} is not allowed for domain {domain!r}: "
                         f"expected one of {', '.join(sorted(allowed))}")
