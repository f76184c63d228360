"""The event models: generated from the schemas and in step with them, strict about what they accept,
silent about PHI, and exact through an Avro round trip."""

from __future__ import annotations

import io
import types
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import fastavro
import pytest
from pydantic import BaseModel, ValidationError

import carebus.events
from carebus.errors import InvalidSchemaError
from carebus.events import (
    DOMAINS,
    EVENT_TYPES,
    Envelope,
    HumanName,
    Identifier,
    Money,
    Observation,
    PatientEvent,
    QuantityValue,
    StringValue,
    _codegen,
    _generated,
    event_model,
    event_schema,
    from_avro_dict,
    parsed_event_schema,
    to_avro_dict,
)
from carebus.events._base import AvroRecord
from carebus.events._schemas import PRIMITIVE_TYPES
from carebus.events.examples import EXAMPLE_EVENT_TYPES, example_event


def _round_trip(domain: str, **reader_options: Any) -> Any:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_event_schema(domain), to_avro_dict(example_event(domain)),
                               strict=True)
    buffer.seek(0)
    record = fastavro.schemaless_reader(buffer, parsed_event_schema(domain), None, **reader_options)
    assert isinstance(record, dict)
    return from_avro_dict(domain, record)


# ---------------------------------------------------------------------------- generated code


def test_generated_module_is_up_to_date() -> None:
    assert _codegen.render() == _codegen.GENERATED_PATH.read_text(encoding="utf-8"), (
        "run: python -m carebus.events._codegen")
    assert _codegen.main(["--check"]) == 0


def test_codegen_check_fails_on_a_stale_module_and_regenerates_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stale = tmp_path / "_generated.py"
    stale.write_text("# stale\n")
    monkeypatch.setattr(_codegen, "GENERATED_PATH", stale)
    assert _codegen.main(["--check"]) == 1
    assert _codegen.main([]) == 0
    assert _codegen.main(["--check"]) == 0


def test_codegen_refuses_an_undocumented_field(tmp_path: Path) -> None:
    (tmp_path / "x.A.avsc").write_text(
        '{"type": "record", "name": "A", "namespace": "x", "doc": "A.", "fields": [{"name": "b", "type": "int"}]}')
    with pytest.raises(InvalidSchemaError, match=r"x\.A\.b has no doc"):
        _codegen.render(tmp_path)


def test_public_api_exports_every_generated_model() -> None:
    assert set(_generated.__all__) <= set(carebus.events.__all__)
    public = {name for name in dir(carebus.events) if not name.startswith("_")}
    assert set(carebus.events.__all__) <= public


# ---------------------------------------------------------------------------- models mirror the schemas


def _record_classes(annotation: Any) -> Iterator[type[AvroRecord]]:
    if isinstance(annotation, type) and issubclass(annotation, AvroRecord):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _record_classes(argument)


def _definitions(schema: Any, namespace: str, defined: dict[str, dict[str, Any]]) -> None:
    """Collect every named type defined anywhere in an expanded schema."""
    if isinstance(schema, list):
        for branch in schema:
            _definitions(branch, namespace, defined)
    elif isinstance(schema, dict):
        if schema["type"] in ("record", "enum"):
            name = schema["name"]
            fullname = name if "." in name else f"{schema.get('namespace', namespace)}.{name}"
            defined[fullname] = schema
            for field in schema.get("fields", []):
                _definitions(field["type"], fullname.rpartition(".")[0], defined)
        elif schema["type"] == "array":
            _definitions(schema["items"], namespace, defined)


def _record_names(avro_type: Any, namespace: str, defined: dict[str, dict[str, Any]]) -> Iterator[str]:
    """The full names of the records a field's type refers to or defines."""
    if isinstance(avro_type, list):
        for branch in avro_type:
            yield from _record_names(branch, namespace, defined)
    elif isinstance(avro_type, str):
        fullname = avro_type if "." in avro_type else f"{namespace}.{avro_type}"
        if avro_type not in PRIMITIVE_TYPES and defined[fullname]["type"] == "record":
            yield fullname
    elif avro_type["type"] == "record":
        name = avro_type["name"]
        yield name if "." in name else f"{avro_type.get('namespace', namespace)}.{name}"
    elif avro_type["type"] == "array":
        yield from _record_names(avro_type["items"], namespace, defined)


def _check_record(fullname: str, defined: dict[str, dict[str, Any]], seen: set[str]) -> None:
    if fullname in seen:
        return
    seen.add(fullname)
    schema = defined[fullname]
    namespace = fullname.rpartition(".")[0]
    model = _generated.RECORD_MODELS[fullname]
    assert model.avro_name == fullname
    assert list(model.model_fields) == [field["name"] for field in schema["fields"]], fullname
    for field in schema["fields"]:
        model_field = model.model_fields[field["name"]]
        where = f"{fullname}.{field['name']}"
        nested = list(_record_names(field["type"], namespace, defined))
        assert {cls.avro_name for cls in _record_classes(model_field.annotation)} == set(nested), where
        assert model_field.is_required() == ("default" not in field), where
        assert model_field.repr is not bool(field.get("phi")), where
        for name in nested:
            _check_record(name, defined, seen)


def test_models_have_exactly_the_fields_of_their_avro_records() -> None:
    seen: set[str] = set()
    for domain in DOMAINS:
        schema = event_schema(domain)
        defined: dict[str, dict[str, Any]] = {}
        _definitions(schema, "", defined)
        _check_record(carebus.events.event_record_name(domain), defined, seen)
    assert seen == set(_generated.RECORD_MODELS), "every model is part of some event"


# ---------------------------------------------------------------------------- Avro round trip


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize(
    "reader_options",
    [{}, {"return_record_name": True}, {"return_record_name": True, "return_record_name_override": True}],
    ids=["plain", "record-name", "record-name-override"],
)
def test_example_event_round_trips_through_avro(domain: str, reader_options: dict[str, Any]) -> None:
    assert _round_trip(domain, **reader_options) == example_event(domain)


def test_round_trip_keeps_every_value_branch_and_exact_money() -> None:
    result = _round_trip("result", return_record_name=True)
    branches = {type(observation.value).__name__ for observation in result.payload.observations}
    assert branches == {"QuantityValue", "CodedValue", "StringValue", "NumericRangeValue", "DateTimeValue",
                        "NoneType"}
    claim = _round_trip("claim")
    assert claim.payload.total is not None
    assert claim.payload.total.amount == Decimal("220.1234")


def test_to_avro_dict_names_the_branch_of_a_record_union() -> None:
    value = to_avro_dict(example_event("result"))["payload"]["observations"][0]["value"]
    assert value[0] == "carebus.canonical.QuantityValue"
    assert isinstance(example_event("result").model_dump()["payload"]["observations"][0]["value"], dict)


def test_a_record_union_rejects_a_dict_that_fits_no_branch() -> None:
    with pytest.raises(ValidationError):
        Observation.model_validate({"value": {"quantity": None, "extra": 1}})
    with pytest.raises(ValidationError):
        Observation.model_validate({"value": ("carebus.canonical.NoSuchValue", {})})
    assert Observation.model_validate({"value": {"value": "text"}}).value == StringValue(value="text")


@pytest.mark.parametrize("domain", DOMAINS)
def test_example_events_are_fixed_and_typed(domain: str) -> None:
    event = example_event(domain)
    assert event == example_event(domain)
    assert isinstance(event, event_model(domain))
    assert event.envelope.event_type == EXAMPLE_EVENT_TYPES[domain]


# ---------------------------------------------------------------------------- validation


def test_event_types_are_namespaced_by_domain() -> None:
    assert tuple(EVENT_TYPES) == DOMAINS
    for domain, event_types in EVENT_TYPES.items():
        assert event_types and all(t.startswith(f"{domain}.") for t in event_types)
    assert isinstance(EVENT_TYPES, types.MappingProxyType)


@pytest.mark.parametrize("event_type", ["result.finalized", "patient.deleted", "Patient.upserted", ""])
def test_event_type_outside_the_domain_set_is_rejected(event_type: str) -> None:
    event = example_event("patient")
    envelope = event.envelope.model_copy(update={"event_type": event_type})
    with pytest.raises(ValidationError, match="not allowed for domain 'patient'"):
        PatientEvent(envelope=envelope, payload=event.payload)


def test_every_allowed_event_type_is_accepted() -> None:
    for domain in DOMAINS:
        event = example_event(domain)
        for event_type in EVENT_TYPES[domain]:
            envelope = event.envelope.model_copy(update={"event_type": event_type})
            event_model(domain)(envelope=envelope, payload=event.payload)


def _envelope(**changes: Any) -> Envelope:
    return Envelope.model_validate({**example_event("order").envelope.model_dump(), **changes})


def test_naive_timestamps_are_rejected() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        _envelope(occurred_at=datetime(2024, 1, 1, 12, 0))


def test_timestamps_are_held_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    envelope = _envelope(recorded_at=datetime(2024, 1, 1, 12, 0, tzinfo=plus_two))
    assert envelope.recorded_at == datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
    assert envelope.recorded_at.utcoffset() == timedelta(0)


def test_event_id_must_be_a_uuid_and_is_kept_canonical() -> None:
    event_id = uuid.uuid4()
    assert _envelope(event_id=event_id).event_id == str(event_id)
    assert _envelope(event_id=str(event_id).upper()).event_id == str(event_id)
    with pytest.raises(ValidationError):
        _envelope(event_id="MSG-0001")


def test_classification_is_a_closed_set() -> None:
    with pytest.raises(ValidationError):
        _envelope(data_classification="public")


def test_money_keeps_at_most_four_decimal_places() -> None:
    assert Money(amount=Decimal("12.3456")).amount == Decimal("12.3456")
    with pytest.raises(ValidationError):
        Money(amount=Decimal("12.34567"))
    with pytest.raises(ValidationError):
        Money(amount=Decimal("1e15"))


def test_models_are_frozen_and_closed() -> None:
    name = HumanName(family="Zzexample")
    with pytest.raises(ValidationError):
        name.family = "Other"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        HumanName.model_validate({"family": "Zzexample", "nickname": "x"})
    assert hash(example_event("result"))  # frozen all the way down, so usable as a key


def test_validation_errors_do_not_echo_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        Identifier.model_validate({"value": 19610704, "system": "SECRET-SYSTEM"})
    assert "19610704" not in str(caught.value)
    with pytest.raises(ValidationError) as caught:
        QuantityValue.model_validate({"quantity": {"value": "SECRET-VALUE"}})
    assert "SECRET" not in str(caught.value)


# ---------------------------------------------------------------------------- PHI stays out of repr


def _phi_values(model: BaseModel) -> Iterator[str]:
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if not field.repr and value not in (None, ()):
            yield from (str(item) for item in (value if isinstance(value, tuple) else (value,)))
        for item in value if isinstance(value, tuple) else (value,):
            if isinstance(item, BaseModel):
                yield from _phi_values(item)


@pytest.mark.parametrize("domain", DOMAINS)
def test_phi_fields_are_absent_from_repr(domain: str) -> None:
    event = example_event(domain)
    text = f"{event!r} {event!s}"
    phi = list(_phi_values(event))
    assert phi, "the example carries PHI to check"
    assert [value for value in phi if value in text] == []


def test_patient_repr_shows_no_name_birth_date_address_phone_or_mrn() -> None:
    text = repr(example_event("patient"))
    for secret in ("Zzexample", "Qatest", "1961", "Sample Lane", "Testville", "555-0134", "TEST-MRN-000123"):
        assert secret not in text
    assert "patient.upserted" in text  # ids and types stay visible for tracing
