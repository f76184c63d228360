"""The SDK against a real broker and the real registry: publish forms, dead letters, kill and resume."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import confluent_kafka
import pytest
from prometheus_client import CollectorRegistry

from carebus.kafka.config import KafkaConnection
from carebus.publishing import DEADLETTER_HEADER_REASON, DEADLETTER_HEADER_STAGE, HEADER_EVENT_ID
from carebus.registry.server import running_registry
from carebus.sdk import (
    DEADLETTER_HEADER_OFFSET,
    REASON_HANDLER_FAILED,
    Event,
    InvalidEventError,
    Publisher,
    RegistryError,
    RetryPolicy,
    Subscriber,
    new_event,
)
from carebus.sdk.models import CodedConcept, Observation, Result

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0


@pytest.fixture(scope="module")
def registry_url(kafka_connection: KafkaConnection) -> Iterator[str]:
    with running_registry(kafka_connection, topic=f"_schemas-sdk-{uuid.uuid4().hex[:8]}") as url:
        yield url


def _result_event(index: int, *, critical: bool = True) -> Event:
    payload = Result(status="final", observations=(
        Observation(code=CodedConcept(code=f"TEST-{index}"), critical=critical),))
    return new_event(payload, event_type="result.finalized", source="TESTLAB", subject=f"urn:test|P{index % 7}")


def _publisher(bootstrap: str, registry_url: str, topic: str) -> Publisher:
    return Publisher.connect(bootstrap=bootstrap, registry=registry_url, auto_register=True,
                             topic_for=lambda _domain: topic)


def _subscriber(bootstrap: str, registry_url: str, topic: str, group: str, **options: object) -> Subscriber:
    return Subscriber.connect(bootstrap=bootstrap, registry=registry_url, group=group, topic=topic, domain="result",
                              metrics_registry=CollectorRegistry(), **options)  # type: ignore[arg-type]


def _read_all(connection: KafkaConnection, topic: str, count: int) -> list[confluent_kafka.Message]:
    consumer = confluent_kafka.Consumer({**connection.as_librdkafka_dict(), "group.id": f"read-{uuid.uuid4().hex}",
                                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    found: list[confluent_kafka.Message] = []
    deadline = time.monotonic() + DEADLINE_S
    try:
        while len(found) < count and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is not None and message.error() is None:
                found.append(message)
    finally:
        consumer.close()
    return found


def test_sync_batched_and_async_publishes_arrive_as_typed_events(
    kafka_bootstrap: str, registry_url: str, topic_factory: Callable[..., str], group_id: str,
) -> None:
    topic = topic_factory("sdk-result")
    events = [_result_event(index) for index in range(10)]
    with _publisher(kafka_bootstrap, registry_url, topic) as publisher:
        first = publisher.publish(events[0])
        many = publisher.publish_many(events[1:6])

        async def publish_rest() -> list[object]:
            return list(await asyncio.gather(*(publisher.publish_async(event) for event in events[6:])))

        rest = asyncio.run(publish_rest())
    assert first.topic == topic and first.event_id == str(events[0].envelope.event_id)
    assert [d.event_id for d in [first, *many, *rest]] == [str(e.envelope.event_id) for e in events]  # type: ignore[attr-defined]

    received: dict[str, Event] = {}
    with _subscriber(kafka_bootstrap, registry_url, topic, group_id) as subscriber:
        deadline = time.monotonic() + DEADLINE_S
        for event in subscriber:
            received[str(event.envelope.event_id)] = event
            if len(received) == len(events) or time.monotonic() > deadline:
                break
    assert received == {str(event.envelope.event_id): event for event in events}


def test_the_default_publisher_only_looks_up_and_refuses_an_unregistered_subject(
    kafka_bootstrap: str, registry_url: str, topic_factory: Callable[..., str],
) -> None:
    topic = topic_factory("sdk-unregistered")
    with Publisher.connect(bootstrap=kafka_bootstrap, registry=registry_url,
                           topic_for=lambda _domain: topic) as publisher, pytest.raises(RegistryError) as raised:
        publisher.publish(_result_event(1))
    assert f"{topic}-value" in str(raised.value)


def test_an_invalid_event_is_refused_naming_the_field_and_nothing_reaches_kafka(
    kafka_bootstrap: str, kafka_connection: KafkaConnection, registry_url: str, topic_factory: Callable[..., str],
) -> None:
    topic = topic_factory("sdk-invalid", partitions=1)
    good = _result_event(1)
    broken_envelope = good.envelope.model_dump() | {"occurred_at": "yesterday"}
    broken = type(good).model_construct(envelope=broken_envelope, payload=good.payload)
    with _publisher(kafka_bootstrap, registry_url, topic) as publisher:
        with pytest.raises(InvalidEventError) as raised:
            publisher.publish_many([good, broken])
        assert raised.value.fields == ("envelope.occurred_at",)
        assert "yesterday" not in str(raised.value)
    consumer = confluent_kafka.Consumer({**kafka_connection.as_librdkafka_dict(), "group.id": "watermarks"})
    try:
        low, high = consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, 0), timeout=10)
    finally:
        consumer.close()
    assert high - low == 0, "the good event of the refused batch must not have been sent either"


def test_a_failing_handler_dead_letters_its_record_and_the_stream_goes_on(
    kafka_bootstrap: str, kafka_connection: KafkaConnection, registry_url: str,
    topic_factory: Callable[..., str], group_id: str,
) -> None:
    topic = topic_factory("sdk-poison", partitions=1)
    deadletters = topic_factory("sdk-deadletters", partitions=1)
    events = [_result_event(index) for index in range(6)]
    poison = str(events[2].envelope.event_id)
    with _publisher(kafka_bootstrap, registry_url, topic) as publisher:
        publisher.publish_many(events)

    handled: list[str] = []
    attempts: list[str] = []
    with _subscriber(kafka_bootstrap, registry_url, topic, group_id, deadletter_to=deadletters,
                     retry=RetryPolicy(attempts=3, initial_s=0.01)) as subscriber:
        def handle(event: Event) -> None:
            event_id = str(event.envelope.event_id)
            attempts.append(event_id)
            if event_id == poison:
                raise RuntimeError("downstream refused")
            handled.append(event_id)
            if len(handled) == len(events) - 1:
                subscriber.stop()

        runner = threading.Thread(target=subscriber.run, args=(handle,), kwargs={"handle_signals": False})
        runner.start()
        runner.join(DEADLINE_S)
        subscriber.stop()
        runner.join(10)
    assert handled == [str(event.envelope.event_id) for event in events if str(event.envelope.event_id) != poison]
    assert attempts.count(poison) == 3

    [letter] = _read_all(kafka_connection, deadletters, 1)
    headers = dict(letter.headers() or [])
    assert headers[DEADLETTER_HEADER_STAGE] == b"sdk"
    assert headers[DEADLETTER_HEADER_REASON] == REASON_HANDLER_FAILED.encode()
    assert headers[HEADER_EVENT_ID] == poison.encode()
    assert headers[DEADLETTER_HEADER_OFFSET] == b"2"
    [original] = [m for m in _read_all(kafka_connection, topic, len(events)) if m.offset() == 2]
    assert letter.value() == original.value(), "the dead letter carries the original bytes"

    # Everything was committed: the group starts after the last record.
    with _subscriber(kafka_bootstrap, registry_url, topic, group_id) as again:
        client = again._consumer.client
        committed = client.committed([confluent_kafka.TopicPartition(topic, 0)], timeout=10)
    assert committed[0].offset == len(events)


def _notifications(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [json.loads(line)["event_id"] for line in path.read_text(encoding="utf-8").splitlines() if line]


def _wait_for(condition: Callable[[], bool], what: str, timeout_s: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.mark.slow
def test_the_example_service_killed_and_restarted_loses_nothing(
    kafka_bootstrap: str, registry_url: str, topic_factory: Callable[..., str], group_id: str, tmp_path: Path,
) -> None:
    topic = topic_factory("sdk-kill", partitions=3)
    out = tmp_path / "alerts.jsonl"
    command = [sys.executable, "-m", "examples.notify_critical", "--bootstrap", kafka_bootstrap,
               "--registry", registry_url, "--topic", topic, "--group", group_id, "--out", str(out),
               "--session-timeout", "6"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    first_wave = [_result_event(index) for index in range(300)]
    second_wave = [_result_event(index) for index in range(300, 400)]
    quiet = [_result_event(index, critical=False) for index in range(400, 420)]
    with _publisher(kafka_bootstrap, registry_url, topic) as publisher:
        publisher.publish_many(first_wave)
        service = subprocess.Popen(command, cwd=REPO, env=env)
        try:
            _wait_for(lambda: len(_notifications(out)) >= 50, "the service to notify")
            service.send_signal(signal.SIGKILL)
            service.wait(10)
            publisher.publish_many([*second_wave, *quiet])
            service = subprocess.Popen(command, cwd=REPO, env=env)
            expected = {str(event.envelope.event_id) for event in [*first_wave, *second_wave]}
            _wait_for(lambda: expected <= set(_notifications(out)), "every critical result to be notified", 120)
            service.send_signal(signal.SIGTERM)
            assert service.wait(30) == 0, "SIGTERM stops the service cleanly"
        finally:
            if service.poll() is None:
                service.kill()
                service.wait(10)
    notified = _notifications(out)
    assert set(notified) == expected, "no loss, and no notification for results without a critical value"
    assert len(notified) >= len(expected)  # at-least-once: repeats after the kill are allowed
