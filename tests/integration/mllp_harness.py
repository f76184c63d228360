"""Runs the MLLP listener on a real broker and registry in a background thread, for integration tests."""

from __future__ import annotations

import contextlib
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
from producers.hl7v2.runtime import serving_in_thread
from producers.hl7v2.server import MllpServer, ServerConfig


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
    with contextlib.ExitStack() as stack:
        port = stack.enter_context(serving_in_thread(server))
        try:
            yield RunningListener(port, topics, metrics, registry, stack.close)
        finally:
            stack.close()
            transport.close()
            dead_producer.close()
            registry_client.close()
