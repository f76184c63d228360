"""The generated fast paths, held to their references: `to_avro_dict` to pydantic's `model_dump` under
AVRO_CONTEXT, and `to_avro_bytes` to fastavro's strict `schemaless_writer` (what the stock serializer
writes), on every example event, on events mapped from every HL7 v2 sample, and on edge values."""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import fastavro
import pytest

from carebus.errors import SerializationError
from carebus.events import (
    DOMAINS,
    ClaimEvent,
    ClaimLine,
    Event,
    Money,
    ObservationComponent,
    Period,
    Quantity,
    QuantityValue,
    ResultEvent,
    StringValue,
    event_schema,
    parsed_event_schema,
    to_avro_dict,
)
from carebus.events._avro import to_avro_bytes
from carebus.events._base import AVRO_CONTEXT
from carebus.events._generated import AVRO_WRITERS, RECORD_MODELS, TO_AVRO_DICT
from carebus.events.examples import example_event
from carebus.ids import Subject
from carebus.publishing import domain_of
from carebus.serde import AvroSerde, encode_header
from producers.hl7v2.errors import Hl7Error
from producers.hl7v2.mapping import MappingContext, map_message
from producers.hl7v2.parsing import parse_message
from tests.unit.hl7v2.conftest import GOOD_SAMPLES, HL7V2_DIR

RECEIVED = datetime(2024, 3, 14, 12, 0, tzinfo=UTC)


def _reference_dict(event: Event) -> dict[str, Any]:
    """The path `to_avro_dict` replaced."""
    return event.model_dump(mode="python", context=dict(AVRO_CONTEXT))


def _reference_bytes(event: Event) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, parsed_event_schema(domain_of(event)), _reference_dict(event), strict=True)
    return buffer.getvalue()


def _outcome(write: Callable[[Event], bytes], event: Event) -> bytes | str:
    try:
        return write(event)
    except (ValueError, TypeError, OverflowError):
        return "refused"


def _assert_same(event: Event) -> None:
    assert to_avro_dict(event) == _reference_dict(event)
    assert _outcome(to_avro_bytes, event) == _outcome(_reference_bytes, event)


def _mapped_samples() -> list[tuple[str, Event]]:
    found = []
    for name in GOOD_SAMPLES:
        try:
            events = map_message(parse_message((HL7V2_DIR / name).read_bytes()), MappingContext(received_at=RECEIVED))
        except Hl7Error:
            continue
        found += [(f"{name}#{index}", event) for index, event in enumerate(events)]
    return found


MAPPED = _mapped_samples()


def test_every_record_model_has_both_writers() -> None:
    assert set(TO_AVRO_DICT) == set(AVRO_WRITERS) == set(RECORD_MODELS.values())


@pytest.mark.parametrize("domain", DOMAINS)
def test_example_event_fast_paths_equal_their_references(domain: str) -> None:
    event = example_event(domain)
    assert to_avro_dict(event) == _reference_dict(event)
    assert to_avro_bytes(event) == _reference_bytes(event)


def test_mapped_samples_are_many_and_cover_every_domain_the_mapping_makes() -> None:
    assert len(MAPPED) > 30
    assert {domain_of(event) for _, event in MAPPED} == set(DOMAINS)


@pytest.mark.parametrize(("name", "event"), MAPPED, ids=[name for name, _ in MAPPED])
def test_mapped_sample_fast_paths_equal_their_references(name: str, event: Event) -> None:
    assert to_avro_dict(event) == _reference_dict(event)
    assert to_avro_bytes(event) == _reference_bytes(event)


def _result_with(**observation: Any) -> ResultEvent:
    event = example_event("result")
    assert isinstance(event, ResultEvent)
    first = event.payload.observations[0].model_copy(update=observation)
    payload = event.payload.model_copy(update={"observations": (first, *event.payload.observations[1:])})
    return event.model_copy(update={"payload": payload})


@pytest.mark.parametrize("observation", [
    {"set_id": 2**31 - 1}, {"set_id": -(2**31)}, {"set_id": 0}, {"set_id": 63}, {"set_id": 64},
    {"set_id": -65}, {"set_id": 2**31}, {"set_id": -(2**31) - 1},  # the last two: refused by both
    {"sub_id": ""}, {"sub_id": "x" * 63}, {"sub_id": "x" * 64}, {"sub_id": "é" * 40}, {"sub_id": "\U0001f600"},
    {"sub_id": "a\udc80"},  # a lone surrogate: refused by both
    {"abnormal_flags": tuple(str(n) for n in range(200))},
    {"notes": ("", "line\nbreak", "\x00")},
    {"critical": True}, {"critical": False},
    {"observed_at": datetime(1, 1, 1, tzinfo=UTC)}, {"observed_at": datetime(9999, 12, 31, 23, 59, 59, 999999,
                                                                               tzinfo=UTC)},
    {"observed_at": datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)},
    {"observed_at": datetime(2024, 3, 10, 2, 30, tzinfo=timezone(timedelta(hours=-5)))},
    {"value": None}, {"value": StringValue(value="")},
    {"value": QuantityValue(quantity=Quantity(value=float("nan")))},
    {"value": QuantityValue(quantity=Quantity(value=-0.0))},
    {"value": QuantityValue(quantity=Quantity(value=1e308, comparator="<"))},
    {"components": tuple(ObservationComponent(value=StringValue(value=str(n))) for n in range(70))},
])
def test_edge_values_write_the_same_bytes_or_are_refused_by_both(observation: dict[str, Any]) -> None:
    _assert_same(_result_with(**observation))


@pytest.mark.parametrize("amount", ["0", "-0.0001", "220.1234", "99999999999999.9999", "-99999999999999.9999",
                                    "1E+3", "12.5"])
def test_money_writes_the_same_bytes(amount: str) -> None:
    event = example_event("claim")
    assert isinstance(event, ClaimEvent)
    line = ClaimLine(sequence=2**40, unit_charge=Money(amount=Decimal(amount), currency="USD"),
                     service_date=date(1, 1, 1))
    payload = event.payload.model_copy(update={"lines": (line, *event.payload.lines),
                                               "total": Money(amount=Decimal(amount))})
    _assert_same(event.model_copy(update={"payload": payload}))


def test_a_value_outside_the_union_is_refused() -> None:
    event = _result_with(value=Period())
    with pytest.raises(ValueError, match="no branch"):
        to_avro_bytes(event)
    with pytest.raises(ValueError, match="no branch"):
        to_avro_dict(event)


def test_to_avro_bytes_takes_models_only() -> None:
    with pytest.raises(TypeError):
        to_avro_bytes(_reference_dict(example_event("result")))  # type: ignore[arg-type]


class _Registry:
    def register_schema(self, subject_name: str, schema: object, normalize_schemas: bool = False) -> int:
        return 42


@pytest.mark.parametrize("domain", DOMAINS)
def test_a_serde_with_the_generated_writer_writes_what_the_fastavro_serde_writes(domain: str) -> None:
    event = example_event(domain)
    subject = Subject(f"canonical.{domain}.v1-value")
    fast = AvroSerde(_Registry(), subject, event_schema(domain), writer=to_avro_bytes)  # type: ignore[arg-type]
    stock = AvroSerde(_Registry(), subject, event_schema(domain))  # type: ignore[arg-type]
    assert fast.serialize(event) == stock.serialize(to_avro_dict(event)) == encode_header(42) + to_avro_bytes(event)
    assert fast.deserialize(fast.serialize(event)) == stock.deserialize(stock.serialize(to_avro_dict(event)))


def test_a_serde_with_the_generated_writer_reports_a_bad_value_without_it() -> None:
    serde = AvroSerde(_Registry(), Subject("canonical.result.v1-value"), event_schema("result"),  # type: ignore[arg-type]
                      writer=to_avro_bytes)
    with pytest.raises(SerializationError) as caught:
        serde.serialize(_result_with(sub_id="SECRET\udc80"))
    assert "SECRET" not in str(caught.value)


def test_a_schema_id_the_registry_never_had_is_a_serialization_error_not_an_outage() -> None:
    """A record written against another registry cannot be decoded here; callers dead-letter it."""
    import pytest
    from confluent_kafka.schema_registry.error import SchemaRegistryError

    from carebus.errors import SerializationError
    from carebus.events import event_schema
    from carebus.ids import Subject
    from carebus.registry.in_process import InProcessRegistry
    from carebus.serde import AvroSerde, encode_header

    class ForgetfulRegistry(InProcessRegistry):
        def get_schema(self, schema_id: int, subject_name: str | None = None, fmt: str | None = None):
            raise SchemaRegistryError(404, 40403, "Schema not found")

    serde = AvroSerde(ForgetfulRegistry(), Subject("canonical.result.v1-value"), event_schema("result"))
    with pytest.raises(SerializationError, match="unknown to the registry"):
        serde.deserialize(encode_header(999) + b"\x00")
