"""fhir_ingest: `POST [base]/Patient` answered 201 only after Kafka has the event, over real HTTP.

The FHIR app served by uvicorn with the Kafka publisher (group commit) and the built-in registry,
driven by 8 concurrent keep-alive clients; next to the same app with a publisher that only counts,
in the same run: the ratio is the price of the durable write.
"""

from __future__ import annotations

import asyncio
import copy
import json
import statistics
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from fastapi import FastAPI

from bench._harness import Result, Stage, measure_rate, summarize
from carebus.events import DOMAINS, Event
from carebus.kafka.config import KafkaConnection
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.kafka.producer import Delivery, DurableProducer
from carebus.publishing import DeadLetter, KafkaDeadLetterPublisher, KafkaEventPublisher
from carebus.registry.server import running_registry, serving
from producers.fhir.app import build_app
from producers.fhir.auth import BearerAuth
from producers.fhir.idempotency import InMemoryIdempotencyStore

STAGE = "fhir_ingest"
CLIENTS = 8
REQUESTS_PER_CLIENT = 60
READY = "/fhir/metadata"
PATIENT = Path(__file__).resolve().parents[3] / "shared" / "samples" / "fhir" / "r4ex__Patient-example.json"


class _CountingPublisher:
    def __init__(self) -> None:
        self.events = 0

    async def publish(self, events: Sequence[Event]) -> list[Delivery]:
        self.events += len(events)
        return []


class _NoDeadLetters:
    async def publish(self, letter: DeadLetter) -> None:
        return None


def _app(publisher: Any, deadletters: Any) -> FastAPI:
    return build_app(publisher=publisher, deadletters=deadletters,
                     auth=BearerAuth.from_config("{}", allow_anonymous=True),
                     idempotency=InMemoryIdempotencyStore(), base_url="http://127.0.0.1/fhir")


def _bodies(count: int, run: int) -> list[bytes]:
    template = json.loads(PATIENT.read_text())
    bodies = []
    for index in range(count):
        patient = copy.deepcopy(template)
        patient.pop("id", None)
        patient["identifier"] = [{"use": "usual", "type": {"coding": [
            {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}]},
            "system": "urn:oid:1.2.36.146.595.217.0.1", "value": f"BENCH{run:04d}{index:07d}"}]
        bodies.append(json.dumps(patient).encode())
    return bodies


def _drive(url: str, bodies: list[bytes]) -> int:
    async def client(mine: list[bytes]) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            for body in mine:
                response = await http.post("/fhir/Patient", content=body,
                                           headers={"Content-Type": "application/fhir+json"})
                if response.status_code != 201:
                    raise RuntimeError(f"POST /fhir/Patient answered {response.status_code}")

    async def all_clients() -> None:
        await asyncio.gather(*(client(bodies[i::CLIENTS]) for i in range(CLIENTS)))

    asyncio.run(all_clients())
    return len(bodies)


def run(bootstrap: str | None) -> list[Result]:
    if bootstrap is None:
        raise RuntimeError("fhir_ingest needs a broker")
    connection = KafkaConnection(bootstrap)
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    topics = {domain: f"{prefix}.canonical.{domain}.v1" for domain in DOMAINS}
    admin = AdminClient({**connection.as_librdkafka_dict(), "log_level": 3})
    existing = admin.list_topics(timeout=10).topics
    wanted = [NewTopic(t, 6, 1) for t in [*topics.values(), "deadletter.fhir"] if t not in existing]
    for future in admin.create_topics(wanted).values():
        future.result(timeout=30)
    runs = iter(range(10**6))

    def fresh() -> list[bytes]:
        return _bodies(CLIENTS * REQUESTS_PER_CLIENT, next(runs))

    with serving(_app(_CountingPublisher(), _NoDeadLetters()), ready_path=READY) as url:
        baseline = measure_rate(lambda: _drive(url, fresh()))
    with running_registry(connection, topic=f"_schemas-{prefix}") as registry_url, \
            SchemaRegistryClient({"url": registry_url}) as registry:
        transport = GroupCommitPublisher(connection, transactional_id=f"{prefix}-fhir")
        transport.start()
        dead_producer = DurableProducer(connection)
        try:
            app = _app(KafkaEventPublisher(transport, registry, topic_for=topics.__getitem__),
                       KafkaDeadLetterPublisher(dead_producer))
            with serving(app, ready_path=READY) as url:
                rates = measure_rate(lambda: _drive(url, fresh()))
        finally:
            transport.close()
            dead_producer.close()
    params = {"resource": "Patient", "clients": CLIENTS, "requests": CLIENTS * REQUESTS_PER_CLIENT}
    return [summarize(STAGE, "throughput", "requests/s", rates, params=params,
                      baseline="same app, publisher that only counts", baseline_value=statistics.median(baseline))]


STAGE_DEF = Stage(STAGE, needs_broker=True, run=run)
