"""FHIR JSON: exact decimals in and out, hostile shapes refused without quoting them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from producers.fhir._json import MAX_DEPTH, dumps, loads
from producers.fhir.errors import MalformedRequestError


def test_decimals_keep_their_digits_both_ways() -> None:
    text = b'{"resourceType":"Observation","valueQuantity":{"value":1.50},"n":[1,2.0e3,-0.010],"ok":true,"x":null}'
    data = loads(text)
    assert data["valueQuantity"]["value"] == Decimal("1.50")
    assert str(data["valueQuantity"]["value"]) == "1.50"
    assert dumps(data) == b'{"resourceType":"Observation","valueQuantity":{"value":1.50},"n":[1,2.0E+3,-0.010],' \
                          b'"ok":true,"x":null}'


def test_unicode_and_bom() -> None:
    data = loads('\ufeff{"name":"Södertälje µ"}'.encode())
    assert data["name"] == "Södertälje µ"
    assert dumps(data) == '{"name":"Södertälje µ"}'.encode()


@pytest.mark.parametrize("body", [
    b"", b"not json SECRET-NAME", b"[1,2]", b'"Patient"', b'{"a":1,"a":2}', b'{"a":NaN}', b'{"a":Infinity}',
    b"\xff\xfe", b'{"a":' * (MAX_DEPTH + 1) + b"1" + b"}" * (MAX_DEPTH + 1), b"[" * 100_000,
])
def test_bad_bodies_are_malformed_and_never_quoted(body: bytes) -> None:
    with pytest.raises(MalformedRequestError) as caught:
        loads(body)
    assert "SECRET" not in str(caught.value)
    assert caught.value.issues[0].code == "structure"
