"""Every canonical event through the carebus registry with confluent-kafka's stock serde, on a real broker."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from carebus.events import DOMAINS, event_schema, from_avro_dict, to_avro_dict
from carebus.events.examples import example_event
from carebus.ids import Subject
from carebus.kafka.config import KafkaConnection
from carebus.registry.server import running_registry
from carebus.serde import AvroSerde


@pytest.fixture(scope="module")
def registry_url(kafka_connection: KafkaConnection) -> Iterator[str]:
    with running_registry(kafka_connection, topic=f"_schemas-{uuid.uuid4().hex[:8]}") as url:
        yield url


@pytest.mark.parametrize("domain", DOMAINS)
def test_stock_serde_round_trips_every_event_type_through_the_broker(
    domain: str, registry_url: str, kafka_connection: KafkaConnection,
    topic_factory: Callable[..., str], group_id: str,
) -> None:
    topic = topic_factory(f"canonical-{domain}", partitions=1)
    with SchemaRegistryClient({"url": registry_url}) as client:
        _round_trip(domain, topic, client, kafka_connection, group_id)


def _round_trip(domain: str, topic: str, client: SchemaRegistryClient, kafka_connection: KafkaConnection,
                group_id: str) -> None:
    event = example_event(domain)
    serializer = AvroSerializer(client, json.dumps(event_schema(domain)), lambda e, _ctx: to_avro_dict(e))
    deserializer = AvroDeserializer(client, from_dict=lambda d, _ctx: from_avro_dict(domain, d))
    context = SerializationContext(topic, MessageField.VALUE)

    stock_bytes = serializer(event, context)
    ours = AvroSerde(client, Subject(f"{topic}-value"), event_schema(domain)).serialize(to_avro_dict(event))
    assert ours == stock_bytes, "the fastavro fast path must write exactly what the stock serializer writes"

    producer = Producer(kafka_connection.as_librdkafka_dict())
    producer.produce(topic, value=stock_bytes)
    assert producer.flush(10) == 0
    consumer = Consumer({**kafka_connection.as_librdkafka_dict(), "group.id": group_id,
                         "auto.offset.reset": "earliest"})
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + 30
        message = None
        while message is None and time.monotonic() < deadline:
            candidate = consumer.poll(0.5)
            if candidate is not None and candidate.error() is None:
                message = candidate
    finally:
        consumer.close()
    assert message is not None, "the record never arrived"
    assert deserializer(message.value(), context) == event
    subject_versions = client.get_versions(f"{topic}-value")
    assert subject_versions == [1]
