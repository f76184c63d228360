"""The HL7 v2 adapter's errors, and what each one answers the sender.

    CarebusError
    └── Hl7Error                      ack_code (table 0008) + error_code (table 0357) + location
        ├── FramingError              the MLLP byte stream broke its framing
        │   ├── UnexpectedBytesError  bytes outside any frame (size only; there is nothing to ACK)
        │   ├── MalformedFrameError   a frame ended badly (keeps its bytes for the dead letter)
        │   └── OversizedFrameError   a frame grew past the configured limit
        ├── ParseError                the frame is not a well-formed HL7 v2 message
        │   └── CharsetError          MSH-18 names a set we cannot decode, or the bytes do not decode
        ├── UnsupportedMessageError   well formed, but not accepted: type, event, processing id, version, batch
        ├── StructureError            the segments do not fit the message structure (strict validation)
        └── MappingError              a valid message that cannot become canonical events

Which ACK code goes with which error follows HL7 v2.5 chapter 2.9.2 (original mode): a message the
receiver turns away on its MSH (unsupported type, event, processing id, version, character set) and a
stream whose framing broke get AR; a message whose content is wrong (syntax, a required field missing,
a bad value) gets AE. A sender should not resend either unchanged.

Every error carries where (segment, sequence, field, repetition, component) and why (a reason code),
never a value from the message, so `str(error)`, a log line and the ACK's ERR segment are PHI-free.
`MalformedFrameError.frame` is the one exception: it keeps the raw bytes so the server can dead-letter
them, and it never appears in the message text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import TYPE_CHECKING

from carebus.errors import CarebusError

if TYPE_CHECKING:
    from producers.hl7v2.parsing import ReplyTo

__all__ = [
    "AckCode",
    "CharsetError",
    "ErrorCode",
    "ErrorDetail",
    "ErrorLocation",
    "FrameFault",
    "FramingError",
    "Hl7Error",
    "MalformedFrameError",
    "MappingError",
    "OversizedFrameError",
    "ParseError",
    "ParseReason",
    "StructureError",
    "UnexpectedBytesError",
    "UnsupportedMessageError",
    "UnsupportedReason",
]


class AckCode(StrEnum):
    """MSA-1, HL7 table 0008 (original mode)."""

    AA = "AA"
    """Application accept."""
    AE = "AE"
    """Application error: the content is wrong."""
    AR = "AR"
    """Application reject: turned away on the header, or for reasons unrelated to the content."""


class ErrorCode(IntEnum):
    """ERR-3, HL7 table 0357 (message error condition codes)."""

    MESSAGE_ACCEPTED = 0
    SEGMENT_SEQUENCE_ERROR = 100
    REQUIRED_FIELD_MISSING = 101
    DATA_TYPE_ERROR = 102
    TABLE_VALUE_NOT_FOUND = 103
    UNSUPPORTED_MESSAGE_TYPE = 200
    UNSUPPORTED_EVENT_CODE = 201
    UNSUPPORTED_PROCESSING_ID = 202
    UNSUPPORTED_VERSION_ID = 203
    UNKNOWN_KEY_IDENTIFIER = 204
    DUPLICATE_KEY_IDENTIFIER = 205
    APPLICATION_RECORD_LOCKED = 206
    APPLICATION_INTERNAL_ERROR = 207

    @property
    def text(self) -> str:
        """The table's description, for ERR-3.2."""
        return _ERROR_CODE_TEXT[self]


_ERROR_CODE_TEXT: dict[ErrorCode, str] = {
    ErrorCode.MESSAGE_ACCEPTED: "Message accepted",
    ErrorCode.SEGMENT_SEQUENCE_ERROR: "Segment sequence error",
    ErrorCode.REQUIRED_FIELD_MISSING: "Required field missing",
    ErrorCode.DATA_TYPE_ERROR: "Data type error",
    ErrorCode.TABLE_VALUE_NOT_FOUND: "Table value not found",
    ErrorCode.UNSUPPORTED_MESSAGE_TYPE: "Unsupported message type",
    ErrorCode.UNSUPPORTED_EVENT_CODE: "Unsupported event code",
    ErrorCode.UNSUPPORTED_PROCESSING_ID: "Unsupported processing id",
    ErrorCode.UNSUPPORTED_VERSION_ID: "Unsupported version id",
    ErrorCode.UNKNOWN_KEY_IDENTIFIER: "Unknown key identifier",
    ErrorCode.DUPLICATE_KEY_IDENTIFIER: "Duplicate key identifier",
    ErrorCode.APPLICATION_RECORD_LOCKED: "Application record locked",
    ErrorCode.APPLICATION_INTERNAL_ERROR: "Application internal error",
}


@dataclass(frozen=True, slots=True)
class ErrorLocation:
    """Where an error is, shaped like ERR-2 (ERL). Every position is 1-based, as on the wire.

    `repetition` is the 1-based ERL-4 ordinal, so it is the `field(..., repetition=i)` index plus one.
    """

    segment: str
    sequence: int | None = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def __str__(self) -> str:
        text = self.segment if self.sequence in (None, 1) else f"{self.segment}({self.sequence})"
        if self.field is not None:
            text += f"-{self.field}"
            if self.repetition not in (None, 1):
                text += f"[{self.repetition}]"
            if self.component is not None:
                text += f".{self.component}"
                if self.subcomponent is not None:
                    text += f".{self.subcomponent}"
        return text


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One ERR segment's worth: a reason code, its table 0357 code and where. Never a value."""

    reason: str
    code: ErrorCode
    location: ErrorLocation | None = None

    @property
    def text(self) -> str:
        """A short, value-free sentence for ERR-8 and logs."""
        where = f" at {self.location}" if self.location is not None else ""
        return f"{self.reason}{where}"


class Hl7Error(CarebusError):
    """Something about inbound HL7 v2 traffic that the sender must hear about."""

    ack_code: AckCode
    error_code: ErrorCode

    def __init__(
        self,
        reason: str,
        *,
        error_code: ErrorCode,
        ack_code: AckCode,
        location: ErrorLocation | None = None,
        note: str = "",
    ) -> None:
        self.reason = reason
        self.error_code = error_code
        self.ack_code = ack_code
        self.location = location
        detail = self.details[0].text
        super().__init__(f"{detail} ({note})" if note else detail)

    @property
    def details(self) -> tuple[ErrorDetail, ...]:
        """The ERR segments an ACK for this error carries."""
        return (ErrorDetail(self.reason, self.error_code, self.location),)


# --- framing -------------------------------------------------------------------------------------


class FrameFault(StrEnum):
    END_BLOCK_WITHOUT_CR = "end-block-without-cr"
    """0x1C followed by something other than 0x0D inside a stream."""
    START_BLOCK_IN_FRAME = "start-block-in-frame"
    """A new 0x0B arrived before the current frame's end block."""
    TRUNCATED = "truncated"
    """The stream ended inside a frame."""


class FramingError(Hl7Error):
    """The MLLP byte stream broke its framing."""


class UnexpectedBytesError(FramingError):
    """Bytes arrived outside any frame. They are dropped; there is no message to acknowledge.

    `whitespace_only` lets the server log the common stray CR/LF after an end block more quietly
    than, say, an HTTP request sent to the MLLP port.
    """

    def __init__(self, size: int, *, whitespace_only: bool) -> None:
        self.size = size
        self.whitespace_only = whitespace_only
        kind = "whitespace" if whitespace_only else "bytes"
        super().__init__(
            "unexpected-bytes",
            error_code=ErrorCode.SEGMENT_SEQUENCE_ERROR,
            ack_code=AckCode.AR,
            note=f"{size} {kind} outside a frame",
        )


class MalformedFrameError(FramingError):
    """A frame ended badly; `frame` holds its payload for the dead letter, and never reaches the text."""

    def __init__(self, fault: FrameFault, *, frame: bytes) -> None:
        self.fault = fault
        self.frame = frame
        super().__init__(
            fault.value,
            error_code=ErrorCode.SEGMENT_SEQUENCE_ERROR,
            ack_code=AckCode.AR,
            note=f"{len(frame)} bytes",
        )


class OversizedFrameError(FramingError):
    """A frame grew past the limit. The decoder skips the rest of it and resynchronises.

    `size` is how many payload bytes had arrived when the limit was crossed; the frame may be longer.
    """

    def __init__(self, *, limit: int, size: int) -> None:
        self.limit = limit
        self.size = size
        super().__init__(
            "frame-too-large",
            error_code=ErrorCode.APPLICATION_INTERNAL_ERROR,
            ack_code=AckCode.AR,
            note=f"over {limit} bytes",
        )


# --- parsing -------------------------------------------------------------------------------------


class ParseReason(StrEnum):
    EMPTY = "message-empty"
    NOT_MSH = "msh-not-first"
    FIELD_SEPARATOR_INVALID = "field-separator-invalid"
    ENCODING_CHARACTERS_INVALID = "encoding-characters-invalid"
    REQUIRED_FIELD_MISSING = "required-field-missing"
    SECOND_MSH = "second-msh"
    CHARSET_UNSUPPORTED = "charset-unsupported"
    CHARSET_UNDECODABLE = "charset-undecodable"


_PARSE_CODES: dict[ParseReason, tuple[AckCode, ErrorCode]] = {
    ParseReason.EMPTY: (AckCode.AE, ErrorCode.SEGMENT_SEQUENCE_ERROR),
    ParseReason.NOT_MSH: (AckCode.AE, ErrorCode.SEGMENT_SEQUENCE_ERROR),
    ParseReason.FIELD_SEPARATOR_INVALID: (AckCode.AE, ErrorCode.DATA_TYPE_ERROR),
    ParseReason.ENCODING_CHARACTERS_INVALID: (AckCode.AE, ErrorCode.DATA_TYPE_ERROR),
    ParseReason.REQUIRED_FIELD_MISSING: (AckCode.AE, ErrorCode.REQUIRED_FIELD_MISSING),
    ParseReason.SECOND_MSH: (AckCode.AE, ErrorCode.SEGMENT_SEQUENCE_ERROR),
    # MSH-18 is coded from table 0211; a set we do not decode is turned away on the header, like a version.
    ParseReason.CHARSET_UNSUPPORTED: (AckCode.AR, ErrorCode.TABLE_VALUE_NOT_FOUND),
    ParseReason.CHARSET_UNDECODABLE: (AckCode.AE, ErrorCode.DATA_TYPE_ERROR),
}


class ParseError(Hl7Error):
    """The frame is not a well-formed HL7 v2 message.

    `reply_to` holds what could be read of the MSH (encoding characters, applications, MSH-10), so the
    NAK can still name the message it rejects; it is None when not even that could be read.
    """

    def __init__(
        self,
        reason: ParseReason,
        *,
        location: ErrorLocation | None = None,
        reply_to: ReplyTo | None = None,
        note: str = "",
    ) -> None:
        self.reply_to = reply_to
        ack_code, error_code = _PARSE_CODES[reason]
        super().__init__(reason.value, error_code=error_code, ack_code=ack_code, location=location, note=note)


class CharsetError(ParseError):
    """MSH-18 names a set we cannot decode, or the bytes are not valid in the set used.

    `charset` is the MSH-18 label as sent (a table 0211 code, not PHI); `offset` is the byte position
    of the first undecodable byte, never the byte itself.
    """

    def __init__(
        self,
        reason: ParseReason,
        *,
        charset: str | None,
        offset: int | None = None,
        location: ErrorLocation | None = None,
        reply_to: ReplyTo | None = None,
    ) -> None:
        self.charset = charset
        self.offset = offset
        note = f"charset {charset or 'undeclared'}" + (f", byte {offset}" if offset is not None else "")
        super().__init__(reason, location=location, reply_to=reply_to, note=note)


# --- accepting -----------------------------------------------------------------------------------


class UnsupportedReason(StrEnum):
    MESSAGE_TYPE = "message-type-unsupported"
    EVENT = "event-unsupported"
    PROCESSING_ID = "processing-id-unsupported"
    VERSION = "version-unsupported"
    BATCH = "batch-unsupported"


_UNSUPPORTED: dict[UnsupportedReason, tuple[ErrorCode, ErrorLocation]] = {
    UnsupportedReason.MESSAGE_TYPE: (ErrorCode.UNSUPPORTED_MESSAGE_TYPE, ErrorLocation("MSH", 1, 9, 1, 1)),
    UnsupportedReason.EVENT: (ErrorCode.UNSUPPORTED_EVENT_CODE, ErrorLocation("MSH", 1, 9, 1, 2)),
    UnsupportedReason.PROCESSING_ID: (ErrorCode.UNSUPPORTED_PROCESSING_ID, ErrorLocation("MSH", 1, 11)),
    UnsupportedReason.VERSION: (ErrorCode.UNSUPPORTED_VERSION_ID, ErrorLocation("MSH", 1, 12)),
    # FHS/BHS batches are valid HL7, just not a message type this listener takes.
    UnsupportedReason.BATCH: (ErrorCode.UNSUPPORTED_MESSAGE_TYPE, ErrorLocation("MSH", 1)),
}


class UnsupportedMessageError(Hl7Error):
    """A well-formed message this receiver does not take (HL7 2.9.2: rejected with AR)."""

    def __init__(self, reason: UnsupportedReason, *, reply_to: ReplyTo | None = None) -> None:
        self.reply_to = reply_to
        error_code, location = _UNSUPPORTED[reason]
        super().__init__(reason.value, error_code=error_code, ack_code=AckCode.AR, location=location)


class StructureError(Hl7Error):
    """The segments do not fit the message structure of the declared version (one detail per problem)."""

    def __init__(self, details: Sequence[ErrorDetail]) -> None:
        if not details:
            raise ValueError("StructureError needs at least one detail")
        self._details = tuple(details)
        first = self._details[0]
        more = f"{len(self._details) - 1} more" if len(self._details) > 1 else ""
        super().__init__(first.reason, error_code=first.code, ack_code=AckCode.AE, location=first.location,
                         note=more)

    @property
    def details(self) -> tuple[ErrorDetail, ...]:
        return self._details


class MappingError(Hl7Error):
    """A valid message that cannot become canonical events.

    `reason` is a short, value-free code chosen by the mapping ("obx-5-not-numeric"). Content problems
    are AE (the default); a message the mapping does not handle at all is AR.
    """

    def __init__(
        self,
        reason: str,
        *,
        location: ErrorLocation | None = None,
        error_code: ErrorCode = ErrorCode.DATA_TYPE_ERROR,
        ack_code: AckCode = AckCode.AE,
    ) -> None:
        if ack_code is AckCode.AA:
            raise ValueError("a MappingError cannot be acknowledged with AA")
        super().__init__(reason, error_code=error_code, ack_code=ack_code, location=location)
