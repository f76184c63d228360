from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import hl7
import pytest

from producers.hl7v2.ack import DEFAULT_ACK_VERSION, MAX_ERR_SEGMENTS, build_ack
from producers.hl7v2.errors import (
    AckCode,
    ErrorCode,
    ErrorDetail,
    ErrorLocation,
    MappingError,
    OversizedFrameError,
    ParseError,
    StructureError,
)
from producers.hl7v2.parsing import HierarchicDesignator, parse_message
from tests.unit.hl7v2.conftest import MSH_ORU, OBX, PID, message

Reader = Callable[[str], bytes]
TIMESTAMP = datetime(2024, 2, 13, 15, 46, 5, tzinfo=timezone(timedelta(hours=-5)))


def read_back(ack: bytes, codec: str = "utf-8") -> hl7.Message:
    assert ack.endswith(b"\r")
    return hl7.parse(ack.decode(codec))


def test_aa_swaps_the_parties_and_echoes_the_routing_fields(read_sample: Reader) -> None:
    header = parse_message(read_sample("msfc__ADT-A01-01.hl7")).header
    ack = read_back(build_ack(AckCode.AA, reply_to=header.reply_to, control_id="ACK-1", timestamp=TIMESTAMP))
    assert [s[0][0] for s in ack] == ["MSH", "MSA"]
    assert str(ack["MSH.F1"]) == "|"
    assert str(ack.segment("MSH")[2]) == "^~\\&"
    assert ack["MSH.F3"] == "EHRApp"  # our MSH-3 is their MSH-5
    assert (ack["MSH.F3.R1.C2"], ack["MSH.F3.R1.C3"]) == ("1.Edu", "ISO")
    assert ack["MSH.F4"] == "GHHRFacility"  # their MSH-6
    assert ack["MSH.F5"] == "ADTApp"  # their MSH-3
    assert (ack["MSH.F6"], ack["MSH.F6.R1.C2"]) == ("GHHSFacility", "2.16.840.1.122848.1.30")  # their MSH-4
    assert ack["MSH.F7"] == "20240213154605-0500"
    assert (ack["MSH.F9.R1.C1"], ack["MSH.F9.R1.C2"], ack["MSH.F9.R1.C3"]) == ("ACK", "A01", "ACK")
    assert ack["MSH.F10"] == "ACK-1"
    assert ack["MSH.F11"] == "P"
    assert ack["MSH.F12"] == "2.8"
    assert (ack["MSA.F1"], ack["MSA.F2"]) == ("AA", "MSG00001")
    assert len(ack.segment("MSA")) == 3


def test_ae_for_a_parse_error_carries_err_field_by_field(read_sample: Reader) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(read_sample("cdcti__msh_present_but_missing_msh-9.hl7"))
    error = caught.value
    ack = read_back(build_ack(error.ack_code, reply_to=error.reply_to, control_id="N1", timestamp=TIMESTAMP,
                              error=error))
    assert (ack["MSA.F1"], ack["MSA.F2"]) == ("AE", "111111")
    assert ack["MSH.F12"] == "2.5.1"
    assert ack["MSH.F11"] == "D"
    assert (ack["MSH.F9.R1.C1"], ack["MSH.F9.R1.C2"], ack["MSH.F9.R1.C3"]) == ("ACK", "", "ACK")
    err = ack.segment("ERR")
    assert str(err[1]) == ""  # ERR-1 is for versions before 2.5
    assert [ack[f"ERR.F2.R1.C{n}"] for n in range(1, 6)] == ["MSH", "1", "9", "1", "1"]  # ERR-2 (ERL)
    assert [ack[f"ERR.F3.R1.C{n}"] for n in (1, 2, 3)] == ["101", "Required field missing", "HL70357"]
    assert ack["ERR.F4"] == "E"
    assert ack["ERR.F8"] == "required-field-missing at MSH-9.1"


def test_an_unreadable_header_still_gets_a_nak_with_defaults(read_sample: Reader) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(read_sample("cdcti__msh_present_but_missing_all_fields.hl7"))
    error = caught.value
    assert error.reply_to is None
    raw = build_ack(error.ack_code, reply_to=None, control_id="N2", timestamp=TIMESTAMP, error=error)
    ack = read_back(raw)
    assert raw.startswith(b"MSH|^~\\&|")
    assert (ack["MSA.F1"], ack["MSA.F2"]) == ("AE", "")
    assert ack["MSH.F12"] == DEFAULT_ACK_VERSION
    assert ack["MSH.F11"] == "P"
    assert ack["MSH.F3"] == ""
    assert [ack[f"ERR.F2.R1.C{n}"] for n in (1, 2, 3)] == ["MSH", "1", "2"]


def test_sending_identity_can_be_set_when_the_inbound_left_it_empty() -> None:
    raw = build_ack(AckCode.AR, reply_to=None, control_id="N3", timestamp=TIMESTAMP,
                    sending_application=HierarchicDesignator("CAREBUS"),
                    sending_facility=HierarchicDesignator("HOSP", "1.2.3", "ISO"))
    ack = read_back(raw)
    assert (ack["MSH.F3"], ack["MSH.F4"], ack["MSH.F4.R1.C2"]) == ("CAREBUS", "HOSP", "1.2.3")


def test_the_inbound_encoding_characters_are_used_and_values_escaped() -> None:
    data = message("MSH#$%@*#A$B@F@C#FAC#CB#H#20240101##ADT$A01#X1#P#2.5", "PID#1##ID1")
    header = parse_message(data).header
    assert header.sending_application == HierarchicDesignator("A", "B#C")
    raw = build_ack(AckCode.AE, reply_to=header.reply_to, control_id="N4", timestamp=TIMESTAMP,
                    error=MappingError("pid-3-missing", location=ErrorLocation("PID", 1, 3),
                                       error_code=ErrorCode.REQUIRED_FIELD_MISSING))
    text = raw.decode()
    assert text.startswith("MSH#$%@*#CB#H#A$B@F@C#FAC#")
    ack = hl7.parse(text)
    assert ack["MSA.F2"] == "X1"
    assert ack["ERR.F3.R1.C1"] == "101"
    assert ack["ERR.F2.R1.C1"] == "PID"


def test_v23_gets_err1_and_msa3_and_no_msh93(read_sample: Reader) -> None:
    header = parse_message(read_sample("cdcti__005_MN_ADT_A01.hl7")).header
    error = MappingError("pv1-2-unknown", location=ErrorLocation("PV1", 1, 2),
                         error_code=ErrorCode.TABLE_VALUE_NOT_FOUND)
    ack = read_back(build_ack(AckCode.AE, reply_to=header.reply_to, control_id="N5", timestamp=TIMESTAMP,
                              error=error))
    assert ack["MSH.F12"] == "2.3"
    assert str(ack.segment("MSH")[9]) == "ACK^A01"
    assert ack["MSA.F3"] == "pv1-2-unknown at PV1-2"
    err = ack.segment("ERR")
    assert len(err) == 2  # ERR-1 only
    assert [ack[f"ERR.F1.R1.C{n}"] for n in (1, 2, 3)] == ["PV1", "1", "2"]
    assert [ack[f"ERR.F1.R1.C4.S{n}"] for n in (1, 2, 3)] == ["103", "Table value not found", "HL70357"]


def test_structure_errors_give_one_err_each_up_to_a_cap() -> None:
    header = parse_message(message(MSH_ORU)).header
    details = [ErrorDetail("segment-unexpected", ErrorCode.SEGMENT_SEQUENCE_ERROR, ErrorLocation("ZZZ", n))
               for n in range(1, 15)]
    ack = read_back(build_ack(AckCode.AE, reply_to=header.reply_to, control_id="N6", timestamp=TIMESTAMP,
                              error=StructureError(details)))
    errs = ack.segments("ERR")
    assert len(errs) == MAX_ERR_SEGMENTS
    assert [str(e[2]) for e in errs[:2]] == ["ZZZ^1", "ZZZ^2"]


def test_a_reject_without_an_error_reports_an_internal_error() -> None:
    header = parse_message(message(MSH_ORU)).header
    ack = read_back(build_ack(AckCode.AR, reply_to=header.reply_to, control_id="N7", timestamp=TIMESTAMP))
    assert (ack["MSA.F1"], ack["MSA.F2"]) == ("AR", "MSG0001")
    assert ack["ERR.F3.R1.C1"] == "207"
    assert ack["ERR.F2"] == ""


def test_framing_errors_can_be_acknowledged() -> None:
    error = OversizedFrameError(limit=10, size=11)
    ack = read_back(build_ack(error.ack_code, reply_to=None, control_id="N8", timestamp=TIMESTAMP, error=error))
    assert (ack["MSA.F1"], ack["ERR.F3.R1.C1"]) == ("AR", "207")


def test_no_data_value_reaches_the_ack() -> None:
    data = message(MSH_ORU, PID, OBX, "NTE|1||Patient SECRET says hi")
    header = parse_message(data).header
    error = MappingError("obx-5-not-numeric", location=ErrorLocation("OBX", 1, 5))
    raw = build_ack(AckCode.AE, reply_to=header.reply_to, control_id="N9", timestamp=TIMESTAMP, error=error)
    for value in (b"DOE", b"JANE", b"12345", b"19800101", b"SECRET", b"Glucose", b"95"):
        assert value not in raw


def test_the_charset_is_echoed_and_the_ack_encoded_in_it() -> None:
    data = message("MSH|^~\\&|H\xf4pital|F|CB|H|2024||ADT^A01|1|P|2.5||||||8859/1").decode().encode("latin-1")
    header = parse_message(data).header
    assert header.codec == "iso8859-1"
    raw = build_ack(AckCode.AA, reply_to=header.reply_to, control_id="N10", timestamp=TIMESTAMP)
    assert b"H\xf4pital" in raw
    ack = read_back(raw, "latin-1")
    assert (ack["MSH.F5"], ack["MSH.F18"]) == ("Hôpital", "8859/1")


def test_processing_mode_is_echoed() -> None:
    header = parse_message(message("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P^T|2.5")).header
    ack = read_back(build_ack(AckCode.AA, reply_to=header.reply_to, control_id="N11", timestamp=TIMESTAMP))
    assert (ack["MSH.F11.R1.C1"], ack["MSH.F11.R1.C2"]) == ("P", "T")


def test_utc_timestamp() -> None:
    ack = read_back(build_ack(AckCode.AA, reply_to=None, control_id="N12",
                              timestamp=datetime(2024, 1, 1, tzinfo=UTC)))
    assert ack["MSH.F7"] == "20240101000000+0000"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"code": AckCode.AA, "error": MappingError("x")}, "no error"),
        ({"code": AckCode.AA, "timestamp": datetime(2024, 1, 1)}, "timezone-aware"),
        ({"code": AckCode.AA, "control_id": ""}, "control id"),
    ],
)
def test_misuse_is_refused(kwargs: dict[str, object], match: str) -> None:
    arguments: dict[str, object] = {"reply_to": None, "control_id": "X", "timestamp": TIMESTAMP, **kwargs}
    with pytest.raises(ValueError, match=match):
        build_ack(**arguments)  # type: ignore[arg-type]
