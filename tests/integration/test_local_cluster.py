"""`carebus kafka up --brokers 3`: a real three-node KRaft cluster that survives losing a node."""

from __future__ import annotations

from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from carebus.kafka.config import KafkaConnection
from carebus.kafka.consumer import ExplicitCommitConsumer
from carebus.kafka.local import LocalCluster, free_port
from carebus.kafka.producer import DurableProducer, Record
from carebus.settings import DEFAULT_HOME, DEFAULT_KAFKA_VERSION


@pytest.mark.slow
def test_three_brokers_replicate_and_keep_accepting_acks_all_writes_with_one_node_down(tmp_path: Path) -> None:
    cluster = LocalCluster(state_dir=tmp_path / "tri", home=DEFAULT_HOME, version=DEFAULT_KAFKA_VERSION)
    connection = KafkaConnection(cluster.up(brokers=3, port=free_port()))
    try:
        assert [node.alive for node in cluster.status()] == [True, True, True]
        admin = AdminClient({**connection.as_librdkafka_dict(), "log_level": 3})
        admin.create_topics([NewTopic("replicated", 3, 3, config={"min.insync.replicas": "2"})])[
            "replicated"].result(timeout=60)
        metadata = admin.list_topics("replicated", timeout=30).topics["replicated"]
        assert all(len(partition.replicas) == 3 for partition in metadata.partitions.values())

        producer = DurableProducer(connection)
        producer.publish([Record("replicated", value=f"before-{i}".encode(), key=str(i).encode())
                          for i in range(100)], timeout_s=60)
        cluster.kill_node(3)
        assert [node.alive for node in cluster.status()] == [True, True, False]
        # acks=all with min.insync.replicas=2: two live replicas are enough.
        producer.publish([Record("replicated", value=f"after-{i}".encode(), key=str(i).encode())
                          for i in range(100)], timeout_s=60)
        with ExplicitCommitConsumer(connection, group_id="tri-reader", topics=["replicated"]) as consumer:
            values: set[bytes] = set()
            for _ in range(120):
                values.update(m.value() for m in consumer.poll_batch(timeout_s=0.5))
                if len(values) == 200:
                    break
        assert len(values) == 200
    finally:
        cluster.down(purge=True)
