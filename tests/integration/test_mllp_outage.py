"""With the broker stopped the sender gets AE, never AA; after a restart its resend is published once."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer

from carebus.kafka.config import KafkaConnection
from carebus.kafka.local import LocalCluster, free_port
from carebus.registry.server import running_registry
from carebus.settings import DEFAULT_HOME, DEFAULT_KAFKA_VERSION
from producers.hl7v2.client import MllpClient, read_ack
from producers.hl7v2.listener import build_map_events
from tests.integration.mllp_harness import running_listener
from tests.integration.test_mllp_listener import _with_control_id

RECOVERY_DEADLINE_S = 90.0


@pytest.mark.slow
def test_broker_down_gives_ae_and_the_resend_after_restart_is_published_once(
    tmp_path: Path, samples_dir: Path
) -> None:
    cluster = LocalCluster(state_dir=tmp_path / "outage", home=DEFAULT_HOME, version=DEFAULT_KAFKA_VERSION)
    connection = KafkaConnection(cluster.up(port=free_port()))
    oru = (samples_dir / "hl7v2" / "msfc__LAB-ORU-1.hl7").read_bytes()
    before, during = f"B{uuid.uuid4().hex[:10]}", f"D{uuid.uuid4().hex[:10]}"
    try:
        with running_registry(connection) as registry_url, \
                running_listener(connection, registry_url, build_map_events(), publish_timeout_s=3.0) as listener:
            with MllpClient("127.0.0.1", listener.port, timeout_s=30) as client:
                assert read_ack(client.send(_with_control_id(oru, before))).code == "AA"
                cluster.down()
                answers = [read_ack(client.send(_with_control_id(oru, during))).code for _ in range(2)]
                assert answers == ["AE", "AE"], "never AA while Kafka cannot take the events"
                cluster.up()
                deadline = time.monotonic() + RECOVERY_DEADLINE_S
                code = "AE"
                while code != "AA" and time.monotonic() < deadline:
                    code = read_ack(client.send(_with_control_id(oru, during))).code  # the sender's retry
                assert code == "AA"
            topic = listener.topics["result"]
            ids = _message_ids(connection, topic)
    finally:
        cluster.down(purge=True)
    assert ids.count(before) >= 1
    per_message = {control_id: ids.count(control_id) for control_id in (before, during)}
    # The ORU's order groups make the same number of events each time it is published.
    assert per_message[during] == per_message[before], per_message


def _message_ids(connection: KafkaConnection, topic: str) -> list[str]:
    consumer = Consumer({**connection.as_librdkafka_dict(), "group.id": f"read-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed",
                         "enable.partition.eof": True})
    consumer.subscribe([topic])
    ids: list[str] = []
    partitions_at_eof: set[int] = set()
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline and len(partitions_at_eof) < 3:
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error() is not None:
                partitions_at_eof.add(message.partition())
                continue
            headers = dict(message.headers() or [])
            correlation = headers.get("carebus.correlation_id", b"").decode()
            ids.append(correlation.rsplit("|", 1)[-1])
    finally:
        consumer.close()
    return ids
