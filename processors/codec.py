"""Bytes on the bus <-> event models, for every topic the processors read or write.

Values are Avro in the Confluent wire format. Canonical records are read with the domain's event schema as
the reader's schema (the writer's is fetched by id and cached), so a producer on a newer compatible version
does not break the processors. Normalized records are written under `<normalized topic>-value`, registered on
first use. Failures are translated: bytes that are not a valid event raise `UndecodableEventError` (a dead
letter; the reason names the field path, never a value); an unreachable registry raises `TransientError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from pydantic import ValidationError

from carebus.errors import RegistryError, SerializationError
from carebus.events import DOMAINS, Event, event_schema, from_avro_dict, to_avro_dict
from carebus.ids import Subject
from carebus.publishing import domain_of
from carebus.serde import AvroSerde, RegistryPort
from processors.errors import TransientError, UndecodableEventError

__all__ = ["EventCodec"]


class EventCodec:
    def __init__(self, registry: RegistryPort, *, canonical_topic: Callable[[str], str],
                 normalized_topic: Callable[[str], str]) -> None:
        self._canonical = {d: AvroSerde(registry, Subject(f"{canonical_topic(d)}-value"), event_schema(d))
                           for d in DOMAINS}
        self._normalized = {d: AvroSerde(registry, Subject(f"{normalized_topic(d)}-value"), event_schema(d))
                            for d in DOMAINS}

    def decode_canonical(self, stage: str, domain: str, data: bytes | None) -> Event:
        return self._event(stage, domain, self._record(stage, self._canonical[domain], data))

    def decode_normalized(self, stage: str, domain: str, data: bytes | None) -> Event:
        return self._event(stage, domain, self._record(stage, self._normalized[domain], data))

    def normalized_record(self, stage: str, domain: str, data: bytes | None) -> dict[str, Any]:
        """A normalized value as the plain dict Avro reads (no model validation): for routing rules."""
        return self._record(stage, self._normalized[domain], data)

    def encode_normalized(self, stage: str, event: Event) -> bytes:
        with _translated(stage):
            return self._normalized[domain_of(event)].serialize(to_avro_dict(event))

    @staticmethod
    def _record(stage: str, serde: AvroSerde, data: bytes | None) -> dict[str, Any]:
        if data is None:
            raise UndecodableEventError(stage, "no-value", "the record has no value (a tombstone)")
        with _translated(stage):
            return serde.deserialize(data)

    @staticmethod
    def _event(stage: str, domain: str, record: dict[str, Any]) -> Event:
        try:
            event = from_avro_dict(domain, record)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise UndecodableEventError(stage, "invalid-event", f"{where}: {first['type']}") from None
        if domain_of(event) != domain:
            raise UndecodableEventError(stage, "wrong-domain", f"a {domain_of(event)} event type on a {domain} topic")
        return event


@contextmanager
def _translated(stage: str) -> Iterator[None]:
    try:
        yield
    except SerializationError as exc:
        raise UndecodableEventError(stage, "undecodable", exc.reason) from exc
    except RegistryError as exc:
        detail = f"HTTP {exc.http_status}, code {exc.error_code}"
        if 400 <= exc.http_status < 500:  # e.g. 40403: the record names a schema id the registry never had
            raise UndecodableEventError(stage, "unknown-schema", detail) from exc
        raise TransientError(stage, "registry-unavailable", detail) from exc
