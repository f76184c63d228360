"""The MLLP listener end to end: a stock MLLP client, the real mapping, a real broker and registry."""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import hl7.client
import pytest
from confluent_kafka import Consumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer
from confluent_kafka.serialization import MessageField, SerializationContext

from carebus.events import Event, from_avro_dict
from carebus.kafka.config import KafkaConnection
from carebus.registry.server import running_registry
from producers.hl7v2.client import read_ack
from producers.hl7v2.framing import encode_frame
from producers.hl7v2.listener import build_map_events
from tests.integration.mllp_harness import RunningListener, running_listener

MALFORMED_MSH = {"cdcti__msh_present_but_missing_msh-9.hl7", "cdcti__msh_present_but_missing_all_fields.hl7"}
DEADLINE_S = 30.0


@pytest.fixture(scope="module")
def registry_url(kafka_connection: KafkaConnection) -> Iterator[str]:
    with running_registry(kafka_connection, topic=f"_schemas-{uuid.uuid4().hex[:8]}") as url:
        yield url


@pytest.fixture(scope="module")
def listener(kafka_connection: KafkaConnection, registry_url: str) -> Iterator[RunningListener]:
    with running_listener(kafka_connection, registry_url, build_map_events()) as running:
        yield running


def _send_with_python_hl7(port: int, message: bytes) -> bytes:
    # python-hl7's MLLPClient: a client nobody here wrote. It sends str messages in its own encoding;
    # feed it the file's text (samples are UTF-8 or Latin-1) so the bytes on the wire are the file's.
    with hl7.client.MLLPClient("127.0.0.1", port, encoding="latin-1") as client:
        return client.send(encode_frame(message))


def _read_events(connection: KafkaConnection, registry_url: str, topic: str, domain: str,
                 expected: int) -> list[Event]:
    consumer = Consumer({**connection.as_librdkafka_dict(), "group.id": f"read-{uuid.uuid4().hex[:8]}",
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe([topic])
    events: list[Event] = []
    with SchemaRegistryClient({"url": registry_url}) as client:
        deserializer = AvroDeserializer(client, from_dict=lambda d, _ctx: from_avro_dict(domain, d))
        deadline = time.monotonic() + DEADLINE_S
        try:
            while len(events) < expected and time.monotonic() < deadline:
                message = consumer.poll(0.5)
                if message is not None and message.error() is None:
                    events.append(deserializer(message.value(), SerializationContext(topic, MessageField.VALUE)))
        finally:
            consumer.close()
    return events


def test_every_sample_gets_its_expected_ack_from_a_stock_mllp_client(listener: RunningListener,
                                                                      samples_dir: Path) -> None:
    results = {}
    for path in sorted((samples_dir / "hl7v2").glob("*.hl7")):
        ack = read_ack(_send_with_python_hl7(listener.port, path.read_bytes()).strip(b"\x0b\x1c\r"))
        results[path.name] = ack.code
    for name, code in results.items():
        if name in MALFORMED_MSH:
            assert code in ("AE", "AR"), name
        else:
            assert code == "AA", f"{name}: {code}"


def test_an_oru_lands_on_the_result_topic_with_its_observations(
    listener: RunningListener, kafka_connection: KafkaConnection, registry_url: str, samples_dir: Path
) -> None:
    # A fresh MSH-10, so the resend window does not swallow it after the all-samples test.
    original = (samples_dir / "hl7v2" / "msfc__ORU-R01-01.hl7").read_bytes()
    control_id = f"T{uuid.uuid4().hex[:12]}"
    message = _with_control_id(original, control_id)
    ack = read_ack(_send_with_python_hl7(listener.port, message).strip(b"\x0b\x1c\r"))
    assert ack.code == "AA"
    events = [e for e in _read_events(kafka_connection, registry_url, listener.topics["result"], "result", 100)
              if e.envelope.source.original_message_id == control_id]
    assert events, "no result event for the message"
    assert all(e.envelope.source.protocol == "hl7v2" for e in events)
    assert all(e.envelope.subject.source_patient_id for e in events)
    assert len({e.envelope.correlation_id for e in events}) == 1, "one message, one correlation id"
    # OBX|1|CWE|625-4^Bacteria identified in Stool by Culture^XYZ...|1|27268008^Salmonella^SCT...|..|70-80|A^
    culture = next(o for e in events for o in e.payload.observations if o.code and o.code.code == "625-4")
    assert culture.value_type == "CWE"
    assert culture.value is not None and culture.value.concept.code == "27268008"  # OBX-5
    assert culture.reference_range is not None and culture.reference_range.text == "70-80"  # OBX-7
    assert "A" in culture.abnormal_flags  # OBX-8


def test_a_resend_of_the_same_control_id_is_acked_and_published_once(
    listener: RunningListener, kafka_connection: KafkaConnection, registry_url: str, samples_dir: Path
) -> None:
    control_id = f"R{uuid.uuid4().hex[:12]}"
    message = _with_control_id((samples_dir / "hl7v2" / "msfc__ADT-A01-01.hl7").read_bytes(), control_id)
    first = read_ack(_send_with_python_hl7(listener.port, message).strip(b"\x0b\x1c\r"))
    second = read_ack(_send_with_python_hl7(listener.port, message).strip(b"\x0b\x1c\r"))
    assert (first.code, second.code) == ("AA", "AA")
    events = [e for e in _read_events(kafka_connection, registry_url, listener.topics["patient"], "patient", 10_000)
              if e.envelope.source.original_message_id == control_id]
    assert len(events) == 1


def test_garbage_and_a_client_that_vanishes_mid_frame_do_not_stop_the_listener(
    listener: RunningListener, samples_dir: Path
) -> None:
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as rude:
        rude.sendall(b"\x00\xff garbage \x0bMSH|^~\\&|half a message")
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as wrong_separator:
        wrong_separator.sendall(encode_frame(b"MSH#^~\\&#APP#FAC\rPID#1"))
        answer = wrong_separator.recv(65536)
        assert read_ack(answer.strip(b"\x0b\x1c\r")).code in ("AE", "AR")
    message = _with_control_id((samples_dir / "hl7v2" / "msfc__ADT-A04-01.hl7").read_bytes(),
                               f"G{uuid.uuid4().hex[:12]}")
    assert read_ack(_send_with_python_hl7(listener.port, message).strip(b"\x0b\x1c\r")).code == "AA"


def _with_control_id(message: bytes, control_id: str) -> bytes:
    """The message with MSH-10 replaced (field separator from MSH-4th byte)."""
    separator = message.lstrip(b"\xef\xbb\xbf")[3:4]
    first_end = min(i for i in (message.find(b"\r"), message.find(b"\n")) if i >= 0)
    fields = message[:first_end].split(separator)
    fields[9] = control_id.encode()
    return separator.join(fields) + message[first_end:]


def test_an_oversized_frame_gets_ar_and_the_connection_stays_in_step(
    kafka_connection: KafkaConnection, registry_url: str, samples_dir: Path
) -> None:
    from producers.hl7v2.client import MllpClient
    from producers.hl7v2.server import ServerConfig

    config = ServerConfig(port=0, max_frame_size=4096, idle_timeout_s=30.0, shutdown_timeout_s=10.0)
    small = _with_control_id((samples_dir / "hl7v2" / "msfc__ADT04-251.hl7").read_bytes(), f"S{uuid.uuid4().hex[:8]}")
    huge = small + b"\rNTE|1||" + b"x" * 20_000
    with running_listener(kafka_connection, registry_url, build_map_events(), server_config=config) as running, \
            MllpClient("127.0.0.1", running.port, timeout_s=30) as client:
        assert read_ack(client.send(huge)).code == "AR"
        assert read_ack(client.send(small)).code == "AA"
