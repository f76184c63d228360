"""The FHIR R4 REST ingest app (FastAPI): HTTP in front of `IngestService`, and nothing more.

    GET  [base]/metadata                   the CapabilityStatement (no token needed)
    POST [base]/<Type>                     create        -> 201, Location [base]/<Type>/<id>/_history/<v>
    PUT  [base]/<Type>/<id>                update        -> 200 (known version) or 201
    PUT  [base]/<Type>?identifier=...      conditional update
    POST [base]/  (or [base])              transaction / batch Bundle -> 200 with the response Bundle
    GET  /metrics                          Prometheus

Types: Patient, Encounter, ServiceRequest, Observation, DiagnosticReport, Claim; any other is 404, any other
method 405. Bodies are `application/fhir+json` or `application/json` (UTF-8), else 415; larger than
`max_body_bytes`, 413. `Authorization: Bearer <token>` is checked first (401 with WWW-Authenticate), then the
token's scopes per resource type and interaction (403). Headers honoured: `Prefer: return=minimal |
representation | OperationOutcome`, `If-None-Exist`, `If-Match`, `Idempotency-Key`. Every error is an
OperationOutcome whose issues name the element (`expression`), never its value. Responses are sent only after
the EventPublisher has returned, i.e. after Kafka acknowledged the events. `Accept` is not negotiated: the
answer is always FHIR JSON.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final, cast
from urllib.parse import urlsplit

from fastapi import FastAPI, Header, Request, Response, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from carebus.publishing import DeadLetterPublisher, EventPublisher
from producers.fhir import _json
from producers.fhir.auth import AuthFailure, BearerAuth, Principal
from producers.fhir.capability import capability_statement
from producers.fhir.errors import Issue
from producers.fhir.idempotency import IdempotencyStore
from producers.fhir.ingest import IngestRequest, IngestService, PreferReturn, Reply
from producers.fhir.mapping import (
    DEFAULT_PATIENT_IDENTIFIER_TYPES,
    DEFAULT_REFERRAL_CODES,
    SUPPORTED_RESOURCE_TYPES,
)
from producers.fhir.metrics import FhirMetrics
from producers.fhir.outcome import operation_outcome

__all__ = ["DEFAULT_MAX_BODY_BYTES", "FHIR_JSON", "build_app"]

FHIR_JSON: Final = "application/fhir+json"
ACCEPTED_MEDIA_TYPES: Final = frozenset({FHIR_JSON, "application/json"})
DEFAULT_MAX_BODY_BYTES: Final = 16 * 1024 * 1024
SOFTWARE_VERSION: Final = "0.1.0"

_RESOURCE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["resourceType"],
    "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}},
    "additionalProperties": True,
}
_BUNDLE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["resourceType", "type"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["transaction", "batch"]},
        "entry": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}
_BUNDLE_RESPONSE_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["resourceType", "type", "entry"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["Bundle"]},
        "type": {"type": "string", "enum": ["transaction-response", "batch-response"]},
        "entry": {"type": "array", "items": {"type": "object", "required": ["response"]}},
    },
}
_OUTCOME_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["resourceType", "issue"],
    "properties": {"resourceType": {"type": "string", "enum": ["OperationOutcome"]}, "issue": {"type": "array"}},
}


def _body_spec(schema: dict[str, Any]) -> dict[str, Any]:
    content = {media: {"schema": schema} for media in (FHIR_JSON, "application/json")}
    return {"requestBody": {"required": True, "content": content}}


def _fhir(description: str, schema: dict[str, Any] = _OUTCOME_SCHEMA) -> dict[str, Any]:
    return {"description": description, "content": {FHIR_JSON: {"schema": schema}}}


_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: _fhir("Not JSON, not FHIR R4, or a bad header"),
    401: _fhir("No valid bearer token"),
    403: _fhir("The token's scopes do not allow this"),
    404: _fhir("Resource type not ingested"),
    409: _fhir("The same Idempotency-Key is in flight"),
    412: _fhir("A condition (If-None-Exist, If-Match) cannot be met"),
    413: _fhir("Body too large"),
    415: _fhir("Not application/fhir+json"),
    422: _fhir("Valid FHIR that cannot be ingested, or an Idempotency-Key reused with another body"),
    503: _fhir("The event bus is unavailable; retry"),
}
_WRITE_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    200: _fhir("Updated, or already there (conditional create)", _RESOURCE_SCHEMA),
    201: _fhir("Created; published to Kafka", _RESOURCE_SCHEMA),
    **_ERRORS,
}


_BEARER: Final = HTTPBearer(auto_error=False, description="Operator-issued token with SMART-style scopes")
_BearerToken = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]
"""Declares the bearer scheme in the OpenAPI; the token itself is checked by `BearerAuth`."""


class _Unauthenticated(Exception):  # noqa: N818 - internal signal, turned into a 401 below
    def __init__(self, failure: AuthFailure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


class _HttpRefusal(Exception):  # noqa: N818 - internal signal, turned into an OperationOutcome below
    def __init__(self, status: int, issue: Issue, outcome: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(outcome)
        self.status = status
        self.issue = issue
        self.outcome = outcome
        self.headers = headers or {}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _uuid4() -> str:
    return str(uuid.uuid4())


def _outcome_response(status: int, issue: Issue, headers: dict[str, str] | None = None) -> Response:
    return Response(_json.dumps(operation_outcome([issue])), status_code=status, headers=headers,
                    media_type=FHIR_JSON)


def _prefer(header: str | None) -> PreferReturn:
    for token in (header or "").replace(";", ",").split(","):
        name, _, value = token.strip().partition("=")
        if name.strip().lower() == "return":
            value = value.strip().strip('"')
            if value in ("minimal", "representation", "OperationOutcome"):
                return cast(PreferReturn, value)
    return "representation"


def _check_media_type(request: Request) -> None:
    header = request.headers.get("content-type")
    media, *params = (part.strip() for part in (header or "").split(";"))
    charset = next((param.partition("=")[2].strip('"').lower() for param in params
                    if param.lower().startswith("charset=")), "utf-8")
    if media.lower() not in ACCEPTED_MEDIA_TYPES or charset not in ("utf-8", "utf8"):
        raise _HttpRefusal(415, Issue("not-supported", None, "send application/fhir+json (UTF-8)"),
                       "unsupported-media-type")


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _HttpRefusal(413, Issue("too-long", None, "the body is larger than this server accepts"), "too-large")
    body = await request.body()
    if len(body) > limit:
        raise _HttpRefusal(413, Issue("too-long", None, "the body is larger than this server accepts"), "too-large")
    return body


def build_app(
    *,
    publisher: EventPublisher,
    deadletters: DeadLetterPublisher,
    auth: BearerAuth,
    idempotency: IdempotencyStore,
    base_url: str,
    clock: Callable[[], datetime] = _utc_now,
    id_factory: Callable[[], str] = _uuid4,
    metrics_registry: CollectorRegistry | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    patient_identifier_types: tuple[str, ...] = DEFAULT_PATIENT_IDENTIFIER_TYPES,
    referral_codes: frozenset[tuple[str, str]] = DEFAULT_REFERRAL_CODES,
) -> FastAPI:
    """The FHIR ingest app over its ports. `base_url` is this server's public base, e.g. `https://x/fhir`;
    its path is where the routes live. `id_factory` makes resource ids and event ids (UUID strings)."""
    base_url = base_url.rstrip("/")
    base_path = urlsplit(base_url).path.rstrip("/")
    metrics = FhirMetrics(SUPPORTED_RESOURCE_TYPES, metrics_registry)
    service = IngestService(publisher=publisher, deadletters=deadletters, idempotency=idempotency,
                            base_url=base_url, clock=clock, id_factory=id_factory, metrics=metrics,
                            patient_identifier_types=patient_identifier_types, referral_codes=referral_codes)
    capabilities = _json.dumps(capability_statement(
        base_url=base_url, resource_types=SUPPORTED_RESOURCE_TYPES, date=clock(),
        software_version=SOFTWARE_VERSION, anonymous_writes=auth.allow_anonymous))
    app = FastAPI(title="carebus FHIR R4 ingest", version=SOFTWARE_VERSION, redirect_slashes=False,
                  description=cast(str, __doc__))

    def principal(request: Request) -> Principal:
        found = auth.authenticate(request.headers.get("authorization"))
        if isinstance(found, AuthFailure):
            raise _Unauthenticated(found)
        return found

    def label(request: Request, resource_type: str | None, interaction: str) -> None:
        request.state.fhir_labels = (resource_type, interaction)

    def respond(request: Request, reply: Reply) -> Response:
        request.state.fhir_outcome = reply.outcome
        if reply.interaction is not None:
            request.state.fhir_labels = (reply.resource_type, reply.interaction)
        headers = dict(reply.headers)
        if reply.status == 403:
            kind = reply.resource_type if reply.resource_type in SUPPORTED_RESOURCE_TYPES else "*"
            headers.setdefault("WWW-Authenticate", auth.insufficient_scope(f"system/{kind}.write"))
        if not reply.body:
            return Response(status_code=reply.status, headers=headers)
        return Response(reply.body, status_code=reply.status, headers=headers, media_type=FHIR_JSON)

    async def write(request: Request, ingest: IngestRequest) -> Response:
        return respond(request, await service.handle(ingest))

    _add_error_handlers(app)
    _add_metrics_middleware(app, metrics)

    @app.get(f"{base_path}/metadata", responses={200: _fhir("CapabilityStatement", _RESOURCE_SCHEMA)})
    async def metadata(request: Request) -> Response:
        label(request, None, "capabilities")
        return Response(capabilities, media_type=FHIR_JSON)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus(request: Request) -> Response:
        label(request, None, "metrics")
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    async def bundle(
        request: Request,
        *,
        _token: _BearerToken = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response:
        label(request, "Bundle", "bundle")
        who = principal(request)
        _check_media_type(request)
        body = await _read_body(request, max_body_bytes)
        return await write(request, IngestRequest("bundle", who, body, idempotency_key=idempotency_key))

    bundle_spec = {"responses": {200: _fhir("transaction-response or batch-response", _BUNDLE_RESPONSE_SCHEMA),
                                 **_ERRORS}, "openapi_extra": _body_spec(_BUNDLE_SCHEMA)}
    app.post(f"{base_path}/", **bundle_spec)(bundle)  # type: ignore[arg-type]
    if base_path:
        app.post(base_path, include_in_schema=False)(bundle)

    @app.post(f"{base_path}/{{resource_type}}", status_code=201, responses=_WRITE_RESPONSES,
              openapi_extra=_body_spec(_RESOURCE_SCHEMA))
    async def create(
        request: Request,
        resource_type: str,
        *,
        _token: _BearerToken = None,
        prefer: Annotated[str | None, Header(alias="Prefer")] = None,
        if_none_exist: Annotated[str | None, Header(alias="If-None-Exist")] = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response:
        label(request, resource_type, "create")
        who = principal(request)
        _check_media_type(request)
        body = await _read_body(request, max_body_bytes)
        return await write(request, IngestRequest("create", who, body, resource_type=resource_type,
                                                  prefer=_prefer(prefer), if_none_exist=if_none_exist,
                                                  idempotency_key=idempotency_key))

    @app.put(f"{base_path}/{{resource_type}}/{{resource_id}}", responses=_WRITE_RESPONSES,
             openapi_extra=_body_spec(_RESOURCE_SCHEMA))
    async def update(
        request: Request,
        resource_type: str,
        resource_id: str,
        *,
        _token: _BearerToken = None,
        prefer: Annotated[str | None, Header(alias="Prefer")] = None,
        if_match: Annotated[str | None, Header(alias="If-Match")] = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response:
        label(request, resource_type, "update")
        who = principal(request)
        _check_media_type(request)
        body = await _read_body(request, max_body_bytes)
        return await write(request, IngestRequest("update", who, body, resource_type=resource_type,
                                                  resource_id=resource_id, prefer=_prefer(prefer),
                                                  if_match=if_match, idempotency_key=idempotency_key))

    @app.put(f"{base_path}/{{resource_type}}", responses=_WRITE_RESPONSES,
             openapi_extra=_body_spec(_RESOURCE_SCHEMA))
    async def conditional_update(
        request: Request,
        resource_type: str,
        *,
        identifier: str | None = None,
        _token: _BearerToken = None,
        prefer: Annotated[str | None, Header(alias="Prefer")] = None,
        idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
    ) -> Response:
        label(request, resource_type, "update")
        who = principal(request)
        _check_media_type(request)
        body = await _read_body(request, max_body_bytes)
        return await write(request, IngestRequest("update", who, body, resource_type=resource_type,
                                                  criteria=request.url.query or None, prefer=_prefer(prefer),
                                                  idempotency_key=idempotency_key))

    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def unauthenticated(request: Request, exc: Exception) -> Response:
        failure = cast(_Unauthenticated, exc).failure
        request.state.fhir_outcome = "unauthorized"
        text = "a bearer token is required" if failure.reason == "missing-token" else "the bearer token is not valid"
        return _outcome_response(401, Issue("login", None, text), {"WWW-Authenticate": failure.challenge})

    async def refused(request: Request, exc: Exception) -> Response:
        error = cast(_HttpRefusal, exc)
        request.state.fhir_outcome = error.outcome
        return _outcome_response(error.status, error.issue, error.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        error = cast(StarletteHTTPException, exc)
        request.state.fhir_outcome = "not-found" if error.status_code == 404 else "rejected"
        code = {404: "not-found", 405: "not-supported"}.get(error.status_code, "processing")
        text = {404: "no such endpoint (see [base]/metadata)",
                405: "this server only creates and updates (see [base]/metadata)"}.get(error.status_code,
                                                                                      "request not processed")
        headers = dict(error.headers or {})
        status = error.status_code
        if status == 405:
            allowed = _allowed_methods(request)
            if not allowed:  # only the [type] routes matched, and not for a type this server ingests
                request.state.fhir_outcome = "not-found"
                return _outcome_response(404, Issue("not-supported", None, "resource type not ingested by this "
                                                                            "server (see [base]/metadata)"))
            headers["Allow"] = allowed
        return _outcome_response(status, Issue(code, None, text), headers)

    async def invalid_parameters(request: Request, exc: Exception) -> Response:
        request.state.fhir_outcome = "rejected"
        errors = cast(RequestValidationError, exc).errors()
        where = ".".join(str(part) for part in errors[0]["loc"]) if errors else None
        return _outcome_response(400, Issue("invalid", where, "a request parameter or header is not valid"))

    app.add_exception_handler(_Unauthenticated, unauthenticated)
    app.add_exception_handler(_HttpRefusal, refused)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid_parameters)


def _allowed_methods(request: Request) -> str:
    """Every method served at this path (Starlette's own 405 names only the first route's); a `[type]` route
    counts only for a type this server ingests, so `[base]/metadata` allows GET alone."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        match, child = route.matches(request.scope)
        kind = child.get("path_params", {}).get("resource_type")
        if match in (Match.PARTIAL, Match.FULL) and kind in (None, *SUPPORTED_RESOURCE_TYPES):
            methods.update(getattr(route, "methods", None) or ())
    return ", ".join(sorted(methods))


def _add_metrics_middleware(app: FastAPI, metrics: FhirMetrics) -> None:
    @app.middleware("http")
    async def measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        resource_type, interaction = getattr(request.state, "fhir_labels", (None, "other"))
        outcome = getattr(request.state, "fhir_outcome", "ok")
        metrics.observe(resource_type=resource_type, interaction=interaction, outcome=outcome,
                        status=response.status_code, seconds=time.perf_counter() - started)
        return response
