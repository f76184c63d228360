"""The CapabilityStatement: what this server does, and nothing it does not.

It declares create and update (incl. conditional create on `identifier`, conditional update, and `If-Match`
against versions this process has handed out) for the ingested resource types, and the `transaction` and
`batch` system interactions. No read, search, history, delete or patch: this is an ingest endpoint; the FHIR
read API is a separate consumer. Security is described in words: static operator-issued bearer tokens with
SMART-style scopes, not the SMART-on-FHIR OAuth service, which would claim authorize/token endpoints this server
does not have.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Final

__all__ = ["FHIR_VERSION", "capability_statement"]

FHIR_VERSION: Final = "4.0.1"


def _resource(resource_type: str) -> dict[str, Any]:
    return {
        "type": resource_type,
        "interaction": [{"code": "create"}, {"code": "update"}],
        "versioning": "versioned-update",
        "readHistory": False,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "not-supported",
        "conditionalUpdate": True,
        "conditionalDelete": "not-supported",
        "searchParam": [{
            "name": "identifier",
            "type": "token",
            "documentation": "Only as the criteria of a conditional create (If-None-Exist) or conditional update; "
                             "matches resources created through this server within its idempotency window.",
        }],
    }


def capability_statement(*, base_url: str, resource_types: Sequence[str], date: datetime,
                         software_version: str, anonymous_writes: bool) -> dict[str, Any]:
    """The server's CapabilityStatement (`GET [base]/metadata`)."""
    auth = ("Anonymous writes are enabled." if anonymous_writes else
            "Every write needs `Authorization: Bearer <token>`; tokens are issued by the operator and carry "
            "SMART-style scopes (system/<Type>.write, system/*.write, user/..., v2 .c/.u).")
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date.isoformat(),
        "publisher": "carebus",
        "kind": "instance",
        "software": {"name": "carebus FHIR ingest", "version": software_version},
        "implementation": {
            "description": "carebus FHIR R4 ingest: accepted resources become canonical events on Kafka; "
                           "a response is sent only after Kafka has them.",
            "url": base_url,
        },
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "documentation": "Ingest only: resources are not stored and cannot be read back here.",
            "security": {"cors": False, "description": auth},
            "resource": [_resource(resource_type) for resource_type in resource_types],
            "interaction": [
                {"code": "transaction", "documentation": "All entries are published together or not at all."},
                {"code": "batch", "documentation": "Each entry (a report with its Observations counts as one) "
                                                   "succeeds or fails on its own."},
            ],
        }],
    }
