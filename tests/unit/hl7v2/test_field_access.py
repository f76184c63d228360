"""The fast field readers agree with `parsing.field()` at every position of every sample.

`field_parts()` reads a field once and keeps it on the segment; the mapping's `value()`, `parts()` and
`component_values()` index it, and `text()` keeps each field's text. These tests hold them to the plain
tree walk they replace, position by position, on our tree and on python-hl7's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import hl7
import pytest

from producers.hl7v2.mapping._common import coded, coded_parts, getter
from producers.hl7v2.mapping._fields import component_values, parts, repetitions, text, value
from producers.hl7v2.parsing import (
    HL7_NULL,
    field,
    field_parts,
    parse_message,
    raw_field,
    repetition_count,
    segment,
)
from tests.unit.hl7v2.conftest import GOOD_SAMPLES, HL7V2_DIR, MSH_ORU, message

TRICKY = "ZPI|plain|a^b^^d|r1c1^r1c2~r2c1^r2c2&r2c2s2|\\F\\pipe|\"\"||last|| x ^ \"\" ^&&~~|\\X41\\&\\H\\^\\.br\\"


def _segments(name: str) -> Iterator[Any]:
    yield from parse_message((HL7V2_DIR / name).read_bytes()).message


def _positions(seg: Any) -> Iterator[tuple[int, int, int, int]]:
    """(field, repetition, component, subcomponent) over every value the segment holds, and one past each end."""
    for number in range(1, len(seg) + 2):
        reps = max(repetition_count(seg, number), 1)
        for rep in range(reps + 1):
            for component in range(1, 15):
                for sub in range(1, 5):
                    yield number, rep, component, sub


def _old_value(seg: Any, number: int, component: int, rep: int, sub: int) -> str | None:
    """`_fields.value()` as it was: `field()`, stripped, the HL7 null and blanks absent."""
    found = field(seg, number, component=component, repetition=rep, subcomponent=sub)
    if found is None:
        return None
    found = found.strip()
    return None if not found or found == HL7_NULL else found


def _check_segment(seg: Any) -> None:
    for number, rep, component, sub in _positions(seg):
        reps = field_parts(seg, number)
        expected = field(seg, number, component=component, repetition=rep, subcomponent=sub)
        try:
            found = reps[rep][component - 1][sub - 1]
        except IndexError:
            found = None
        # field_parts keeps what field() reads; an empty string only where field() itself gives one
        # (MSH-1/2 never; a value that unescapes to nothing, e.g. \H\, is kept as "").
        assert found == expected, (number, rep, component, sub)
        assert value(seg, number, component, rep, sub) == _old_value(seg, number, component, rep, sub)
    for number in range(1, len(seg) + 2):
        assert len(field_parts(seg, number)) == repetition_count(seg, number)
        assert repetitions(seg, number) == range(repetition_count(seg, number))
        for rep in repetitions(seg, number):
            found = parts(seg, number, rep)
            assert found == component_values(field_parts(seg, number)[rep])
            assert found == [_old_value(seg, number, c, rep, 1) for c in range(1, len(found) + 1)]
            assert coded(seg, number, rep) == coded_parts(lambda n, r=rep, f=number: _old_value(seg, f, n, r, 1))


@pytest.mark.parametrize("name", GOOD_SAMPLES)
def test_fast_readers_agree_with_field_on_every_sample(name: str) -> None:
    for seg in _segments(name):
        _check_segment(seg)


def test_fast_readers_agree_with_field_on_a_tricky_segment_in_our_tree_and_python_hl7s() -> None:
    ours = segment(parse_message(message(MSH_ORU, TRICKY)), "ZPI")
    assert ours is not None
    _check_segment(ours)
    theirs = hl7.parse("\r".join([MSH_ORU, TRICKY]))[1]
    _check_segment(theirs)
    assert [field_parts(ours, n) for n in range(1, 14)] == [field_parts(theirs, n) for n in range(1, 14)]


def test_msh1_and_msh2_are_read_whole() -> None:
    msh = parse_message(message(MSH_ORU)).message[0]
    assert field_parts(msh, 1) == ((("|",),),)
    assert field_parts(msh, 2) == ((("^~\\&",),),)
    assert value(msh, 2, 2) is None


def test_positions_are_checked() -> None:
    zpi = segment(parse_message(message(MSH_ORU, TRICKY)), "ZPI")
    for call in (lambda: field_parts(zpi, 0), lambda: value(zpi, 1, 0), lambda: value(zpi, 1, 1, -1),
                 lambda: value(zpi, 1, 1, 0, 0), lambda: parts(zpi, 1, -1), lambda: parts(zpi, 1, 0, 0),
                 lambda: coded(zpi, 1, -1)):
        with pytest.raises(ValueError, match=r"counts? from"):
            call()


def test_text_keeps_the_raw_repetition_and_reads_it_once() -> None:
    zpi = segment(parse_message(message(MSH_ORU, TRICKY)), "ZPI")
    assert zpi is not None
    assert text(zpi, 3, 1) == "r2c1^r2c2&r2c2s2"
    assert text(zpi, 4) == "|pipe"
    assert text(zpi, 5) is None
    assert raw_field(zpi, 9) == ' x ^ "" ^&&~~'
    assert [text(zpi, 9, rep) for rep in range(4)] == [' x ^ "" ^&&', None, None, None]


def test_getter_reads_past_the_end_as_absent() -> None:
    part = getter(["a", None])
    assert [part(n) for n in (1, 2, 3, 13)] == ["a", None, None, None]
