"""Criteria, If-Match, entry URLs and echoes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from producers.fhir.errors import (
    ConditionalRequestError,
    MalformedRequestError,
    UnsupportedInteractionError,
    UnsupportedResourceError,
)
from producers.fhir.interactions import (
    Criteria,
    EntryTarget,
    echo,
    entry_target,
    parse_criteria,
    parse_if_match,
)

TYPES = ("Patient", "Encounter")


@pytest.mark.parametrize(("text", "expected"), [
    ("identifier=urn:mrn|123", Criteria("Patient", "urn:mrn", "123")),
    ("identifier=123", Criteria("Patient", None, "123")),
    ("identifier=|123", Criteria("Patient", "", "123")),
    ("Patient?identifier=http%3A%2F%2Fx%7C9", Criteria("Patient", "http://x", "9")),
    ("?identifier=a|b", Criteria("Patient", "a", "b")),
])
def test_parse_criteria(text: str, expected: Criteria) -> None:
    assert parse_criteria("Patient", text, expression=None) == expected


@pytest.mark.parametrize("text", ["name=peter", "identifier=a|", "identifier=1&identifier=2", "Encounter?identifier=1",
                                  "", "identifier="])
def test_unsupported_criteria(text: str) -> None:
    with pytest.raises(ConditionalRequestError) as caught:
        parse_criteria("Patient", text, expression="Bundle.entry[0].request.ifNoneExist")
    assert caught.value.status == 400


def test_if_match() -> None:
    assert parse_if_match('W/"3"', expression=None) == 3
    assert parse_if_match('"12"', expression=None) == 12
    with pytest.raises(ConditionalRequestError):
        parse_if_match("W/\"abc\"", expression=None)


@pytest.mark.parametrize(("method", "url", "expected"), [
    ("POST", "Patient", EntryTarget("Patient")),
    ("PUT", "Patient/123", EntryTarget("Patient", resource_id="123")),
    ("PUT", "Patient?identifier=a|b", EntryTarget("Patient", criteria=Criteria("Patient", "a", "b"))),
])
def test_entry_targets(method: str, url: str, expected: EntryTarget) -> None:
    assert entry_target(method, url, "Patient", TYPES, index=0) == expected


@pytest.mark.parametrize(("method", "url", "kind", "error"), [
    ("POST", "Patient", "Medication", UnsupportedResourceError),
    ("DELETE", "Patient/1", "Patient", UnsupportedInteractionError),
    ("PATCH", "Patient/1", "Patient", UnsupportedInteractionError),
    ("POST", "Encounter", "Patient", MalformedRequestError),
    ("POST", "Patient/1", "Patient", MalformedRequestError),
    ("PUT", "Patient", "Patient", MalformedRequestError),
    ("PUT", "Patient/bad id", "Patient", MalformedRequestError),
    ("PUT", "Patient/1?x=y", "Patient", MalformedRequestError),
])
def test_entry_target_errors(method: str, url: str, kind: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        entry_target(method, url, kind, TYPES, index=4)


def test_echo_sets_id_and_meta_and_keeps_the_rest() -> None:
    resource = {"resourceType": "Patient", "meta": {"profile": ["p"], "versionId": "9"}, "active": True}
    echoed = echo(resource, "abc", 2, datetime(2024, 3, 14, 9, 30, 6, 500000, tzinfo=UTC))
    assert echoed == {"resourceType": "Patient", "id": "abc",
                      "meta": {"profile": ["p"], "versionId": "2", "lastUpdated": "2024-03-14T09:30:06.500Z"},
                      "active": True}
    assert resource["meta"]["versionId"] == "9"  # the input is not changed
