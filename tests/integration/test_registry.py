"""The registry on a real broker, driven by confluent-kafka's own registry client and Avro serde.

Each test gets its own registry topic, so each test has a registry of its own; instances on the same topic
share state, which is how restarts and multi-instance agreement are tested.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

from carebus.kafka.config import KafkaConnection
from carebus.kafka.consumer import ExplicitCommitConsumer
from carebus.kafka.local import free_port
from carebus.kafka.producer import DurableProducer, Record
from carebus.registry.errors import ErrorCode, RegistryApiError
from carebus.registry.server import create_app, running_registry, serving
from carebus.registry.store import IdHighWaterKey, LogRecord, MemoryLog, RegistryStore, decode_record

DEADLINE_S = 30.0
REPO = Path(__file__).resolve().parents[2]

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
    "fields": [{"name": "id", "type": "string"}, {"name": "dob", "type": "string"}],
})
ORDER = json.dumps({"type": "record", "name": "Order", "namespace": "carebus.test",
                    "fields": [{"name": "code", "type": "string"}]})


@pytest.fixture
def registry_topic() -> str:
    return f"_schemas-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def clients() -> Iterator[Callable[[str], SchemaRegistryClient]]:
    """Stock registry clients for a URL, closed at the end of the test (each holds an HTTP connection pool)."""
    opened: list[SchemaRegistryClient] = []

    def open_client(url: str) -> SchemaRegistryClient:
        opened.append(SchemaRegistryClient({"url": url}))
        return opened[-1]

    yield open_client
    for client in opened:
        client.close()


def _avro(text: str) -> Schema:
    return Schema(text, "AVRO")


def _consume_one(connection: KafkaConnection, topic: str, group_id: str) -> bytes:
    with ExplicitCommitConsumer(connection, group_id=group_id, topics=[topic]) as consumer:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            batch = consumer.poll_batch(max_records=1, timeout_s=1.0)
            if batch:
                value = batch[0].value()
                assert isinstance(value, bytes)
                return value
    pytest.fail(f"nothing arrived on {topic} within {DEADLINE_S}s")


def test_the_stock_serde_round_trips_a_record_through_the_broker(
    kafka_connection: KafkaConnection, registry_topic: str, topic_factory: Callable[..., str], group_id: str,
    clients: Callable[[str], SchemaRegistryClient],
) -> None:
    data_topic = topic_factory("registry-serde", partitions=1)
    context = SerializationContext(data_topic, MessageField.VALUE)
    patient = {"id": "p-1", "age": 42}

    with running_registry(kafka_connection, topic=registry_topic) as url:
        value = AvroSerializer(clients(url), PATIENT)(patient, context)
        assert value is not None
        DurableProducer(kafka_connection).publish([Record(data_topic, value=value, key=b"p-1")])
        received = _consume_one(kafka_connection, data_topic, group_id)
        assert AvroDeserializer(clients(url))(received, context) == patient
        assert clients(url).get_latest_version(f"{data_topic}-value").schema_id == 1


def test_an_incompatible_change_is_refused_with_409(
    kafka_connection: KafkaConnection, registry_topic: str, clients: Callable[[str], SchemaRegistryClient]
) -> None:
    with running_registry(kafka_connection, topic=registry_topic) as url:
        client = clients(url)
        client.register_schema("patient-value", _avro(PATIENT))
        assert client.register_schema("patient-value", _avro(PATIENT_V2)) == 2

        with pytest.raises(SchemaRegistryError) as raised:
            client.register_schema("patient-value", _avro(PATIENT_BREAKING))
        assert (raised.value.http_status_code, raised.value.error_code) == (409, 409)
        assert client.get_versions("patient-value") == [1, 2]


def test_a_restart_keeps_the_ids(
    kafka_connection: KafkaConnection, registry_topic: str, clients: Callable[[str], SchemaRegistryClient]
) -> None:
    with running_registry(kafka_connection, topic=registry_topic) as url:
        client = clients(url)
        patient_id = client.register_schema("patient-value", _avro(PATIENT))
        order_id = client.register_schema("order-value", _avro(ORDER))
        client.set_compatibility("order-value", "FULL")

    with running_registry(kafka_connection, topic=registry_topic) as url:
        client = clients(url)
        assert json.loads(client.get_schema(patient_id).schema_str or "") == json.loads(PATIENT)
        assert client.register_schema("patient-value", _avro(PATIENT)) == patient_id
        assert client.register_schema("order-value", _avro(ORDER)) == order_id
        assert client.get_compatibility("order-value") == "FULL"
        assert client.register_schema("patient-value", _avro(PATIENT_V2)) == 3


def test_two_instances_agree(
    kafka_connection: KafkaConnection, registry_topic: str, clients: Callable[[str], SchemaRegistryClient]
) -> None:
    context = SerializationContext("patients", MessageField.VALUE)
    with running_registry(kafka_connection, topic=registry_topic) as first_url, \
            running_registry(kafka_connection, topic=registry_topic) as second_url:
        first, second = clients(first_url), clients(second_url)

        via_first = first.register_schema("patient-value", _avro(PATIENT))
        assert json.loads(second.get_schema(via_first).schema_str or "") == json.loads(PATIENT)

        via_second = second.register_schema("patient-value", _avro(PATIENT_V2))  # fences the first's writer
        assert first.get_version("patient-value", 2).schema_id == via_second

        # The first writes again: its writer was fenced, so it claims the role back and redoes the write.
        via_first_again = first.register_schema("order-value", _avro(ORDER))
        assert (via_first, via_second, via_first_again) == (1, 2, 3)
        assert second.get_version("order-value", 1).schema_id == 3

        # Written with one instance, read with the other.
        payload = AvroSerializer(first, PATIENT_V2)({"id": "p-2", "age": 7, "mrn": "m"}, context)
        assert AvroDeserializer(second)(payload, context) == {"id": "p-2", "age": 7, "mrn": "m"}


def test_a_permanent_delete_never_frees_an_id(
    kafka_connection: KafkaConnection, registry_topic: str, group_id: str,
    clients: Callable[[str], SchemaRegistryClient],
) -> None:
    with running_registry(kafka_connection, topic=registry_topic) as url:
        client = clients(url)
        assert client.register_schema("patient-value", _avro(PATIENT)) == 1
        assert client.register_schema("order-value", _avro(ORDER)) == 2
        client.delete_subject("order-value")
        client.delete_subject("order-value", permanent=True)

    with running_registry(kafka_connection, topic=registry_topic) as url:
        client = clients(url)
        with pytest.raises(SchemaRegistryError) as raised:
            client.get_schema(2)
        assert raised.value.error_code == 40403
        assert client.register_schema("patient-value", _avro(PATIENT_V2)) == 3
        assert client.register_schema("order-value", _avro(ORDER)) == 4

    # What makes that hold once compaction has dropped the tombstones: a high-water record that is never deleted.
    records = _registry_records(kafka_connection, registry_topic, group_id)
    high_water = [r.value for r in records if isinstance(r.key, IdHighWaterKey)]
    assert high_water[-1] == 4


def test_carebus_registry_serve(kafka_bootstrap: str, registry_topic: str) -> None:
    port = free_port()
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
    command = [sys.executable, "-c", "from carebus.cli.main import main; main()",
               "registry", "serve", "--port", str(port), "--topic", registry_topic]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(url, process)
        response = httpx.post(f"{url}/subjects/patient-value/versions", json={"schema": PATIENT},
                              headers={"Content-Type": "application/vnd.schemaregistry.v1+json"})
        assert response.json()["id"] == 1
        assert httpx.get(f"{url}/schemas/ids/1").status_code == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=DEADLINE_S)
    # uvicorn shuts down cleanly, then re-raises the signal so the exit status says what stopped it.
    assert process.returncode == -signal.SIGTERM, output.decode(errors="replace")
    assert b"Application shutdown complete" in output


class _UnreachableLog(MemoryLog):
    def open(self) -> None:
        raise RegistryApiError(ErrorCode.STORE_ERROR, "no broker answers")


def test_a_registry_that_cannot_start_says_so_promptly() -> None:
    started = time.monotonic()
    with pytest.raises(RegistryApiError, match="failed to start"), \
            serving(create_app(RegistryStore(_UnreachableLog())), startup_timeout_s=DEADLINE_S):
        pass
    assert time.monotonic() - started < DEADLINE_S / 2


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            pytest.fail(f"carebus registry serve exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(f"{url}/", timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"carebus registry serve did not answer within {DEADLINE_S}s")


def _registry_records(connection: KafkaConnection, topic: str, group_id: str) -> list[LogRecord]:
    records: list[LogRecord] = []
    with ExplicitCommitConsumer(connection, group_id=group_id, topics=[topic]) as consumer:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline:
            batch = consumer.poll_batch(timeout_s=1.0)
            if not batch and records:
                break
            for message in batch:
                record = decode_record(message.key(), message.value())
                if record is not None:
                    records.append(record)
    return records
