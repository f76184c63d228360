from __future__ import annotations

import ast
import inspect
from types import ModuleType

import pytest

from carebus.errors import CarebusError
from producers.hl7v2 import ack, charset, errors, framing, parsing
from producers.hl7v2.errors import (
    AckCode,
    CharsetError,
    ErrorCode,
    ErrorDetail,
    ErrorLocation,
    FrameFault,
    FramingError,
    Hl7Error,
    MalformedFrameError,
    MappingError,
    OversizedFrameError,
    ParseError,
    ParseReason,
    StructureError,
    UnexpectedBytesError,
    UnsupportedMessageError,
    UnsupportedReason,
)

ERRORS: list[tuple[Hl7Error, AckCode, int]] = [
    (UnexpectedBytesError(3, whitespace_only=True), AckCode.AR, 100),
    (MalformedFrameError(FrameFault.TRUNCATED, frame=b"x"), AckCode.AR, 100),
    (OversizedFrameError(limit=1, size=2), AckCode.AR, 207),
    (ParseError(ParseReason.NOT_MSH), AckCode.AE, 100),
    (ParseError(ParseReason.REQUIRED_FIELD_MISSING), AckCode.AE, 101),
    (ParseError(ParseReason.ENCODING_CHARACTERS_INVALID), AckCode.AE, 102),
    (CharsetError(ParseReason.CHARSET_UNDECODABLE, charset="ASCII", offset=7), AckCode.AE, 102),
    (CharsetError(ParseReason.CHARSET_UNSUPPORTED, charset="UNICODE UTF-16"), AckCode.AR, 103),
    (UnsupportedMessageError(UnsupportedReason.MESSAGE_TYPE), AckCode.AR, 200),
    (UnsupportedMessageError(UnsupportedReason.EVENT), AckCode.AR, 201),
    (UnsupportedMessageError(UnsupportedReason.PROCESSING_ID), AckCode.AR, 202),
    (UnsupportedMessageError(UnsupportedReason.VERSION), AckCode.AR, 203),
    (StructureError([ErrorDetail("segment-missing", ErrorCode.SEGMENT_SEQUENCE_ERROR)]), AckCode.AE, 100),
    (MappingError("obx-5-not-numeric"), AckCode.AE, 102),
    (MappingError("no-mapping", ack_code=AckCode.AR, error_code=ErrorCode.UNSUPPORTED_EVENT_CODE), AckCode.AR, 201),
]


@pytest.mark.parametrize(("error", "ack_code", "error_code"), ERRORS, ids=lambda e: type(e).__name__)
def test_each_error_knows_its_ack_and_table_0357_code(error: Hl7Error, ack_code: AckCode, error_code: int) -> None:
    assert isinstance(error, CarebusError)
    assert (error.ack_code, int(error.error_code)) == (ack_code, error_code)
    assert error.details[0].code == error.error_code


def test_the_tree() -> None:
    assert issubclass(Hl7Error, CarebusError)
    for sub in (UnexpectedBytesError, MalformedFrameError, OversizedFrameError):
        assert issubclass(sub, FramingError)
    assert issubclass(CharsetError, ParseError)
    for sub in (FramingError, ParseError, UnsupportedMessageError, StructureError, MappingError):
        assert issubclass(sub, Hl7Error)


def test_the_message_names_where_and_why() -> None:
    error = ParseError(ParseReason.REQUIRED_FIELD_MISSING, location=ErrorLocation("MSH", 1, 9, 1, 2))
    assert str(error) == "required-field-missing at MSH-9.2"
    assert str(CharsetError(ParseReason.CHARSET_UNDECODABLE, charset=None, offset=12,
                            location=ErrorLocation("PID", 1, 5))) == (
        "charset-undecodable at PID-5 (charset undeclared, byte 12)")


@pytest.mark.parametrize(
    ("location", "text"),
    [
        (ErrorLocation("PID"), "PID"),
        (ErrorLocation("OBX", 3, 5), "OBX(3)-5"),
        (ErrorLocation("PID", 1, 3, 2, 4, 2), "PID-3[2].4.2"),
        (ErrorLocation("EVN", None), "EVN"),
    ],
)
def test_location_text(location: ErrorLocation, text: str) -> None:
    assert str(location) == text


def test_error_code_text_is_table_0357() -> None:
    assert ErrorCode.UNSUPPORTED_PROCESSING_ID.text == "Unsupported processing id"
    assert all(code.text for code in ErrorCode)


def test_misuse() -> None:
    with pytest.raises(ValueError, match="AA"):
        MappingError("x", ack_code=AckCode.AA)
    with pytest.raises(ValueError, match="detail"):
        StructureError([])


@pytest.mark.parametrize("module", [ack, charset, errors, framing, parsing], ids=lambda m: m.__name__)
def test_all_lists_exactly_the_public_names(module: ModuleType) -> None:
    tree = ast.parse(inspect.getsource(module))
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            defined.add(node.target.id)
    assert set(module.__all__) == {name for name in defined if not name.startswith("_")}
