"""R4 validation errors become located, value-free issues."""

from __future__ import annotations

import pytest

from producers.fhir.errors import InvalidResourceError
from producers.fhir.validation import expression_of, is_resource_type, validate_resource

SECRET = "Zzsecret-Qaname-19610704"


def _issues(resource: dict, **options: str) -> dict[str, str]:
    with pytest.raises(InvalidResourceError) as caught:
        validate_resource(resource, **options)
    assert SECRET not in str(caught.value)
    assert all(SECRET not in (issue.diagnostics or "") for issue in caught.value.issues)
    return {issue.expression or "": issue.code for issue in caught.value.issues}


def test_expressions_follow_fhirpath() -> None:
    assert expression_of("Patient", ("name", 0, "given", 1)) == "Patient.name[0].given[1]"
    assert expression_of("Bundle.entry[3].resource", ("birthDate",)) == "Bundle.entry[3].resource.birthDate"


def test_pydantic_errors_are_located_and_value_free() -> None:
    issues = _issues({"resourceType": "Patient", "birthDate": SECRET, "active": SECRET,
                      "name": [{"family": 5, "given": SECRET}], "nickname": SECRET,
                      "identifier": [{"value": "", "period": {"start": SECRET}}]})
    assert issues == {
        "Patient.birthDate": "value",
        "Patient.active": "value",
        "Patient.name[0].family": "structure",
        "Patient.name[0].given": "structure",
        "Patient.nickname": "structure",
        "Patient.identifier[0].value": "value",
        "Patient.identifier[0].period.start": "value",
    }


def test_missing_required_and_choice_conflicts() -> None:
    assert _issues({"resourceType": "Observation", "status": "final"}) == {"Observation.code": "required"}
    assert _issues({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                    "valueString": SECRET, "valueBoolean": True}) == {"Observation.value[x]": "structure"}
    assert _issues({"resourceType": "Patient", "multipleBirthBoolean": True, "multipleBirthInteger": 2}) == {
        "Patient.multipleBirth[x]": "structure"}
    assert _issues({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                    "component": [{"code": {"text": "c"}, "valueString": "a", "valueInteger": 1}]}) == {
        "Observation.component[0].value[x]": "structure"}


def test_a_bundle_entry_root() -> None:
    issues = _issues({"resourceType": "Patient", "gender": 7}, expression="Bundle.entry[2].resource")
    assert issues == {"Bundle.entry[2].resource.gender": "structure"}


def test_unknown_contained_type_is_located() -> None:
    assert _issues({"resourceType": "Patient", "contained": [{"resourceType": "NotAThing"}]}) == {
        "Patient.contained[0].resourceType": "structure"}


@pytest.mark.parametrize(("name", "expected"), [("Patient", True), ("Bundle", True), ("Quantity", False),
                                                ("DomainResource", False), ("patient", False), ("__class__", False),
                                                ("Pa tient", False)])
def test_is_resource_type(name: str, expected: bool) -> None:
    assert is_resource_type(name) is expected
