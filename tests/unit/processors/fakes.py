"""Fakes at the processors' ports: an in-memory schema registry (RegistryPort)."""

from __future__ import annotations

from confluent_kafka.schema_registry import RegisteredSchema, Schema

from carebus.errors import RegistryError


class FakeRegistry:
    """Registers and serves schemas in memory; `down = True` makes every call fail as if unreachable."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, Schema] = {}
        self.down = False

    def register_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False) -> int:
        self._check()
        schema_id = self._ids.setdefault(schema.schema_str, len(self._ids) + 1)
        self._schemas[schema_id] = schema
        return schema_id

    def lookup_schema(self, subject_name: str, schema: Schema, normalize_schemas: bool = False,
                      deleted: bool = False) -> RegisteredSchema:
        raise NotImplementedError

    def get_schema(self, schema_id: int, subject_name: str | None = None, fmt: str | None = None) -> Schema:
        self._check()
        if schema_id not in self._schemas:
            raise RegistryError(404, 40403, "schema not found")
        return self._schemas[schema_id]

    def _check(self) -> None:
        if self.down:
            raise RegistryError(0, 50003, "registry unreachable (ConnectError)")
