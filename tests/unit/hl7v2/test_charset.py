from __future__ import annotations

import pytest

from producers.hl7v2.charset import DEFAULT_FALLBACK_CODECS, check_codec, choose_codecs, decode, normalise_label


@pytest.mark.parametrize(
    ("declared", "bom", "override", "expected"),
    [
        (None, False, None, DEFAULT_FALLBACK_CODECS),
        ("", False, None, DEFAULT_FALLBACK_CODECS),
        (None, True, None, ("utf-8",)),
        ("ASCII", False, None, ("ascii",)),
        ("8859/1", False, None, ("iso8859-1",)),
        ("8859/15", False, None, ("iso8859-15",)),
        ("UNICODE UTF-8", False, None, ("utf-8",)),
        ("unicode   utf-8", False, None, ("utf-8",)),
        ("UNICODE", False, None, ("utf-8",)),
        ("ISO-8859-1", False, None, ("iso8859-1",)),
        ("windows-1252", False, None, ("cp1252",)),
        ("GB 18030-2000", False, None, ("gb18030",)),
        ("SOMETHING-ELSE", False, None, DEFAULT_FALLBACK_CODECS),
        ("UNICODE UTF-16", False, None, None),
        ("ISO IR87", False, None, None),
        ("UNICODE UTF-16", False, "cp1252", ("cp1252",)),
    ],
)
def test_choose_codecs(declared: str | None, bom: bool, override: str | None,
                       expected: tuple[str, ...] | None) -> None:
    assert choose_codecs(declared, fallback=DEFAULT_FALLBACK_CODECS, override=override, bom=bom) == expected


def test_every_mapped_codec_exists() -> None:
    from producers.hl7v2.charset import CHARSET_CODECS

    for label, codec in CHARSET_CODECS.items():
        assert check_codec(codec), label
        assert normalise_label(label) == label


def test_decode_tries_codecs_in_order_and_reports_the_first_failure() -> None:
    assert decode("é".encode(), ["utf-8", "latin-1"]) == ("é", "utf-8")
    assert decode(b"\xe9", ["utf-8", "latin-1"]) == ("é", "latin-1")
    with pytest.raises(UnicodeDecodeError) as caught:
        decode(b"ab\xe9\xff", ["ascii", "utf-8"])
    assert (caught.value.encoding, caught.value.start) == ("ascii", 2)


def test_check_codec_rejects_unknown_names() -> None:
    with pytest.raises(LookupError):
        check_codec("no-such-codec")
