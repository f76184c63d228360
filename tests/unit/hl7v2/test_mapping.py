"""map_message over every sample: events of the expected types, valid against the contract and through Avro,
the same on every run; and the dispatcher, the context and the envelope rules.

Helpers here (`context`, `map_bytes`, `lines_of`, `message_of`, `set_field`, `edit`) are shared with the other
test_mapping_* files.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta, timezone
from itertools import groupby
from typing import Any

import fastavro
import pytest

from carebus.errors import ConfigError
from carebus.events import EVENT_TYPES, Event, event_model, from_avro_dict, parsed_event_schema, to_avro_dict
from carebus.ids import EventId
from producers.hl7v2.errors import AckCode, ErrorCode, MappingError, ParseError, UnsupportedMessageError
from producers.hl7v2.mapping import (
    HL7V2_EVENT_NAMESPACE,
    SUPPORTED_MESSAGES,
    MappingContext,
    PatientIdentifierRule,
    default_event_id,
    map_message,
)
from producers.hl7v2.parsing import parse_message
from tests.unit.hl7v2.conftest import BROKEN_MSH_SAMPLES, GOOD_SAMPLES, HL7V2_SAMPLES

Reader = Callable[[str], bytes]
RECEIVED = datetime(2024, 3, 14, 12, 0, tzinfo=UTC)


# --- helpers shared by the test_mapping_* files --------------------------------------------------


def context(**overrides: Any) -> MappingContext:
    return MappingContext(**{"received_at": RECEIVED, **overrides})


def map_bytes(raw: bytes, **overrides: Any) -> list[Event]:
    return map_message(parse_message(raw), context(**overrides))


def lines_of(raw: bytes) -> list[str]:
    """The segments of a sample, BOM and line ends removed."""
    text = raw.decode("utf-8").removeprefix("\ufeff")
    return [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]


def message_of(lines: Iterable[str]) -> bytes:
    return ("\r".join(lines) + "\r").encode()


def set_field(line: str, number: int, value: str) -> str:
    """`line` with field `number` (HL7 numbering, MSH included) replaced by `value`."""
    fields = line.split("|")
    index = number - 1 if line.startswith("MSH") else number
    fields += [""] * (index + 1 - len(fields))
    fields[index] = value
    return "|".join(fields)


def edit(raw: bytes, *, msh9: str | None = None, version: str | None = None,
         fields: Iterable[tuple[str, int, str]] = (), drop: Iterable[str] = (),
         insert_after: Iterable[tuple[str, str]] = ()) -> bytes:
    """A variant of a sample: MSH-9 / MSH-12 replaced, `(segment, field, value)` set on every such segment,
    segments in `drop` removed, `(segment id, new line)` inserted after the first segment with that id."""
    dropped = set(drop)
    changes = list(fields)
    inserts = dict(insert_after)
    out = []
    for original in lines_of(raw):
        kind, line = original[:3], original
        if kind in dropped:
            continue
        if kind == "MSH" and msh9 is not None:
            line = set_field(line, 9, msh9)
        if kind == "MSH" and version is not None:
            line = set_field(line, 12, version)
        for seg, number, value in changes:
            if kind == seg:
                line = set_field(line, number, value)
        out.append(line)
        if kind in inserts:
            out.append(inserts.pop(kind))
    return message_of(out)


def avro_round_trip(event: Event) -> Event:
    buffer = io.BytesIO()
    schema = parsed_event_schema(event.domain)
    fastavro.schemaless_writer(buffer, schema, to_avro_dict(event), strict=True)
    buffer.seek(0)
    return from_avro_dict(event.domain, fastavro.schemaless_reader(buffer, schema, None))


# --- every sample --------------------------------------------------------------------------------

EXPECTED: dict[str, list[tuple[str, int]]] = {
    "cdcti__001_ADT_A01.hl7": [("patient.upserted", 1), ("encounter.started", 1)],
    "cdcti__001_Epic_ORM_O01.hl7": [("order.cancelled", 1)],
    "cdcti__001_Ochsner_OML_O21_0_initial_message.hl7": [("order.placed", 1)],
    "cdcti__001_Oracle_ORM_O01.hl7": [("order.status-changed", 1)],
    "cdcti__001_TN_ORU_R01_LRI.hl7": [("result.preliminary", 15)],
    "cdcti__001_TX_OML_O21.hl7": [("order.placed", 1)],
    "cdcti__002_CA_ORU_R01.hl7": [("result.finalized", 20)],
    "cdcti__002_Epic_ORU_R01.hl7": [("result.finalized", 1)],
    "cdcti__003_MN_ORM_O01_NBS.hl7": [("order.placed", 2)],
    "cdcti__004_Oracle_ORU_R01.hl7": [("result.finalized", 1)],
    "cdcti__005_MN_ADT_A01.hl7": [("patient.upserted", 1), ("encounter.started", 1)],
    "cdcti__008_ORU_R01_micro_character_encoding.hl7": [("result.finalized", 1)],
    "lfh__ORU-multiline-short.hl7": [("result.finalized", 1)],
    "lfh__sample_unix.hl7": [("patient.upserted", 1), ("encounter.started", 1)],
    "lfh__sample_win.hl7": [("patient.upserted", 1), ("encounter.started", 1)],
    "msfc__ADT-A01-01.hl7": [("patient.upserted", 1), ("encounter.started", 1)],
    "msfc__ADT-A03-01.hl7": [("encounter.ended", 1)],
    "msfc__ADT-A04-01.hl7": [("patient.upserted", 1), ("encounter.started", 1)],
    "msfc__ADT-A08-01.hl7": [("patient.updated", 1), ("encounter.updated", 1)],
    "msfc__ADT01-23.hl7": [("patient.upserted", 1), ("encounter.started", 1)],
    "msfc__ADT04-251.hl7": [("patient.upserted", 1), ("encounter.started", 1)],
    "msfc__DFT-P03-01.hl7": [("claim.submitted", 1)],
    "msfc__LAB-ORU-1.hl7": [("result.finalized", 1), ("result.preliminary", 1)],
    "msfc__MDHHS-OML-O21-1.hl7": [("order.placed", 1)],
    "msfc__OML-O21-01.hl7": [("order.placed", 1)],
    "msfc__ORM-O01-01.hl7": [("order.placed", 1)],
    "msfc__ORU-R01-01.hl7": [("result.finalized", 1)],
    "msfc__REF-I12-01.hl7": [("referral.requested", 1)],
}


def test_every_good_sample_has_an_expectation() -> None:
    assert set(EXPECTED) == set(GOOD_SAMPLES)
    assert set(GOOD_SAMPLES) | BROKEN_MSH_SAMPLES == set(HL7V2_SAMPLES)


@pytest.mark.parametrize("name", GOOD_SAMPLES)
def test_every_sample_maps_to_the_expected_events(name: str, read_sample: Reader) -> None:
    events = map_bytes(read_sample(name))
    assert [(kind, len(list(run))) for kind, run in groupby(e.envelope.event_type for e in events)] == EXPECTED[name]
    for event in events:
        assert event.envelope.event_type in EVENT_TYPES[event.domain]
        assert event.envelope.event_type.startswith(f"{event.domain}.")


@pytest.mark.parametrize("name", GOOD_SAMPLES)
def test_every_event_is_valid_and_survives_avro(name: str, read_sample: Reader) -> None:
    for event in map_bytes(read_sample(name)):
        again = event_model(event.domain).model_validate(event.model_dump())
        assert again == event
        assert avro_round_trip(event) == event


@pytest.mark.parametrize("name", GOOD_SAMPLES)
def test_mapping_is_deterministic(name: str, read_sample: Reader) -> None:
    raw = read_sample(name)
    first, second = map_bytes(raw), map_bytes(raw)
    assert first == second
    ids = [event.envelope.event_id for event in first]
    assert len(set(ids)) == len(ids)
    assert len({event.envelope.correlation_id for event in first}) == 1


@pytest.mark.parametrize("name", sorted(BROKEN_MSH_SAMPLES))
def test_broken_msh_samples_never_reach_the_mapping(name: str, read_sample: Reader) -> None:
    with pytest.raises(ParseError):
        parse_message(read_sample(name))


def test_the_crlf_and_lf_twins_map_to_the_same_events(read_sample: Reader) -> None:
    assert map_bytes(read_sample("lfh__sample_win.hl7")) == map_bytes(read_sample("lfh__sample_unix.hl7"))


# --- dispatcher ----------------------------------------------------------------------------------


def test_the_supported_messages_are_the_documented_ones() -> None:
    assert SUPPORTED_MESSAGES["ADT"] == frozenset(
        {"A01", "A02", "A03", "A04", "A05", "A06", "A07", "A08", "A11", "A13", "A28", "A31", "A40"})
    assert SUPPORTED_MESSAGES["ORU"] == {"R01"}
    assert SUPPORTED_MESSAGES["REF"] == {"I12", "I13", "I14"}
    assert set(SUPPORTED_MESSAGES) == {"ADT", "ORM", "OML", "ORU", "REF", "DFT"}


@pytest.mark.parametrize(("msh9", "reason", "code"), [
    ("SIU^S12^SIU_S12", "message-type-unsupported", ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
    ("ACK^A01^ACK", "message-type-unsupported", ErrorCode.UNSUPPORTED_MESSAGE_TYPE),
    ("ADT^A17^ADT_A17", "event-unsupported", ErrorCode.UNSUPPORTED_EVENT_CODE),
    ("ORU^R30^ORU_R30", "event-unsupported", ErrorCode.UNSUPPORTED_EVENT_CODE),
])
def test_an_unsupported_type_or_trigger_is_rejected_with_ar(msh9: str, reason: str, code: ErrorCode,
                                                            read_sample: Reader) -> None:
    with pytest.raises(UnsupportedMessageError) as caught:
        map_bytes(edit(read_sample("msfc__ADT-A01-01.hl7"), msh9=msh9))
    assert caught.value.ack_code is AckCode.AR
    assert caught.value.reason == reason
    assert caught.value.error_code is code
    assert caught.value.reply_to is not None and caught.value.reply_to.control_id == "MSG00001"


@pytest.mark.parametrize("version", ["2.1", "2.2", "2.9", "3.0", "x"])
def test_a_version_outside_2_3_to_2_8_is_rejected_with_ar(version: str, read_sample: Reader) -> None:
    with pytest.raises(UnsupportedMessageError) as caught:
        map_bytes(edit(read_sample("msfc__ADT-A01-01.hl7"), version=version))
    assert caught.value.ack_code is AckCode.AR
    assert caught.value.reason == "version-unsupported"


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.2"])
def test_versions_2_3_to_2_8_map_alike(version: str, read_sample: Reader) -> None:
    for name in ("msfc__ADT-A01-01.hl7", "msfc__ADT01-23.hl7", "cdcti__002_CA_ORU_R01.hl7"):
        baseline = map_bytes(read_sample(name))
        events = map_bytes(edit(read_sample(name), version=version))
        assert [e.payload for e in events] == [e.payload for e in baseline]


# --- context and envelope ------------------------------------------------------------------------


def test_context_is_checked_when_built() -> None:
    with pytest.raises(ConfigError):
        MappingContext(received_at=datetime(2024, 1, 1))  # naive on purpose
    with pytest.raises(ConfigError):
        MappingContext(received_at=RECEIVED, recorded_at=datetime(2024, 1, 1))
    with pytest.raises(ConfigError):
        MappingContext(received_at=RECEIVED, source_system=" ")
    with pytest.raises(ConfigError):
        PatientIdentifierRule(types=("MR", ""))
    with pytest.raises(ConfigError):
        PatientIdentifierRule(authorities=(" HOSP",))


def test_event_ids_are_uuid5_of_sender_control_id_and_index(read_sample: Reader) -> None:
    events = map_bytes(read_sample("msfc__ADT-A01-01.hl7"))
    for index, event in enumerate(events):
        expected = uuid.uuid5(HL7V2_EVENT_NAMESPACE, f"ADTApp|GHHSFacility|MSG00001|{index}")
        assert event.envelope.event_id == str(expected)
    assert default_event_id("x") == str(uuid.uuid5(HL7V2_EVENT_NAMESPACE, "x"))


def test_a_custom_event_id_factory_gets_the_seeds(read_sample: Reader) -> None:
    seeds: list[str] = []

    def factory(seed: str) -> EventId:
        seeds.append(seed)
        return EventId(str(uuid.uuid5(uuid.NAMESPACE_OID, seed)))

    map_bytes(read_sample("cdcti__003_MN_ORM_O01_NBS.hl7"), event_id_factory=factory)
    assert seeds == ["Epic|Centracare|31808297|0", "Epic|Centracare|31808297|1"]


def test_envelope_source_times_and_correlation(read_sample: Reader) -> None:
    patient, visit = map_bytes(read_sample("msfc__ADT-A01-01.hl7"))
    envelope = patient.envelope
    assert envelope.source.system == "ADTApp"  # MSH-3
    assert envelope.source.facility == "GHHSFacility"  # MSH-4
    assert envelope.source.protocol == "hl7v2"
    assert envelope.source.original_message_id == "MSG00001"  # MSH-10
    assert envelope.source.message_type == "ADT^A01"
    assert envelope.correlation_id == "ADTApp|MSG00001"
    assert envelope.recorded_at == datetime(2029, 8, 1, 5, 51, 24, tzinfo=UTC)  # EVN-2 20290801070624+0115
    assert envelope.occurred_at == datetime(2021, 8, 17, 13, 19, 43, 400000, tzinfo=UTC)  # EVN-6, +0200
    assert envelope.received_at == RECEIVED
    assert envelope.causation_id is None
    assert envelope.schema_version == "1.0"
    assert envelope.data_classification == "phi"
    assert visit.envelope.subject == envelope.subject


def test_context_overrides_source_correlation_and_classification(read_sample: Reader) -> None:
    (event,) = map_bytes(read_sample("msfc__REF-I12-01.hl7"), source_system="ref-feed", source_facility="GHH",
                         correlation_id="batch-7", data_classification="restricted")
    assert (event.envelope.source.system, event.envelope.source.facility) == ("ref-feed", "GHH")
    assert event.envelope.correlation_id == "batch-7"
    assert event.envelope.data_classification == "restricted"


def test_times_without_offset_use_the_configured_zone(read_sample: Reader) -> None:
    raw = read_sample("cdcti__002_Epic_ORU_R01.hl7")  # MSH-7 202309260758, no EVN
    (in_utc,) = map_bytes(raw)
    (in_chicago,) = map_bytes(raw, default_timezone=timezone(timedelta(hours=-5)))
    assert in_utc.envelope.recorded_at == datetime(2023, 9, 26, 7, 58, tzinfo=UTC)
    assert in_chicago.envelope.recorded_at == datetime(2023, 9, 26, 12, 58, tzinfo=UTC)
    assert in_chicago.payload.issued_at == datetime(2023, 9, 26, 12, 54, tzinfo=UTC)  # OBR-22


def test_without_msh_7_and_evn_the_context_times_are_used(read_sample: Reader) -> None:
    raw = edit(read_sample("cdcti__002_Epic_ORU_R01.hl7"), fields=[("MSH", 7, ""), ("OBR", 22, "")])
    (event,) = map_bytes(raw)
    assert event.envelope.recorded_at == event.envelope.occurred_at == RECEIVED
    recorded = datetime(2024, 3, 14, 11, 0, tzinfo=UTC)
    (event,) = map_bytes(raw, recorded_at=recorded)
    assert event.envelope.recorded_at == recorded


def test_a_message_naming_no_sender_needs_a_configured_source(read_sample: Reader) -> None:
    raw = edit(read_sample("cdcti__002_Epic_ORU_R01.hl7"), fields=[("MSH", 3, ""), ("MSH", 4, "")])
    with pytest.raises(MappingError) as caught:
        map_bytes(raw)
    assert caught.value.reason == "required-field-missing"
    assert str(caught.value.location) == "MSH-3"
    assert caught.value.ack_code is AckCode.AE
    (event,) = map_bytes(raw, source_system="mayo-feed")
    assert event.envelope.source.system == "mayo-feed"
    assert event.envelope.subject.source_patient_id == "mayo-feed|MRN"


def test_every_mapping_module_declares_its_public_names() -> None:
    import importlib
    import inspect
    import pkgutil

    import producers.hl7v2.mapping as package

    names = [package.__name__] + [f"{package.__name__}.{info.name}" for info in pkgutil.iter_modules(package.__path__)]
    for name in names:
        module = importlib.import_module(name)
        declared = set(module.__all__)
        assert all(hasattr(module, item) for item in declared), name
        own = {key for key, item in vars(module).items()
               if not key.startswith("_") and (inspect.isfunction(item) or inspect.isclass(item))
               and item.__module__ == module.__name__}
        assert own <= declared, (name, own - declared)
