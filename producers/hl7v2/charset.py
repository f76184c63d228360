"""MSH-18 character sets (HL7 table 0211) and the Python codecs that decode them.

Which codec a message gets, in order:

1. the sender's override, when one is configured (for senders known to mislabel their bytes);
2. the UTF-8 byte order mark, when the frame starts with one and MSH-18 is empty;
3. MSH-18's first repetition, when it names a set below;
4. otherwise (MSH-18 empty, or a label we do not know) the sender's fallback list, tried in order.
   The default is strict UTF-8 then Latin-1: the standard says an empty MSH-18 means ASCII, which
   UTF-8 contains, and real senders send UTF-8 (`µ`) without declaring it.

A declared set is decoded strictly: bytes that are not valid in it are an error, not a guess.
Sets that need ISO 2022 escapes or are not ASCII-compatible (the JIS sets, UTF-16, UTF-32) cannot be
split on ASCII delimiters or carried by MLLP framing, so they are rejected rather than misread.
"""

from __future__ import annotations

import codecs
from collections.abc import Sequence

__all__ = [
    "CHARSET_CODECS",
    "DEFAULT_FALLBACK_CODECS",
    "UNSUPPORTED_CHARSETS",
    "check_codec",
    "choose_codecs",
    "decode",
    "normalise_label",
]

DEFAULT_FALLBACK_CODECS: tuple[str, ...] = ("utf-8", "latin-1")
_ASCII_PROBE = "MSH|^~\\&#\r\nAZaz09 !\"$%'()*+,-./:;<=>?@[]_`{}"

CHARSET_CODECS: dict[str, str] = {
    # Table 0211 codes.
    "ASCII": "ascii",
    "ISO IR6": "ascii",
    **{f"8859/{n}": f"iso8859-{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 15)},
    "UNICODE UTF-8": "utf-8",
    "GB 18030-2000": "gb18030",
    "KS X 1001": "euc_kr",
    "BIG-5": "big5",
    # "UNICODE" (deprecated) never said which form; over MLLP only UTF-8 can be meant.
    "UNICODE": "utf-8",
    # Aliases real senders use instead of the table codes.
    "UTF-8": "utf-8",
    "UTF8": "utf-8",
    "US-ASCII": "ascii",
    "ISO-8859-1": "iso8859-1",
    "ISO8859-1": "iso8859-1",
    "ISO_8859-1": "iso8859-1",
    "ISO IR100": "iso8859-1",
    "LATIN1": "iso8859-1",
    "LATIN-1": "iso8859-1",
    "WINDOWS-1252": "cp1252",
    "CP1252": "cp1252",
}

UNSUPPORTED_CHARSETS: frozenset[str] = frozenset({
    "UNICODE UTF-16",
    "UNICODE UTF-32",
    "UTF-16",
    "UTF-32",
    "ISO IR14",
    "ISO IR87",
    "ISO IR159",
    "CNS 11643-1992",
})


def normalise_label(label: str) -> str:
    """MSH-18 as a lookup key: upper case, single spaces."""
    return " ".join(label.upper().split())


def check_codec(name: str) -> str:
    """The canonical name of a Python codec that HL7 delimiters survive.

    Raises LookupError when there is no such codec, ValueError when it does not encode ASCII as ASCII
    (UTF-16, EBCDIC): the message is split on ASCII delimiters after decoding.
    """
    info = codecs.lookup(name)
    if _ASCII_PROBE.encode(info.name, errors="replace") != _ASCII_PROBE.encode("ascii"):
        raise ValueError("not ASCII-compatible")
    return info.name


def choose_codecs(
    declared: str | None,
    *,
    fallback: Sequence[str],
    override: str | None = None,
    bom: bool = False,
) -> tuple[str, ...] | None:
    """The codecs to try, in order; None when MSH-18 names a set this adapter cannot decode."""
    if override is not None:
        return (override,)
    if not declared:
        return ("utf-8",) if bom else tuple(fallback)
    key = normalise_label(declared)
    if key in UNSUPPORTED_CHARSETS:
        return None
    codec = CHARSET_CODECS.get(key)
    return (codec,) if codec is not None else tuple(fallback)


def decode(data: bytes, codec_names: Sequence[str]) -> tuple[str, str]:
    """Decode with the first codec that accepts every byte; returns (text, codec).

    Raises the first codec's UnicodeDecodeError when none does, because its offset is the one to report.
    """
    first_error: UnicodeDecodeError | None = None
    for name in codec_names:
        try:
            return data.decode(name), name
        except UnicodeDecodeError as exc:
            first_error = first_error or exc
    if first_error is None:
        raise ValueError("no codec to decode with")
    raise first_error
