"""The Avro contracts in schemas/: they parse, they are documented, they evolve safely, and they expand
into the self-contained documents a schema registry takes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import load_schema, to_parsing_canonical_form

from carebus.errors import InvalidSchemaError
from carebus.events import DOMAINS, event_record_name, event_schema, parsed_event_schema
from carebus.events._schemas import PRIMITIVE_TYPES, expand_schema, schema_names
from schemas import SCHEMA_DIR

SCHEMA_FILES = sorted(SCHEMA_DIR.glob("*.avsc"))


def _named_types(schema: Any, namespace: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every named type defined inline in `schema`, as (full name, definition)."""
    if isinstance(schema, list):
        for branch in schema:
            yield from _named_types(branch, namespace)
    elif isinstance(schema, dict):
        kind = schema["type"]
        if kind in ("record", "enum", "fixed"):
            name = schema["name"]
            namespace = schema.get("namespace", namespace) if "." not in name else name.rpartition(".")[0]
            yield (name if "." in name else f"{namespace}.{name}"), schema
            for field in schema.get("fields", []):
                yield from _named_types(field["type"], namespace)
        elif kind == "array":
            yield from _named_types(schema["items"], namespace)
        elif not (isinstance(kind, str) and kind in PRIMITIVE_TYPES):
            yield from _named_types(kind, namespace)


def _fields(schema_file: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for fullname, definition in _named_types(json.loads(schema_file.read_text())):
        for field in definition.get("fields", []):
            yield f"{fullname}.{field['name']}", field


def test_there_is_one_event_schema_per_domain() -> None:
    names = schema_names()
    assert [name for name in names if name.endswith("Event")] == sorted(event_record_name(d) for d in DOMAINS)


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda path: path.stem)
def test_every_schema_file_loads_with_fastavro(schema_file: Path) -> None:
    # load_schema finds cross-file references by the `<full name>.avsc` convention.
    load_schema(str(schema_file))


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda path: path.stem)
def test_every_schema_file_is_named_by_its_full_name(schema_file: Path) -> None:
    (fullname, _), *_ = _named_types(json.loads(schema_file.read_text()))
    assert schema_file.name == f"{fullname}.avsc"
    assert fullname.startswith("carebus.")


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda path: path.stem)
def test_every_record_enum_and_field_has_a_doc(schema_file: Path) -> None:
    undocumented = [name for name, definition in _named_types(json.loads(schema_file.read_text()))
                    if not str(definition.get("doc", "")).strip()]
    undocumented += [name for name, field in _fields(schema_file) if not str(field.get("doc", "")).strip()]
    assert undocumented == []


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda path: path.stem)
def test_optional_fields_default_to_null_and_lists_to_empty(schema_file: Path) -> None:
    # BACKWARD_TRANSITIVE: a field a reader adds later is only safe with a default, so the habit starts here.
    for name, field in _fields(schema_file):
        field_type = field["type"]
        if isinstance(field_type, list):
            assert field_type[0] == "null", name
            assert "default" in field and field["default"] is None, name
        if isinstance(field_type, dict) and field_type["type"] == "array":
            assert field.get("default") == [], name


@pytest.mark.parametrize("schema_file", SCHEMA_FILES, ids=lambda path: path.stem)
def test_times_and_dates_use_logical_types(schema_file: Path) -> None:
    for name, field in _fields(schema_file):
        field_type = field["type"]
        base = field_type[-1] if isinstance(field_type, list) else field_type
        if name.endswith(("_at", ".start", ".end", "_end")):
            assert base == {"type": "long", "logicalType": "timestamp-micros"}, name
        if name.endswith(("_date", ".birth_date")):
            assert base == {"type": "int", "logicalType": "date"}, name


@pytest.mark.parametrize("domain", DOMAINS)
def test_event_record_is_envelope_plus_payload(domain: str) -> None:
    schema = json.loads((SCHEMA_DIR / f"{event_record_name(domain)}.avsc").read_text())
    assert [(f["name"], f["type"]) for f in schema["fields"]] == [
        ("envelope", "carebus.common.Envelope"),
        ("payload", f"carebus.canonical.{domain.capitalize()}"),
    ]


@pytest.mark.parametrize("domain", DOMAINS)
def test_event_schema_is_self_contained_json(domain: str) -> None:
    schema = event_schema(domain)
    text = json.dumps(schema)
    assert "__fastavro" not in text
    fastavro.parse_schema(json.loads(text))  # no named_schemas: every reference is defined inside
    names = [name for name, _ in _named_types(schema)]
    assert len(names) == len(set(names)), "a named type is defined twice"
    assert names[0] == event_record_name(domain)


@pytest.mark.parametrize("domain", DOMAINS)
def test_event_schema_matches_fastavro_load_schema(domain: str) -> None:
    ours = to_parsing_canonical_form(fastavro.parse_schema(event_schema(domain)))
    theirs = to_parsing_canonical_form(load_schema(str(SCHEMA_DIR / f"{event_record_name(domain)}.avsc")))
    assert ours == theirs


def test_event_schema_keeps_docs_and_returns_a_copy() -> None:
    schema = event_schema("result")
    assert schema["doc"]
    assert schema["fields"][0]["type"]["doc"]  # the envelope, inlined with its doc
    schema["fields"].clear()
    assert event_schema("result")["fields"]


def test_unknown_domain_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown domain"):
        event_schema("billing")


def test_an_unknown_classification_reads_as_restricted() -> None:
    """A newer writer's classification symbol must fail closed in an older reader."""
    envelope = next(f["type"] for f in event_schema("patient")["fields"] if f["name"] == "envelope")
    reader = next(f["type"] for f in envelope["fields"] if f["name"] == "data_classification")
    writer = {**reader, "symbols": [*reader["symbols"], "limited"]}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(writer), "limited")
    buffer.seek(0)
    assert fastavro.schemaless_reader(buffer, fastavro.parse_schema(writer), fastavro.parse_schema(reader)) == (
        "restricted"
    )


def test_parsed_event_schema_is_cached() -> None:
    assert parsed_event_schema("order") is parsed_event_schema("order")


def _write_schema(directory: Path, name: str, schema: dict[str, Any]) -> None:
    (directory / f"{name}.avsc").write_text(json.dumps(schema))


def test_expand_rejects_a_file_named_unlike_its_type(tmp_path: Path) -> None:
    _write_schema(tmp_path, "x.Wrong", {"type": "record", "name": "Right", "namespace": "x", "fields": []})
    with pytest.raises(InvalidSchemaError, match=r"x\.Right\.avsc"):
        expand_schema("x.Wrong", tmp_path)


def test_expand_rejects_a_reference_without_a_file(tmp_path: Path) -> None:
    _write_schema(tmp_path, "x.A", {"type": "record", "name": "A", "namespace": "x",
                                    "fields": [{"name": "b", "type": "x.B"}]})
    with pytest.raises(InvalidSchemaError, match=r"x\.B"):
        expand_schema("x.A", tmp_path)


def test_expand_inlines_at_first_use_and_refers_by_name_after(tmp_path: Path) -> None:
    _write_schema(tmp_path, "x.B", {"type": "record", "name": "B", "namespace": "x", "fields": []})
    _write_schema(tmp_path, "x.A", {"type": "record", "name": "A", "namespace": "x", "fields": [
        {"name": "first", "type": ["null", "x.B"]},
        {"name": "second", "type": {"type": "array", "items": "B"}},
    ]})
    expanded = expand_schema("x.A", tmp_path)
    assert expanded["fields"][0]["type"][1]["name"] == "B"
    assert expanded["fields"][1]["type"]["items"] == "x.B"
