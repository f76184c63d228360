"""Builds the concrete pieces (Kafka publishers, registry client, adapters) and injects them.

The one place that knows which adapter goes with which port, as cosmicpython's `bootstrap.py` does;
tests build the same objects with fakes at the ports.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from confluent_kafka.schema_registry import SchemaRegistryClient

from carebus.kafka.config import KafkaConnection
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.kafka.producer import DurableProducer
from carebus.publishing import KafkaDeadLetterPublisher, KafkaEventPublisher
from carebus.registry.server import running_registry
from carebus.settings import Settings

__all__ = ["Bus", "open_bus", "registry_url"]

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def registry_url(settings: Settings, connection: KafkaConnection) -> Iterator[str]:
    """SCHEMA_REGISTRY_URL when set; else the built-in registry on its port if one answers; else one in-process."""
    if settings.schema_registry_url:
        yield settings.schema_registry_url
        return
    local = f"http://127.0.0.1:{settings.registry_port}"
    if _answers(local):
        yield local
        return
    port = settings.registry_port if _port_free(settings.registry_port) else None
    with running_registry(connection, port) as url:
        logger.info("built-in schema registry serving at %s", url)
        yield url


@dataclass
class Bus:
    """What an adapter needs to publish: events (atomic, group commit), dead letters, the registry client."""

    connection: KafkaConnection
    registry: SchemaRegistryClient
    transport: GroupCommitPublisher
    events: KafkaEventPublisher
    deadletters: KafkaDeadLetterPublisher
    registry_url: str


@contextlib.contextmanager
def open_bus(settings: Settings, connection: KafkaConnection, *, transactional_id: str) -> Iterator[Bus]:
    with registry_url(settings, connection) as url, SchemaRegistryClient({"url": url}) as registry:
        transport = GroupCommitPublisher(connection, transactional_id=transactional_id)
        transport.start()
        dead_producer = DurableProducer(connection, client_id=f"{transactional_id}-deadletters")
        try:
            yield Bus(connection=connection, registry=registry, transport=transport,
                      events=KafkaEventPublisher(transport, registry),
                      deadletters=KafkaDeadLetterPublisher(dead_producer), registry_url=url)
        finally:
            transport.close()
            dead_producer.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
