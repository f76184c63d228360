"""The durable producer and explicit-commit consumer against a real broker."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

import pytest

from carebus.errors import ConfigError, PublishError
from carebus.kafka.config import KafkaConnection
from carebus.kafka.consumer import ExplicitCommitConsumer
from carebus.kafka.producer import DurableProducer, Record

RECORDS = 10_000
KEYS = 50
DEADLINE_S = 60.0


def _consume_all(consumer: ExplicitCommitConsumer, expected: int) -> list:
    received = []
    deadline = time.monotonic() + DEADLINE_S
    while len(received) < expected and time.monotonic() < deadline:
        received.extend(consumer.poll_batch(max_records=1000, timeout_s=1.0))
    return received


def test_ten_thousand_keyed_records_arrive_once_and_in_order_per_key(
    kafka_connection: KafkaConnection, topic_factory: Callable[..., str], group_id: str
) -> None:
    topic = topic_factory("durable", partitions=6)
    producer = DurableProducer(kafka_connection)
    records = [Record(topic, key=f"patient-{i % KEYS}".encode(), value=f"{i}".encode()) for i in range(RECORDS)]

    deliveries = producer.publish(records, timeout_s=60)

    assert len(deliveries) == RECORDS
    with ExplicitCommitConsumer(kafka_connection, group_id=group_id, topics=[topic]) as consumer:
        received = _consume_all(consumer, RECORDS)
        consumer.commit(received)
    values = [int(message.value()) for message in received]
    assert len(values) == RECORDS
    assert len(set(values)) == RECORDS, "duplicates"
    per_key: dict[bytes, list[int]] = defaultdict(list)
    partitions_per_key: dict[bytes, set[int]] = defaultdict(set)
    for message in received:
        per_key[message.key()].append(int(message.value()))
        partitions_per_key[message.key()].add(message.partition())
    assert len(per_key) == KEYS
    assert all(sequence == sorted(sequence) for sequence in per_key.values()), "order per key broken"
    assert all(len(partitions) == 1 for partitions in partitions_per_key.values())


def test_committed_offsets_resume_where_the_last_consumer_stopped(
    kafka_connection: KafkaConnection, topic_factory: Callable[..., str], group_id: str
) -> None:
    topic = topic_factory("resume", partitions=1)
    producer = DurableProducer(kafka_connection)
    producer.publish([Record(topic, value=str(i).encode()) for i in range(20)])

    with ExplicitCommitConsumer(kafka_connection, group_id=group_id, topics=[topic]) as first:
        batch = _consume_all(first, 20)
        first.commit(batch[:10])
    with ExplicitCommitConsumer(kafka_connection, group_id=group_id, topics=[topic]) as second:
        rest = _consume_all(second, 10)

    assert [int(m.value()) for m in rest] == list(range(10, 20))


def test_atomic_publish_is_invisible_to_read_committed_until_commit(
    kafka_connection: KafkaConnection, topic_factory: Callable[..., str], group_id: str
) -> None:
    topic = topic_factory("atomic", partitions=1)
    producer = DurableProducer(kafka_connection, transactional_id=f"tx-{group_id}")
    producer.publish_atomically([Record(topic, value=b"a"), Record(topic, value=b"b")])

    with ExplicitCommitConsumer(kafka_connection, group_id=group_id, topics=[topic]) as consumer:
        received = _consume_all(consumer, 2)
    assert [m.value() for m in received] == [b"a", b"b"]


def test_publish_to_an_unreachable_broker_raises_within_the_bound() -> None:
    unreachable = KafkaConnection(bootstrap_servers="127.0.0.1:1")
    producer = DurableProducer(unreachable, overrides={"message.timeout.ms": 1500})
    started = time.monotonic()
    with pytest.raises(PublishError):
        producer.publish([Record("nowhere", value=b"x")], timeout_s=5)
    assert time.monotonic() - started < 10


def test_the_delivery_guarantee_cannot_be_overridden() -> None:
    with pytest.raises(ConfigError):
        DurableProducer(KafkaConnection("127.0.0.1:1"), overrides={"acks": "1"})
