"""Read the Avro contracts in `schemas/` and expand them into self-contained documents.

Each shared named type lives in its own file named by its full name (`carebus.common.Envelope.avsc`),
the convention fastavro's `load_schema` uses to find a referenced name in the same directory. A
schema registry, though, takes one document per subject: `expand_schema` inlines every referenced
type at its first use, in document order (Avro requires a name to be defined before it is used),
and leaves later uses as the full name. Docs and other attributes are kept as written.
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import fastavro

from carebus.errors import InvalidSchemaError
from carebus.events._catalog import DOMAINS
from schemas import SCHEMA_DIR

__all__ = [
    "EVENT_NAMESPACE",
    "event_record_name",
    "event_schema",
    "expand_schema",
    "parsed_event_schema",
    "read_schema_file",
    "schema_names",
]

EVENT_NAMESPACE = "carebus.canonical"
PRIMITIVE_TYPES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
NAMED_TYPES = frozenset({"record", "enum", "fixed"})


def event_record_name(domain: str) -> str:
    """The full name of `domain`'s event record, e.g. `carebus.canonical.ResultEvent`."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}")
    return f"{EVENT_NAMESPACE}.{domain.capitalize()}Event"


def event_schema(domain: str) -> dict[str, Any]:
    """The expanded value schema of `canonical.<domain>.v1` / `normalized.<domain>.v1`, as plain JSON.

    Register it under the TopicNameStrategy subject `<topic>-value`. The caller gets its own copy.
    """
    return expand_schema(event_record_name(domain))


@functools.cache
def parsed_event_schema(domain: str) -> Any:
    """`domain`'s event schema parsed by fastavro, for `schemaless_writer` / `schemaless_reader`."""
    return fastavro.parse_schema(event_schema(domain))


def schema_names(schema_dir: Path = SCHEMA_DIR) -> list[str]:
    """The full names of the schema files in `schema_dir`, sorted."""
    return sorted(path.name.removesuffix(".avsc") for path in schema_dir.glob("*.avsc"))


def read_schema_file(fullname: str, schema_dir: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The JSON of `<fullname>.avsc`, unexpanded. The caller gets its own copy."""
    return copy.deepcopy(_read(fullname, schema_dir))


def expand_schema(fullname: str, schema_dir: Path = SCHEMA_DIR) -> dict[str, Any]:
    """The schema in `<fullname>.avsc` with every referenced named type inlined at its first use."""
    expanded = _expand(fullname, "", set(), schema_dir)
    return copy.deepcopy(expanded)


def _read(fullname: str, schema_dir: Path) -> dict[str, Any]:
    # The shipped contracts never change while a process runs; any other folder (a git checkout being
    # governed, a test's) may, so only the shipped ones are cached.
    if schema_dir == SCHEMA_DIR:
        return _read_shipped(fullname, schema_dir)
    return _read_file(fullname, schema_dir)


@functools.cache
def _read_shipped(fullname: str, schema_dir: Path) -> dict[str, Any]:
    return _read_file(fullname, schema_dir)


def _read_file(fullname: str, schema_dir: Path) -> dict[str, Any]:
    path = schema_dir / f"{fullname}.avsc"
    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidSchemaError(f"named type {fullname} has no file {path.name} in {schema_dir}") from None
    except json.JSONDecodeError as exc:
        raise InvalidSchemaError(f"{path.name} is not valid JSON (line {exc.lineno})") from exc
    if not isinstance(schema, dict) or schema.get("type") not in NAMED_TYPES:
        raise InvalidSchemaError(f"{path.name} must hold one named type (record, enum or fixed)")
    declared, _ = _full_name(schema, "")
    if declared != fullname:
        # fastavro's load_schema finds a reference only through the file name, so they must agree.
        raise InvalidSchemaError(f"{path.name} declares {declared}; the file must be named {declared}.avsc")
    return schema


def _full_name(schema: dict[str, Any], enclosing_namespace: str) -> tuple[str, str]:
    """(full name, namespace for names nested inside) of a named type, per the Avro spec."""
    name: str = schema["name"]
    if "." in name:
        return name, name.rpartition(".")[0]
    namespace: str = schema.get("namespace", enclosing_namespace)
    return (f"{namespace}.{name}" if namespace else name), namespace


def _expand(schema: Any, namespace: str, defined: set[str], schema_dir: Path) -> Any:
    if isinstance(schema, list):
        return [_expand(branch, namespace, defined, schema_dir) for branch in schema]
    if isinstance(schema, str):
        if schema in PRIMITIVE_TYPES:
            return schema
        fullname = schema if "." in schema or not namespace else f"{namespace}.{schema}"
        if fullname in defined:
            return fullname
        return _expand(_read(fullname, schema_dir), "", defined, schema_dir)
    kind = schema["type"]
    if kind in NAMED_TYPES:
        fullname, inner_namespace = _full_name(schema, namespace)
        if fullname in defined:
            raise InvalidSchemaError(f"named type {fullname} is defined twice")
        defined.add(fullname)
        if kind != "record":
            return schema
        fields = [
            {**field, "type": _expand(field["type"], inner_namespace, defined, schema_dir)}
            for field in schema["fields"]
        ]
        return {**schema, "fields": fields}
    if kind == "array":
        return {**schema, "items": _expand(schema["items"], namespace, defined, schema_dir)}
    if kind == "map":
        return {**schema, "values": _expand(schema["values"], namespace, defined, schema_dir)}
    if isinstance(kind, str) and kind in PRIMITIVE_TYPES:
        return schema  # a primitive with attributes, such as a logical type
    return _expand(kind, namespace, defined, schema_dir)  # {"type": <name or nested schema>}
