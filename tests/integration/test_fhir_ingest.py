"""FHIR ingest against a real broker and the real registry: POST, then read the canonical topic back.

The app runs with the production ports: KafkaEventPublisher over GroupCommitPublisher (one Kafka transaction
per request, shared by concurrent requests) with the carebus schema registry running in this process
(`carebus.registry.server.running_registry`, on a fresh `_schemas` topic), and KafkaDeadLetterPublisher over a
DurableProducer. Topics are the real `canonical.<domain>.v1` and `deadletter.fhir`, shared by the session's
tests, so each test reads back only the records carrying its own correlation id or event ids, with a fresh
read_committed consumer group.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka.schema_registry import SchemaRegistryClient

from carebus.events import event_schema, from_avro_dict
from carebus.ids import Subject
from carebus.kafka.admin import apply_topics
from carebus.kafka.config import KafkaConnection
from carebus.kafka.consumer import ExplicitCommitConsumer
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.kafka.producer import DurableProducer
from carebus.publishing import (
    DEADLETTER_HEADER_DETAIL,
    DEADLETTER_HEADER_REASON,
    DEADLETTER_HEADER_SENDER,
    HEADER_CORRELATION_ID,
    KafkaDeadLetterPublisher,
    KafkaEventPublisher,
)
from carebus.registry.server import running_registry
from carebus.serde import AvroSerde
from carebus.topics import canonical_topic, deadletter_topic, topic_spec
from producers.fhir.app import build_app
from producers.fhir.auth import BearerAuth, Client
from producers.fhir.idempotency import InMemoryIdempotencyStore

BASE_URL = "https://fhir.test.example/fhir"
TOKEN = "integration-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/fhir+json"}
DOMAINS_USED = ("patient", "encounter", "result")


@pytest.fixture(scope="module")
def registry(kafka_connection: KafkaConnection) -> Iterator[SchemaRegistryClient]:
    with running_registry(kafka_connection, topic=f"_schemas-fhir-{uuid.uuid4().hex[:8]}") as url, \
            SchemaRegistryClient({"url": url}) as client:
        yield client


@pytest.fixture(scope="module")
def topics(kafka_connection: KafkaConnection) -> None:
    names = [canonical_topic(domain) for domain in DOMAINS_USED] + [deadletter_topic("fhir")]
    apply_topics(kafka_connection, [topic_spec(name) for name in names])


class _Ingest:
    def __init__(self, connection: KafkaConnection, registry: SchemaRegistryClient, client_name: str) -> None:
        self.client_name = client_name  # the events' Source.system, so each test finds its own records
        self.transport = GroupCommitPublisher(connection, transactional_id=f"fhir-it-{uuid.uuid4().hex[:8]}")
        self.producer = DurableProducer(connection, client_id="fhir-it-deadletters")
        auth = BearerAuth.from_tokens({TOKEN: Client(client_name, frozenset({"system/*.write"}))})
        self.app = build_app(publisher=KafkaEventPublisher(self.transport, registry),
                             deadletters=KafkaDeadLetterPublisher(self.producer), auth=auth,
                             idempotency=InMemoryIdempotencyStore(), base_url=BASE_URL)

    async def post(self, path: str, body: bytes, **headers: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app), base_url="http://fhir.test",
                                     timeout=30) as client:
            return await client.post(path, content=body, headers={**HEADERS, **headers})


@pytest.fixture
def ingest(kafka_connection: KafkaConnection, registry: SchemaRegistryClient, topics: None) -> Iterator[_Ingest]:
    harness = _Ingest(kafka_connection, registry, client_name=f"it-{uuid.uuid4().hex[:8]}")
    harness.transport.start()
    try:
        yield harness
    finally:
        harness.transport.close()
        harness.producer.close()


def _read(connection: KafkaConnection, topic: str, group: str, *, correlation: str | None = None,
          expected: int, deadline_s: float = 30.0) -> list[Any]:
    """Records of `topic` (read_committed) whose correlation-id header is `correlation` (all when None)."""
    found: list[Any] = []
    with ExplicitCommitConsumer(connection, group_id=group, topics=[topic]) as consumer:
        deadline = time.monotonic() + deadline_s
        while len(found) < expected and time.monotonic() < deadline:
            for message in consumer.poll_batch(timeout_s=0.5):
                headers = dict(message.headers() or [])
                if correlation is None or headers.get(HEADER_CORRELATION_ID) == correlation.encode():
                    found.append(message)
        for message in consumer.poll_batch(timeout_s=1.0):  # anything beyond `expected` is a duplicate
            headers = dict(message.headers() or [])
            if correlation is None or headers.get(HEADER_CORRELATION_ID) == correlation.encode():
                found.append(message)
    return found


def _decode(registry: SchemaRegistryClient, domain: str, value: bytes) -> Any:
    serde = AvroSerde(registry, Subject(f"{canonical_topic(domain)}-value"), event_schema(domain))
    return from_avro_dict(domain, serde.deserialize(value))


def test_a_posted_patient_is_on_the_canonical_topic(ingest: _Ingest, kafka_connection: KafkaConnection,
                                                    registry: SchemaRegistryClient, samples_dir: Path,
                                                    group_id: str) -> None:
    body = (samples_dir / "fhir" / "r4ex__Patient-example.json").read_bytes()
    started = datetime.now(UTC)
    response = asyncio.run(ingest.post("/fhir/Patient", body))
    assert response.status_code == 201
    assert response.headers["location"] == f"{BASE_URL}/Patient/example/_history/1"

    correlation = f"{ingest.client_name}|Patient/example/_history/1"
    (message,) = _read(kafka_connection, canonical_topic("patient"), group_id, correlation=correlation, expected=1)
    assert message.key() == b"urn:oid:1.2.36.146.595.217.0.1|12345"
    event = _decode(registry, "patient", message.value())
    assert event.envelope.event_type == "patient.upserted"
    assert event.envelope.source.protocol == "fhir"
    assert event.envelope.received_at is not None and event.envelope.received_at >= started.replace(microsecond=0)
    assert event.envelope.subject.source_patient_id == "urn:oid:1.2.36.146.595.217.0.1|12345"
    assert [name.family for name in event.payload.names] == ["Chalmers", None, "Windsor"]
    assert str(event.payload.birth_date) == "1974-12-25"
    assert event.payload.administrative_sex == "male"


def test_a_transaction_lands_whole_and_an_invalid_one_not_at_all(ingest: _Ingest, kafka_connection: KafkaConnection,
                                                                 registry: SchemaRegistryClient, samples_dir: Path,
                                                                 group_id: str) -> None:
    lipids = json.loads((samples_dir / "fhir" / "r4ex__Bundle-lipids.json").read_bytes())
    bundle_id = f"it-{uuid.uuid4().hex[:8]}"
    lipids.update(type="transaction", id=bundle_id)
    for entry in lipids["entry"]:
        entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    encounter = {"resourceType": "Encounter", "status": "in-progress", "class": {"code": "IMP"},
                 "subject": {"reference": "Patient/pat2"}}
    lipids["entry"].append({"fullUrl": "urn:uuid:5f2c8e6a-0000-4000-8000-000000000001", "resource": encounter,
                            "request": {"method": "POST", "url": "Encounter"}})
    response = asyncio.run(ingest.post("/fhir/", json.dumps(lipids).encode()))
    assert response.status_code == 200, response.text
    correlation = f"{ingest.client_name}|{bundle_id}"
    (report,) = _read(kafka_connection, canonical_topic("result"), group_id, correlation=correlation, expected=1)
    (visit,) = _read(kafka_connection, canonical_topic("encounter"), f"{group_id}-e", correlation=correlation,
                     expected=1)
    result = _decode(registry, "result", report.value())
    assert result.envelope.event_type == "result.finalized"
    assert [obs.code.code for obs in result.payload.observations] == ["35200-5", "35217-9", "2085-9", "13457-7"]
    assert _decode(registry, "encounter", visit.value()).envelope.event_type == "encounter.started"

    broken_id = f"it-{uuid.uuid4().hex[:8]}"
    lipids.update(id=broken_id)
    lipids["entry"][-1]["resource"] = {**encounter, "status": "Zzbogus"}
    body = json.dumps(lipids).encode()
    refused = asyncio.run(ingest.post("/fhir/", body))
    assert refused.status_code == 400
    assert refused.json()["issue"][0]["expression"] == ["Bundle.entry[5].resource.status"]
    broken = f"{ingest.client_name}|{broken_id}"
    assert _read(kafka_connection, canonical_topic("result"), f"{group_id}-r2", correlation=broken, expected=1,
                 deadline_s=3) == []
    letters = [message for message in _read(kafka_connection, deadletter_topic("fhir"), f"{group_id}-dl",
                                            expected=10**6, deadline_s=5)
               if message.value() == body]
    (letter,) = letters
    headers = dict(letter.headers() or [])
    assert headers[DEADLETTER_HEADER_REASON] == b"invalid-resource"
    assert headers[DEADLETTER_HEADER_DETAIL] == b"Bundle.entry[5].resource.status: code-invalid"
    assert headers[DEADLETTER_HEADER_SENDER] == ingest.client_name.encode()
