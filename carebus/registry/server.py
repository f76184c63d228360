"""The registry's HTTP API: Confluent Schema Registry's REST API, so stock clients and serializers work against it.

`create_app(store)` builds the FastAPI app; its lifespan starts the store (replays the log) before the first
request and closes it at shutdown. `running_registry(connection)` runs one on a free port in a background
thread for tests and tools, and yields its URL once it answers. `carebus registry serve` is the entry point.

HTTP details that stock clients rely on:

- Request bodies are parsed as JSON whatever their content type (clients send
  `application/vnd.schemaregistry.v1+json`, `application/vnd.schemaregistry+json` or `application/json`), and
  unknown fields (`metadata`, `ruleSet`, ...) are ignored. Every answer is
  `application/vnd.schemaregistry.v1+json`; every error is `{"error_code": int, "message": str}`.
- Boolean query parameters are true only when they say "true" in any case (the Python client sends `True`),
  like Java's `Boolean.parseBoolean`.
- confluent-kafka >= 2.14 serializers first ask `GET /associations/resources/{namespace}/{topic}` for the
  subject and fall back to the topic-name strategy only on a 404, raising on anything else; this registry
  has no associations, so that route answers 404 explicitly.

Only the registry's own routes are here; the rules live in `carebus.registry.service`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

import anyio.to_thread
import httpx
import uvicorn
from fastapi import Depends, FastAPI, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from carebus.kafka.config import KafkaConnection
from carebus.registry.errors import ErrorCode, RegistryApiError
from carebus.registry.service import RegistryService, SchemaRequest
from carebus.registry.store import KafkaRegistryLog, Reference, RegistryStore, SubjectVersion
from carebus.topics import SCHEMAS_TOPIC

__all__ = [
    "MEDIA_TYPE",
    "RegistryJSONResponse",
    "create_app",
    "running_registry",
    "serving",
]

logger = logging.getLogger(__name__)

MEDIA_TYPE = "application/vnd.schemaregistry.v1+json"
SCHEMA_TYPES = ["AVRO"]
CONTEXTS = ["."]  # only Confluent's default context
SERVE_STARTUP_TIMEOUT_S = 90.0
SERVE_SHUTDOWN_TIMEOUT_S = 15.0
_READY_POLL_S = 0.05

HTTP_REQUESTS = Counter(
    "carebus_registry_http_requests",
    "Requests the schema registry answered, by route template and status.",
    ["method", "route", "status"],
)

_T = TypeVar("_T")
Flag = Annotated[str | None, Query()]


class RegistryJSONResponse(JSONResponse):
    media_type = MEDIA_TYPE


class _ReferenceBody(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str
    subject: str
    version: int


class _SchemaBody(BaseModel):
    """A register / lookup / compatibility request, as Confluent's `RegisterSchemaRequest` spells it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    schema_text: str | None = Field(default=None, alias="schema")
    schema_type: str | None = Field(default=None, alias="schemaType")
    references: list[_ReferenceBody] | None = None
    id: int | None = None
    version: int | None = None

    def to_request(self) -> SchemaRequest:
        return SchemaRequest(
            schema=self.schema_text,
            schema_type=self.schema_type,
            references=tuple(Reference(r.name, r.subject, r.version) for r in self.references or ()),
            schema_id=self.id,
            version=self.version,
        )


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise RegistryApiError(ErrorCode.BAD_REQUEST, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise RegistryApiError(ErrorCode.BAD_REQUEST, "The request body must be a JSON object")
    return body


JsonBody = Annotated[dict[str, Any], Depends(_json_body)]


def _schema_request(body: dict[str, Any]) -> SchemaRequest:
    try:
        return _SchemaBody.model_validate(body).to_request()
    except ValidationError as exc:
        # Name the fields and what is wrong with them, never the values sent.
        raise RegistryApiError(ErrorCode.INVALID_SCHEMA, f"Invalid schema request: {_describe(exc.errors())}") from None


def _describe(problems: Sequence[Any]) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}" for problem in problems)


def _flag(value: str | None) -> bool:
    return value is not None and value.strip().lower() == "true"


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def _page(items: list[_T], offset: str | None, limit: str | None) -> list[_T]:
    start = max(_int(offset, 0), 0)
    count = _int(limit, -1)
    return items[start:] if count <= 0 else items[start:start + count]


def _schema_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise RegistryApiError(ErrorCode.SCHEMA_NOT_FOUND, f"Schema {text} not found") from None


def _references_body(references: Sequence[Reference]) -> list[dict[str, Any]]:
    return [{"name": r.name, "subject": r.subject, "version": r.version} for r in references]


def _version_body(version: SubjectVersion) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject": version.subject,
        "version": version.version,
        "id": version.schema_id,
    }
    if version.guid:
        body["guid"] = version.guid
    if version.schema_type != "AVRO":  # Confluent leaves the default type out
        body["schemaType"] = version.schema_type
    if version.references:
        body["references"] = _references_body(version.references)
    body["schema"] = version.schema
    return body


def _raw_schema(text: str) -> Response:
    # The schema itself is the JSON document (Confluent's `/schema` routes), not a JSON string holding it.
    return Response(content=text.encode("utf-8"), media_type=MEDIA_TYPE)


def _error(status: int, error_code: int, message: str) -> RegistryJSONResponse:
    return RegistryJSONResponse({"error_code": error_code, "message": message}, status_code=status)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _add_error_handlers(app: FastAPI) -> None:
    async def registry_error(_request: Request, exc: Exception) -> Response:
        if not isinstance(exc, RegistryApiError):
            raise exc
        return _error(exc.http_status, exc.error_code, exc.message)

    async def http_error(_request: Request, exc: Exception) -> Response:
        if not isinstance(exc, StarletteHTTPException):
            raise exc
        return _error(exc.status_code, exc.status_code, f"HTTP {exc.status_code} {_phrase(exc.status_code)}".strip())

    async def validation_error(_request: Request, exc: Exception) -> Response:
        problems = exc.errors() if isinstance(exc, RequestValidationError) else []
        return _error(422, 422, f"Invalid request: {_describe(problems)}")

    app.add_exception_handler(RegistryApiError, registry_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)


def create_app(store: RegistryStore) -> FastAPI:
    """The registry app over `store`. The app's lifespan starts the store (no I/O happens here), so serve it
    with uvicorn or enter `TestClient(app)` as a context manager; `app.state.service` is its `RegistryService`.
    """
    service = RegistryService(store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(store.start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(store.close)

    app = FastAPI(
        title="carebus schema registry",
        description="Confluent Schema Registry compatible (Avro only), backed by a compacted Kafka topic.",
        default_response_class=RegistryJSONResponse,
        lifespan=lifespan,
    )
    app.state.service = service
    _add_error_handlers(app)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        HTTP_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response

    _add_root_routes(app)
    _add_schema_routes(app, service)
    _add_subject_routes(app, service)
    _add_config_routes(app, service)
    return app


def _add_root_routes(app: FastAPI) -> None:
    @app.get("/")
    def root() -> dict[str, Any]:
        return {}

    @app.get("/schemas/types")
    def schema_types() -> list[str]:
        return SCHEMA_TYPES

    @app.get("/contexts")
    def contexts() -> list[str]:
        return CONTEXTS

    @app.get("/associations/resources/{namespace}/{name}")
    def associations(namespace: str, name: str) -> Response:
        # No associations here: the 404 makes confluent-kafka's serializers use the topic-name strategy.
        raise StarletteHTTPException(404)

    @app.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _add_schema_routes(app: FastAPI, service: RegistryService) -> None:
    @app.get("/schemas")
    def list_schemas(
        *,
        subject_prefix: Annotated[str, Query(alias="subjectPrefix")] = "",
        deleted: Flag = None,
        latest_only: Annotated[str | None, Query(alias="latestOnly")] = None,
        offset: str | None = None,
        limit: str | None = None,
    ) -> list[dict[str, Any]]:
        versions = service.list_schemas(prefix=subject_prefix, deleted=_flag(deleted), latest_only=_flag(latest_only))
        return _page([_version_body(v) for v in versions], offset, limit)

    @app.get("/schemas/ids/{schema_id}")
    def schema_by_id(
        schema_id: str, fetch_max_id: Annotated[str | None, Query(alias="fetchMaxId")] = None
    ) -> dict[str, Any]:
        found = service.schema_by_id(_schema_id(schema_id))
        body: dict[str, Any] = {}
        if found.schema_type != "AVRO":
            body["schemaType"] = found.schema_type
        body["schema"] = found.schema
        if found.references:
            body["references"] = _references_body(found.references)
        if found.guid:
            body["guid"] = found.guid
        if _flag(fetch_max_id):
            body["maxId"] = service.max_id()
        return body

    @app.get("/schemas/ids/{schema_id}/schema")
    def raw_schema_by_id(schema_id: str) -> Response:
        return _raw_schema(service.schema_by_id(_schema_id(schema_id)).schema)

    @app.get("/schemas/ids/{schema_id}/subjects")
    def subjects_by_id(
        schema_id: str, deleted: Flag = None, subject: str | None = None,
        offset: str | None = None, limit: str | None = None,
    ) -> list[str]:
        versions = service.versions_for_id(_schema_id(schema_id), deleted=_flag(deleted))
        subjects = sorted({v.subject for v in versions if subject is None or v.subject == subject})
        return _page(subjects, offset, limit)

    @app.get("/schemas/ids/{schema_id}/versions")
    def versions_by_id(
        schema_id: str, deleted: Flag = None, subject: str | None = None,
        offset: str | None = None, limit: str | None = None,
    ) -> list[dict[str, Any]]:
        versions = service.versions_for_id(_schema_id(schema_id), deleted=_flag(deleted))
        pairs = [{"subject": v.subject, "version": v.version} for v in versions
                 if subject is None or v.subject == subject]
        return _page(pairs, offset, limit)


def _add_subject_routes(app: FastAPI, service: RegistryService) -> None:
    @app.get("/subjects")
    def list_subjects(
        *,
        subject_prefix: Annotated[str, Query(alias="subjectPrefix")] = "",
        deleted: Flag = None,
        deleted_only: Annotated[str | None, Query(alias="deleted_only")] = None,
        deleted_only_camel: Annotated[str | None, Query(alias="deletedOnly")] = None,
        offset: str | None = None,
        limit: str | None = None,
    ) -> list[str]:
        subjects = service.list_subjects(prefix=subject_prefix, deleted=_flag(deleted),
                                         deleted_only=_flag(deleted_only) or _flag(deleted_only_camel))
        return _page(subjects, offset, limit)

    @app.delete("/subjects/{subject}")
    def delete_subject(subject: str, permanent: Flag = None) -> list[int]:
        return service.delete_subject(subject, permanent=_flag(permanent))

    @app.post("/subjects/{subject}")
    def lookup(subject: str, body: JsonBody, normalize: Flag = None, deleted: Flag = None) -> dict[str, Any]:
        found = service.lookup(subject, _schema_request(body), normalize=_flag(normalize), deleted=_flag(deleted))
        return _version_body(found)

    @app.get("/subjects/{subject}/versions")
    def list_versions(
        subject: str,
        *,
        deleted: Flag = None,
        deleted_only: Annotated[str | None, Query(alias="deleted_only")] = None,
        deleted_only_camel: Annotated[str | None, Query(alias="deletedOnly")] = None,
        offset: str | None = None,
        limit: str | None = None,
    ) -> list[int]:
        versions = service.list_versions(subject, deleted=_flag(deleted),
                                         deleted_only=_flag(deleted_only) or _flag(deleted_only_camel))
        return _page(versions, offset, limit)

    @app.post("/subjects/{subject}/versions")
    def register(subject: str, body: JsonBody, normalize: Flag = None) -> dict[str, Any]:
        registered = service.register(subject, _schema_request(body), normalize=_flag(normalize))
        return {"id": registered.schema_id, "version": registered.version, "guid": registered.guid}

    @app.get("/subjects/{subject}/versions/{version}")
    def get_version(subject: str, version: str, deleted: Flag = None) -> dict[str, Any]:
        return _version_body(service.get_version(subject, version, deleted=_flag(deleted)))

    @app.get("/subjects/{subject}/versions/{version}/schema")
    def get_raw_version(subject: str, version: str, deleted: Flag = None) -> Response:
        return _raw_schema(service.get_version(subject, version, deleted=_flag(deleted)).schema)

    @app.get("/subjects/{subject}/versions/{version}/referencedby")
    def referenced_by(subject: str, version: str) -> list[int]:
        return service.referenced_by(subject, version)

    @app.delete("/subjects/{subject}/versions/{version}")
    def delete_version(subject: str, version: str, permanent: Flag = None) -> int:
        return service.delete_version(subject, version, permanent=_flag(permanent))

    @app.post("/compatibility/subjects/{subject}/versions/{version}")
    def test_against_version(
        subject: str, version: str, body: JsonBody, normalize: Flag = None, verbose: Flag = None
    ) -> dict[str, Any]:
        messages = service.test_compatibility(subject, _schema_request(body), version=version,
                                              normalize=_flag(normalize))
        return _compatibility_body(messages, verbose=_flag(verbose))

    @app.post("/compatibility/subjects/{subject}/versions")
    def test_against_subject(
        subject: str, body: JsonBody, normalize: Flag = None, verbose: Flag = None
    ) -> dict[str, Any]:
        messages = service.test_compatibility(subject, _schema_request(body), normalize=_flag(normalize))
        return _compatibility_body(messages, verbose=_flag(verbose))


def _compatibility_body(messages: list[str], *, verbose: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"is_compatible": not messages}
    if verbose:
        body["messages"] = messages
    return body


def _add_config_routes(app: FastAPI, service: RegistryService) -> None:
    def level_from(body: dict[str, Any]) -> object:
        level = body.get("compatibility", body.get("compatibilityLevel"))
        if level is None:
            raise RegistryApiError(ErrorCode.INVALID_COMPATIBILITY_LEVEL, "Invalid compatibility level: none given")
        return level

    def mode_from(body: dict[str, Any]) -> object:
        mode = body.get("mode")
        if mode is None:
            raise RegistryApiError(ErrorCode.INVALID_MODE, "Invalid mode: none given")
        return mode

    @app.get("/config")
    def get_global_config() -> dict[str, Any]:
        return {"compatibilityLevel": service.get_compatibility()}

    @app.put("/config")
    def put_global_config(body: JsonBody) -> dict[str, Any]:
        return {"compatibility": service.set_compatibility(level_from(body))}

    @app.delete("/config")
    def delete_global_config() -> dict[str, Any]:
        return {"compatibilityLevel": service.delete_compatibility()}

    @app.get("/config/{subject}")
    def get_subject_config(
        subject: str, default_to_global: Annotated[str | None, Query(alias="defaultToGlobal")] = None
    ) -> dict[str, Any]:
        return {"compatibilityLevel": service.get_compatibility(subject, default_to_global=_flag(default_to_global))}

    @app.put("/config/{subject}")
    def put_subject_config(subject: str, body: JsonBody) -> dict[str, Any]:
        return {"compatibility": service.set_compatibility(level_from(body), subject)}

    @app.delete("/config/{subject}")
    def delete_subject_config(subject: str) -> dict[str, Any]:
        return {"compatibilityLevel": service.delete_compatibility(subject)}

    @app.get("/mode")
    def get_global_mode() -> dict[str, Any]:
        return {"mode": service.get_mode()}

    @app.put("/mode")
    def put_global_mode(body: JsonBody, force: Flag = None) -> dict[str, Any]:
        return {"mode": service.set_mode(mode_from(body), force=_flag(force))}

    @app.get("/mode/{subject}")
    def get_subject_mode(
        subject: str, default_to_global: Annotated[str | None, Query(alias="defaultToGlobal")] = None
    ) -> dict[str, Any]:
        return {"mode": service.get_mode(subject, default_to_global=_flag(default_to_global))}

    @app.put("/mode/{subject}")
    def put_subject_mode(subject: str, body: JsonBody, force: Flag = None) -> dict[str, Any]:
        return {"mode": service.set_mode(mode_from(body), subject, force=_flag(force))}

    @app.delete("/mode/{subject}")
    def delete_subject_mode(subject: str) -> dict[str, Any]:
        return {"mode": service.delete_mode(subject)}


# --- running it -------------------------------------------------------------------------------------------


@contextmanager
def serving(
    app: FastAPI,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    startup_timeout_s: float = SERVE_STARTUP_TIMEOUT_S,
    ready_path: str = "/",
) -> Iterator[str]:
    """Serve `app` with uvicorn in a background thread; yield its base URL once `GET /` answers 200.

    `port` None binds a free port (the socket is bound here, so there is no race for it). Raises
    `RegistryApiError` if the app does not come up within `startup_timeout_s` (its lifespan failed, say).
    """
    # proto=IPPROTO_TCP matters: asyncio turns Nagle off only on sockets whose proto says TCP, and accepted
    # sockets inherit it; with proto 0 every response waited out the client's 40 ms delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port or 0))
    url = f"http://{host}:{sock.getsockname()[1]}"
    # log_config None: leave the process's logging as the caller configured it.
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))

    def run() -> None:
        # uvicorn logs a failed start-up (the lifespan's error) and then raises SystemExit; the thread simply
        # ends, and the readiness wait below reports it.
        with contextlib.suppress(SystemExit):
            server.run(sockets=[sock])

    thread = threading.Thread(target=run, name="carebus-registry-http", daemon=True)
    thread.start()
    try:
        _wait_until_ready(url, thread, deadline=time.monotonic() + startup_timeout_s, ready_path=ready_path)
        yield url
    finally:
        server.should_exit = True
        thread.join(SERVE_SHUTDOWN_TIMEOUT_S)
        sock.close()


def _wait_until_ready(url: str, thread: threading.Thread, *, deadline: float, ready_path: str = "/") -> None:
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not thread.is_alive():
                raise RegistryApiError(ErrorCode.STORE_ERROR,
                                       f"the registry at {url} failed to start (uvicorn logged why)")
            try:
                if client.get(f"{url}{ready_path}").status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet: the lifespan (log replay) runs before uvicorn accepts connections
            time.sleep(_READY_POLL_S)
    raise RegistryApiError(ErrorCode.OPERATION_TIMEOUT, f"the registry at {url} did not answer in time")


@contextmanager
def running_registry(
    connection: KafkaConnection,
    port: int | None = None,
    *,
    topic: str = SCHEMAS_TOPIC,
    host: str = "127.0.0.1",
    startup_timeout_s: float = SERVE_STARTUP_TIMEOUT_S,
) -> Iterator[str]:
    """A registry on `connection`'s cluster, logging to `topic`, served in this process; yields its URL.

    For integration tests and tools: `with running_registry(kafka_connection) as url: ...`. Give each test its
    own `topic` for a registry of its own; instances on the same topic share their state.
    """
    store = RegistryStore(KafkaRegistryLog(connection, topic=topic))
    with serving(create_app(store), host=host, port=port, startup_timeout_s=startup_timeout_s) as url:
        yield url
