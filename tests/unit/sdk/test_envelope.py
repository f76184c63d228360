"""Building events: envelope defaults, context ids, and errors that name fields and never values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from carebus.events.examples import example_event
from carebus.sdk import InvalidEventError, check_event, correlation, following, new_envelope, new_event, parse_event
from carebus.sdk.models import SCHEMA_VERSION, CodedConcept, Observation, Result, ResultEvent, Source

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _result() -> Result:
    return Result(status="final", observations=(Observation(code=CodedConcept(code="2823-3"), critical=True),))


def test_new_event_picks_the_model_and_fills_what_the_caller_left_out() -> None:
    event = new_event(_result(), event_type="result.finalized", source="LAB", subject="urn:x|1", now=NOW)
    assert isinstance(event, ResultEvent)
    envelope = event.envelope
    assert envelope.recorded_at == envelope.occurred_at == NOW
    assert envelope.schema_version == SCHEMA_VERSION
    assert envelope.source == Source(system="LAB", protocol="sdk")
    assert envelope.subject.source_patient_id == "urn:x|1"
    assert envelope.causation_id is None and envelope.correlation_id


def test_two_events_get_distinct_ids_and_correlation_ids_outside_any_context() -> None:
    first, second = (new_event(_result(), event_type="result.finalized", source="LAB", subject="s") for _ in "ab")
    assert first.envelope.event_id != second.envelope.event_id
    assert first.envelope.correlation_id != second.envelope.correlation_id


def test_correlation_and_causation_come_from_the_context_and_the_caller_wins() -> None:
    cause = example_event("result")
    with correlation("BATCH-7"):
        assert new_envelope("result.finalized", source="L", subject="s").correlation_id == "BATCH-7"
        with following(cause):
            derived = new_envelope("result.corrected", source="L", subject="s")
            assert new_envelope("result.corrected", source="L", subject="s",
                                correlation_id="MINE").correlation_id == "MINE"
        assert new_envelope("result.finalized", source="L", subject="s").causation_id is None
    assert derived.correlation_id == cause.envelope.correlation_id
    assert derived.causation_id == cause.envelope.event_id


@pytest.mark.parametrize(("build", "field"), [
    (lambda: new_event(_result(), event_type="order.placed", source="L", subject="s"), "envelope.event_type"),
    (lambda: new_envelope("result.finalized", source="L", subject="s", occurred_at="SECRET-DOB"),  # type: ignore[arg-type]
     "envelope.occurred_at"),
    (lambda: parse_event("result", {"envelope": {}, "payload": {}}), "envelope.event_id"),
])
def test_a_broken_rule_names_the_field_and_never_echoes_the_value(build: object, field: str) -> None:
    with pytest.raises(InvalidEventError) as raised:
        build()  # type: ignore[operator]
    assert field in raised.value.fields
    assert "SECRET" not in str(raised.value)


def test_check_event_catches_a_model_built_without_validation() -> None:
    good = example_event("result")
    envelope = good.envelope.model_dump() | {"event_id": "SECRET-not-a-uuid"}
    with pytest.raises(InvalidEventError) as raised:
        check_event(ResultEvent.model_construct(envelope=envelope, payload=good.payload))
    assert raised.value.fields == ("envelope.event_id",)
    assert "SECRET" not in str(raised.value)
    assert check_event(good) is good


def test_check_event_refuses_what_is_not_an_event_as_misuse() -> None:
    with pytest.raises(TypeError):
        check_event({"envelope": {}})
    with pytest.raises(TypeError):
        new_event(CodedConcept(code="x"), event_type="result.finalized", source="L", subject="s")
