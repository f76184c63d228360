"""The registry's REST API, endpoint by endpoint and error code by error code, over an in-memory log."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from carebus.registry.compatibility import CompatibilityLevel
from carebus.registry.server import MEDIA_TYPE, create_app
from carebus.registry.service import RegistryService
from carebus.registry.store import MemoryLog, MemoryTopic, RegistryStore

with warnings.catch_warnings():
    # starlette 1.x asks for the httpx2 package for its test client; with httpx it works the same and warns.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

FAST_POLL_S = 0.01

PATIENT_V1: dict[str, Any] = {
    "type": "record", "name": "Patient", "namespace": "carebus.test",
    "fields": [{"name": "id", "type": "string"}],
}
PATIENT_V2 = {**PATIENT_V1, "fields": [*PATIENT_V1["fields"], {"name": "mrn", "type": ["null", "string"],
                                                                "default": None}]}
PATIENT_BREAKING = {**PATIENT_V1, "fields": [*PATIENT_V1["fields"], {"name": "dob", "type": "string"}]}
ORDER_V1: dict[str, Any] = {"type": "record", "name": "Order", "fields": [{"name": "code", "type": "string"}]}


def _client(topic: MemoryTopic) -> TestClient:
    return TestClient(create_app(RegistryStore(MemoryLog(topic), poll_timeout_s=FAST_POLL_S)))


@pytest.fixture
def topic() -> MemoryTopic:
    return MemoryTopic()


@pytest.fixture
def client(topic: MemoryTopic) -> Iterator[TestClient]:
    with _client(topic) as client:
        yield client


def register(client: TestClient, subject: str, schema: Any, **params: str) -> httpx.Response:
    return client.post(f"/subjects/{subject}/versions", params=params,
                       json={"schema": json.dumps(schema), "schemaType": "AVRO"})


def registered_id(client: TestClient, subject: str, schema: Any) -> int:
    response = register(client, subject, schema)
    assert response.status_code == 200, response.text
    return int(response.json()["id"])


def assert_error(response: httpx.Response, status: int, error_code: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == MEDIA_TYPE
    body = response.json()
    assert body["error_code"] == error_code
    assert isinstance(body["message"], str)


# --- the small endpoints ----------------------------------------------------------------------------------


def test_root_types_and_contexts(client: TestClient) -> None:
    assert client.get("/").json() == {}
    assert client.get("/schemas/types").json() == ["AVRO"]
    assert client.get("/contexts").json() == ["."]


def test_every_answer_is_schema_registry_json(client: TestClient) -> None:
    response = client.get("/config")
    assert response.headers["content-type"] == MEDIA_TYPE


def test_associations_answer_404_so_new_serializers_fall_back_to_the_topic_name_strategy(client: TestClient) -> None:
    assert_error(client.get("/associations/resources/-/canonical.patient.v1",
                            params={"resourceType": "topic", "associationType": ["value"]}), 404, 404)


def test_unknown_routes_and_methods_answer_in_confluent_form(client: TestClient) -> None:
    assert_error(client.get("/no/such/thing"), 404, 404)
    assert_error(client.patch("/subjects"), 405, 405)


def test_metrics_count_requests_by_route(client: TestClient) -> None:
    client.get("/subjects")
    assert 'route="/subjects"' in client.get("/metrics").text


# --- register -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", [
    "application/vnd.schemaregistry.v1+json", "application/vnd.schemaregistry+json", "application/json", None,
])
def test_register_accepts_every_schema_registry_content_type(client: TestClient, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/subjects/p-value/versions", content=json.dumps({"schema": json.dumps(PATIENT_V1)}),
                           headers=headers)
    assert response.status_code == 200
    assert response.json()["id"] == 1
    assert response.headers["content-type"] == MEDIA_TYPE


def test_register_ignores_unknown_fields(client: TestClient) -> None:
    response = client.post("/subjects/p-value/versions", json={
        "schema": json.dumps(PATIENT_V1), "schemaType": "AVRO", "references": [],
        "metadata": {"properties": {"owner": "x"}}, "ruleSet": {"domainRules": []}, "somethingNew": 1,
    })
    assert response.status_code == 200


def test_registering_the_same_schema_again_returns_the_existing_id_and_version(client: TestClient) -> None:
    first = register(client, "p-value", PATIENT_V1).json()
    spelled_differently = client.post("/subjects/p-value/versions",
                                      json={"schema": json.dumps(PATIENT_V1, indent=4, sort_keys=True)})

    assert spelled_differently.json() == first
    assert client.get("/subjects/p-value/versions").json() == [1]


def test_the_same_schema_under_two_subjects_shares_one_id(client: TestClient) -> None:
    assert registered_id(client, "a-value", PATIENT_V1) == registered_id(client, "b-value", PATIENT_V1) == 1
    assert registered_id(client, "c-value", ORDER_V1) == 2


def test_a_compatible_change_becomes_the_next_version(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    response = register(client, "p-value", PATIENT_V2)

    assert response.json()["id"] == 2
    assert response.json()["version"] == 2


def test_an_incompatible_change_is_refused_with_409(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    response = register(client, "p-value", PATIENT_BREAKING)

    assert_error(response, 409, 409)
    assert "READER_FIELD_MISSING_DEFAULT_VALUE" in response.json()["message"]
    assert client.get("/subjects/p-value/versions").json() == [1]


def test_compatibility_none_accepts_anything(client: TestClient) -> None:
    client.put("/config/p-value", json={"compatibility": "NONE"})
    register(client, "p-value", PATIENT_V1)
    assert register(client, "p-value", PATIENT_BREAKING).status_code == 200


def test_normalize_stores_the_normalized_form(client: TestClient) -> None:
    spelled = {"namespace": "carebus.test", "name": "Patient", "type": "record",
               "fields": [{"type": {"type": "string"}, "name": "id"}]}
    register(client, "p-value", spelled, normalize="true")

    stored = client.get("/subjects/p-value/versions/1/schema").json()
    assert stored == {"name": "carebus.test.Patient", "type": "record", "fields": [{"name": "id", "type": "string"}]}


@pytest.mark.parametrize("body", [
    {"schema": "{not json"},
    {"schema": json.dumps({"type": "record", "name": "X"})},
    {"schema": ""},
    {},
    {"schema": 5},
    {"schema": json.dumps(PATIENT_V1), "schemaType": "PROTOBUF"},
    {"schema": json.dumps(PATIENT_V1), "references": [{"name": "a.B", "subject": "nowhere", "version": 1}]},
])
def test_invalid_schemas_are_refused_with_42201(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.post("/subjects/p-value/versions", json=body), 422, 42201)


@pytest.mark.parametrize("raw", [b"{", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(client: TestClient, raw: bytes) -> None:
    assert_error(client.post("/subjects/p-value/versions", content=raw), 400, 400)


def test_an_invalid_subject_name_is_refused_with_42208(client: TestClient) -> None:
    assert_error(register(client, "bad%01subject", PATIENT_V1), 422, 42208)


# --- versions -----------------------------------------------------------------------------------------------


def test_versions_by_number_latest_and_minus_one(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    register(client, "p-value", PATIENT_V2)

    first = client.get("/subjects/p-value/versions/1").json()
    assert first["subject"] == "p-value" and first["version"] == 1 and first["id"] == 1
    assert json.loads(first["schema"]) == PATIENT_V1
    assert "schemaType" not in first  # Confluent leaves AVRO out
    assert client.get("/subjects/p-value/versions/latest").json()["version"] == 2
    assert client.get("/subjects/p-value/versions/-1").json()["version"] == 2
    assert client.get("/subjects/p-value/versions/2/schema").json() == PATIENT_V2


@pytest.mark.parametrize("version", ["abc", "0", "-2", "2147483648"])
def test_an_invalid_version_is_42202(client: TestClient, version: str) -> None:
    register(client, "p-value", PATIENT_V1)
    assert_error(client.get(f"/subjects/p-value/versions/{version}"), 422, 42202)


def test_missing_subjects_and_versions(client: TestClient) -> None:
    assert_error(client.get("/subjects/nope/versions"), 404, 40401)
    assert_error(client.get("/subjects/nope/versions/1"), 404, 40401)
    register(client, "p-value", PATIENT_V1)
    assert_error(client.get("/subjects/p-value/versions/7"), 404, 40402)


def test_list_subjects_with_prefix_and_paging(client: TestClient) -> None:
    for subject in ("a-value", "b-value", "b-key"):
        register(client, subject, PATIENT_V1)

    assert client.get("/subjects").json() == ["a-value", "b-key", "b-value"]
    assert client.get("/subjects", params={"subjectPrefix": "b-"}).json() == ["b-key", "b-value"]
    assert client.get("/subjects", params={"offset": 1, "limit": 1}).json() == ["b-key"]


# --- schemas by id ------------------------------------------------------------------------------------------


def test_schema_by_id_and_where_it_is_used(client: TestClient) -> None:
    register(client, "a-value", PATIENT_V1)
    register(client, "b-value", PATIENT_V1)

    body = client.get("/schemas/ids/1").json()
    assert json.loads(body["schema"]) == PATIENT_V1
    assert "schemaType" not in body
    assert client.get("/schemas/ids/1", params={"fetchMaxId": "true"}).json()["maxId"] == 1
    assert client.get("/schemas/ids/1/schema").json() == PATIENT_V1
    assert client.get("/schemas/ids/1/subjects").json() == ["a-value", "b-value"]
    assert client.get("/schemas/ids/1/versions").json() == [{"subject": "a-value", "version": 1},
                                                             {"subject": "b-value", "version": 1}]
    assert [s["subject"] for s in client.get("/schemas").json()] == ["a-value", "b-value"]


@pytest.mark.parametrize("path", ["/schemas/ids/99", "/schemas/ids/x", "/schemas/ids/99/schema",
                                  "/schemas/ids/99/subjects", "/schemas/ids/99/versions"])
def test_an_unknown_schema_id_is_40403(client: TestClient, path: str) -> None:
    assert_error(client.get(path), 404, 40403)


# --- lookup -------------------------------------------------------------------------------------------------


def test_lookup_finds_the_version_holding_a_schema(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    register(client, "p-value", PATIENT_V2)

    found = client.post("/subjects/p-value", json={"schema": json.dumps(PATIENT_V1, indent=2)}).json()
    assert (found["subject"], found["version"], found["id"]) == ("p-value", 1, 1)
    assert json.loads(found["schema"]) == PATIENT_V1


def test_lookup_errors(client: TestClient) -> None:
    assert_error(client.post("/subjects/nope", json={"schema": json.dumps(PATIENT_V1)}), 404, 40401)
    register(client, "p-value", PATIENT_V1)
    assert_error(client.post("/subjects/p-value", json={"schema": json.dumps(ORDER_V1)}), 404, 40403)
    assert_error(client.post("/subjects/p-value", json={"schema": "{"}), 422, 42201)


def test_lookup_of_a_soft_deleted_version_needs_deleted_true(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    register(client, "p-value", PATIENT_V2)
    client.delete("/subjects/p-value/versions/1")

    assert_error(client.post("/subjects/p-value", json={"schema": json.dumps(PATIENT_V1)}), 404, 40403)
    found = client.post("/subjects/p-value", params={"deleted": "True"}, json={"schema": json.dumps(PATIENT_V1)})
    assert found.json()["version"] == 1


# --- deletes ------------------------------------------------------------------------------------------------


def test_soft_then_permanent_subject_delete(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    register(client, "p-value", PATIENT_V2)

    assert_error(client.delete("/subjects/p-value", params={"permanent": "true"}), 404, 40405)
    assert client.delete("/subjects/p-value").json() == [1, 2]
    assert client.get("/subjects").json() == []
    assert client.get("/subjects", params={"deleted": "true"}).json() == ["p-value"]
    assert client.get("/subjects", params={"deleted_only": "true"}).json() == ["p-value"]
    assert_error(client.get("/subjects/p-value/versions"), 404, 40401)
    assert client.get("/subjects/p-value/versions", params={"deleted": "true"}).json() == [1, 2]
    assert client.get("/schemas/ids/1").status_code == 200, "soft-deleted schemas stay readable by id"
    assert_error(client.delete("/subjects/p-value"), 404, 40404)

    assert client.delete("/subjects/p-value", params={"permanent": "True"}).json() == [1, 2]
    assert client.get("/subjects", params={"deleted": "true"}).json() == []
    assert_error(client.get("/schemas/ids/1"), 404, 40403)
    assert_error(client.delete("/subjects/p-value"), 404, 40401)


def test_soft_deleting_a_subject_drops_its_own_level(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    client.put("/config/p-value", json={"compatibility": "FULL"})
    client.delete("/subjects/p-value")
    assert_error(client.get("/config/p-value"), 404, 40408)


def test_soft_then_permanent_version_delete(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    register(client, "p-value", PATIENT_V2)

    assert_error(client.delete("/subjects/p-value/versions/2", params={"permanent": "true"}), 404, 40407)
    assert client.delete("/subjects/p-value/versions/latest").json() == 2
    assert client.get("/subjects/p-value/versions").json() == [1]
    assert_error(client.get("/subjects/p-value/versions/2"), 404, 40402)
    assert client.get("/subjects/p-value/versions/2", params={"deleted": "true"}).json()["version"] == 2
    assert_error(client.delete("/subjects/p-value/versions/2"), 404, 40406)
    assert client.delete("/subjects/p-value/versions/2", params={"permanent": "true"}).json() == 2
    assert_error(client.delete("/subjects/p-value/versions/2"), 404, 40402)
    assert_error(client.delete("/subjects/p-value/versions/x"), 422, 42202)
    assert_error(client.delete("/subjects/nope/versions/1"), 404, 40401)


def test_a_soft_deleted_version_is_left_out_of_compatibility_checks(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    register(client, "p-value", PATIENT_V2)
    client.delete("/subjects/p-value/versions/1")
    client.delete("/subjects/p-value/versions/2")

    # Nothing live is left, so anything goes; the version number still moves on.
    assert register(client, "p-value", ORDER_V1).json()["version"] == 3


def test_reregistering_a_soft_deleted_schema_makes_a_new_version_with_the_same_id(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    client.delete("/subjects/p-value")
    again = register(client, "p-value", PATIENT_V1).json()
    assert (again["id"], again["version"]) == (1, 2)


def test_ids_are_never_reused_after_a_permanent_delete_even_after_compaction_and_restart(topic: MemoryTopic) -> None:
    with _client(topic) as client:
        assert registered_id(client, "a-value", PATIENT_V1) == 1
        assert registered_id(client, "b-value", ORDER_V1) == 2
        client.delete("/subjects/b-value")
        client.delete("/subjects/b-value", params={"permanent": "true"})
    topic.compact()

    with _client(topic) as restarted:
        assert_error(restarted.get("/schemas/ids/2"), 404, 40403)
        assert registered_id(restarted, "c-value", PATIENT_V2) == 3
        assert registered_id(restarted, "b-value", ORDER_V1) == 4, "a deleted schema comes back with a new id"


# --- references ---------------------------------------------------------------------------------------------


def test_references_resolve_and_protect_what_they_name(client: TestClient) -> None:
    address = {"type": "record", "name": "Address", "namespace": "carebus.common",
               "fields": [{"name": "city", "type": "string"}]}
    person = {"type": "record", "name": "Person", "namespace": "carebus.test",
              "fields": [{"name": "home", "type": "carebus.common.Address"}]}
    register(client, "address", address)
    reference = {"name": "carebus.common.Address", "subject": "address", "version": 1}
    response = client.post("/subjects/person-value/versions",
                           json={"schema": json.dumps(person), "references": [reference]})
    assert response.status_code == 200, response.text

    assert client.get("/subjects/person-value/versions/1").json()["references"] == [reference]
    assert client.get("/schemas/ids/2").json()["references"] == [reference]
    assert client.get("/subjects/address/versions/1/referencedby").json() == [2]
    assert_error(client.delete("/subjects/address/versions/1"), 422, 42206)
    assert_error(client.delete("/subjects/address"), 422, 42206)


def test_a_latest_reference_is_pinned_to_the_version_it_meant(client: TestClient) -> None:
    register(client, "enum", {"type": "enum", "name": "Color", "symbols": ["RED"]})
    response = client.post("/subjects/r-value/versions", json={
        "schema": json.dumps({"type": "record", "name": "R", "fields": [{"name": "c", "type": "Color"}]}),
        "references": [{"name": "Color", "subject": "enum", "version": -1}],
    })
    assert response.status_code == 200, response.text
    assert client.get("/subjects/r-value/versions/1").json()["references"][0]["version"] == 1


# --- config -------------------------------------------------------------------------------------------------


def test_global_config(client: TestClient) -> None:
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}
    assert client.put("/config", json={"compatibility": "full"}).json() == {"compatibility": "FULL"}
    assert client.get("/config").json() == {"compatibilityLevel": "FULL"}
    assert client.delete("/config").json() == {"compatibilityLevel": "FULL"}
    assert client.get("/config").json() == {"compatibilityLevel": "BACKWARD"}


def test_subject_config(client: TestClient) -> None:
    assert_error(client.get("/config/p-value"), 404, 40408)
    assert client.get("/config/p-value", params={"defaultToGlobal": "TRUE"}).json() == {
        "compatibilityLevel": "BACKWARD"}
    assert client.put("/config/p-value", json={"compatibility": "FORWARD_TRANSITIVE"}).json() == {
        "compatibility": "FORWARD_TRANSITIVE"}
    assert client.get("/config/p-value").json() == {"compatibilityLevel": "FORWARD_TRANSITIVE"}
    assert client.delete("/config/p-value").json() == {"compatibilityLevel": "FORWARD_TRANSITIVE"}
    assert_error(client.delete("/config/p-value"), 404, 40401)


@pytest.mark.parametrize("body", [{"compatibility": "SIDEWAYS"}, {}, {"compatibility": 3}])
def test_an_invalid_level_is_42203(client: TestClient, body: dict[str, Any]) -> None:
    assert_error(client.put("/config", json=body), 422, 42203)
    assert_error(client.put("/config/p-value", json=body), 422, 42203)


# --- mode ---------------------------------------------------------------------------------------------------


def test_modes(client: TestClient) -> None:
    assert client.get("/mode").json() == {"mode": "READWRITE"}
    assert_error(client.get("/mode/p-value"), 404, 40409)
    assert client.get("/mode/p-value", params={"defaultToGlobal": "true"}).json() == {"mode": "READWRITE"}
    assert client.put("/mode/p-value", json={"mode": "readonly"}).json() == {"mode": "READONLY"}
    assert client.get("/mode/p-value").json() == {"mode": "READONLY"}
    assert client.delete("/mode/p-value").json() == {"mode": "READONLY"}
    assert_error(client.delete("/mode/p-value"), 404, 40401)
    assert_error(client.put("/mode", json={"mode": "SOMETIMES"}), 422, 42204)
    assert_error(client.put("/mode", json={}), 422, 42204)


def test_read_only_refuses_writes_with_42205(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    client.put("/mode", json={"mode": "READONLY"})

    assert_error(register(client, "p-value", PATIENT_V2), 422, 42205)
    assert_error(client.delete("/subjects/p-value"), 422, 42205)
    assert_error(client.delete("/subjects/p-value/versions/1"), 422, 42205)
    assert client.get("/subjects/p-value/versions/1").status_code == 200


def test_import_mode_needs_force_once_there_are_schemas(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)
    assert_error(client.put("/mode", json={"mode": "IMPORT"}), 422, 42205)
    assert_error(client.put("/mode/p-value", json={"mode": "IMPORT"}), 422, 42205)
    assert client.put("/mode", params={"force": "true"}, json={"mode": "IMPORT"}).json() == {"mode": "IMPORT"}


def test_import_mode_registers_with_the_given_id_and_version(client: TestClient) -> None:
    client.put("/mode", json={"mode": "IMPORT"})
    imported = client.post("/subjects/p-value/versions",
                           json={"schema": json.dumps(PATIENT_V1), "id": 40, "version": 3})
    assert imported.json()["id"] == 40
    assert client.get("/subjects/p-value/versions").json() == [3]
    # No compatibility check while importing.
    assert client.post("/subjects/p-value/versions",
                       json={"schema": json.dumps(PATIENT_BREAKING), "id": 41}).json()["version"] == 4

    assert_error(client.post("/subjects/p-value/versions", json={"schema": json.dumps(ORDER_V1)}), 422, 42205)
    assert_error(client.post("/subjects/o-value/versions", json={"schema": json.dumps(ORDER_V1), "id": 40}),
                 422, 42205)
    assert_error(client.post("/subjects/p-value/versions", json={"schema": json.dumps(PATIENT_V1), "id": 7}),
                 422, 42207)

    client.put("/mode", json={"mode": "READWRITE"})
    assert registered_id(client, "o-value", ORDER_V1) == 42, "new ids continue after the imported ones"
    assert_error(client.post("/subjects/x-value/versions", json={"schema": json.dumps(ORDER_V1), "id": 42}),
                 422, 42205)


# --- compatibility tests ------------------------------------------------------------------------------------


def test_compatibility_against_a_version(client: TestClient) -> None:
    register(client, "p-value", PATIENT_V1)

    path = "/compatibility/subjects/p-value/versions/latest"
    assert client.post(path, json={"schema": json.dumps(PATIENT_V2)}).json() == {"is_compatible": True}
    assert client.post(path, json={"schema": json.dumps(PATIENT_BREAKING)}).json() == {"is_compatible": False}
    verbose = client.post(path, params={"verbose": "True"}, json={"schema": json.dumps(PATIENT_BREAKING)}).json()
    assert verbose["is_compatible"] is False
    assert any("READER_FIELD_MISSING_DEFAULT_VALUE" in m for m in verbose["messages"])
    assert client.post(path, params={"verbose": "true"}, json={"schema": json.dumps(PATIENT_V2)}).json() == {
        "is_compatible": True, "messages": []}


def test_compatibility_errors(client: TestClient) -> None:
    body = {"schema": json.dumps(PATIENT_V1)}
    assert_error(client.post("/compatibility/subjects/nope/versions/latest", json=body), 404, 40401)
    register(client, "p-value", PATIENT_V1)
    assert_error(client.post("/compatibility/subjects/p-value/versions/9", json=body), 404, 40402)
    assert_error(client.post("/compatibility/subjects/p-value/versions/zero", json=body), 422, 42202)
    assert_error(client.post("/compatibility/subjects/p-value/versions/1", json={"schema": "{"}), 422, 42201)


def test_compatibility_against_all_versions_follows_the_level(client: TestClient) -> None:
    assert client.post("/compatibility/subjects/new-value/versions",
                       json={"schema": json.dumps(PATIENT_V1)}).json() == {"is_compatible": True}
    client.put("/config/p-value", json={"compatibility": "NONE"})
    register(client, "p-value", PATIENT_V1)
    register(client, "p-value", ORDER_V1)  # unrelated to version 1
    client.put("/config/p-value", json={"compatibility": "BACKWARD"})
    path = "/compatibility/subjects/p-value/versions"

    assert client.post(path, json={"schema": json.dumps(ORDER_V1)}).json() == {"is_compatible": True}
    client.put("/config/p-value", json={"compatibility": "BACKWARD_TRANSITIVE"})
    assert client.post(path, json={"schema": json.dumps(ORDER_V1)}).json() == {"is_compatible": False}


# --- carebus's helper ---------------------------------------------------------------------------------------


def test_register_canonical_sets_backward_transitive_in_the_same_write(client: TestClient) -> None:
    service: RegistryService = client.app.state.service  # type: ignore[attr-defined]
    service.register_canonical("canonical.patient.v1-value", json.dumps(PATIENT_V1))

    assert client.get("/config/canonical.patient.v1-value").json() == {"compatibilityLevel": "BACKWARD_TRANSITIVE"}
    assert_error(register(client, "canonical.patient.v1-value", PATIENT_BREAKING), 409, 409)


def test_register_canonical_keeps_a_level_someone_chose(client: TestClient) -> None:
    client.put("/config/canonical.order.v1-value", json={"compatibility": "FULL"})
    service: RegistryService = client.app.state.service  # type: ignore[attr-defined]
    service.register_canonical("canonical.order.v1-value", json.dumps(ORDER_V1))
    assert service.get_compatibility("canonical.order.v1-value") is CompatibilityLevel.FULL
