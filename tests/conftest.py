"""Shared fixtures: one real Kafka broker per test session, fresh topics and groups per test.

The broker is `KAFKA_BOOTSTRAP_SERVERS` when set; else a testcontainers Kafka where a Docker engine
answers; else the local launcher (Apache Kafka jars from Maven Central, KRaft) in a temp folder,
on free ports, stopped at the end of the session. These machines have no Docker engine, so the
launcher is what normally runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from carebus.kafka.config import KafkaConnection
from carebus.kafka.local import LocalCluster, free_port
from carebus.settings import DEFAULT_HOME, DEFAULT_KAFKA_VERSION

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "shared" / "samples"


def _docker_answers() -> bool:
    if not os.environ.get("DOCKER_HOST") and not Path("/var/run/docker.sock").exists():
        return False
    try:
        import docker  # testcontainers depends on it

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker for the whole session."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if _docker_answers():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    home = Path(os.environ.get("CAREBUS_HOME", DEFAULT_HOME))
    cluster = LocalCluster(state_dir=tmp_path_factory.mktemp("kafka"), home=home,
                           version=os.environ.get("CAREBUS_KAFKA_VERSION", DEFAULT_KAFKA_VERSION))
    bootstrap = cluster.up(brokers=1, port=free_port())
    try:
        yield bootstrap
    finally:
        cluster.down(purge=True)


@pytest.fixture(scope="session")
def kafka_connection(kafka_bootstrap: str) -> KafkaConnection:
    return KafkaConnection(bootstrap_servers=kafka_bootstrap)


@pytest.fixture
def topic_factory(kafka_connection: KafkaConnection) -> Callable[..., str]:
    """Create a fresh, uniquely named topic for one test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({**kafka_connection.as_librdkafka_dict(), "log_level": 3})

    def create(prefix: str = "test", *, partitions: int = 3, config: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        admin.create_topics([NewTopic(name, partitions, 1, config=config or {})])[name].result(timeout=30)
        return name

    return create


@pytest.fixture
def group_id() -> str:
    return f"test-group-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    if not SAMPLES_DIR.is_dir():
        pytest.fail(f"sample messages not found at {SAMPLES_DIR} (shared/ must sit beside the repo)")
    return SAMPLES_DIR
