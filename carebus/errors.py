"""The carebus error tree.

Every error carebus raises on purpose derives from `CarebusError`. Errors carry structured fields
(where and why: topic, segment, field, reason code), never the data value, so that a message built
from them is safe to log.

    CarebusError
    ├── ConfigError              bad settings, caught when an object is built
    ├── KafkaError               the broker could not be reached or refused a request
    │   ├── PublishError         a record was not acknowledged (delivery timeout, fenced, ...)
    │   └── TopicError           a topic could not be created or altered
    ├── LocalKafkaError          the embedded broker launcher failed (names the log file)
    ├── SchemaError              a contract problem
    │   ├── InvalidSchemaError   not a valid Avro schema
    │   ├── IncompatibleSchemaError
    │   └── SerializationError   a value does not fit its schema (never carries the value)
    └── RegistryError            the schema registry answered with an error (status, code)

Layers add their own subtrees (for example the HL7 v2 adapter's parse and mapping errors) under
`CarebusError`.
"""

from __future__ import annotations

__all__ = [
    "CarebusError",
    "ConfigError",
    "IncompatibleSchemaError",
    "InvalidSchemaError",
    "KafkaError",
    "LocalKafkaError",
    "PublishError",
    "RegistryError",
    "SchemaError",
    "SerializationError",
    "TopicError",
]


class CarebusError(Exception):
    """The root of every error carebus raises on purpose."""


class ConfigError(CarebusError):
    """A setting is missing or invalid."""


class KafkaError(CarebusError):
    """The broker could not be reached or refused a request."""


class PublishError(KafkaError):
    """A record was not acknowledged by the broker."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"publish to {topic} failed: {reason}")
        self.topic = topic
        self.reason = reason


class TopicError(KafkaError):
    """A topic could not be created or altered."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"topic {topic}: {reason}")
        self.topic = topic
        self.reason = reason


class LocalKafkaError(CarebusError):
    """The embedded broker launcher failed."""


class SchemaError(CarebusError):
    """A contract problem."""


class InvalidSchemaError(SchemaError):
    """Not a valid Avro schema."""


class IncompatibleSchemaError(SchemaError):
    """A schema change breaks the subject's compatibility level."""

    def __init__(self, subject: str, reasons: list[str]) -> None:
        super().__init__(f"schema for {subject} is incompatible: {'; '.join(reasons)}")
        self.subject = subject
        self.reasons = reasons


class SerializationError(SchemaError):
    """A value does not fit its schema. The message names the field path, never the value."""

    def __init__(self, schema_name: str, reason: str) -> None:
        super().__init__(f"cannot serialize {schema_name}: {reason}")
        self.schema_name = schema_name
        self.reason = reason


class RegistryError(CarebusError):
    """The schema registry answered with an error."""

    def __init__(self, http_status: int, error_code: int, message: str) -> None:
        super().__init__(f"registry error {error_code} (HTTP {http_status}): {message}")
        self.http_status = http_status
        self.error_code = error_code
        self.message = message
