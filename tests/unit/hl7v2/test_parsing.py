from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import hl7
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carebus.errors import ConfigError
from producers.hl7v2.errors import (
    AckCode,
    CharsetError,
    ErrorCode,
    Hl7Error,
    ParseError,
    ParseReason,
    StructureError,
    UnsupportedMessageError,
    UnsupportedReason,
)
from producers.hl7v2.parsing import (
    HL7_NULL,
    EncodingCharacters,
    HierarchicDesignator,
    ParseOptions,
    escape,
    field,
    parse_message,
    raw_field,
    repetition_count,
    segment,
    segment_id,
    segments,
    unescape,
    validate_structure,
)
from tests.unit.hl7v2.conftest import GOOD_SAMPLES, HL7V2_SAMPLES, MSH_ORU, OBX, PID, message

Reader = Callable[[str], bytes]


def test_the_sample_set_is_all_there(samples_dir: Path) -> None:
    assert len(HL7V2_SAMPLES) == 30
    assert (samples_dir / "hl7v2").is_dir()


# --- every sample --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD_SAMPLES)
def test_every_good_sample_parses_into_python_hl7s_tree(name: str, read_sample: Reader) -> None:
    parsed = parse_message(read_sample(name))
    assert isinstance(parsed.message, hl7.Message)
    assert segment_id(parsed.message[0]) == "MSH"
    assert parsed.header.control_id
    assert "_" in parsed.header.message_structure
    # The flat split builds exactly what python-hl7's own parser makes of the same text.
    assert hl7.parse(str(parsed.message)) == parsed.message


@pytest.mark.parametrize(
    ("name", "location", "control_id"),
    [
        ("cdcti__msh_present_but_missing_all_fields.hl7", "MSH-2", None),
        ("cdcti__msh_present_but_missing_msh-9.hl7", "MSH-9.1", "111111"),
    ],
)
def test_broken_msh_samples_are_rejected_with_their_reason(
    name: str, location: str, control_id: str | None, read_sample: Reader
) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(read_sample(name))
    error = caught.value
    assert error.reason == ParseReason.REQUIRED_FIELD_MISSING
    assert str(error.location) == location
    assert (error.ack_code, error.error_code) == (AckCode.AE, ErrorCode.REQUIRED_FIELD_MISSING)
    assert (error.reply_to.control_id if error.reply_to else None) == control_id


HEADERS = {
    "msfc__ADT-A01-01.hl7": {
        "sending_application": HierarchicDesignator("ADTApp"),
        "sending_facility": HierarchicDesignator("GHHSFacility", "2.16.840.1.122848.1.30", "ISO"),
        "receiving_application": HierarchicDesignator("EHRApp", "1.Edu", "ISO"),
        "message_datetime": "198908181126+0215",
        "message_code": "ADT", "trigger_event": "A01", "message_structure": "ADT_A01",
        "control_id": "MSG00001", "processing_id": "P", "version_id": "2.8",
        "accept_ack_type": None, "application_ack_type": None, "charset": None, "codec": "utf-8",
    },
    "cdcti__001_Oracle_ORM_O01.hl7": {
        "sending_application": None,
        "sending_facility": HierarchicDesignator("HNA"),
        "message_code": "ORM", "trigger_event": "O01", "message_structure": "ORM_O01",
        "control_id": "Q1283765463T1850878697", "processing_id": "D", "version_id": "2.3",
        "charset": "8859/1", "codec": "iso8859-1",
    },
    "cdcti__001_Ochsner_OML_O21_0_initial_message.hl7": {
        "sending_application": HierarchicDesignator("13", "1.2.840.114350.1.13.286.2.7.2.695071", "ISO"),
        "receiving_facility": HierarchicDesignator(
            "Louisiana Office of Public Health Laboratory", "2.16.840.1.114222.4.3.22.17.1.1"),
        "control_id": "29", "accept_ack_type": "AL", "application_ack_type": "NE",
    },
    "lfh__sample_win.hl7": {
        "encoding": EncodingCharacters(),
        "message_datetime": "20120912011230", "processing_id": "T", "version_id": "2.6",
        "accept_ack_type": "AL", "application_ack_type": "NE", "charset": "ASCII", "codec": "ascii",
    },
    "msfc__LAB-ORU-1.hl7": {
        "message_code": "ORU", "trigger_event": "R01", "message_structure": "ORU_R01",
        "control_id": "182", "processing_id": "T", "version_id": "2.5",
    },
    "cdcti__001_TN_ORU_R01_LRI.hl7": {
        "sending_application": HierarchicDesignator("Natus", "natus.health.state.tn.us", "DNS"),
        "message_datetime": "20221114150300-0600", "control_id": "20221114210300_0001",
    },
}


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_header_fields(name: str, read_sample: Reader) -> None:
    header = parse_message(read_sample(name)).header
    assert {key: getattr(header, key) for key in HEADERS[name]} == HEADERS[name]


# --- segment terminators and byte order marks ----------------------------------------------------


def test_crlf_and_lf_twins_give_the_same_segments(read_sample: Reader) -> None:
    win = parse_message(read_sample("lfh__sample_win.hl7")).message
    unix = parse_message(read_sample("lfh__sample_unix.hl7")).message
    # The twins differ only in MSH-18, which the Windows copy declares.
    assert list(win[1:]) == list(unix[1:])
    assert [str(f) for f in win[0][:18]] == [str(f) for f in unix[0][:18]]


@pytest.mark.parametrize("terminator", ["\r", "\n", "\r\n"])
@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
def test_terminators_and_bom_do_not_change_the_tree(terminator: str, bom: bytes) -> None:
    reference = parse_message(message(MSH_ORU, PID, OBX)).message
    assert parse_message(bom + message(MSH_ORU, PID, OBX, terminator=terminator)).message == reference


def test_blank_lines_and_surrounding_whitespace_are_dropped() -> None:
    data = b"\r\n  \n" + message(MSH_ORU, "", PID, "   ", OBX, terminator="\n") + b"\n\n"
    assert [segment_id(s) for s in parse_message(data).message] == ["MSH", "PID", "OBX"]


def test_a_wrapped_line_is_a_line_break_inside_its_field(read_sample: Reader) -> None:
    parsed = parse_message(read_sample("cdcti__001_TX_OML_O21.hl7"))
    obr = segment(parsed, "OBR")
    assert obr is not None
    assert field(obr, 4, component=2) == "Newborn screening\npanel AHIC"  # OBR-4.2
    assert field(obr, 4, component=3) == "LN"  # OBR-4.3, after the break
    assert field(obr, 7) == "201907200835"  # OBR-7, on the wrapped line
    assert [segment_id(s) for s in parsed.message].count("OBR") == 1


def test_lf_inside_a_cr_terminated_message_stays_in_its_field() -> None:
    data = message(MSH_ORU, "OBX|1|TX|1^Note^L||line one\nline two||||||F")
    obx = segment(parse_message(data), "OBX")
    assert obx is not None
    assert field(obx, 5) == "line one\nline two"
    assert field(obx, 11) == "F"


# --- character sets ------------------------------------------------------------------------------


def test_undeclared_utf8_is_decoded_as_utf8(read_sample: Reader) -> None:
    parsed = parse_message(read_sample("cdcti__008_ORU_R01_micro_character_encoding.hl7"))
    obx = segment(parsed, "OBX")
    assert obx is not None
    assert field(obx, 6) == "µmol/L"  # OBX-6
    assert (parsed.header.charset, parsed.header.codec) == (None, "utf-8")


def test_undeclared_utf8_in_a_large_sample(read_sample: Reader) -> None:
    parsed = parse_message(read_sample("cdcti__002_CA_ORU_R01.hl7"))
    units = {field(obx, 6) for obx in segments(parsed, "OBX")}
    assert "µmol/L" in units


def test_declared_latin1_is_decoded_as_latin1() -> None:
    data = message(MSH_ORU + "||8859/1", "PID|1||1^^^H^MR||Mu\xf1oz^Jos\xe9").decode().encode("latin-1")
    parsed = parse_message(data)
    pid = segment(parsed, "PID")
    assert pid is not None
    assert (field(pid, 5), field(pid, 5, component=2)) == ("Muñoz", "José")
    assert (parsed.header.charset, parsed.header.codec) == ("8859/1", "iso8859-1")


def test_undeclared_bytes_that_are_not_utf8_fall_back_to_latin1() -> None:
    data = message(MSH_ORU, "PID|1||1^^^H^MR||Jos\xe9").decode().encode("latin-1")
    parsed = parse_message(data)
    pid = segment(parsed, "PID")
    assert pid is not None
    assert field(pid, 5) == "José"
    assert parsed.header.codec == "latin-1"


@pytest.mark.parametrize("label", ["UNICODE UTF-8", "utf-8", "UTF8", "unicode  utf-8"])
def test_utf8_labels(label: str) -> None:
    parsed = parse_message(message(MSH_ORU + f"||{label}", "PID|1||1^^^H^MR||Gr\u00fc\u00dfe^\u674e"))
    pid = segment(parsed, "PID")
    assert pid is not None
    assert (field(pid, 5), field(pid, 5, component=2)) == ("Grüße", "李")
    assert parsed.header.codec == "utf-8"


def test_declared_charset_is_strict_and_the_error_locates_without_quoting() -> None:
    data = message(MSH_ORU + "||ASCII", "PID|1||1^^^H^MR||SECRET\xe9NAME").decode().encode("latin-1")
    with pytest.raises(CharsetError) as caught:
        parse_message(data)
    error = caught.value
    assert error.reason == ParseReason.CHARSET_UNDECODABLE
    assert (error.ack_code, error.error_code) == (AckCode.AE, ErrorCode.DATA_TYPE_ERROR)
    assert str(error.location) == "PID-5"
    assert error.offset == data.index(b"\xe9")
    assert error.reply_to is not None and error.reply_to.control_id == "MSG0001"
    assert "SECRET" not in str(error) and "\xe9" not in str(error)


def test_a_bom_means_utf8_even_when_msh18_is_empty() -> None:
    data = b"\xef\xbb\xbf" + message(MSH_ORU, "PID|1||1^^^H^MR||Jos\xe9").decode().encode("latin-1")
    with pytest.raises(CharsetError) as caught:
        parse_message(data)
    assert caught.value.offset == data.index(b"\xe9")


@pytest.mark.parametrize("label", ["UNICODE UTF-16", "ISO IR87"])
def test_sets_we_cannot_split_on_ascii_delimiters_are_rejected(label: str) -> None:
    with pytest.raises(CharsetError) as caught:
        parse_message(message(MSH_ORU + f"||{label}"))
    error = caught.value
    assert (error.reason, error.charset) == (ParseReason.CHARSET_UNSUPPORTED, label)
    assert (error.ack_code, error.error_code) == (AckCode.AR, ErrorCode.TABLE_VALUE_NOT_FOUND)
    assert str(error.location) == "MSH-18"
    assert error.reply_to is not None and error.reply_to.control_id == "MSG0001"


def test_utf16_bytes_are_rejected() -> None:
    with pytest.raises(CharsetError):
        parse_message(message(MSH_ORU).decode().encode("utf-16"))


def test_an_unknown_label_uses_the_senders_fallback() -> None:
    data = message(MSH_ORU + "||KLINGON", "PID|1||1^^^H^MR||\x80").decode().encode("latin-1")
    assert parse_message(data, ParseOptions(fallback_codecs=("cp1252",))).header.codec == "cp1252"


def test_a_charset_override_wins_over_msh18() -> None:
    data = message(MSH_ORU + "||8859/1", "NTE|1||5 \x80").decode().encode("latin-1")
    nte = segment(parse_message(data, ParseOptions(charset_override="cp1252")), "NTE")
    assert nte is not None
    assert field(nte, 3) == "5 €"


@pytest.mark.parametrize("options", [{"fallback_codecs": ("no-such-codec",)}, {"fallback_codecs": ()},
                                     {"fallback_codecs": ("utf-16",)},
                                     {"charset_override": "nope"}])
def test_parse_options_are_checked_when_built(options: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ParseOptions(**options)  # type: ignore[arg-type]


# --- MSH-1 and MSH-2 -----------------------------------------------------------------------------


def test_encoding_characters_are_read_not_assumed() -> None:
    data = message("MSH#$%@*#APP#FAC#CB#H#20240101##ADT$A01#X1#P#2.5", "PID#1##ID1$$$H$MR%ID2##DOE$JO@F@E")
    parsed = parse_message(data)
    assert parsed.header.encoding == EncodingCharacters("#", "$", "%", "@", "*")
    pid = segment(parsed, "PID")
    assert pid is not None
    assert field(pid, 3, repetition=1) == "ID2"
    assert field(pid, 5, component=2) == "JO#E"
    assert parsed.header.message_code == "ADT"


def test_v27_truncation_character_is_accepted() -> None:
    data = message("MSH|^~\\&#|A|B|C|D|20240101||ADT^A01|1|P|2.7", "NTE|1||50\\P\\ off")
    parsed = parse_message(data)
    assert parsed.header.encoding.truncation == "#"
    nte = segment(parsed, "NTE")
    assert nte is not None
    assert field(nte, 3) == "50# off"


def test_doubled_escape_in_msh2_is_read_as_one(read_sample: Reader) -> None:
    parsed = parse_message(read_sample("lfh__sample_unix.hl7"))
    assert parsed.header.encoding == EncodingCharacters()
    assert field(parsed.message[0], 2) == "^~\\&"  # MSH-2 holds the characters in effect
    pid = segment(parsed, "PID")
    assert pid is not None
    assert field(pid, 3, component=6) == "HOSP"  # PID-3.6: '&' is still the subcomponent separator


@pytest.mark.parametrize(
    ("first_line", "reason", "location"),
    [
        ("MSHA^~\\&|A", ParseReason.FIELD_SEPARATOR_INVALID, "MSH-1"),
        ("MSH ^~\\& A", ParseReason.FIELD_SEPARATOR_INVALID, "MSH-1"),
        ("MSH", ParseReason.REQUIRED_FIELD_MISSING, "MSH-1"),
        ("MSH||A|B", ParseReason.REQUIRED_FIELD_MISSING, "MSH-2"),
        ("MSH|^~|A|B", ParseReason.ENCODING_CHARACTERS_INVALID, "MSH-2"),
        ("MSH|^^\\&|A", ParseReason.ENCODING_CHARACTERS_INVALID, "MSH-2"),
        ("MSH|^~\\A|A", ParseReason.ENCODING_CHARACTERS_INVALID, "MSH-2"),
        ("MSH|^~\\&#$|A", ParseReason.ENCODING_CHARACTERS_INVALID, "MSH-2"),
        ("PID|1||X", ParseReason.NOT_MSH, "MSH"),
        ("   ", ParseReason.EMPTY, "MSH"),
    ],
)
def test_bad_starts_are_rejected_with_a_reason(first_line: str, reason: ParseReason, location: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(message(first_line))
    assert (caught.value.reason, str(caught.value.location)) == (reason, location)
    assert caught.value.reply_to is None


def test_empty_frame() -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(b"")
    assert caught.value.reason == ParseReason.EMPTY


@pytest.mark.parametrize("header", ["FHS|^~\\&|A", "BHS|^~\\&|A"])
def test_batches_are_unsupported(header: str) -> None:
    with pytest.raises(UnsupportedMessageError) as caught:
        parse_message(message(header, MSH_ORU))
    assert caught.value.reason == UnsupportedReason.BATCH
    assert (caught.value.ack_code, caught.value.error_code) == (AckCode.AR, ErrorCode.UNSUPPORTED_MESSAGE_TYPE)


def test_a_second_msh_is_a_segment_sequence_error() -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(message(MSH_ORU, PID, MSH_ORU))
    assert caught.value.reason == ParseReason.SECOND_MSH
    assert str(caught.value.location) == "MSH(2)"
    assert caught.value.error_code == ErrorCode.SEGMENT_SEQUENCE_ERROR


@pytest.mark.parametrize(
    ("msh", "location"),
    [
        ("MSH|^~\\&|A|B|C|D|20240101||ADT|1|P|2.5", "MSH-9.2"),
        ("MSH|^~\\&|A|B|C|D|20240101||^A01|1|P|2.5", "MSH-9.1"),
        ("MSH|^~\\&|A|B|C|D|20240101||ADT^A01||P|2.5", "MSH-10"),
        ("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1||2.5", "MSH-11"),
        ("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P", "MSH-12"),
    ],
)
def test_required_msh_fields(msh: str, location: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_message(message(msh))
    assert caught.value.reason == ParseReason.REQUIRED_FIELD_MISSING
    assert str(caught.value.location) == location
    assert caught.value.reply_to is not None
    assert caught.value.reply_to.sending_application == HierarchicDesignator("A")


def test_structure_is_msh93_or_derived() -> None:
    assert parse_message(message(MSH_ORU)).header.message_structure == "ORU_R01"
    derived = MSH_ORU.replace("ORU^R01^ORU_R01", "ADT^A04")
    assert parse_message(message(derived)).header.message_structure == "ADT_A04"


def test_msh7_is_optional() -> None:
    header = parse_message(message("MSH|^~\\&|A|B|C|D|||ADT^A01|1|P|2.5")).header
    assert header.message_datetime is None


def test_processing_mode_and_version_components() -> None:
    header = parse_message(message("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P^T|2.5.1^USA")).header
    assert (header.processing_id, header.processing_mode, header.version_id) == ("P", "T", "2.5.1")


# --- reading fields ------------------------------------------------------------------------------

SEGMENT_TEXT = "ZPI|plain|a^b^^d|r1c1^r1c2~r2c1^r2c2&r2c2s2|\\F\\pipe|\"\"||last||"


@pytest.fixture
def zpi() -> hl7.Segment:
    parsed = parse_message(message(MSH_ORU, SEGMENT_TEXT))
    found = segment(parsed, "ZPI")
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("args", "kwargs", "expected"),
    [
        ((1,), {}, "plain"),
        ((1,), {"component": 2}, None),  # a field without components has only component 1
        ((1,), {"repetition": 1}, None),
        ((2,), {}, "a"),
        ((2,), {"component": 2}, "b"),
        ((2,), {"component": 3}, None),  # empty component
        ((2,), {"component": 4}, "d"),
        ((2,), {"component": 9}, None),
        ((3,), {}, "r1c1"),
        ((3,), {"repetition": 1, "component": 2}, "r2c2"),
        ((3,), {"repetition": 1, "component": 2, "subcomponent": 2}, "r2c2s2"),
        ((3,), {"repetition": 1, "component": 2, "subcomponent": 3}, None),
        ((3,), {"repetition": 2}, None),
        ((4,), {}, "|pipe"),
        ((5,), {}, HL7_NULL),
        ((6,), {}, None),
        ((7,), {}, "last"),
        ((9,), {}, None),  # trailing empty field
        ((40,), {}, None),  # beyond the segment
    ],
)
def test_field(zpi: hl7.Segment, args: tuple[int], kwargs: dict[str, int], expected: str | None) -> None:
    assert field(zpi, *args, **kwargs) == expected


def test_field_positions_are_checked(zpi: hl7.Segment) -> None:
    for kwargs in ({"component": 0}, {"subcomponent": 0}, {"repetition": -1}):
        with pytest.raises(ValueError, match="count from"):
            field(zpi, 1, **kwargs)
    with pytest.raises(ValueError, match="count from"):
        field(zpi, 0)


def test_msh1_and_msh2_are_the_delimiters_as_sent() -> None:
    msh = parse_message(message(MSH_ORU)).message[0]
    assert (field(msh, 1), field(msh, 2)) == ("|", "^~\\&")
    assert field(msh, 3) == "LAB"
    assert field(msh, 4, component=2) == "1.2.3"


def test_raw_field_and_repetition_count(zpi: hl7.Segment) -> None:
    assert raw_field(zpi, 3) == "r1c1^r1c2~r2c1^r2c2&r2c2s2"
    assert raw_field(zpi, 4) == "\\F\\pipe"
    assert raw_field(zpi, 6) is None
    assert raw_field(zpi, 99) is None
    assert [repetition_count(zpi, n) for n in (1, 2, 3, 6, 99)] == [1, 1, 2, 0, 0]


def test_segments_and_segment() -> None:
    parsed = parse_message(message(MSH_ORU, PID, OBX, OBX.replace("OBX|1", "OBX|2"), "ZXT|1"))
    assert [field(s, 1) for s in segments(parsed, "OBX")] == ["1", "2"]
    assert segments(parsed, "NTE") == []
    assert segment(parsed, "NTE") is None
    assert segment(parsed, "ZXT") is not None


def test_parsed_message_repr_shows_the_header_only() -> None:
    parsed = parse_message(message(MSH_ORU, PID))
    assert "DOE" not in repr(parsed)
    assert "MSG0001" in repr(parsed)


# --- strict structure validation -----------------------------------------------------------------


def test_a_message_that_fits_its_structure_has_no_issues(read_sample: Reader) -> None:
    assert validate_structure(parse_message(read_sample("msfc__ADT-A01-01.hl7"))) == ()


def test_a04_is_checked_against_the_shared_a01_structure(read_sample: Reader) -> None:
    issues = validate_structure(parse_message(read_sample("msfc__ADT04-251.hl7")))
    assert [(i.reason, str(i.location)) for i in issues] == [("segment-missing", "EVN")]


def test_an_unexpected_segment_is_located(read_sample: Reader) -> None:
    issues = validate_structure(parse_message(read_sample("lfh__sample_unix.hl7")))
    assert [(i.reason, str(i.location), i.code) for i in issues] == [
        ("segment-unexpected", "PRB", ErrorCode.SEGMENT_SEQUENCE_ERROR)]


def test_z_segments_are_allowed_anywhere() -> None:
    data = message("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5", "ZX1|1", "EVN|A01|2024", "PID|1||1",
                   "ZX2|1", "PV1|1|I")
    assert validate_structure(parse_message(data)) == ()


def test_unknown_version_or_structure_is_reported_not_guessed() -> None:
    unknown_version = parse_message(message("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.9"))
    assert [i.code for i in validate_structure(unknown_version)] == [ErrorCode.UNSUPPORTED_VERSION_ID]
    unknown_type = parse_message(message("MSH|^~\\&|A|B|C|D|2024||XYZ^Q99|1|P|2.5"))
    assert [i.code for i in validate_structure(unknown_type)] == [ErrorCode.UNSUPPORTED_MESSAGE_TYPE]


def test_structure_issues_become_one_error() -> None:
    issues = validate_structure(parse_message(message("MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5", "PV1|1|I")))
    assert [i.reason for i in issues] == ["segment-missing", "segment-missing"]
    error = StructureError(issues)
    assert error.details == issues
    assert error.ack_code == AckCode.AE


# --- properties ----------------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.sampled_from("AB1 |^~&\\.-é"), max_size=30)
_SEGMENT = st.builds(lambda sid, body: sid + "|" + body, st.sampled_from(["PID", "OBX", "ZZ1", "NTE"]), _TEXT)


@settings(max_examples=150)
@given(bodies=st.lists(_SEGMENT, max_size=6), terminator=st.sampled_from(["\r", "\n", "\r\n"]))
def test_tree_matches_python_hl7_for_generated_messages(bodies: list[str], terminator: str) -> None:
    data = message(MSH_ORU, *bodies, terminator=terminator)
    parsed = parse_message(data)
    assert hl7.parse(str(parsed.message)) == parsed.message
    assert len(parsed.message) == 1 + len(bodies)


@settings(max_examples=300)
@given(data=st.binary(max_size=200))
def test_random_bytes_parse_or_raise_a_typed_error(data: bytes) -> None:
    with contextlib.suppress(Hl7Error):
        parse_message(data)


@settings(max_examples=300)
@given(tail=st.binary(max_size=200), head=st.sampled_from([b"MSH|^~\\&|", b"MSH|^~\\&|A|B|C|D|2024||ADT^A01|1|P|2.5|",
                                                           b"\xef\xbb\xbfMSH", b"MSH^~|\\&"]))
def test_random_bytes_after_an_msh_start_parse_or_raise_a_typed_error(head: bytes, tail: bytes) -> None:
    try:
        parsed = parse_message(head + tail)
    except Hl7Error:
        return
    for seg in parsed.message:
        for number in range(1, len(seg)):
            for repetition in range(repetition_count(seg, number)):
                field(seg, number, repetition=repetition, component=2)


@settings(max_examples=200)
@given(data=st.data())
def test_mutated_samples_parse_or_raise_a_typed_error(data: st.DataObject) -> None:
    original = message(MSH_ORU, PID, OBX, "NTE|1||a\\.br\\b\\XC3A9\\")
    position = data.draw(st.integers(0, len(original)))
    noise = data.draw(st.binary(max_size=8))
    cut = data.draw(st.integers(0, 8))
    with contextlib.suppress(Hl7Error):
        parse_message(original[:position] + noise + original[position + cut:])


# --- escape sequences ----------------------------------------------------------------------------

LATIN1 = "latin-1"


@pytest.mark.parametrize(
    ("escaped", "expected", "codec"),
    [
        ("a\\F\\b", "a|b", "utf-8"),
        ("a\\S\\b", "a^b", "utf-8"),
        ("a\\T\\b", "a&b", "utf-8"),
        ("a\\R\\b", "a~b", "utf-8"),
        ("C:\\E\\temp", "C:\\temp", "utf-8"),
        ("line\\.br\\next", "line\nnext", "utf-8"),
        ("\\.br\\\\.br\\", "\n\n", "utf-8"),
        ("a\\.sp\\b", "a\nb", "utf-8"),
        ("a\\.sp2\\b", "a\n\nb", "utf-8"),
        ("a\\.sk3\\b", "a   b", "utf-8"),
        ("a\\.ce\\b", "a\nb", "utf-8"),
        ("\\.in+4\\a\\.ti-2\\\\.fi\\\\.nf\\", "a", "utf-8"),
        ("\\H\\bold\\N\\", "bold", "utf-8"),
        ("\\X41\\", "A", "utf-8"),
        ("caf\\XC3A9\\", "café", "utf-8"),  # one UTF-8 character from two hex bytes, not two characters
        ("caf\\XE9\\", "café", LATIN1),
        ("caf\\XE9\\", "caf\\XE9\\", "utf-8"),  # not valid UTF-8: kept as sent
        ("\\X4\\", "\\X4\\", "utf-8"),  # odd number of hex digits
        ("\\XZZ\\", "\\XZZ\\", "utf-8"),
        ("\\C2842\\abc\\C2D41\\", "abc", "utf-8"),  # character-set switches carry no text
        ("\\Zlocal\\", "\\Zlocal\\", "utf-8"),  # local escapes are the sender's; kept
        ("\\.xx\\", "\\.xx\\", "utf-8"),
        ("unterminated \\F", "unterminated \\F", "utf-8"),
        ("a\\\\b", "a\\\\b", "utf-8"),
        ("\\P\\", "\\P\\", "utf-8"),  # no truncation character declared
        ("no escapes", "no escapes", "utf-8"),
        ("", "", "utf-8"),
    ],
)
def test_unescape(escaped: str, expected: str, codec: str) -> None:
    assert unescape(escaped, codec=codec) == expected


def test_unescape_uses_the_messages_escape_character() -> None:
    enc = EncodingCharacters("#", "$", "%", "@", "*", "!")
    assert unescape("a@F@b@S@c@E@d@P@\\F\\", enc) == "a#b$c@d!\\F\\"


@settings(max_examples=200)
@given(text=st.text(alphabet=st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)), max_size=40))
def test_escape_then_unescape_gives_the_text_back(text: str) -> None:
    assert unescape(escape(text)) == text


def test_escape_writes_no_delimiter_raw() -> None:
    escaped = escape("a|b^c~d&e\\f\r\ng")
    assert not set("|^~&\r\n") & set(escaped)
    assert escaped == "a\\F\\b\\S\\c\\R\\d\\T\\e\\E\\f\\.br\\g"
