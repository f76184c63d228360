"""`carebus demo`: the main job on the embedded defaults, fed with the sample traffic in ../shared/samples.

A local Kafka (started if none is configured), the topic catalog, the built-in registry with every
contract registered at BACKWARD_TRANSITIVE, then the three adapters in this process: the MLLP
listener gets every HL7 v2 sample from a real MLLP client, the FHIR API every FHIR sample, the
batch loader the Synthea CSV. It ends with what landed on each topic. Nothing printed is PHI: the
per-message lines name files, ACK codes and event types; the summary counts records.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # starlette's TestClient prefers the httpx2 package and says so
    from fastapi.testclient import TestClient
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from prometheus_client import CollectorRegistry
from rich.console import Console
from rich.table import Table

from carebus.cli._bootstrap import Bus, open_bus
from carebus.cli._context import fail, resolve_bootstrap, settings
from carebus.events import DOMAINS, event_schema
from carebus.kafka.admin import apply_topics
from carebus.kafka.config import KafkaConnection
from carebus.registry.governance import CANONICAL_LEVEL
from carebus.topics import CATALOG, canonical_topic, deadletter_topic
from producers.batch.ledger import SqliteLedger
from producers.batch.loader import BatchLoader
from producers.fhir.app import build_app
from producers.fhir.auth import BearerAuth
from producers.fhir.idempotency import InMemoryIdempotencyStore
from producers.hl7v2.client import MllpClient, read_ack
from producers.hl7v2.dedupe import ResendWindow
from producers.hl7v2.handler import MessageHandler
from producers.hl7v2.listener import build_map_events
from producers.hl7v2.metrics import Hl7Metrics
from producers.hl7v2.runtime import serving_in_thread
from producers.hl7v2.server import MllpServer, ServerConfig

__all__ = ["demo", "register_contracts"]

SAMPLES_DIR = Path(__file__).resolve().parents[3] / "shared" / "samples"
FHIR_BASE = "http://demo.carebus.local/fhir"
# FHIR samples whose Bundle type the ingest API takes as-is; message/collection/searchset are not ingested.
_FHIR_BUNDLE_TYPES = {"transaction", "batch"}
_WATCHED = [*(canonical_topic(d) for d in DOMAINS), *(deadletter_topic(s) for s in ("hl7v2", "fhir", "batch"))]


def register_contracts(registry: SchemaRegistryClient) -> int:
    """Register every catalog contract at BACKWARD_TRANSITIVE; return how many subjects there are."""
    count = 0
    for spec in CATALOG:
        if spec.subject is None or spec.value_schema is None:
            continue
        domain = spec.name.split(".")[1]
        registry.set_compatibility(spec.subject, CANONICAL_LEVEL.value)
        registry.register_schema(spec.subject, Schema(json.dumps(event_schema(domain)), "AVRO"))
        count += 1
    return count


def demo(
    samples: Annotated[Path, typer.Option(help="The shared samples folder.")] = SAMPLES_DIR,
) -> None:
    """Run carebus on the embedded defaults and feed it the sample messages, files and resources."""
    if not samples.is_dir():
        fail(f"no samples at {samples}", code=2)
    console = Console()
    current = settings()
    console.rule("carebus demo")
    bootstrap = resolve_bootstrap(start=True)
    connection = KafkaConnection.from_settings(current, bootstrap)
    console.print(f"Kafka: {bootstrap}")
    changes = apply_topics(connection, CATALOG)
    console.print(f"topics: {sum(c.action == 'created' for c in changes)} created, {len(changes)} declared")
    with open_bus(current, connection, transactional_id="carebus-demo") as bus:
        console.print(f"schema registry: {bus.registry_url} "
                      f"({register_contracts(bus.registry)} subjects at {CANONICAL_LEVEL})")
        before = _end_offsets(connection)
        _feed_hl7(bus, samples / "hl7v2", console)
        _feed_fhir(bus, samples / "fhir", console)
        _feed_batch(bus, samples / "csv", console)
        _report(connection, before, console)
    console.print("\nThe broker keeps running: `carebus kafka status`, `carebus kafka down` to stop it.")


def _feed_hl7(bus: Bus, folder: Path, console: Console) -> None:
    console.rule("HL7 v2 over MLLP")
    metrics = Hl7Metrics(CollectorRegistry())
    handler = MessageHandler(publisher=bus.events, deadletters=bus.deadletters, map_events=build_map_events(),
                             resends=ResendWindow(), metrics=metrics)
    table = Table("sample", "ACK", "MSA-2", "error")
    with serving_in_thread(MllpServer(handler, metrics, ServerConfig(port=0))) as port, \
            MllpClient("127.0.0.1", port) as client:
        for path in sorted(folder.glob("*.hl7")):
            ack = read_ack(client.send(path.read_bytes()))
            table.add_row(path.name, ack.code, ack.control_id, ack.error[:60])
    console.print(table)


def _feed_fhir(bus: Bus, folder: Path, console: Console) -> None:
    console.rule("FHIR R4 REST")
    app = build_app(publisher=bus.events, deadletters=bus.deadletters,
                    auth=BearerAuth.from_config("{}", allow_anonymous=True),
                    idempotency=InMemoryIdempotencyStore(), base_url=FHIR_BASE)
    table = Table("sample", "request", "status")
    headers = {"Content-Type": "application/fhir+json"}
    with TestClient(app, base_url="http://demo.carebus.local") as client:
        for path, resource in _fhir_requests(folder):
            url = "/fhir/" if resource.get("resourceType") == "Bundle" else f"/fhir/{resource['resourceType']}"
            response = client.post(url, content=json.dumps(resource), headers=headers)
            table.add_row(path.name, f"POST {url}", str(response.status_code))
    console.print(table)


def _fhir_requests(folder: Path) -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted(folder.iterdir()):
        if path.suffix == ".ndjson":
            for line in path.read_text().splitlines():
                if line.strip():
                    yield path, json.loads(line)
            continue
        resource = json.loads(path.read_text())
        if resource.get("resourceType") == "Bundle" and resource.get("type") not in _FHIR_BUNDLE_TYPES:
            continue
        yield path, resource


def _feed_batch(bus: Bus, folder: Path, console: Console) -> None:
    console.rule("Batch files")
    with contextlib.ExitStack() as stack:
        # A demo ledger of its own: the demo shows a load every run, and `carebus batch load` keeps its own.
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="carebus-demo-")))
        ledger = SqliteLedger(scratch / "ledger.sqlite3")
        stack.callback(ledger.close)
        loader = BatchLoader(publisher=bus.events, dead_letters=bus.deadletters, ledger=ledger)
        for path in sorted(folder.glob("*.csv")):
            first = asyncio.run(loader.load(path))
            again = asyncio.run(loader.load(path))
            console.print(f"{path.name}: layout={first.layout} rows={first.rows} events={first.events} "
                          f"rejected={first.rejected_rows}; loaded again: "
                          f"{'published nothing' if again.already_loaded else 'PUBLISHED AGAIN'}")


def _end_offsets(connection: KafkaConnection) -> dict[tuple[str, int], int]:
    consumer = Consumer({**connection.as_librdkafka_dict(), "group.id": "carebus-demo-report",
                         "isolation.level": "read_committed"})
    try:
        offsets: dict[tuple[str, int], int] = {}
        metadata = consumer.list_topics(timeout=10)
        for topic in _WATCHED:
            for partition in metadata.topics[topic].partitions:
                _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                offsets[(topic, partition)] = high
        return offsets
    finally:
        consumer.close()


def _report(connection: KafkaConnection, before: dict[tuple[str, int], int], console: Console) -> None:
    console.rule("What was published")
    after = _end_offsets(connection)
    per_topic: Counter[str] = Counter()
    for key, high in after.items():
        # End offsets include transaction markers, so this counts records plus commit markers: an upper bound.
        per_topic[key[0]] += high - before.get(key, 0)
    types = _event_types(connection, before)
    table = Table("topic", "new offsets", "event types (records read)")
    for topic in _WATCHED:
        counted = ", ".join(f"{name} {n}" for name, n in sorted(types.get(topic, Counter()).items()))
        table.add_row(topic, str(per_topic[topic]), counted)
    console.print(table)


def _event_types(connection: KafkaConnection, before: dict[tuple[str, int], int]) -> dict[str, Counter[str]]:
    consumer = Consumer({**connection.as_librdkafka_dict(), "group.id": "carebus-demo-report",
                         "isolation.level": "read_committed", "enable.auto.commit": False,
                         "enable.partition.eof": True})
    found: dict[str, Counter[str]] = {}
    try:
        assignments = [TopicPartition(t, p, offset) for (t, p), offset in before.items()]
        consumer.assign(assignments)
        remaining = {(tp.topic, tp.partition) for tp in assignments}
        idle = 0
        while remaining and idle < 20:
            message = consumer.poll(0.5)
            if message is None:
                idle += 1
                continue
            if message.error() is not None:
                remaining.discard((message.topic(), message.partition()))
                continue
            headers = dict(message.headers() or [])
            label = (headers.get("carebus.event_type") or headers.get("carebus.dlq.reason") or b"?").decode()
            found.setdefault(message.topic(), Counter())[label] += 1
    finally:
        consumer.close()
    return found
