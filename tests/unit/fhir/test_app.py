"""The FHIR ingest app over fake ports: every status it answers, and what reaches the ports."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import httpx
import pytest

from producers.fhir.auth import BearerAuth
from tests.unit.fhir.conftest import FHIR_HEADERS, AppHarness
from tests.unit.fhir.fakes import BASE_URL, read_sample

pytestmark = pytest.mark.anyio

PATIENT = {"resourceType": "Patient", "identifier": [{"system": "urn:mrn", "value": "M1"}], "gender": "female"}


def _body(resource: dict[str, Any]) -> bytes:
    return json.dumps(resource).encode()


async def _post(harness: AppHarness, path: str, resource: dict[str, Any] | bytes, **headers: str) -> httpx.Response:
    content = resource if isinstance(resource, bytes) else _body(resource)
    async with harness.client() as client:
        return await client.post(path, content=content, headers={**FHIR_HEADERS, **headers})


async def _put(harness: AppHarness, path: str, resource: dict[str, Any], **headers: str) -> httpx.Response:
    async with harness.client() as client:
        return await client.put(path, content=_body(resource), headers={**FHIR_HEADERS, **headers})


def _issues(response: httpx.Response) -> list[tuple[str, str | None]]:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return [(issue["code"], (issue.get("expression") or [None])[0]) for issue in outcome["issue"]]


# --- metadata --------------------------------------------------------------------------------------------


async def test_capability_statement_tells_the_truth(harness: AppHarness) -> None:
    async with harness.client() as client:
        response = await client.get("/fhir/metadata")  # no token needed
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    statement = response.json()
    assert statement["resourceType"] == "CapabilityStatement" and statement["fhirVersion"] == "4.0.1"
    (rest,) = statement["rest"]
    assert [resource["type"] for resource in rest["resource"]] == [
        "Patient", "Encounter", "ServiceRequest", "Observation", "DiagnosticReport", "Claim"]
    for resource in rest["resource"]:
        assert [item["code"] for item in resource["interaction"]] == ["create", "update"]
        assert resource["conditionalDelete"] == "not-supported" and resource["readHistory"] is False
    assert [item["code"] for item in rest["interaction"]] == ["transaction", "batch"]
    assert "service" not in rest["security"]  # no SMART OAuth endpoints are claimed


# --- create ----------------------------------------------------------------------------------------------


async def test_create_answers_201_with_location_after_publishing(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/Patient", read_sample("r4ex__Patient-example.json"))
    assert response.status_code == 201
    assert response.headers["location"] == f"{BASE_URL}/Patient/example/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"] == "Thu, 14 Mar 2024 09:30:06 GMT"
    echoed = response.json()
    assert echoed["id"] == "example" and echoed["meta"] == {"versionId": "1", "lastUpdated": "2024-03-14T09:30:06.000Z"}
    assert echoed["name"][0]["family"] == "Chalmers"
    (call,) = harness.publisher.calls
    (event,) = call
    assert event.envelope.event_type == "patient.upserted"
    assert event.envelope.source.system == "lab-lis" and event.envelope.source.facility == "EXAMPLE-LAB"
    assert event.envelope.source.original_message_id == "Patient/example/_history/1"
    assert harness.deadletters.letters == []


async def test_create_assigns_an_id_when_absent(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/Patient", PATIENT)
    assert response.status_code == 201
    assigned = "00000000-0000-0000-0000-000000000001"
    assert response.headers["location"] == f"{BASE_URL}/Patient/{assigned}/_history/1"
    assert response.json()["id"] == assigned
    (event,) = harness.publisher.events
    assert event.envelope.subject.source_patient_id == "urn:mrn|M1"


@pytest.mark.parametrize(("prefer", "expected"), [("return=minimal", None),
                                                  ("respond-async, return=OperationOutcome", "OperationOutcome"),
                                                  ("return=representation", "Patient")])
async def test_prefer_return(harness: AppHarness, prefer: str, expected: str | None) -> None:
    response = await _post(harness, "/fhir/Patient", PATIENT, Prefer=prefer)
    assert response.status_code == 201 and "location" in response.headers
    if expected is None:
        assert response.content == b""
    else:
        assert response.json()["resourceType"] == expected


async def test_application_json_is_accepted(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/Patient", PATIENT, **{"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201


# --- authentication and scopes ---------------------------------------------------------------------------


@pytest.mark.parametrize(("authorization", "error"), [(None, None), ("Bearer wrong", "invalid_token"),
                                                      ("Basic all-writes", "invalid_token")])
async def test_401_without_a_valid_token(harness: AppHarness, authorization: str | None, error: str | None) -> None:
    headers = {"Content-Type": "application/fhir+json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    async with harness.client() as client:
        response = await client.post("/fhir/Patient", content=_body(PATIENT), headers=headers)
    assert response.status_code == 401
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="carebus-fhir"')
    assert (f'error="{error}"' in challenge) if error else ("error=" not in challenge)
    assert _issues(response) == [("login", None)]
    assert harness.publisher.calls == [] and harness.deadletters.letters == []


async def test_403_without_the_scope(harness: AppHarness) -> None:
    encounter = read_sample("r4ex__Encounter-example.json")
    response = await _post(harness, "/fhir/Encounter", encounter, Authorization="Bearer patients-only")
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == (
        'Bearer realm="carebus-fhir", error="insufficient_scope", scope="system/Encounter.write"')
    assert _issues(response) == [("forbidden", None)]
    read_only = await _post(harness, "/fhir/Patient", PATIENT, Authorization="Bearer read-only")
    assert read_only.status_code == 403
    v2_create = await _post(harness, "/fhir/Encounter", encounter, Authorization="Bearer v2-create-only")
    assert v2_create.status_code == 201
    v2_update = await _put(harness, "/fhir/Encounter/example", encounter, Authorization="Bearer v2-create-only")
    assert v2_update.status_code == 403
    assert len(harness.publisher.calls) == 1 and harness.deadletters.letters == []


async def test_anonymous_writes_only_when_enabled(make_harness: Any) -> None:
    closed = make_harness()
    async with closed.client() as client:
        response = await client.post("/fhir/Patient", content=_body(PATIENT),
                                     headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 401
    open_ = make_harness(auth=BearerAuth({}, allow_anonymous=True))
    async with open_.client() as client:
        response = await client.post("/fhir/Patient", content=_body(PATIENT),
                                     headers={"Content-Type": "application/fhir+json"})
    assert response.status_code == 201
    assert open_.publisher.events[0].envelope.source.system == BASE_URL


# --- refusals --------------------------------------------------------------------------------------------


async def test_404_for_an_unsupported_type_and_dead_letter(harness: AppHarness) -> None:
    body = _body({"resourceType": "Medication", "code": {"text": "aspirin"}})
    response = await _post(harness, "/fhir/Medication", body)
    assert response.status_code == 404
    assert _issues(response) == [("not-supported", None)]
    (letter,) = harness.deadletters.letters
    assert (letter.stage, letter.reason, letter.original, letter.sender) == (
        "fhir", "unsupported-resource-type", body, "lab-lis")
    async with harness.client() as client:
        assert (await client.get("/nowhere")).status_code == 404


@pytest.mark.parametrize(("method", "path"), [("GET", "/fhir/Patient/1"), ("DELETE", "/fhir/Patient/1"),
                                              ("GET", "/fhir/Patient"), ("PATCH", "/fhir/Patient/1"),
                                              ("GET", "/fhir/")])
async def test_405_for_interactions_not_served(harness: AppHarness, method: str, path: str) -> None:
    async with harness.client() as client:
        response = await client.request(method, path, headers=FHIR_HEADERS)
    assert response.status_code == 405
    assert response.headers["allow"] == ("POST" if path == "/fhir/" else "PUT" if path.endswith("/1") else "POST, PUT")
    assert _issues(response) == [("not-supported", None)]


async def test_other_methods_on_an_unsupported_type_are_404(harness: AppHarness) -> None:
    async with harness.client() as client:
        response = await client.get("/fhir/Medication/1")
        metadata = await client.post("/fhir/metadata", content=_body(PATIENT), headers=FHIR_HEADERS)
        options = await client.options("/fhir/metadata")
    assert response.status_code == 404
    assert metadata.status_code == 404
    assert (options.status_code, options.headers["allow"]) == (405, "GET")


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/fhir+xml",
                                          "application/fhir+json; charset=latin-1", ""])
async def test_415_for_other_media_types(harness: AppHarness, content_type: str) -> None:
    response = await _post(harness, "/fhir/Patient", PATIENT, **{"Content-Type": content_type})
    assert response.status_code == 415
    assert harness.publisher.calls == []


async def test_413_for_a_body_too_large(make_harness: Any) -> None:
    harness = make_harness(max_body_bytes=100)
    response = await _post(harness, "/fhir/Patient", {**PATIENT, "text": {"status": "generated", "div": "x" * 200}})
    assert response.status_code == 413


async def test_400_for_invalid_json_dead_letters_the_original_bytes(harness: AppHarness) -> None:
    body = b'{"resourceType": "Patient", "name": [{"family": "Zzsecret"'
    response = await _post(harness, "/fhir/Patient", body)
    assert response.status_code == 400
    assert _issues(response) == [("structure", None)]
    (letter,) = harness.deadletters.letters
    assert letter.original == body and letter.reason == "malformed-request"
    assert "Zzsecret" not in letter.detail and "Zzsecret" not in response.text


async def test_400_for_invalid_fhir_names_the_element_never_the_value(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/Patient", {"resourceType": "Patient", "birthDate": "Zzsecret-1961",
                                                      "gender": "Zzsecret"})
    assert response.status_code == 400
    assert sorted(_issues(response)) == [("value", "Patient.birthDate")]
    assert "Zzsecret" not in response.text
    (letter,) = harness.deadletters.letters
    assert letter.reason == "invalid-resource" and letter.detail == "Patient.birthDate: value"
    gender = await _post(harness, "/fhir/Patient", {"resourceType": "Patient", "gender": "Zzsecret"})
    assert gender.status_code == 400 and _issues(gender) == [("code-invalid", "Patient.gender")]
    assert "Zzsecret" not in gender.text


async def test_400_when_the_body_is_not_the_endpoint_type(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/Patient", read_sample("r4ex__Encounter-example.json"))
    assert response.status_code == 400
    assert _issues(response) == [("invalid", "Patient.resourceType")]


async def test_422_for_a_business_rule(harness: AppHarness) -> None:
    request = {"resourceType": "ServiceRequest", "status": "active", "intent": "plan",
               "subject": {"reference": "Patient/p1"}}
    response = await _post(harness, "/fhir/ServiceRequest", request)
    assert response.status_code == 422
    assert _issues(response) == [("business-rule", "ServiceRequest.intent")]
    assert harness.deadletters.letters[0].reason == "unmappable-resource"


async def test_400_for_a_bad_header_parameter(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/Patient", PATIENT, **{"If-None-Exist": "name=peter"})
    assert response.status_code == 400
    assert harness.publisher.calls == []


# --- transaction and batch -------------------------------------------------------------------------------


def _as(bundle_type: str, sample: str) -> dict[str, Any]:
    bundle = copy.deepcopy(read_sample(sample))
    bundle["type"] = bundle_type
    for entry in bundle["entry"]:
        entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    return bundle


async def test_transaction_publishes_everything_in_one_call(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/", _as("transaction", "r4ex__Bundle-lipids.json"))
    assert response.status_code == 200
    reply = response.json()
    assert reply["type"] == "transaction-response"
    assert [entry["response"]["status"] for entry in reply["entry"]] == ["201 Created"] * 5
    assert reply["entry"][1]["response"]["location"] == f"{BASE_URL}/Observation/cholesterol/_history/1"
    (call,) = harness.publisher.calls
    (event,) = call  # the report with its four Observations folded in
    assert len(event.payload.observations) == 4
    assert event.envelope.correlation_id == "lab-lis|lipids"  # Bundle.id (it has no identifier)


async def test_transaction_with_one_invalid_entry_publishes_nothing(harness: AppHarness) -> None:
    bundle = _as("transaction", "r4ex__Bundle-lipids.json")
    bundle["entry"].append({"fullUrl": "urn:uuid:8a5c5e43-0000-4000-8000-000000000001",
                            "resource": {"resourceType": "Patient", "id": "p9", "birthDate": "Zzsecret"},
                            "request": {"method": "POST", "url": "Patient"}})
    body = _body(bundle)
    response = await _post(harness, "/fhir", body)
    assert response.status_code == 400
    assert _issues(response) == [("value", "Bundle.entry[5].resource.birthDate")]
    assert "Zzsecret" not in response.text
    assert harness.publisher.calls == []
    (letter,) = harness.deadletters.letters
    assert letter.original == body and letter.detail == "Bundle.entry[5].resource.birthDate: value"


async def test_transaction_with_unsupported_entries_is_422_and_names_them(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/", read_sample("r4ex__Bundle-bundle-transaction.json"))
    assert response.status_code == 400  # DELETE/GET entries (405) and a Parameters entry (404): mixed
    expressions = [expression for _, expression in _issues(response)]
    assert expressions == ["Bundle.entry[5].request.method", "Bundle.entry[6].request.method",
                           "Bundle.entry[7].resource.resourceType", "Bundle.entry[8].request.method",
                           "Bundle.entry[9].request.method"]
    assert harness.publisher.calls == []
    only_unsupported = _as("transaction", "r4ex__Bundle-bundle-example.json")
    response = await _post(harness, "/fhir/", only_unsupported)
    assert response.status_code == 422


async def test_transaction_403_when_one_entry_lacks_the_scope(harness: AppHarness) -> None:
    bundle = _as("transaction", "r4ex__Bundle-lipids.json")
    response = await _post(harness, "/fhir/", bundle, Authorization="Bearer patients-only")
    assert response.status_code == 403
    assert harness.publisher.calls == [] and harness.deadletters.letters == []


async def test_batch_answers_each_entry_on_its_own(harness: AppHarness) -> None:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": PATIENT, "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "gender": "Zzsecret"},
         "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Medication"}, "request": {"method": "POST", "url": "Medication"}},
        {"request": {"method": "DELETE", "url": "Patient/1"}},
        {"resource": read_sample("r4ex__Encounter-example.json"), "request": {"method": "PUT",
                                                                               "url": "Encounter/example"}},
        {"resource": {"resourceType": "ServiceRequest", "status": "active", "intent": "plan",
                      "subject": {"reference": "Patient/p1"}}, "request": {"method": "POST", "url": "ServiceRequest"}},
    ]}
    response = await _post(harness, "/fhir/", bundle)
    assert response.status_code == 200
    reply = response.json()
    assert reply["type"] == "batch-response"
    assert [entry["response"]["status"] for entry in reply["entry"]] == [
        "201 Created", "400 Bad Request", "404 Not Found", "405 Method Not Allowed", "201 Created",
        "422 Unprocessable Entity"]
    assert reply["entry"][1]["response"]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[1].resource.gender"]
    assert len(harness.publisher.calls) == 2  # one per successful unit
    (letter,) = harness.deadletters.letters  # one dead letter for the request, naming the failed entries
    assert "Bundle.entry[1].resource.gender" in letter.detail and "Zzsecret" not in letter.detail


async def test_batch_reads_entries_it_does_not_ingest_for_references(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/", read_sample("msfc__REF-I12-01-expected.json"))
    statuses = [entry["response"]["status"] for entry in response.json()["entry"]]
    assert statuses.count("404 Not Found") == 81  # Practitioner, Organization, ... are refused
    (referral,) = [event for event in harness.publisher.events if event.envelope.event_type == "referral.updated"]
    requester = referral.payload.requester
    assert requester is not None and requester.id == "PLN1001"  # ...but read through the PractitionerRole entry
    assert requester.name is not None and requester.name.family == "POWELL"


async def test_message_bundles_are_not_processed(harness: AppHarness) -> None:
    response = await _post(harness, "/fhir/", read_sample("r4ex__Bundle-10bb101f-a121-4264-a920-67be9cb82c74.json"))
    assert response.status_code == 422
    assert _issues(response) == [("not-supported", "Bundle.type")]
    not_a_bundle = await _post(harness, "/fhir/", PATIENT)
    assert not_a_bundle.status_code == 400


# --- idempotency and conditional requests ----------------------------------------------------------------


async def test_same_idempotency_key_publishes_once(harness: AppHarness) -> None:
    body = read_sample("r4ex__Observation-f001.json")
    first = await _post(harness, "/fhir/Observation", body, **{"Idempotency-Key": "req-1"})
    second = await _post(harness, "/fhir/Observation", body, **{"Idempotency-Key": "req-1"})
    assert first.status_code == second.status_code == 201
    assert first.content == second.content
    assert first.headers["location"] == second.headers["location"]
    assert second.headers["idempotent-replayed"] == "true"
    assert len(harness.publisher.calls) == 1
    other = await _post(harness, "/fhir/Observation", {**body, "status": "amended"}, **{"Idempotency-Key": "req-1"})
    assert other.status_code == 422
    assert len(harness.publisher.calls) == 1
    # Keys are per client: another client's same key is a different request.
    third = await _post(harness, "/fhir/Observation", body, Authorization="Bearer v2-create-only",
                        **{"Idempotency-Key": "req-1"})
    assert third.status_code == 201 and len(harness.publisher.calls) == 2


async def test_idempotency_key_in_flight_is_409(harness: AppHarness) -> None:
    harness.publisher.delay_s = 0.2
    body = _body(PATIENT)
    async with harness.client() as client:
        first, second = await asyncio.gather(
            client.post("/fhir/Patient", content=body, headers={**FHIR_HEADERS, "Idempotency-Key": "k"}),
            _later(client.post("/fhir/Patient", content=body, headers={**FHIR_HEADERS, "Idempotency-Key": "k"})))
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    assert len(harness.publisher.calls) == 1


async def _later(call: Any) -> httpx.Response:
    await asyncio.sleep(0.05)
    return await call


async def test_replayed_refusal_is_not_dead_lettered_twice(harness: AppHarness) -> None:
    body = {"resourceType": "Patient", "gender": "x"}
    for _ in range(2):
        response = await _post(harness, "/fhir/Patient", body, **{"Idempotency-Key": "bad-1"})
        assert response.status_code == 400
    assert len(harness.deadletters.letters) == 1


async def test_if_none_exist_returns_the_existing_resource(harness: AppHarness) -> None:
    created = await _post(harness, "/fhir/Patient", PATIENT)
    again = await _post(harness, "/fhir/Patient", {**PATIENT, "gender": "male"},
                        **{"If-None-Exist": "identifier=urn:mrn|M1"})
    assert again.status_code == 200
    assert again.headers["location"] == created.headers["location"]
    assert again.json()["gender"] == "female"  # the one that exists
    assert len(harness.publisher.calls) == 1
    fresh = await _post(harness, "/fhir/Patient", {**PATIENT, "identifier": [{"system": "urn:mrn", "value": "M2"}]},
                        **{"If-None-Exist": "identifier=urn:mrn|M2"})
    assert fresh.status_code == 201
    await _post(harness, "/fhir/Patient", {**PATIENT, "identifier": [{"system": "urn:other", "value": "M1"}]})
    ambiguous = await _post(harness, "/fhir/Patient", PATIENT, **{"If-None-Exist": "identifier=M1"})
    assert ambiguous.status_code == 412


async def test_concurrent_conditional_creates_publish_once(harness: AppHarness) -> None:
    harness.publisher.delay_s = 0.05
    headers = {**FHIR_HEADERS, "If-None-Exist": "identifier=urn:mrn|M1"}
    async with harness.client() as client:
        replies = await asyncio.gather(*(client.post("/fhir/Patient", content=_body(PATIENT), headers=headers)
                                         for _ in range(5)))
    assert sorted(reply.status_code for reply in replies) == [200, 200, 200, 200, 201]
    assert len(harness.publisher.calls) == 1


async def test_update_versions_if_match_and_conditional_update(harness: AppHarness) -> None:
    patient = {**PATIENT, "id": "p1"}
    first = await _put(harness, "/fhir/Patient/p1", patient)
    assert first.status_code == 201 and first.headers["etag"] == 'W/"1"'
    second = await _put(harness, "/fhir/Patient/p1", patient, **{"If-Match": 'W/"1"'})
    assert second.status_code == 200 and second.headers["location"] == f"{BASE_URL}/Patient/p1/_history/2"
    stale = await _put(harness, "/fhir/Patient/p1", patient, **{"If-Match": 'W/"1"'})
    assert stale.status_code == 412
    mismatch = await _put(harness, "/fhir/Patient/p2", patient)
    assert mismatch.status_code == 400 and _issues(mismatch) == [("invalid", "Patient.id")]
    async with harness.client() as client:
        conditional = await client.put("/fhir/Patient?identifier=urn:mrn|M1", content=_body(PATIENT),
                                       headers=FHIR_HEADERS)
    assert conditional.status_code == 200
    assert conditional.headers["location"] == f"{BASE_URL}/Patient/p1/_history/3"
    assert [event.envelope.source.message_type for event in harness.publisher.events] == ["Patient/update"] * 3


# --- the bus is down -------------------------------------------------------------------------------------


async def test_503_when_publishing_fails_and_the_retry_goes_through(harness: AppHarness) -> None:
    harness.publisher.fail_next = 1
    body = read_sample("r4ex__Claim-100150.json")
    failed = await _post(harness, "/fhir/Claim", body, **{"Idempotency-Key": "claim-1"})
    assert failed.status_code == 503 and failed.headers["retry-after"]
    assert _issues(failed) == [("transient", None)]
    assert harness.deadletters.letters == []  # not bad input
    retried = await _post(harness, "/fhir/Claim", body, **{"Idempotency-Key": "claim-1"})
    assert retried.status_code == 201
    assert len(harness.publisher.calls) == 1


async def test_batch_entry_is_503_when_its_publish_fails(harness: AppHarness) -> None:
    harness.publisher.fail_next = 1
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": PATIENT, "request": {"method": "POST", "url": "Patient"}}]}
    response = await _post(harness, "/fhir/", bundle)
    assert response.json()["entry"][0]["response"]["status"] == "503 Service Unavailable"


# --- metrics ---------------------------------------------------------------------------------------------


async def test_metrics_count_requests_without_identifiers(harness: AppHarness) -> None:
    await _post(harness, "/fhir/Patient", read_sample("r4ex__Patient-example.json"))
    await _post(harness, "/fhir/Patient", {"resourceType": "Patient", "gender": "x"})
    await _post(harness, "/fhir/NotAType-12345", PATIENT)
    await _post(harness, "/fhir/", _as("transaction", "r4ex__Bundle-lipids.json"))
    async with harness.client() as client:
        text = (await client.get("/metrics")).text
    assert ('carebus_fhir_requests_total{interaction="create",outcome="created",resource_type="Patient",'
            'status="201"} 1.0') in text
    assert ('carebus_fhir_requests_total{interaction="create",outcome="rejected",resource_type="Patient",'
            'status="400"} 1.0') in text
    assert 'resource_type="-"' in text and "NotAType" not in text
    assert 'interaction="transaction",outcome="processed",resource_type="Bundle",status="200"' in text
    assert 'carebus_fhir_events_published_total{domain="result",event_type="result.finalized"} 1.0' in text
    assert 'carebus_fhir_deadletters_total{reason="invalid-resource"} 1.0' in text
    assert "carebus_fhir_request_duration_seconds_bucket" in text
    assert "12345" not in text and "Chalmers" not in text
