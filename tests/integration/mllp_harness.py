"""Runs the MLLP listener on a real broker and registry in a background thread, for integration tests."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from prometheus_client import CollectorRegistry

from carebus.events import DOMAINS
from carebus.kafka.config import KafkaConnection
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.kafka.producer import DurableProducer
from carebus.publishing import KafkaDeadLetterPublisher, KafkaEventPublisher
from producers.hl7v2.dedupe import ResendWindow
from producers.hl7v2.handler import HandlerConfig, MapEvents, MessageHandler
from producers.hl7v2.metrics import Hl7Metrics
from producers.hl7v2.server import MllpServer, ServerConfig

START_TIMEOUT_S = 30.0


@dataclass
class RunningListener:
    port: int
    topics: dict[str, str]  # domain -> canonical topic for this test
    metrics: Hl7Metrics
    registry: CollectorRegistry
    stop: Callable[[], None]


def create_topics(connection: KafkaConnection, names: Sequence[str], partitions: int = 3) -> None:
    admin = AdminClient({**connection.as_librdkafka_dict(), "log_level": 3})
    existing = admin.list_topics(timeout=10).topics
    wanted = [NewTopic(name, partitions, 1) for name in names if name not in existing]
    if wanted:
        for future in admin.create_topics(wanted).values():
            future.result(timeout=30)


@contextmanager
def running_listener(connection: KafkaConnection, registry_url: str, map_events: MapEvents, *,
                     publish_timeout_s: float = 5.0, server_config: ServerConfig | None = None,
                     transactional_id: str | None = None) -> Iterator[RunningListener]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    topics = {domain: f"{prefix}.canonical.{domain}.v1" for domain in DOMAINS}
    create_topics(connection, [*topics.values(), "deadletter.hl7v2"])
    transport = GroupCommitPublisher(connection, transactional_id=transactional_id or f"{prefix}-mllp",
                                     timeout_s=publish_timeout_s)
    transport.start()
    dead_producer = DurableProducer(connection)
    registry_client = SchemaRegistryClient({"url": registry_url})
    registry = CollectorRegistry()
    metrics = Hl7Metrics(registry)
    handler = MessageHandler(
        publisher=KafkaEventPublisher(transport, registry_client, topic_for=topics.__getitem__),
        deadletters=KafkaDeadLetterPublisher(dead_producer),
        map_events=map_events, resends=ResendWindow(), metrics=metrics,
        config=HandlerConfig(publish_timeout_s=publish_timeout_s),
    )
    config = server_config or ServerConfig(port=0, idle_timeout_s=30.0, shutdown_timeout_s=10.0)
    server = MllpServer(handler, metrics, config)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.start())
        except BaseException as exc:  # reported to the test thread below
            failure.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_until_complete(server.serve_forever())

    thread = threading.Thread(target=run, name="mllp-listener", daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S) or failure:
        raise RuntimeError("the MLLP listener did not start") from (failure[0] if failure else None)

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(timeout=30)
            thread.join(30)

    try:
        yield RunningListener(server.port, topics, metrics, registry, stop)
    finally:
        stop()
        loop.close()
        transport.close()
        dead_producer.close()
        registry_client.close()
