"""Avro in the Confluent wire format: magic byte 0, a 4-byte big-endian schema id, Avro binary.

Any stock Kafka client with a schema registry client reads what this writes. The hot path uses
fastavro directly with the schema id looked up once per subject; `tests/integration` shows it
writes the same bytes as confluent-kafka's stock `AvroSerializer`. A serde may instead be given a
`writer` generated from the same schema (`carebus.events.to_avro_bytes`, held byte for byte to
fastavro by unit tests), which writes a model straight to Avro binary. Reading resolves the writer's
schema (fetched by id, cached) to the reader's, so a subscriber keeps working while producers move
to a newer compatible version.
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

import fastavro
import httpx
from confluent_kafka.schema_registry import RegisteredSchema, Schema
from confluent_kafka.schema_registry.error import SchemaRegistryError

from carebus.errors import RegistryError, SerializationError
from carebus.ids import SchemaId, Subject

__all__ = [
    "MAGIC_BYTE",
    "AvroSerde",
    "RegistryPort",
    "decode_header",
    "encode_header",
]

MAGIC_BYTE = 0
SCHEMA_NOT_FOUND = 40403  # Confluent's error code for an unknown schema id
_HEADER = struct.Struct(">bI")


class RegistryPort(Protocol):
    """The two registry calls the serde makes; confluent-kafka's SchemaRegistryClient satisfies it."""

    def register_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False) -> int: ...

    def lookup_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False,
                      deleted: bool = False) -> RegisteredSchema: ...

    def get_schema(self, schema_id: int, subject_name: str | None = None, fmt: str | None = None) -> Schema: ...


def encode_header(schema_id: int) -> bytes:
    return _HEADER.pack(MAGIC_BYTE, schema_id)


def decode_header(data: bytes) -> tuple[SchemaId, memoryview]:
    """The schema id and the Avro body of a wire-format value."""
    if len(data) < _HEADER.size:
        raise SerializationError("wire format", f"value of {len(data)} bytes is shorter than the 5-byte header")
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC_BYTE:
        raise SerializationError("wire format", f"unknown magic byte {magic}")
    return SchemaId(schema_id), memoryview(data)[_HEADER.size:]


class AvroSerde:
    """Writes one subject's schema and reads any schema the registry knows, resolved to the reader's.

    `serialize` takes the dict fastavro writes; with a `writer` (value -> Avro body written with
    `schema`) it takes whatever that writer takes, e.g. an event model for `to_avro_bytes`.
    """

    def __init__(
        self,
        registry: RegistryPort,
        subject: Subject,
        schema: Mapping[str, Any],
        *,
        auto_register: bool = True,
        writer: Callable[[Any], bytes] | None = None,
    ) -> None:
        self._registry = registry
        self.subject = subject
        self._schema_json = json.dumps(schema, separators=(",", ":"))
        self._parsed = fastavro.parse_schema(dict(schema))
        self._name = str(schema.get("name", subject))
        self._auto_register = auto_register
        self._schema_id: SchemaId | None = None
        self._header = b""
        self._writer = writer
        self._writers: dict[int, Any] = {}
        self._lock = threading.Lock()

    @property
    def schema_id(self) -> SchemaId:
        """This subject's id for our schema, registered (or looked up) on first use."""
        if self._schema_id is None:
            with self._lock:
                if self._schema_id is None:
                    schema = Schema(self._schema_json, "AVRO")
                    with _registry_errors():
                        if self._auto_register:
                            found = self._registry.register_schema(self.subject, schema)
                        else:
                            found = self._registry.lookup_schema(self.subject, schema).schema_id
                    self._header = encode_header(int(found))
                    self._schema_id = SchemaId(int(found))
        return self._schema_id

    def serialize(self, record: Any) -> bytes:
        header = self._header if self._schema_id is not None else encode_header(self.schema_id)
        try:
            if self._writer is not None:
                return header + self._writer(record)
            buffer = io.BytesIO()
            buffer.write(header)
            fastavro.schemaless_writer(buffer, self._parsed, record, strict_allow_default=True)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # fastavro's messages quote the datum (names, dates); keep only the type of failure.
            raise SerializationError(self._name, f"record does not match the schema ({type(exc).__name__})") from exc
        return buffer.getvalue()

    def deserialize(self, data: bytes) -> dict[str, Any]:
        schema_id, body = decode_header(data)
        writer = self._writer_schema(schema_id)
        try:
            # Same schema on both sides: skip resolution, which costs a third of the read.
            reader = None if writer is self._parsed else self._parsed
            return fastavro.schemaless_reader(io.BytesIO(body), writer, reader)  # type: ignore[return-value]
        except (ValueError, TypeError, EOFError, IndexError, fastavro.read.SchemaResolutionError) as exc:
            raise SerializationError(self._name, f"cannot decode with schema id {schema_id} "
                                                 f"({type(exc).__name__})") from exc

    def _writer_schema(self, schema_id: int) -> Any:
        writer = self._writers.get(schema_id)
        if writer is None:
            if schema_id == self._schema_id:
                writer = self._parsed
            else:
                try:
                    with _registry_errors():
                        fetched = self._registry.get_schema(schema_id)
                except RegistryError as exc:
                    if exc.error_code != SCHEMA_NOT_FOUND:
                        raise
                    # The record names a schema this registry never had: a data problem (written against
                    # another registry), not an outage. Retrying cannot help; the caller dead-letters it.
                    raise SerializationError(self._name, f"schema id {schema_id} is unknown to the registry") \
                        from exc
                writer = fastavro.parse_schema(json.loads(fetched.schema_str))
            self._writers[schema_id] = writer
        return writer


@contextlib.contextmanager
def _registry_errors() -> Iterator[None]:
    """Translate the registry client's failures: callers handle `RegistryError` (answer 503, AE, retry)."""
    try:
        yield
    except SchemaRegistryError as exc:
        raise RegistryError(int(exc.http_status_code or 0), int(exc.error_code or 0), "registry refused the request") \
            from exc
    except (httpx.HTTPError, OSError) as exc:
        raise RegistryError(0, 50003, f"registry unreachable ({type(exc).__name__})") from exc
