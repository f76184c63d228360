"""A registry port answered in process: one id per distinct schema, no HTTP, no Kafka.

For benchmarks that measure something else than the registry, and for tests of code that only
needs ids to be stable. Anything that claims to test the registry uses the real one
(`carebus.registry.server.running_registry`).
"""

from __future__ import annotations

from confluent_kafka.schema_registry import RegisteredSchema, Schema

__all__ = ["InProcessRegistry"]


class InProcessRegistry:
    """Satisfies `carebus.serde.RegistryPort`."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, Schema] = {}
        self._subjects: dict[tuple[str, str], int] = {}

    def register_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False) -> int:
        schema_id = self._ids.setdefault(schema.schema_str, len(self._ids) + 1)
        self._schemas[schema_id] = schema
        self._subjects[(subject_name, schema.schema_str)] = schema_id
        return schema_id

    def lookup_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False,
                      deleted: bool = False) -> RegisteredSchema:
        schema_id = self._subjects.get((subject_name, schema.schema_str))
        if schema_id is None:
            raise LookupError(f"schema not registered under {subject_name}")
        return RegisteredSchema(schema_id=schema_id, guid=None, schema=schema, subject=subject_name, version=1)

    def get_schema(self, schema_id: int, subject_name: str | None = None, fmt: str | None = None) -> Schema:
        return self._schemas[schema_id]
