"""Pure helpers for the FHIR REST interactions: conditional criteria, If-Match, entry URLs, echoes, statuses.

Only `identifier` criteria are understood (`identifier=system|value`, `identifier=value` for any system,
`identifier=|value` for no system), because that is all a store-less ingest endpoint can match: resources this
server has accepted, by the identifiers they carried.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final
from urllib.parse import parse_qsl

from producers.fhir.errors import (
    ConditionalRequestError,
    FhirInputError,
    InvalidResourceError,
    Issue,
    MalformedRequestError,
    UnmappableResourceError,
    UnsupportedInteractionError,
    UnsupportedResourceError,
)

__all__ = [
    "ID_CHARACTERS",
    "Criteria",
    "EntryTarget",
    "echo",
    "entry_target",
    "fingerprint",
    "http_date",
    "identifiers_of",
    "instant",
    "location",
    "parse_criteria",
    "parse_if_match",
    "status_of",
]

ID_CHARACTERS: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.")
"""The characters of a FHIR resource id (at most 64 of them)."""


@dataclass(frozen=True)
class Criteria:
    """`identifier=system|value` search criteria; `system` None matches any system."""

    resource_type: str
    system: str | None
    value: str

    @property
    def key(self) -> str:
        """The guard key that serializes requests with the same criteria."""
        return f"{self.resource_type}?identifier={self.system if self.system is not None else '*'}|{self.value}"


def parse_criteria(resource_type: str, text: str, *, expression: str | None) -> Criteria:
    """Criteria from an If-None-Exist value or a conditional URL's query (`[Type]?` prefix allowed)."""
    query = text.strip()
    if "?" in query:
        prefix, _, query = query.partition("?")
        if prefix not in ("", resource_type):
            raise _bad_criteria(expression, "the criteria name another resource type")
    pairs = parse_qsl(query, keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "identifier" or not pairs[0][1]:
        raise _bad_criteria(expression, "only a single `identifier=[system|]value` criterion is supported")
    token = pairs[0][1]
    if "|" in token:
        system, _, value = token.partition("|")
        if not value:
            raise _bad_criteria(expression, "the identifier criterion needs a value")
        return Criteria(resource_type, system, value)
    return Criteria(resource_type, None, token)


def _bad_criteria(expression: str | None, why: str) -> ConditionalRequestError:
    return ConditionalRequestError(400, Issue("not-supported", expression, why), reason="unsupported-criteria")


def parse_if_match(text: str, *, expression: str | None) -> int:
    """The version an If-Match names: `W/"3"` or `"3"` -> 3."""
    tag = text.strip()
    tag = tag[2:] if tag.startswith("W/") else tag
    tag = tag.strip('"')
    if not tag.isdigit():
        raise ConditionalRequestError(400, Issue("invalid", expression, "If-Match must be a version ETag (W/\"n\")"),
                                      reason="invalid-if-match")
    return int(tag)


@dataclass(frozen=True)
class EntryTarget:
    """What a transaction/batch entry's `request` asks for."""

    resource_type: str
    resource_id: str | None = None
    criteria: Criteria | None = None


def entry_target(method: str, url: str | None, resource_type: str, supported: Sequence[str], *,
                 index: int) -> EntryTarget:
    """Check `request.method`/`request.url` against the entry's resource; raise the entry's error."""
    where = f"Bundle.entry[{index}].request.url"
    if resource_type not in supported:
        raise UnsupportedResourceError.for_type(resource_type, f"Bundle.entry[{index}].resource.resourceType")
    if method not in ("POST", "PUT"):
        raise UnsupportedInteractionError([Issue("not-supported", f"Bundle.entry[{index}].request.method",
                                                 "only create (POST) and update (PUT) are supported")])
    path, mark, query = (url or "").strip().lstrip("/").partition("?")
    kind, _, ident = path.partition("/")
    if kind != resource_type:
        raise _bad_url(where, "request.url must name the entry's resource type")
    if method == "POST":
        if ident or mark:
            raise _bad_url(where, "a create's request.url is just the resource type")
        return EntryTarget(resource_type)
    if mark:
        if ident:
            raise _bad_url(where, "a conditional update's request.url is [type]?[criteria]")
        return EntryTarget(resource_type, criteria=parse_criteria(resource_type, query, expression=where))
    if not ident or "/" in ident or not set(ident) <= ID_CHARACTERS or len(ident) > 64:
        raise _bad_url(where, "an update's request.url is [type]/[id]")
    return EntryTarget(resource_type, resource_id=ident)


def _bad_url(where: str, why: str) -> FhirInputError:
    return MalformedRequestError([Issue("invalid", where, why)])


def identifiers_of(resource: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """(system or "", value) of each identifier with a value, from raw JSON."""
    found = []
    for item in resource.get("identifier") or ():
        if isinstance(item, dict) and isinstance(item.get("value"), str) and item["value"]:
            system = item.get("system")
            found.append((system if isinstance(system, str) else "", item["value"]))
    return tuple(found)


def instant(moment: datetime) -> str:
    """A FHIR instant in UTC with milliseconds: `2024-03-14T09:30:06.000Z`."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def http_date(moment: datetime) -> str:
    return format_datetime(moment.astimezone(UTC), usegmt=True)


def location(base_url: str, resource_type: str, resource_id: str, version: int) -> str:
    return f"{base_url}/{resource_type}/{resource_id}/_history/{version}"


def echo(resource: Mapping[str, Any], resource_id: str, version: int, received_at: datetime) -> dict[str, Any]:
    """The resource as this server answers with it: its id, and meta.versionId/lastUpdated set here."""
    meta = resource.get("meta")
    meta = dict(meta) if isinstance(meta, dict) else {}
    meta["versionId"] = str(version)
    meta["lastUpdated"] = instant(received_at)
    ordered: dict[str, Any] = {"resourceType": resource.get("resourceType"), "id": resource_id, "meta": meta}
    ordered.update((key, value) for key, value in resource.items() if key not in ordered)
    return ordered


def fingerprint(*parts: str | bytes | None) -> str:
    """A digest of everything that makes two requests the same request."""
    digest = hashlib.sha256()
    for part in parts:
        data = b"\x00" if part is None else (part if isinstance(part, bytes) else part.encode("utf-8"))
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


_STATUS_BY_ERROR: Final[tuple[tuple[type[FhirInputError], int], ...]] = (
    (MalformedRequestError, 400),
    (InvalidResourceError, 400),
    (UnsupportedResourceError, 404),
    (UnsupportedInteractionError, 405),
    (UnmappableResourceError, 422),
)


def status_of(error: FhirInputError | ConditionalRequestError) -> int:
    """The HTTP status an error answers with (a Bundle entry's status in a batch-response)."""
    if isinstance(error, ConditionalRequestError):
        return error.status
    for kind, status in _STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 400
