"""Original-mode acknowledgements (HL7 v2.5 chapter 2.9.2): MSH, MSA and, for AE/AR, ERR.

A pure function: the new control id and the timestamp are passed in. The ACK echoes only the inbound
MSH's routing fields (applications, facilities, MSH-9.2, MSH-10, MSH-11, MSH-12, MSH-18), never a
data value; the ERR text comes from the error's reason code and location. It is written with the
inbound message's encoding characters and codec, and when the inbound header could not be read at
all it still goes out, with HL7's default delimiters, an empty MSA-2 and `DEFAULT_ACK_VERSION`.

    MSH|^~\\&|<in MSH-5>|<in MSH-6>|<in MSH-3>|<in MSH-4>|<timestamp>||ACK^<in MSH-9.2>^ACK|<control id>|<in MSH-11>|...
    MSA|AE|<in MSH-10>
    ERR||MSH^1^9^1^1|101^Required field missing^HL70357|E||||required field missing at MSH-9.1

Version differences are honoured: MSH-9.3 only from v2.3.1; before v2.5 the error goes in ERR-1 (ELD,
`segment^sequence^field^code&text&HL70357`) and MSA-3, as ERR-2 to ERR-8 do not exist yet.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Final

from producers.hl7v2.errors import AckCode, ErrorCode, ErrorDetail, ErrorLocation, Hl7Error
from producers.hl7v2.parsing import EncodingCharacters, HierarchicDesignator, ReplyTo, escape

__all__ = ["DEFAULT_ACK_VERSION", "DEFAULT_PROCESSING_ID", "MAX_ERR_SEGMENTS", "build_ack"]

DEFAULT_ACK_VERSION: Final = "2.5.1"
DEFAULT_PROCESSING_ID: Final = "P"
# A structure check can find many problems; the sender needs the first few, not a second message.
MAX_ERR_SEGMENTS: Final = 10
_ERROR_TABLE: Final = "HL70357"
_SEVERITY_ERROR: Final = "E"

_VERSION_NUMBERS = re.compile(r"\d+(?:\.\d+)*")


def build_ack(
    code: AckCode,
    *,
    reply_to: ReplyTo | None,
    control_id: str,
    timestamp: datetime,
    error: Hl7Error | None = None,
    sending_application: HierarchicDesignator | None = None,
    sending_facility: HierarchicDesignator | None = None,
) -> bytes:
    """The ACK for one inbound message, encoded in the inbound codec.

    `reply_to` is `parsed.header.reply_to`, or `ParseError.reply_to` (None when no MSH was readable).
    `sending_application` / `sending_facility` (our MSH-3 / MSH-4) default to the inbound MSH-5 / MSH-6.
    AE and AR carry one ERR per error detail; without an error they report 207 (internal error), which
    is what a receiver that could not store the message (broker down) answers.
    """
    if code is AckCode.AA and error is not None:
        raise ValueError("an AA acknowledgement carries no error")
    if timestamp.tzinfo is None or timestamp.utcoffset() is None:
        raise ValueError("the ACK timestamp must be timezone-aware")
    if not control_id:
        raise ValueError("the ACK needs a control id (MSH-10)")
    reply = reply_to or ReplyTo()
    enc = reply.encoding
    version = reply.version_id or DEFAULT_ACK_VERSION
    numbers = _version_numbers(version)
    details: Sequence[ErrorDetail] = ()
    if code is not AckCode.AA:
        details = error.details if error is not None else (
            ErrorDetail("application-internal-error", ErrorCode.APPLICATION_INTERNAL_ERROR),)
        details = details[:MAX_ERR_SEGMENTS]

    msh = [
        _hd(sending_application or reply.receiving_application, enc),  # MSH-3
        _hd(sending_facility or reply.receiving_facility, enc),  # MSH-4
        _hd(reply.sending_application, enc),  # MSH-5
        _hd(reply.sending_facility, enc),  # MSH-6
        timestamp.strftime("%Y%m%d%H%M%S%z"),  # MSH-7
        "",  # MSH-8
        _join(["ACK", _escape(reply.trigger_event, enc), "ACK" if numbers >= (2, 3, 1) else ""],
              enc.component),  # MSH-9
        escape(control_id, enc),  # MSH-10
        _join([_escape(reply.processing_id, enc) or DEFAULT_PROCESSING_ID, _escape(reply.processing_mode, enc)],
              enc.component),  # MSH-11
        escape(version, enc),  # MSH-12
    ]
    if reply.charset:
        msh += ["", "", "", "", "", escape(reply.charset, enc)]  # MSH-13 to MSH-17, then MSH-18
    lines = ["MSH" + enc.field + enc.msh2 + enc.field + enc.field.join(msh)]

    msa = [code.value, _escape(reply.control_id, enc)]  # MSA-1, MSA-2
    if details and numbers < (2, 5):
        msa.append(escape(details[0].text, enc))  # MSA-3: before v2.5, ERR has no text field of its own
    lines.append(_segment("MSA", msa, enc))

    if details and numbers < (2, 5):
        lines.append(_segment("ERR", [enc.repetition.join(_eld(detail, enc) for detail in details)], enc))
    else:
        lines.extend(_segment("ERR", _err_fields(detail, enc), enc) for detail in details)
    return ("\r".join(lines) + "\r").encode(reply.codec, errors="replace")


def _err_fields(detail: ErrorDetail, enc: EncodingCharacters) -> list[str]:
    return [
        "",  # ERR-1, backward compatibility only from v2.5
        _erl(detail.location, enc),  # ERR-2
        _join([str(int(detail.code)), escape(detail.code.text, enc), _ERROR_TABLE], enc.component),  # ERR-3
        _SEVERITY_ERROR,  # ERR-4
        "",  # ERR-5
        "",  # ERR-6
        "",  # ERR-7
        escape(detail.text, enc),  # ERR-8
    ]


def _erl(location: ErrorLocation | None, enc: EncodingCharacters) -> str:
    if location is None:
        return ""
    parts = (location.segment, location.sequence, location.field, location.repetition, location.component,
             location.subcomponent)
    return _join(["" if part is None else escape(str(part), enc) for part in parts], enc.component)


def _eld(detail: ErrorDetail, enc: EncodingCharacters) -> str:
    location = detail.location
    code = _join([str(int(detail.code)), escape(detail.code.text, enc), _ERROR_TABLE], enc.subcomponent)
    if location is None:
        return _join(["", "", "", code], enc.component)
    parts = (location.segment, location.sequence, location.field)
    return _join([*("" if part is None else escape(str(part), enc) for part in parts), code], enc.component)


@lru_cache(maxsize=256)  # a listener answers few senders: their names are written once, not per ACK
def _hd(value: HierarchicDesignator | None, enc: EncodingCharacters) -> str:
    if value is None:
        return ""
    parts = (value.namespace_id, value.universal_id, value.universal_id_type)
    return _join([_escape(part, enc) for part in parts], enc.component)


def _escape(value: str | None, enc: EncodingCharacters) -> str:
    return escape(value, enc) if value else ""


def _join(parts: Sequence[str], separator: str) -> str:
    # Parts are escaped, so every separator left is structural and trailing empties can be trimmed.
    return separator.join(parts).rstrip(separator)


def _segment(name: str, fields: Sequence[str], enc: EncodingCharacters) -> str:
    return enc.field.join([name, *fields]).rstrip(enc.field)


@lru_cache(maxsize=64)
def _version_numbers(version: str) -> tuple[int, ...]:
    # "2.5.1" → (2, 5, 1); an unreadable version is treated as current, which is what senders use.
    match = _VERSION_NUMBERS.match(version)
    return tuple(int(n) for n in match.group().split(".")) if match else (99,)
