"""confluent-kafka's own registry client and Avro serde against the registry, and two instances on one log.

The stock `SchemaRegistryClient` sends its requests through an `httpx.Client`; a `TestClient` is one, so the
client talks to the app in-process, with no sockets and no broker.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from carebus.registry.server import create_app
from carebus.registry.store import MemoryLog, MemoryTopic, RegistryStore

with warnings.catch_warnings():
    # starlette 1.x asks for the httpx2 package for its test client; with httpx it works the same and warns.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

FAST_POLL_S = 0.01
TOPIC = "canonical.patient.v1"
SUBJECT = f"{TOPIC}-value"
PATIENT = json.dumps({
    "type": "record", "name": "Patient", "namespace": "carebus.test",
    "fields": [{"name": "id", "type": "string"}, {"name": "age", "type": "int"}],
})
PATIENT_V2 = json.dumps({
    "type": "record", "name": "Patient", "namespace": "carebus.test",
    "fields": [{"name": "id", "type": "string"}, {"name": "age", "type": "int"},
               {"name": "mrn", "type": ["null", "string"], "default": None}],
})
PATIENT_BREAKING = json.dumps({
    "type": "record", "name": "Patient", "namespace": "carebus.test",
    "fields": [{"name": "id", "type": "long"}],
})


def _app_client(topic: MemoryTopic) -> TestClient:
    return TestClient(create_app(RegistryStore(MemoryLog(topic), poll_timeout_s=FAST_POLL_S)))


def _registry_client(http: TestClient) -> SchemaRegistryClient:
    client = SchemaRegistryClient({"url": str(http.base_url), "max.retries": 0})
    client._rest_client.session = http  # the transport seam: any httpx.Client will do
    return client


@pytest.fixture
def topic() -> MemoryTopic:
    return MemoryTopic()


@pytest.fixture
def http(topic: MemoryTopic) -> Iterator[TestClient]:
    with _app_client(topic) as http:
        yield http


@pytest.fixture
def registry(http: TestClient) -> SchemaRegistryClient:
    return _registry_client(http)


def test_the_stock_avro_serde_round_trips_a_record(registry: SchemaRegistryClient) -> None:
    context = SerializationContext(TOPIC, MessageField.VALUE)
    serialize = AvroSerializer(registry, PATIENT)
    # A separate client, so the deserializer has to fetch the writer's schema by id.
    deserialize = AvroDeserializer(_registry_client(registry._rest_client.session))  # type: ignore[arg-type]

    payload = serialize({"id": "p-1", "age": 42}, context)

    assert payload is not None and payload[0] == 0 and int.from_bytes(payload[1:5], "big") == 1
    assert deserialize(payload, context) == {"id": "p-1", "age": 42}
    assert registry.get_latest_version(SUBJECT).schema_id == 1


def test_the_stock_client_api(registry: SchemaRegistryClient) -> None:
    schema_id = registry.register_schema(SUBJECT, Schema(PATIENT, "AVRO"))
    assert registry.register_schema(SUBJECT, Schema(PATIENT, "AVRO")) == schema_id

    assert json.loads(registry.get_schema(schema_id).schema_str or "") == json.loads(PATIENT)
    assert registry.lookup_schema(SUBJECT, Schema(PATIENT, "AVRO")).version == 1
    assert registry.get_subjects() == [SUBJECT]
    assert registry.get_versions(SUBJECT) == [1]
    assert registry.get_version(SUBJECT, 1).schema_id == schema_id
    assert registry.get_schema_types() == ["AVRO"]
    assert registry.get_subjects_by_schema_id(schema_id) == [SUBJECT]
    assert [(v.subject, v.version) for v in registry.get_schema_versions(schema_id)] == [(SUBJECT, 1)]

    assert registry.get_compatibility() == "BACKWARD"
    registry.set_compatibility(SUBJECT, "BACKWARD_TRANSITIVE")
    assert registry.get_compatibility(SUBJECT) == "BACKWARD_TRANSITIVE"
    assert registry.get_config(SUBJECT).compatibility_level.value == "BACKWARD_TRANSITIVE"  # type: ignore[union-attr]
    assert registry.test_compatibility(SUBJECT, Schema(PATIENT_V2, "AVRO")) is True
    assert registry.test_compatibility_all_versions(SUBJECT, Schema(PATIENT_BREAKING, "AVRO")) is False

    assert registry.get_global_mode() == "READWRITE"
    assert registry.update_mode(SUBJECT, "READONLY") == "READONLY"
    assert registry.delete_mode(SUBJECT) == "READONLY"

    assert registry.delete_version(SUBJECT, 1) == 1
    assert registry.get_subjects(deleted=True) == [SUBJECT]
    assert registry.delete_subject(SUBJECT, permanent=True) == [1]
    assert registry.get_subjects(deleted=True) == []


def test_the_stock_client_sees_409_for_an_incompatible_schema(registry: SchemaRegistryClient) -> None:
    registry.register_schema(SUBJECT, Schema(PATIENT, "AVRO"))
    with pytest.raises(SchemaRegistryError) as raised:
        registry.register_schema(SUBJECT, Schema(PATIENT_BREAKING, "AVRO"))
    assert (raised.value.http_status_code, raised.value.error_code) == (409, 409)


def test_the_stock_client_sees_confluent_error_codes(registry: SchemaRegistryClient) -> None:
    with pytest.raises(SchemaRegistryError) as raised:
        registry.get_latest_version("nope")
    assert (raised.value.http_status_code, raised.value.error_code) == (404, 40401)
    with pytest.raises(SchemaRegistryError) as raised:
        registry.get_schema(999)
    assert raised.value.error_code == 40403


def test_two_instances_on_one_log_agree(topic: MemoryTopic) -> None:
    with _app_client(topic) as first_http, _app_client(topic) as second_http:
        first, second = _registry_client(first_http), _registry_client(second_http)

        via_first = first.register_schema(SUBJECT, Schema(PATIENT, "AVRO"))
        # The second has not necessarily tailed that write yet; a miss makes it catch up before answering.
        assert json.loads(second.get_schema(via_first).schema_str or "") == json.loads(PATIENT)

        via_second = second.register_schema(SUBJECT, Schema(PATIENT_V2, "AVRO"))  # takes the writer role
        assert first.get_version(SUBJECT, 2).schema_id == via_second

        # The first was fenced; its next write claims the role back and still gets a fresh id.
        third = first.register_schema("other-value", Schema(PATIENT_BREAKING, "AVRO"))
        assert (via_first, via_second, third) == (1, 2, 3)
        assert second.get_schema(third).schema_str is not None
