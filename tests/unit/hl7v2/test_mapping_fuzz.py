"""Whatever a sender puts in a field, the mapping gives valid events or a MappingError, never another exception."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from producers.hl7v2.errors import MappingError, ParseError
from producers.hl7v2.mapping import MappingContext, map_message
from producers.hl7v2.parsing import parse_message
from tests.unit.hl7v2.conftest import GOOD_SAMPLES, HL7V2_DIR
from tests.unit.hl7v2.test_mapping import avro_round_trip, lines_of, message_of, set_field

CONTEXT = MappingContext(received_at=datetime(2024, 3, 14, tzinfo=UTC))
SAMPLES = {name: lines_of((HL7V2_DIR / name).read_bytes()) for name in GOOD_SAMPLES}
VALUES = st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n|"), max_size=30),
    st.sampled_from(['""', "^^^", "~", "&&", "\\.br\\", "-", "<>", "1e999", "99999999999", "20241301", "0.00001",
                     "DOB", "-0.5^mg", "12&USD", "A~B~C", "\\X00\\", "<^5", "^1^:^0"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SAMPLES)), line=st.integers(min_value=1, max_value=200),
       number=st.integers(min_value=1, max_value=50), value=VALUES)
def test_any_field_value_maps_or_is_refused_cleanly(name: str, line: int, number: int, value: str) -> None:
    lines = list(SAMPLES[name])
    index = line % (len(lines) - 1) + 1  # never the MSH
    lines[index] = set_field(lines[index], number, value)
    try:
        parsed = parse_message(message_of(lines))
    except ParseError:  # e.g. a non-ASCII value where MSH-18 declares ASCII: the parser's business
        return
    try:
        events = map_message(parsed, CONTEXT)
    except MappingError:
        return
    for event in events:
        assert avro_round_trip(event) == event
