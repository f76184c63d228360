"""One HL7 v2 frame in, python-hl7's message tree and a small typed header out; typed field access.

    parsed = parse_message(frame, options)          # ParseError / UnsupportedMessageError on bad input
    parsed.header.control_id                        # MSH-10
    for obx in segments(parsed, "OBX"):
        code = field(obx, 3, component=1)           # OBX-3.1, unescaped, None when empty

Decisions (each one is tested in tests/unit/hl7v2/test_parsing.py):

- The tree is python-hl7's (`hl7.Message` → `Segment` → `Field` → `Repetition` → `Component`), with the
  shape `hl7.parse` gives the same text; a test checks that on every sample. We split it ourselves
  instead of calling `hl7.parse`: its recursive parse plan builds a plan object per field and runs
  an assert per node, and measured ~1,000 ORU^R01 (5 OBX, 1.4 KB) per second on one core, under the
  2,000/s target. The flat split below, into light subclasses of python-hl7's containers, measured
  ~5,000/s for the same message, header included.
- Bytes: a UTF-8 byte order mark is dropped; the codec comes from MSH-18 (see `charset`).
- Segment terminators CR, LF and CRLF are all accepted. A line that does not start with a segment id
  (three upper-case letters or digits, then the field separator) is a line break inside a field, as
  some senders wrap long text; it is kept as the `\\.br\\` escape, so `field()` gives back a newline.
  Blank lines are dropped.
- MSH-1 and MSH-2 are read, never assumed. MSH-2 must be four or five (v2.7 truncation) distinct
  punctuation characters. `^~\\\\&`, which some senders write by escaping the backslash twice, is read
  as `^~\\&`, and the tree's MSH-2 holds the characters in effect.
- Required: MSH-9.1, MSH-9.2, MSH-10, MSH-11 and MSH-12. MSH-7 is not: the mapping falls back to the
  receive time. An empty MSH-9.3 is derived as `<code>_<trigger>`.
- One message per frame: a second MSH is an error, an FHS/BHS batch is unsupported.
- Positions are HL7's: fields, components and subcomponents count from 1 (`PID-3.1`), as does a
  segment's sequence. A repetition is a 0-based index, like the list it comes from.
- The HL7 null `""` ("delete this value") is returned as the two characters; compare with `HL7_NULL`.
- `field_parts()` reads a whole field once, as `field()` would read each of its values, and keeps the
  result on the segment: a mapping that reads ~300 values per message walks each field once instead
  of once per value. The tree is treated as read-only once parsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from functools import lru_cache
from typing import Any, Final, NamedTuple

import hl7
import hl7apy
from hl7apy.exceptions import HL7apyException

from carebus.errors import ConfigError
from producers.hl7v2.charset import DEFAULT_FALLBACK_CODECS, check_codec, choose_codecs, decode
from producers.hl7v2.errors import (
    CharsetError,
    ErrorCode,
    ErrorDetail,
    ErrorLocation,
    ParseError,
    ParseReason,
    UnsupportedMessageError,
    UnsupportedReason,
)

__all__ = [
    "DEFAULT_ENCODING",
    "DEFAULT_PARSE_OPTIONS",
    "HL7_NULL",
    "EncodingCharacters",
    "FieldParts",
    "HierarchicDesignator",
    "MessageHeader",
    "ParseOptions",
    "ParsedMessage",
    "ReplyTo",
    "escape",
    "field",
    "field_parts",
    "iter_segments",
    "parse_message",
    "raw_field",
    "repetition_count",
    "segment",
    "segment_id",
    "segments",
    "unescape",
    "validate_structure",
]

HL7_NULL: Final = '""'
_UTF8_BOM: Final = b"\xef\xbb\xbf"
_UTF16_BOMS: Final = (b"\xff\xfe", b"\xfe\xff")
_LEADING_WHITESPACE: Final = b" \t\r\n"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_BYTE_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_MSH_18 = ErrorLocation("MSH", 1, 18)


# --- value types ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EncodingCharacters:
    """MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"
    truncation: str | None = None

    @property
    def msh2(self) -> str:
        return self.component + self.repetition + self.escape + self.subcomponent + (self.truncation or "")


DEFAULT_ENCODING: Final = EncodingCharacters()


@dataclass(frozen=True, slots=True)
class HierarchicDesignator:
    """An HD (MSH-3 to MSH-6): namespace id, universal id, universal id type; unescaped."""

    namespace_id: str | None = None
    universal_id: str | None = None
    universal_id_type: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyTo:
    """What an ACK echoes from the inbound MSH. Every field is optional: a NAK for a message whose MSH
    could only partly be read still goes out, with whatever is known."""

    encoding: EncodingCharacters = DEFAULT_ENCODING
    sending_application: HierarchicDesignator | None = None  # inbound MSH-3
    sending_facility: HierarchicDesignator | None = None  # inbound MSH-4
    receiving_application: HierarchicDesignator | None = None  # inbound MSH-5
    receiving_facility: HierarchicDesignator | None = None  # inbound MSH-6
    trigger_event: str | None = None  # MSH-9.2
    control_id: str | None = None  # MSH-10
    processing_id: str | None = None  # MSH-11.1
    processing_mode: str | None = None  # MSH-11.2
    version_id: str | None = None  # MSH-12.1
    charset: str | None = None  # MSH-18, first repetition, as declared
    codec: str = "utf-8"


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageHeader:
    """The MSH fields routing, acknowledgement and the envelope need. No PHI lives in the MSH."""

    encoding: EncodingCharacters
    sending_application: HierarchicDesignator | None  # MSH-3
    sending_facility: HierarchicDesignator | None  # MSH-4
    receiving_application: HierarchicDesignator | None  # MSH-5
    receiving_facility: HierarchicDesignator | None  # MSH-6
    message_datetime: str | None  # MSH-7.1, as sent: its zone and precision are the mapping's to resolve
    message_code: str  # MSH-9.1
    trigger_event: str  # MSH-9.2
    message_structure: str  # MSH-9.3, or <code>_<trigger> when empty
    control_id: str  # MSH-10
    processing_id: str  # MSH-11.1
    processing_mode: str | None  # MSH-11.2
    version_id: str  # MSH-12.1
    accept_ack_type: str | None  # MSH-15
    application_ack_type: str | None  # MSH-16
    charset: str | None  # MSH-18, first repetition, as declared
    codec: str  # the Python codec the frame was decoded with

    @property
    def reply_to(self) -> ReplyTo:
        return ReplyTo(
            encoding=self.encoding,
            sending_application=self.sending_application,
            sending_facility=self.sending_facility,
            receiving_application=self.receiving_application,
            receiving_facility=self.receiving_facility,
            trigger_event=self.trigger_event,
            control_id=self.control_id,
            processing_id=self.processing_id,
            processing_mode=self.processing_mode,
            version_id=self.version_id,
            charset=self.charset,
            codec=self.codec,
        )


@dataclass(frozen=True, slots=True)
class ParsedMessage:
    header: MessageHeader
    message: hl7.Message = dataclass_field(repr=False)


@dataclass(frozen=True, kw_only=True)
class ParseOptions:
    """Per-sender parsing choices; codec names are checked when the options are built.

    `fallback_codecs` decode a message whose MSH-18 is empty or names a set we do not know, tried in
    order. `charset_override` decodes every message with one codec, whatever MSH-18 says, for senders
    known to mislabel their bytes (a common one: `8859/1` that is really windows-1252).
    """

    fallback_codecs: tuple[str, ...] = DEFAULT_FALLBACK_CODECS
    charset_override: str | None = None

    def __post_init__(self) -> None:
        if not self.fallback_codecs:
            raise ConfigError("fallback_codecs needs at least one codec")
        for name in (*self.fallback_codecs, *([self.charset_override] if self.charset_override else [])):
            try:
                check_codec(name)
            except (LookupError, ValueError) as exc:
                raise ConfigError(f"codec {name!r}: {exc}") from exc


DEFAULT_PARSE_OPTIONS: Final = ParseOptions()


# --- python-hl7 containers, built flat ------------------------------------------------------------


class _Containers(NamedTuple):
    message: type[Any]
    segment: type[Any]
    field: type[Any]
    repetition: type[Any]
    component: type[Any]


def _init(self: Any, separator: str | None = None, sequence: Any = (), *_: Any, **__: Any) -> None:
    # python-hl7 passes (separator, sequence, esc, separators, factory=...) when it slices a container;
    # everything but the sequence is already on the class.
    list.__init__(self, sequence)


@lru_cache(maxsize=64)
def _containers(enc: EncodingCharacters, codec: str) -> _Containers:
    """python-hl7's container classes, specialised for one delimiter set and codec.

    Container.__init__ asserts, chains through super() and sets four attributes on every node (~380 in
    a 5-OBX ORU); that capped parsing near 2,800 messages/s. Here the delimiters are class attributes,
    so a node needs no initialisation of its own: `_build_tree` makes each one with `list.__new__` and
    fills it (a Python-level `__init__` per node was most of the parse), while `__init__` stays for
    python-hl7's own use (slicing). Containers python-hl7 creates later (create_ack,
    assign_field) come from the stock Factory, so they are the usual classes. Segments also carry
    the encoding characters (with the v2.7 truncation character, which python-hl7 drops) and the
    codec, so `field()` can unescape `\\P\\` and `\\Xhh\\` from the segment alone.
    """
    separators = "\r" + enc.field + enc.repetition + enc.component + enc.subcomponent
    shared = {"__init__": _init, "__module__": __name__, "esc": enc.escape, "separators": separators,
              "factory": hl7.Factory}
    bases = (hl7.Message, hl7.Segment, hl7.Field, hl7.Repetition, hl7.Component)
    made = [type(base.__name__, (base,), {**shared, "separator": separators[level]})
            for level, base in enumerate(bases)]
    made[1].encoding = enc
    made[1].codec = codec
    return _Containers(*made)


def _build_tree(lines: list[str], enc: EncodingCharacters, codec: str) -> hl7.Message:
    fs, rep, comp, sub = enc.field, enc.repetition, enc.component, enc.subcomponent
    kinds = _containers(enc, codec)
    field_cls, rep_cls, comp_cls = kinds.field, kinds.repetition, kinds.component
    new = list.__new__  # a container with no __init__ call; `_containers` says why

    def node(cls: type[Any], items: list[Any]) -> Any:
        made = new(cls)
        made.extend(items)
        return made

    def to_field(text: str) -> Any:
        made = new(field_cls)
        if rep in text or comp in text or sub in text:
            for r in text.split(rep):
                repetition = new(rep_cls)
                if comp in r or sub in r:
                    for c in r.split(comp):
                        component = new(comp_cls)
                        component.extend(c.split(sub))
                        repetition.append(component)
                else:
                    repetition.append(r)
                made.append(repetition)
        else:
            made.append(text)
        return made

    built = []
    for line in lines:
        if line.startswith("MSH"):
            # MSH-1 is the separator itself, so MSH-n sits at index n, as for every other segment.
            end = line.find(fs, 4)
            data = [node(field_cls, ["MSH"]), node(field_cls, [fs]), node(field_cls, [enc.msh2])]
            if end != -1:
                data += [to_field(x) for x in line[end + 1:].split(fs)]
        else:
            data = [to_field(x) for x in line.split(fs)]
        built.append(node(kinds.segment, data))
    return node(kinds.message, built)


# --- parsing -------------------------------------------------------------------------------------


def parse_message(data: bytes, options: ParseOptions = DEFAULT_PARSE_OPTIONS) -> ParsedMessage:
    """Parse one frame's payload. Raises ParseError (CharsetError) or UnsupportedMessageError."""
    bom = data.startswith(_UTF8_BOM)
    body = data[len(_UTF8_BOM):] if bom else data
    body = body.lstrip(_LEADING_WHITESPACE)
    skipped = len(data) - len(body)
    if not body.strip():
        raise ParseError(ParseReason.EMPTY, location=ErrorLocation("MSH"))
    if body.startswith(_UTF16_BOMS):
        raise CharsetError(ParseReason.CHARSET_UNSUPPORTED, charset="UTF-16", location=_MSH_18)
    if not body.startswith(b"MSH"):
        if body.startswith((b"FHS", b"BHS")):
            raise UnsupportedMessageError(UnsupportedReason.BATCH)
        raise ParseError(ParseReason.NOT_MSH, location=ErrorLocation("MSH"))

    line_break = _BYTE_LINE_BREAK.search(body)
    msh_line = body[:line_break.start()] if line_break else body
    enc = _read_encoding(msh_line)
    declared = _declared_charset(msh_line, enc)
    codec_names = choose_codecs(declared, fallback=options.fallback_codecs, override=options.charset_override,
                                bom=bom)
    if codec_names is None:
        raise CharsetError(ParseReason.CHARSET_UNSUPPORTED, charset=declared, location=_MSH_18,
                           reply_to=_reply_to_from_bytes(msh_line, enc, "latin-1", declared))
    try:
        text, codec = decode(body, codec_names)
    except UnicodeDecodeError as exc:
        # Not chained: the codec's error holds the whole frame in `.object`, and its text quotes a byte.
        raise CharsetError(
            ParseReason.CHARSET_UNDECODABLE,
            charset=declared,
            offset=skipped + exc.start,
            location=_locate_byte(body, exc.start, enc),
            reply_to=_reply_to_from_bytes(msh_line, enc, codec_names[0], declared),
        ) from None

    message = _build_tree(_split_segments(text.rstrip(), enc), enc, codec)
    msh = message[0]
    if sum(1 for seg in message if segment_id(seg) == "MSH") > 1:
        raise ParseError(ParseReason.SECOND_MSH, location=ErrorLocation("MSH", 2),
                         reply_to=_reply_to(msh, enc, codec, declared))
    return ParsedMessage(_read_header(msh, enc, codec, declared), message)


def _is_delimiter(char: str) -> bool:
    return "!" <= char <= "~" and not char.isalnum()


def _read_encoding(msh_line: bytes) -> EncodingCharacters:
    if len(msh_line) < 4:
        raise ParseError(ParseReason.REQUIRED_FIELD_MISSING, location=ErrorLocation("MSH", 1, 1))
    fs = chr(msh_line[3])
    if not _is_delimiter(fs):
        raise ParseError(ParseReason.FIELD_SEPARATOR_INVALID, location=ErrorLocation("MSH", 1, 1))
    end = msh_line.find(msh_line[3:4], 4)
    chars = msh_line[4:end if end != -1 else len(msh_line)].decode("latin-1")
    if not chars:
        raise ParseError(ParseReason.REQUIRED_FIELD_MISSING, location=ErrorLocation("MSH", 1, 2))
    if len(chars) == 5 and chars[2] == chars[3]:
        chars = chars[:3] + chars[4]
    if (
        len(chars) not in (4, 5)
        or not all(_is_delimiter(c) for c in chars)
        or len(set(chars + fs)) != len(chars) + 1
    ):
        raise ParseError(ParseReason.ENCODING_CHARACTERS_INVALID, location=ErrorLocation("MSH", 1, 2))
    return EncodingCharacters(fs, chars[0], chars[1], chars[2], chars[3], chars[4] if len(chars) == 5 else None)


def _declared_charset(msh_line: bytes, enc: EncodingCharacters) -> str | None:
    fields = msh_line.split(enc.field.encode())
    if len(fields) <= 17:
        return None
    # MSH-18: later repetitions name the sets \C..\ and \M..\ switch to; the first is the message's.
    raw = fields[17].split(enc.repetition.encode())[0].split(enc.component.encode())[0]
    label = raw.decode("latin-1").strip()
    return label or None


def _split_segments(text: str, enc: EncodingCharacters) -> list[str]:
    pieces = _LINE_BREAK.split(text) if "\n" in text else text.split("\r")
    fs = enc.field
    line_break = enc.escape + ".br" + enc.escape
    lines: list[str] = []
    for piece in pieces:
        if _SEGMENT_ID.match(piece) and (len(piece) == 3 or piece[3] == fs):
            lines.append(piece)
        elif piece.strip():
            if not lines:
                raise ParseError(ParseReason.NOT_MSH, location=ErrorLocation("MSH"))
            lines[-1] += line_break + piece
    return lines


def _locate_byte(body: bytes, offset: int, enc: EncodingCharacters) -> ErrorLocation | None:
    lines = [line for line in _BYTE_LINE_BREAK.split(body[:offset]) if line.strip()]
    if not lines:
        return None
    ids = [line[:3].decode("latin-1") for line in lines]
    current = ids[-1]
    if not _SEGMENT_ID.fullmatch(current):
        return None
    separators = lines[-1].count(enc.field.encode())
    return ErrorLocation(current, ids.count(current), separators + 1 if current == "MSH" else separators)


def _hd(msh: hl7.Segment, number: int) -> HierarchicDesignator | None:
    parts = (field(msh, number, component=1), field(msh, number, component=2), field(msh, number, component=3))
    return HierarchicDesignator(*parts) if any(parts) else None


def _reply_to(msh: hl7.Segment, enc: EncodingCharacters, codec: str, declared: str | None) -> ReplyTo:
    return ReplyTo(
        encoding=enc,
        sending_application=_hd(msh, 3),  # MSH-3
        sending_facility=_hd(msh, 4),  # MSH-4
        receiving_application=_hd(msh, 5),  # MSH-5
        receiving_facility=_hd(msh, 6),  # MSH-6
        trigger_event=field(msh, 9, component=2),  # MSH-9.2
        control_id=field(msh, 10),  # MSH-10
        processing_id=field(msh, 11),  # MSH-11.1
        processing_mode=field(msh, 11, component=2),  # MSH-11.2
        version_id=field(msh, 12),  # MSH-12.1
        charset=declared,  # MSH-18
        codec=codec,
    )


def _reply_to_from_bytes(msh_line: bytes, enc: EncodingCharacters, codec: str, declared: str | None) -> ReplyTo:
    text = msh_line.decode(codec, errors="replace")
    return _reply_to(_build_tree([text], enc, codec)[0], enc, codec, declared)


def _read_header(msh: hl7.Segment, enc: EncodingCharacters, codec: str, declared: str | None) -> MessageHeader:
    def required(number: int, component: int | None = None) -> str:
        value = field(msh, number, component=component or 1)
        if not value:
            location = ErrorLocation("MSH", 1, number, 1 if component else None, component)
            raise ParseError(ParseReason.REQUIRED_FIELD_MISSING, location=location,
                             reply_to=_reply_to(msh, enc, codec, declared))
        return value

    code = required(9, 1)  # MSH-9.1
    trigger = required(9, 2)  # MSH-9.2
    control_id = required(10)  # MSH-10
    processing_id = required(11)  # MSH-11.1
    version_id = required(12)  # MSH-12.1
    return MessageHeader(
        encoding=enc,
        sending_application=_hd(msh, 3),  # MSH-3
        sending_facility=_hd(msh, 4),  # MSH-4
        receiving_application=_hd(msh, 5),  # MSH-5
        receiving_facility=_hd(msh, 6),  # MSH-6
        message_datetime=field(msh, 7),  # MSH-7.1
        message_code=code,
        trigger_event=trigger,
        message_structure=field(msh, 9, component=3) or f"{code}_{trigger}",  # MSH-9.3
        control_id=control_id,
        processing_id=processing_id,
        processing_mode=field(msh, 11, component=2),  # MSH-11.2
        version_id=version_id,
        accept_ack_type=field(msh, 15),  # MSH-15
        application_ack_type=field(msh, 16),  # MSH-16
        charset=declared,  # MSH-18
        codec=codec,
    )


# --- reading fields ------------------------------------------------------------------------------


# python-hl7 containers index through a Python-level __getitem__ (for slices); these helpers run per
# field read, so they index with list's own.
_item = list.__getitem__


def segment_id(seg: hl7.Segment) -> str:
    return str(_item(_item(seg, 0), 0))


def segments(parsed: ParsedMessage, seg_id: str) -> list[hl7.Segment]:
    """Every segment with this id, in message order; empty when there is none."""
    return [seg for seg in parsed.message if _item(_item(seg, 0), 0) == seg_id]


def segment(parsed: ParsedMessage, seg_id: str) -> hl7.Segment | None:
    """The first segment with this id, or None."""
    for seg in parsed.message:
        if _item(_item(seg, 0), 0) == seg_id:
            return seg
    return None


def iter_segments(parsed: ParsedMessage) -> Iterator[hl7.Segment]:
    """All segments in order, for mappings that follow groups (OBR then its OBX)."""
    return iter(parsed.message)


def field(
    seg: hl7.Segment,
    number: int,
    *,
    component: int = 1,
    repetition: int = 0,
    subcomponent: int = 1,
) -> str | None:
    """One value, unescaped; None when it is absent or empty.

    `number`, `component` and `subcomponent` are HL7 positions from 1 (`PID-3.1`); `repetition` is a
    0-based index. A field without components answers component 1 with its whole value, as in HL7.
    """
    if number < 1 or component < 1 or subcomponent < 1 or repetition < 0:
        raise ValueError("field, component and subcomponent count from 1; repetition from 0")
    if number >= len(seg):
        return None
    value: Any = _item(seg, number)
    if number <= 2 and segment_id(seg) == "MSH":
        # MSH-1 and MSH-2 are the delimiters themselves: never split or unescaped.
        return str(value[0]) if repetition == 0 and component == 1 and subcomponent == 1 and value else None
    if not value:
        return None
    first = _item(value, 0)
    if isinstance(first, str):
        value = first if repetition == 0 and component == 1 and subcomponent == 1 else None
    else:
        if repetition >= len(value):
            return None
        value = _item(value, repetition)
        if not value:
            return None
        first = _item(value, 0)
        if isinstance(first, str):
            value = first if component == 1 and subcomponent == 1 else None
        elif component > len(value):
            return None
        else:
            value = _item(value, component - 1)
            value = _item(value, subcomponent - 1) if subcomponent <= len(value) else None
    if not value:
        return None
    if seg.esc in value:
        encoding = getattr(seg, "encoding", None) or _encoding_of(seg)
        return unescape(value, encoding, codec=getattr(seg, "codec", "utf-8"))
    return str(value)


FieldParts = tuple[tuple[tuple[str | None, ...], ...], ...]
"""A field's values by position: `parts[repetition][component - 1][subcomponent - 1]`."""
_PARTS_CACHE: Final = "_carebus_field_parts"


def field_parts(seg: hl7.Segment, number: int) -> FieldParts:
    """Every value of field `number` as `field()` reads it (unescaped; empty is None), by position.

    `field(seg, n, component=c, repetition=r, subcomponent=s)` is `parts[r][c - 1][s - 1]`, or None
    where that index is out of range; `len(parts)` is `repetition_count(seg, n)`. Read once per
    segment and field, then kept on the segment.
    """
    if number < 1:
        raise ValueError("fields count from 1")
    if number >= len(seg):
        return ()  # a field past the segment's end: nothing to read or keep
    cache: dict[int, FieldParts] | None = seg.__dict__.get(_PARTS_CACHE)
    if cache is None:
        cache = seg.__dict__[_PARTS_CACHE] = {}
    parts = cache.get(number)
    if parts is None:
        parts = cache[number] = _read_parts(seg, number)
    return parts


def _read_parts(seg: hl7.Segment, number: int) -> FieldParts:
    # The walk `field()` makes, once for every position; plain loops, as this runs for every field read.
    if number >= len(seg):
        return ()
    value: Any = _item(seg, number)
    if not value:
        return ()
    first = _item(value, 0)
    if number <= 2 and segment_id(seg) == "MSH":
        return (((str(first),),),) if first else ()  # the delimiters themselves: never split or unescaped
    esc = seg.esc
    if isinstance(first, str):
        if not first:
            return ()
        return (((_unescape_in(seg, first) if esc in first else first,),),)
    reps: list[tuple[tuple[str | None, ...], ...]] = []
    for rep in value:
        if not rep:
            reps.append(())
            continue
        head = _item(rep, 0)
        if isinstance(head, str):
            reps.append((((_unescape_in(seg, head) if esc in head else head) if head else None,),))
            continue
        components: list[tuple[str | None, ...]] = []
        for component in rep:
            if len(component) == 1 and isinstance(component, list):  # most have no subcomponents
                sub = _item(component, 0)
                components.append(((_unescape_in(seg, sub) if esc in sub else sub) if sub else None,))
            else:
                components.append(tuple([(_unescape_in(seg, sub) if esc in sub else sub) if sub else None
                                         for sub in component]))
        reps.append(tuple(components))
    return tuple(reps)


def _unescape_in(seg: hl7.Segment, text: str) -> str:
    encoding = getattr(seg, "encoding", None) or _encoding_of(seg)
    return unescape(text, encoding, codec=getattr(seg, "codec", "utf-8"))


def raw_field(seg: hl7.Segment, number: int) -> str | None:
    """A whole field as sent (still escaped, delimiters included), or None when empty."""
    if number < 1:
        raise ValueError("fields count from 1")
    if number >= len(seg):
        return None
    return str(seg[number]) or None


def repetition_count(seg: hl7.Segment, number: int) -> int:
    """How many repetitions a field has: 0 when absent or empty."""
    if number < 1:
        raise ValueError("fields count from 1")
    if number >= len(seg) or not seg[number]:
        return 0
    value = seg[number]
    if isinstance(value[0], str):
        return 1 if value[0] else 0
    return len(value)


def _encoding_of(seg: hl7.Segment) -> EncodingCharacters:
    seps = seg.separators
    return EncodingCharacters(field=seps[1], repetition=seps[2], component=seps[3], subcomponent=seps[4],
                              escape=seg.esc)


# --- escape sequences ----------------------------------------------------------------------------


def unescape(value: str, encoding: EncodingCharacters = DEFAULT_ENCODING, *, codec: str = "utf-8") -> str:
    """Replace HL7 escape sequences in one component's value (split first, then unescape).

    Delimiters (`\\F\\ \\S\\ \\T\\ \\R\\ \\E\\`, v2.7 `\\P\\`) and hex data (`\\Xhh..\\`, decoded as one
    byte string with the message's codec, so multi-byte UTF-8 stays whole) become their characters;
    `\\.br\\` and `\\.sp\\` line breaks, `\\.ce\\` a line break, `\\.sk n\\` spaces. Highlighting
    (`\\H\\ \\N\\`), indentation and fill commands and well-formed character-set switches
    (`\\Cxxyy\\ \\Mxxyyzz\\`) carry no text and are dropped. Anything else (local `\\Z..\\`, malformed
    hex, an unterminated sequence) is kept exactly as sent, so nothing is lost or invented.
    """
    esc = encoding.escape
    if esc not in value:
        return value
    out: list[str] = []
    position = 0
    while True:
        start = value.find(esc, position)
        if start == -1:
            out.append(value[position:])
            break
        end = value.find(esc, start + 1)
        if end == -1:
            out.append(value[position:])
            break
        out.append(value[position:start])
        expanded = _expand(value[start + 1:end], encoding, codec)
        out.append(value[start:end + 1] if expanded is None else expanded)
        position = end + 1
    return "".join(out)


_HEX = frozenset("0123456789abcdefABCDEF")
_DROPPED_FORMATTING = frozenset({".fi", ".nf", ".in", ".ti"})


def _expand(sequence: str, enc: EncodingCharacters, codec: str) -> str | None:
    delimiters = {"F": enc.field, "S": enc.component, "T": enc.subcomponent, "R": enc.repetition,
                  "E": enc.escape, "P": enc.truncation}
    if sequence in delimiters:
        return delimiters[sequence]
    if sequence in ("H", "N"):
        return ""
    head, rest = sequence[:1], sequence[1:]
    if head == "X" and rest and len(rest) % 2 == 0 and _HEX.issuperset(rest):
        try:
            return bytes.fromhex(rest).decode(codec)
        except (UnicodeDecodeError, LookupError):
            return None
    if head in ("C", "M") and len(rest) in (4, 6) and _HEX.issuperset(rest):
        return ""
    if head == ".":
        command, argument = sequence[:3], sequence[3:].strip().lstrip("+")
        count = int(argument) if argument.isdigit() else None
        if command == ".br" and not argument:
            return "\n"
        if command == ".sp" and (not argument or count is not None):
            return "\n" * max(count or 1, 1)
        if command == ".ce" and not argument:
            return "\n"
        if command == ".sk" and count is not None:
            return " " * count
        if command in _DROPPED_FORMATTING:
            return ""
    return None


def escape(value: str, encoding: EncodingCharacters = DEFAULT_ENCODING) -> str:
    """The inverse of `unescape` for text we write (ACK fields): delimiters and line breaks escaped."""
    return value.replace("\r\n", "\n").translate(_escape_table(encoding))


@lru_cache(maxsize=64)
def _escape_table(encoding: EncodingCharacters) -> dict[int, str]:
    esc = encoding.escape
    table = {
        ord(esc): f"{esc}E{esc}",
        ord(encoding.field): f"{esc}F{esc}",
        ord(encoding.component): f"{esc}S{esc}",
        ord(encoding.subcomponent): f"{esc}T{esc}",
        ord(encoding.repetition): f"{esc}R{esc}",
        ord("\r"): f"{esc}.br{esc}",
        ord("\n"): f"{esc}.br{esc}",
    }
    if encoding.truncation:
        table[ord(encoding.truncation)] = f"{esc}P{esc}"
    return table


# --- strict structure validation (hl7apy; off the hot path) --------------------------------------

# Table 0354: triggers that share another event's message structure, for senders that leave MSH-9.3
# empty or name the trigger there (`ADT_A04`). Only what the adapter receives.
_SHARED_STRUCTURES: Final[dict[tuple[str, str], str]] = {
    **{("ADT", t): "ADT_A01" for t in ("A01", "A04", "A08", "A13")},
    **{("ADT", t): "ADT_A05" for t in ("A05", "A14", "A28", "A31")},
    **{("ADT", t): "ADT_A06" for t in ("A06", "A07")},
    **{("ADT", t): "ADT_A09" for t in ("A09", "A10", "A11", "A12")},
    **{("ADT", t): "ADT_A39" for t in ("A39", "A40", "A41", "A42")},
    **{("ADT", t): "ADT_A21" for t in ("A21", "A22", "A23", "A25", "A26", "A27", "A29", "A32", "A33")},
    **{("REF", t): "REF_I12" for t in ("I12", "I13", "I14", "I15")},
}
_ANY_SEGMENT = "ANYHL7SEGMENT"


def validate_structure(parsed: ParsedMessage) -> tuple[ErrorDetail, ...]:
    """Check the segment order and cardinality against the declared version's message structure.

    Uses hl7apy's structure tables only, never its parser: hl7apy's own errors quote values. Z-segments
    are allowed anywhere. Returns one detail per problem (empty when the message fits); wrap them in a
    StructureError to NAK a sender held to strict validation.
    """
    header = parsed.header
    if header.version_id not in hl7apy.SUPPORTED_LIBRARIES:
        return (ErrorDetail("version-unknown-to-validator", ErrorCode.UNSUPPORTED_VERSION_ID,
                            ErrorLocation("MSH", 1, 12)),)
    reference = _structure_reference(header)
    if reference is None:
        return (ErrorDetail("structure-unknown-to-validator", ErrorCode.UNSUPPORTED_MESSAGE_TYPE,
                            ErrorLocation("MSH", 1, 9, 1, 3)),)
    ids = [segment_id(seg) for seg in parsed.message]
    kept = [(seg_id, ids[: index + 1].count(seg_id)) for index, seg_id in enumerate(ids) if not seg_id.startswith("Z")]
    issues: list[ErrorDetail] = []
    position = _match_sequence(reference[1], [seg_id for seg_id, _ in kept], 0, issues)
    if position < len(kept):
        seg_id, sequence = kept[position]
        issues.append(ErrorDetail("segment-unexpected", ErrorCode.SEGMENT_SEQUENCE_ERROR,
                                  ErrorLocation(seg_id, sequence)))
    return tuple(issues)


def _structure_reference(header: MessageHeader) -> Any:
    names = (header.message_structure, _SHARED_STRUCTURES.get((header.message_code, header.trigger_event)),
             f"{header.message_code}_{header.trigger_event}")
    for name in names:
        if name:
            try:
                return hl7apy.load_reference(name, "Message", header.version_id)
            except HL7apyException:
                continue
    return None


def _first_segments(reference: Any) -> frozenset[str]:
    kind, children = reference[0], reference[1]
    firsts: set[str] = set()
    for name, child, (minimum, _), child_kind in children:
        firsts |= {name} if child_kind == "SEG" else _first_segments(child)
        if kind == "sequence" and minimum > 0:
            break
    return frozenset(firsts)


def _matches(name: str, child: Any, kind: str, seg_id: str) -> bool:
    if kind == "SEG":
        return name in (seg_id, _ANY_SEGMENT)
    return seg_id in _first_segments(child) or _ANY_SEGMENT in _first_segments(child)


def _match_sequence(children: Any, ids: list[str], position: int, issues: list[ErrorDetail]) -> int:
    for name, child, (minimum, maximum), kind in children:
        count = 0
        while (maximum == -1 or count < maximum) and position < len(ids) and _matches(name, child, kind, ids[position]):
            before = position
            if kind == "SEG":
                position += 1
            elif child[0] == "choice":
                option = next(c for c in child[1] if _matches(c[0], c[1], c[3], ids[position]))
                position = _match_sequence([option], ids, position, issues)
            else:
                position = _match_sequence(child[1], ids, position, issues)
            if position == before:
                break
            count += 1
        if count < minimum:
            missing = name if kind == "SEG" else _first_required_segment(child)
            issues.append(ErrorDetail("segment-missing", ErrorCode.SEGMENT_SEQUENCE_ERROR,
                                      ErrorLocation(missing, None)))
    return position


def _first_required_segment(reference: Any) -> str:
    # A missing group is reported by the segment that would have opened it, as ERR-2 names segments.
    for name, child, (minimum, _), kind in reference[1]:
        if minimum > 0 or reference[0] == "choice":
            return name if kind == "SEG" else _first_required_segment(child)
    return str(reference[1][0][0])
