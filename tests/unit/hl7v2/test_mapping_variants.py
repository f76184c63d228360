"""Synthetic variants built from the samples (other triggers, statuses, broken content) and what they map to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from carebus.events import PatientEvent
from producers.hl7v2.errors import AckCode, ErrorCode, MappingError
from producers.hl7v2.mapping import PatientIdentifierRule
from tests.unit.hl7v2.test_mapping import edit, lines_of, map_bytes, message_of, set_field

Reader = Callable[[str], bytes]
A01 = "msfc__ADT-A01-01.hl7"


def _types(raw: bytes) -> list[str]:
    return [event.envelope.event_type for event in map_bytes(raw)]


def _mapping_error(raw: bytes) -> MappingError:
    with pytest.raises(MappingError) as caught:
        map_bytes(raw)
    assert caught.value.ack_code is AckCode.AE
    return caught.value


def _each(raw: bytes, kind: str, number: int, values: list[str]) -> bytes:
    """`raw` with field `number` of the n-th `kind` segment set to values[n]."""
    lines, seen = [], 0
    for line in lines_of(raw):
        if line.startswith(kind + "|"):
            lines.append(set_field(line, number, values[seen]))
            seen += 1
        else:
            lines.append(line)
    return message_of(lines)


# --- ADT triggers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("trigger", "types", "status"), [
    ("A01", ["patient.upserted", "encounter.started"], "in-progress"),
    ("A02", ["encounter.updated"], "in-progress"),
    ("A03", ["encounter.ended"], "finished"),
    ("A04", ["patient.upserted", "encounter.started"], "in-progress"),
    ("A05", ["patient.upserted", "encounter.planned"], "planned"),
    ("A06", ["encounter.updated"], "in-progress"),
    ("A07", ["encounter.updated"], "in-progress"),
    ("A08", ["patient.updated", "encounter.updated"], "in-progress"),
    ("A11", ["encounter.cancelled"], "cancelled"),
    ("A13", ["encounter.reopened"], "in-progress"),
    ("A28", ["patient.upserted"], None),
    ("A31", ["patient.updated"], None),
])
def test_adt_triggers(trigger: str, types: list[str], status: str | None, read_sample: Reader) -> None:
    # PV1-2 is P in this sample: A08 would read "planned" from it, so the variant sets PV1-2 I.
    raw = edit(read_sample(A01), msh9=f"ADT^{trigger}^ADT_{trigger}", fields=[("PV1", 2, "I")])
    events = map_bytes(raw)
    assert [e.envelope.event_type for e in events] == types
    assert all(e.envelope.source.message_type == f"ADT^{trigger}" for e in events)
    encounters = [e.payload for e in events if e.domain == "encounter"]
    assert [getattr(p, "status", None) for p in encounters] == ([status] if status else [])


def test_a05_places_the_patient_in_a_planned_location(read_sample: Reader) -> None:
    _, visit = map_bytes(edit(read_sample(A01), msh9="ADT^A05^ADT_A05"))
    assert visit.payload.location is not None and visit.payload.location.status == "planned"


def test_a08_reads_the_status_from_pv1(read_sample: Reader) -> None:
    _, discharged = map_bytes(read_sample("msfc__ADT-A08-01.hl7"))  # PV1-45 valued
    assert discharged.payload.status == "finished"
    _, pre = map_bytes(edit(read_sample("msfc__ADT-A08-01.hl7"), fields=[("PV1", 45, "")]))  # PV1-2 P
    assert pre.payload.status == "planned"
    pseudo = message_of([*lines_of(read_sample("msfc__ADT04-251.hl7"))[:2], "PV1|1|N"])
    assert _types(edit(pseudo, msh9="ADT^A08^ADT_A01")) == ["patient.updated"]  # names no visit


def test_a02_keeps_the_prior_location(read_sample: Reader) -> None:
    (visit,) = map_bytes(edit(read_sample(A01), msh9="ADT^A02^ADT_A02"))
    assert visit.payload.location is not None and visit.payload.location.point_of_care == "HUH AE OMU"  # PV1-3
    assert visit.payload.prior_location is not None and visit.payload.prior_location.status == "completed"


def test_a40_merges_each_pid_mrg_pair(read_sample: Reader) -> None:
    base = lines_of(read_sample(A01))
    msh = set_field(base[0], 9, "ADT^A40^ADT_A39")
    evn, pid = base[2], base[3]
    other_pid = "PID|2||55501^^^test1^MR||OTHER^ANNE||19700101|F"
    raw = message_of([msh, evn, pid, "MRG|OLD-1^^^test1^MR~OLD-2^^^test1&2.16.1&HCD^MR||ACCT9",
                      other_pid, "MRG|OLD-3^^^test1^MR"])
    first, second = map_bytes(raw)
    assert isinstance(first, PatientEvent) and isinstance(second, PatientEvent)
    assert [e.envelope.event_type for e in (first, second)] == ["patient.merged", "patient.merged"]
    assert first.envelope.subject.source_patient_id == "test1|PATID1234"  # the survivor
    assert [(link.type, link.identifier.value, link.identifier.system) for link in first.payload.links] == [
        ("replaces", "OLD-1", "test1"), ("replaces", "OLD-2", "test1")]  # MRG-1, every repetition
    assert first.payload.identifiers[0].value == "PATID1234"  # surviving identifiers
    assert second.envelope.subject.source_patient_id == "test1|55501"
    assert [link.identifier.value for link in second.payload.links] == ["OLD-3"]
    assert first.envelope.event_id != second.envelope.event_id


def test_a40_needs_an_mrg_with_identifiers(read_sample: Reader) -> None:
    base = lines_of(read_sample(A01))
    msh = set_field(base[0], 9, "ADT^A40^ADT_A39")
    error = _mapping_error(message_of([msh, base[3]]))
    assert (error.reason, str(error.location)) == ("segment-missing", "MRG")
    error = _mapping_error(message_of([msh, base[3], "MRG|OLD-1^^^test1^MR", base[3]]))
    assert (error.reason, str(error.location)) == ("segment-missing", "MRG")  # the second PID has none
    error = _mapping_error(message_of([msh, base[3], "MRG|||ACCT9"]))
    assert (error.reason, str(error.location)) == ("required-field-missing", "MRG-1")
    assert error.error_code is ErrorCode.REQUIRED_FIELD_MISSING


def test_adt_needs_pid_and_pv1(read_sample: Reader) -> None:
    error = _mapping_error(edit(read_sample(A01), drop=["PID"]))
    assert (error.reason, str(error.location), error.error_code) == (
        "segment-missing", "PID", ErrorCode.SEGMENT_SEQUENCE_ERROR)
    error = _mapping_error(edit(read_sample(A01), drop=["PV1"]))
    assert (error.reason, str(error.location)) == ("segment-missing", "PV1")
    assert _types(edit(read_sample(A01), msh9="ADT^A31^ADT_A05", drop=["PV1"])) == ["patient.updated"]


# --- the patient key -----------------------------------------------------------------------------


@pytest.mark.parametrize(("rule", "key"), [
    (PatientIdentifierRule(), "test1|PATID1234"),
    (PatientIdentifierRule(types=("SS",)), "USSSA|123456789"),
    (PatientIdentifierRule(authorities=("USSSA",)), "USSSA|123456789"),
    (PatientIdentifierRule(authorities=("2.16.1",)), "test1|PATID1234"),  # CX.4.2
    (PatientIdentifierRule(authorities=("GOOD HEALTH HOSPITAL",)), "test1|PATID1234"),  # CX.6
    (PatientIdentifierRule(types=("XX",)), "test1|PATID1234"),  # nothing matches: the first repetition
    (PatientIdentifierRule(types=(), authorities=("nobody",)), "test1|PATID1234"),
])
def test_the_patient_identifier_rule_picks_pid_3(rule: PatientIdentifierRule, key: str, read_sample: Reader) -> None:
    for event in map_bytes(read_sample(A01), patient_identifier_rule=rule):
        assert event.envelope.subject.source_patient_id == key


def test_an_identifier_without_authority_is_namespaced_by_the_sender(read_sample: Reader) -> None:
    events = map_bytes(edit(read_sample(A01), fields=[("PID", 3, "123^^^^MR")]))
    assert {e.envelope.subject.source_patient_id for e in events} == {"GHHSFacility|123"}  # MSH-4
    (patient, _) = map_bytes(read_sample("msfc__ADT04-251.hl7"))
    assert patient.envelope.subject.source_patient_id == "Special Hospital|MRN12345"  # CX.6


def test_ids_do_not_depend_on_the_receive_time(read_sample: Reader) -> None:
    raw = read_sample(A01)
    now = datetime(2024, 3, 14, tzinfo=UTC)
    first = map_bytes(raw, received_at=now)
    later = map_bytes(raw, received_at=now + timedelta(days=1))
    assert [e.envelope.event_id for e in first] == [e.envelope.event_id for e in later]
    assert first != later


# --- orders --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("orc1", "orc5", "event_type", "status"), [
    ("NW", "", "order.placed", "active"),
    ("NW", "SC", "order.placed", "active"),
    ("NW", "CM", "order.placed", "completed"),
    ("CA", "", "order.cancelled", "revoked"),
    ("OC", "", "order.cancelled", "revoked"),
    ("OD", "", "order.cancelled", "revoked"),
    ("CR", "CA", "order.cancelled", "revoked"),
    ("DE", "", "order.cancelled", "entered-in-error"),
    ("XO", "", "order.updated", "unknown"),
    ("XX", "IP", "order.updated", "active"),
    ("SC", "IP", "order.status-changed", "active"),
    ("SC", "", "order.status-changed", "unknown"),
    ("HD", "", "order.status-changed", "on-hold"),
    ("FU", "", "order.status-changed", "completed"),
    ("OK", "ER", "order.status-changed", "entered-in-error"),
    ("ZZ", "QQ", "order.status-changed", "unknown"),
])
def test_orc_1_decides_the_event_and_orc_5_the_status(orc1: str, orc5: str, event_type: str, status: str,
                                                       read_sample: Reader) -> None:
    raw = edit(read_sample("msfc__ORM-O01-01.hl7"), fields=[("ORC", 1, orc1), ("ORC", 5, orc5)])
    (event,) = map_bytes(raw)
    assert (event.envelope.event_type, event.payload.status) == (event_type, status)
    assert (event.payload.order_control, event.payload.status_original) == (orc1, orc5 or None)
    assert (event.payload.ordered_at is not None) == (orc1 == "NW")


def test_an_order_message_needs_a_patient_and_an_order(read_sample: Reader) -> None:
    error = _mapping_error(edit(read_sample("msfc__OML-O21-01.hl7"), drop=["PID"]))
    assert (error.reason, str(error.location)) == ("segment-missing", "PID")
    error = _mapping_error(edit(read_sample("msfc__OML-O21-01.hl7"), drop=["ORC", "OBR"]))
    assert (error.reason, str(error.location)) == ("segment-missing", "ORC")


# --- results -------------------------------------------------------------------------------------

ORACLE_ORU = "cdcti__004_Oracle_ORU_R01.hl7"


@pytest.mark.parametrize(("obr25", "event_type", "status"), [
    ("F", "result.finalized", "final"),
    ("C", "result.corrected", "corrected"),
    ("P", "result.preliminary", "preliminary"),
    ("R", "result.preliminary", "partial"),
    ("A", "result.preliminary", "partial"),
    ("I", "result.preliminary", "registered"),
    ("O", "result.preliminary", "registered"),
    ("S", "result.preliminary", "registered"),
    ("X", "result.cancelled", "cancelled"),
])
def test_obr_25_decides_the_result_event(obr25: str, event_type: str, status: str, read_sample: Reader) -> None:
    (event,) = map_bytes(edit(read_sample(ORACLE_ORU), fields=[("OBR", 25, obr25)]))
    assert (event.envelope.event_type, event.payload.status, event.payload.status_original) == (
        event_type, status, obr25)
    assert {o.status for o in event.payload.observations} == {"final"}  # OBX-11 keep their own


@pytest.mark.parametrize(("obx11", "event_type", "status"), [
    (["F", "F", "F"], "result.finalized", "final"),
    (["F", "U", "F"], "result.finalized", "final"),
    (["F", "P", "F"], "result.preliminary", "preliminary"),
    (["C", "F", "A"], "result.corrected", "corrected"),
    (["X", "F", "F"], "result.finalized", "final"),
    (["X", "X", "N"], "result.cancelled", "cancelled"),
    (["D", "W", "D"], "result.retracted", "entered-in-error"),
])
def test_without_obr_25_the_obx_11_decide(obx11: list[str], event_type: str, status: str,
                                          read_sample: Reader) -> None:
    raw = _each(edit(read_sample(ORACLE_ORU), fields=[("OBR", 25, "")]), "OBX", 11, obx11)
    (event,) = map_bytes(raw)
    assert (event.envelope.event_type, event.payload.status, event.payload.status_original) == (
        event_type, status, None)


def test_result_errors_name_the_obr(read_sample: Reader) -> None:
    error = _mapping_error(edit(read_sample(ORACLE_ORU), fields=[("OBR", 25, "Y")]))
    assert (error.reason, str(error.location), error.error_code) == (
        "table-value-unknown", "OBR-25", ErrorCode.TABLE_VALUE_NOT_FOUND)
    error = _mapping_error(_each(read_sample("msfc__LAB-ORU-1.hl7"), "OBR", 25, ["F", "Z"]))
    assert str(error.location) == "OBR(2)-25"
    error = _mapping_error(edit(read_sample(ORACLE_ORU), fields=[("OBR", 25, ""), ("OBX", 11, "")]))
    assert (error.reason, str(error.location)) == ("required-field-missing", "OBR-25")
    error = _mapping_error(edit(read_sample(ORACLE_ORU), drop=["OBR"]))  # the ORC is left alone
    assert (error.reason, str(error.location)) == ("segment-missing", "OBR")
    error = _mapping_error(edit(read_sample(ORACLE_ORU), drop=["ORC", "OBR"]))
    assert (error.reason, str(error.location)) == ("segment-missing", "OBR")
    error = _mapping_error(edit(read_sample(ORACLE_ORU), drop=["PID"]))
    assert (error.reason, str(error.location)) == ("segment-missing", "PID")


def test_results_for_two_patients_keep_their_own_subject(read_sample: Reader) -> None:
    lines = lines_of(read_sample(ORACLE_ORU))
    second_patient = "PID|2||777^^^HOSP^MR||OTHER^ANNE||19700101|F"
    raw = message_of([*lines, second_patient, *[line for line in lines if line[:3] in ("OBR", "OBX")]])
    first, second = map_bytes(raw)
    assert first.envelope.subject.source_patient_id == "SONIC.RLN|557204"
    assert second.envelope.subject.source_patient_id == "HOSP|777"
    assert second.payload.placer_order_number is not None  # OBR-2, as the ORC stayed with the first patient


# --- referrals -----------------------------------------------------------------------------------

REF = "msfc__REF-I12-01.hl7"


@pytest.mark.parametrize(("trigger", "rf1", "event_type", "status"), [
    ("I12", {}, "referral.requested", "on-hold"),
    ("I13", {}, "referral.updated", "on-hold"),
    ("I14", {}, "referral.cancelled", "revoked"),
    ("I12", {1: "A"}, "referral.requested", "active"),
    ("I12", {1: ""}, "referral.requested", "active"),
    ("I12", {1: "R"}, "referral.requested", "revoked"),
    ("I12", {1: "E"}, "referral.requested", "revoked"),
    ("I13", {25: "D"}, "referral.updated", "entered-in-error"),
])
def test_referral_triggers_and_statuses(trigger: str, rf1: dict[int, str], event_type: str, status: str,
                                        read_sample: Reader) -> None:
    raw = edit(read_sample(REF), msh9=f"REF^{trigger}^REF_I12", fields=[("RF1", n, v) for n, v in rf1.items()])
    (event,) = map_bytes(raw)
    assert (event.envelope.event_type, event.payload.status) == (event_type, status)


def test_a_referral_needs_a_patient_but_not_rf1(read_sample: Reader) -> None:
    error = _mapping_error(edit(read_sample(REF), drop=["PID"]))
    assert (error.reason, str(error.location)) == ("segment-missing", "PID")
    (event,) = map_bytes(edit(read_sample(REF), drop=["RF1"]))
    assert (event.payload.status, event.payload.referral_identifier) == ("active", None)
    assert event.payload.requester is not None  # PRD RP still there


# --- claims --------------------------------------------------------------------------------------

DFT = "msfc__DFT-P03-01.hl7"


def test_dft_p11_maps_like_p03(read_sample: Reader) -> None:
    (p03,) = map_bytes(read_sample(DFT))
    (p11,) = map_bytes(edit(read_sample(DFT), msh9="DFT^P11^DFT_P11"))
    assert p11.envelope.event_type == "claim.submitted" and p11.payload == p03.payload


@pytest.mark.parametrize("amount", ["100.12345&USD", "abc&USD", "1e3&USD", "100000000000000&USD"])
def test_an_amount_that_is_not_exact_money_is_refused(amount: str, read_sample: Reader) -> None:
    error = _mapping_error(_each(read_sample(DFT), "FT1", 11, [amount, "120&USD"]))
    assert (error.reason, str(error.location)) == ("money-invalid", "FT1-11")


def test_claim_totals(read_sample: Reader) -> None:
    (event,) = map_bytes(_each(read_sample(DFT), "FT1", 11, ["", "120.5&USD"]))  # line 1: 2 x 50&USD
    assert event.payload.total is not None and event.payload.total.amount == Decimal("220.5")
    (event,) = map_bytes(_each(read_sample(DFT), "FT1", 6, ["CG", "PY"]))  # a payment is not added
    assert event.payload.total is not None and event.payload.total.amount == Decimal("100")
    assert [line.transaction_type for line in event.payload.lines] == ["CG", "PY"]
    (event,) = map_bytes(_each(read_sample(DFT), "FT1", 11, ["100&USD", "120&EUR"]))
    assert event.payload.total is None and event.payload.currency is None
    (event,) = map_bytes(_each(read_sample(DFT), "FT1", 11, ["100.0001&USD", "0.0001&USD"]))
    assert event.payload.total is not None and event.payload.total.amount == Decimal("100.0002")


def test_a_claim_needs_a_patient_and_a_charge(read_sample: Reader) -> None:
    error = _mapping_error(edit(read_sample(DFT), drop=["FT1"]))
    assert (error.reason, str(error.location)) == ("segment-missing", "FT1")
    error = _mapping_error(edit(read_sample(DFT), drop=["PID"]))
    assert (error.reason, str(error.location)) == ("segment-missing", "PID")


# --- no PHI in errors ----------------------------------------------------------------------------


def test_errors_carry_no_value_from_the_message(read_sample: Reader) -> None:
    raws = [
        edit(read_sample(A01), drop=["PV1"]),
        edit(read_sample(ORACLE_ORU), fields=[("OBR", 25, "Y")]),
        _each(read_sample(DFT), "FT1", 11, ["PATID1234&USD", "120&USD"]),
    ]
    for raw in raws:
        error = _mapping_error(raw)
        text = f"{error} {error!r} {error.details}"
        for value in ("PATID1234", "EVERYMAN", "ADAM", "557204", "CPSI", "DONNA", "19651015", "19880818"):
            assert value not in text, value
