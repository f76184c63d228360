"""Atomic group-commit publishing against a real broker, including a broker outage."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from carebus.errors import PublishError
from carebus.kafka.config import KafkaConnection
from carebus.kafka.consumer import ExplicitCommitConsumer
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.kafka.local import LocalCluster, free_port
from carebus.kafka.producer import Record
from carebus.settings import DEFAULT_HOME, DEFAULT_KAFKA_VERSION


def _read_committed(connection: KafkaConnection, topic: str, group: str, expected: int,
                    deadline_s: float = 30.0) -> list[bytes]:
    values: list[bytes] = []
    with ExplicitCommitConsumer(connection, group_id=group, topics=[topic]) as consumer:
        deadline = time.monotonic() + deadline_s
        while len(values) < expected and time.monotonic() < deadline:
            values.extend(m.value() for m in consumer.poll_batch(timeout_s=0.5))
        # Anything beyond `expected` would be a duplicate or a leaked aborted record: look a bit more.
        values.extend(m.value() for m in consumer.poll_batch(timeout_s=1.0))
    return values


def test_concurrent_requests_commit_together_and_each_lands_once(
    kafka_connection: KafkaConnection, topic_factory: Callable[..., str], group_id: str
) -> None:
    topic = topic_factory("group-commit")
    publisher = GroupCommitPublisher(kafka_connection, transactional_id=f"gc-{group_id}")
    publisher.start()

    async def send_all() -> list[int]:
        results = await asyncio.gather(*(
            publisher.publish([Record(topic, value=f"{i}-{part}".encode(), key=str(i).encode())
                               for part in range(3)])
            for i in range(300)
        ))
        return [len(deliveries) for deliveries in results]

    try:
        counts = asyncio.run(send_all())
    finally:
        publisher.close()

    assert counts == [3] * 300
    values = _read_committed(kafka_connection, topic, group_id, 900)
    assert sorted(values) == sorted(f"{i}-{p}".encode() for i in range(300) for p in range(3))


@pytest.mark.slow
def test_broker_outage_fails_requests_and_recovers_after_restart(tmp_path: Path, group_id: str) -> None:
    cluster = LocalCluster(state_dir=tmp_path / "outage", home=DEFAULT_HOME, version=DEFAULT_KAFKA_VERSION)
    connection = KafkaConnection(cluster.up(port=free_port()))
    try:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient(connection.as_librdkafka_dict())
        admin.create_topics([NewTopic("outage", 1, 1)])["outage"].result(timeout=30)
        publisher = GroupCommitPublisher(connection, transactional_id=f"gc-{group_id}", timeout_s=3.0)
        publisher.start()
        try:
            asyncio.run(publisher.publish([Record("outage", value=b"before")]))
            cluster.down()
            started = time.monotonic()
            with pytest.raises(PublishError):
                asyncio.run(publisher.publish([Record("outage", value=b"during")]))
            assert time.monotonic() - started < 15
            cluster.up()
            # The sender's retry after the outage: accepted once the broker is back.
            deadline = time.monotonic() + 60
            while True:
                try:
                    asyncio.run(publisher.publish([Record("outage", value=b"after")]))
                    break
                except PublishError:
                    if time.monotonic() > deadline:
                        raise
        finally:
            publisher.close()
        values = _read_committed(connection, "outage", group_id, 2)
        assert values.count(b"before") == 1
        assert values.count(b"after") == 1
        assert b"during" not in values
    finally:
        cluster.down(purge=True)
