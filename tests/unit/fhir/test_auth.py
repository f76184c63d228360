"""Bearer tokens and SMART-style scopes."""

from __future__ import annotations

import json

import pytest

from carebus.errors import ConfigError
from producers.fhir.auth import ANONYMOUS, AuthFailure, BearerAuth, Client, Principal, hash_token, is_allowed


@pytest.mark.parametrize(("scope", "resource_type", "interaction", "allowed"), [
    ("system/Patient.write", "Patient", "create", True),
    ("system/Patient.write", "Patient", "update", True),
    ("system/Patient.write", "Encounter", "create", False),
    ("system/*.write", "Claim", "update", True),
    ("system/*.*", "Claim", "create", True),
    ("user/Observation.write", "Observation", "create", True),
    ("user/Observation.read", "Observation", "create", False),
    ("patient/Observation.write", "Observation", "create", False),  # needs a compartment check we cannot do
    ("system/Patient.c", "Patient", "create", True),
    ("system/Patient.c", "Patient", "update", False),
    ("system/Patient.cruds", "Patient", "update", True),
    ("system/*.rs", "Patient", "create", False),
    ("launch/patient", "Patient", "create", False),
])
def test_scope_table(scope: str, resource_type: str, interaction: str, allowed: bool) -> None:
    assert is_allowed([scope], resource_type, interaction) is allowed  # type: ignore[arg-type]


def test_tokens_are_kept_hashed_and_checked() -> None:
    auth = BearerAuth.from_tokens({"s3cret": Client("lab", frozenset({"system/*.write"}), facility="LAB")})
    assert list(auth.clients) == [hash_token("s3cret")]
    assert "s3cret" not in repr(auth)
    assert auth.authenticate("Bearer s3cret") == Principal("lab", frozenset({"system/*.write"}), "LAB")
    assert auth.authenticate("bearer  s3cret ") == Principal("lab", frozenset({"system/*.write"}), "LAB")
    missing = auth.authenticate(None)
    assert isinstance(missing, AuthFailure) and missing.reason == "missing-token"
    assert missing.challenge == 'Bearer realm="carebus-fhir"'
    for wrong in ("Bearer nope", "Basic s3cret", "Bearer", "s3cret"):
        failure = auth.authenticate(wrong)
        assert isinstance(failure, AuthFailure) and failure.reason == "invalid-token"
        assert 'error="invalid_token"' in failure.challenge


def test_anonymous_only_when_enabled_and_only_without_a_header() -> None:
    auth = BearerAuth.from_tokens({"t": Client("c", frozenset({"system/*.write"}))}, allow_anonymous=True)
    assert auth.authenticate(None) is ANONYMOUS
    assert isinstance(auth.authenticate("Bearer wrong"), AuthFailure)
    assert BearerAuth(allow_anonymous=True).authenticate("") is ANONYMOUS


def test_config_from_json_with_hashes() -> None:
    text = json.dumps({hash_token("abc"): {"name": "emr", "scopes": "system/Patient.write system/Encounter.write",
                                           "facility": "GEN"}})
    auth = BearerAuth.from_config(text)
    principal = auth.authenticate("Bearer abc")
    assert isinstance(principal, Principal)
    assert principal.may("Encounter", "create") and not principal.may("Claim", "create")


@pytest.mark.parametrize("text", ["not json", "[]", '{"sha256:abc": {"name": "x", "scopes": ""}}',
                                  json.dumps({hash_token("a"): {"name": "x", "scopes": "system/Patient.writ"}}),
                                  json.dumps({hash_token("a"): {"scopes": "system/*.write"}}), "{}"])
def test_bad_config_is_refused_at_build_time(text: str) -> None:
    with pytest.raises(ConfigError):
        BearerAuth.from_config(text)
