"""Batch loads against a real broker: KafkaEventPublisher (transactions) and KafkaDeadLetterPublisher.

The schema registry is an in-process fake at the RegistryPort until the real registry's runner is
wired into the CLI; everything else is the production path.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import confluent_kafka
import pytest
from confluent_kafka.admin import AdminClient, NewTopic
from typer.testing import CliRunner

from carebus.errors import PublishError
from carebus.events import DOMAINS, event_schema, from_avro_dict
from carebus.ids import Subject
from carebus.kafka.config import KafkaConnection
from carebus.kafka.consumer import ExplicitCommitConsumer
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.kafka.producer import Delivery, DurableProducer
from carebus.publishing import (
    DEADLETTER_HEADER_DETAIL,
    DEADLETTER_HEADER_REASON,
    DEADLETTER_HEADER_SENDER,
    HEADER_EVENT_ID,
    KafkaDeadLetterPublisher,
    KafkaEventPublisher,
)
from carebus.registry.in_process import InProcessRegistry
from carebus.serde import AvroSerde
from carebus.topics import canonical_topic, deadletter_topic
from producers.batch import BatchLoader, SqliteLedger, parse_detail
from producers.batch._envelope import event_id_for
from producers.batch.patients import SYNTHEA_ID_SYSTEM
from tests.unit.batch.fakes import lab_csv


@dataclass
class Bus:
    connection: KafkaConnection
    registry: InProcessRegistry
    topics: dict[str, str]
    publisher: KafkaEventPublisher
    dead_letters: KafkaDeadLetterPublisher

    def loader(self, tmp_path: Path, **kwargs: Any) -> BatchLoader:
        return BatchLoader(publisher=kwargs.pop("publisher", self.publisher), dead_letters=self.dead_letters,
                           ledger=SqliteLedger(tmp_path / "ledger.sqlite3"), **kwargs)

    def read(self, domain: str, group: str, expected: int) -> list[tuple[confluent_kafka.Message, Any]]:
        serde = AvroSerde(self.registry, Subject(f"{self.topics[domain]}-value"), event_schema(domain))
        messages = _read_committed(self.connection, self.topics[domain], group, expected)
        return [(message, from_avro_dict(domain, serde.deserialize(message.value()))) for message in messages]


def _read_committed(connection: KafkaConnection, topic: str, group: str, expected: int,
                    deadline_s: float = 30.0) -> list[confluent_kafka.Message]:
    messages: list[confluent_kafka.Message] = []
    with ExplicitCommitConsumer(connection, group_id=group, topics=[topic]) as consumer:
        deadline = time.monotonic() + deadline_s
        while len(messages) < expected and time.monotonic() < deadline:
            messages.extend(consumer.poll_batch(timeout_s=0.5))
        messages.extend(consumer.poll_batch(timeout_s=1.5))  # anything more would be a duplicate
    return messages


def _ensure_topic(connection: KafkaConnection, name: str, partitions: int) -> None:
    admin = AdminClient({**connection.as_librdkafka_dict(), "log_level": 3})
    try:
        admin.create_topics([NewTopic(name, partitions, 1)])[name].result(timeout=30)
    except confluent_kafka.KafkaException as exc:
        if exc.args[0].code() != confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
            raise


@pytest.fixture
def bus(kafka_connection: KafkaConnection, topic_factory: Callable[..., str], group_id: str) -> Iterator[Bus]:
    topics = {domain: topic_factory(f"batch-{domain}") for domain in ("patient", "result", "claim")}
    _ensure_topic(kafka_connection, deadletter_topic("batch"), 3)
    registry = InProcessRegistry()
    transport = GroupCommitPublisher(kafka_connection, transactional_id=f"test-batch-{group_id}")
    transport.start()
    producer = DurableProducer(kafka_connection, client_id="test-batch-dlq")
    publisher = KafkaEventPublisher(transport, registry,
                                    topic_for=lambda domain: topics.get(domain, f"unused-{domain}"))
    try:
        yield Bus(kafka_connection, registry, topics, publisher, KafkaDeadLetterPublisher(producer))
    finally:
        transport.close()
        producer.close()


def _dead_letters_for(connection: KafkaConnection, sha256: str, group: str,
                      expected: int) -> list[confluent_kafka.Message]:
    found: list[confluent_kafka.Message] = []
    with ExplicitCommitConsumer(connection, group_id=group, topics=[deadletter_topic("batch")]) as consumer:
        deadline = time.monotonic() + 30
        while len(found) < expected and time.monotonic() < deadline:
            for message in consumer.poll_batch(timeout_s=0.5):
                headers = dict(message.headers() or [])
                if parse_detail(headers[DEADLETTER_HEADER_DETAIL].decode()).get("sha256") == sha256:
                    found.append(message)
    return found


def test_the_synthea_sample_lands_on_its_topic_once(bus: Bus, tmp_path: Path, samples_dir: Path,
                                                    group_id: str) -> None:
    sample = samples_dir / "csv" / "synthea__patients.csv"
    loader = bus.loader(tmp_path)
    summary = asyncio.run(loader.load(sample))
    assert (summary.rows, summary.events, summary.rejected_rows) == (13, 13, 0)

    records = bus.read("patient", group_id, 13)
    assert len(records) == 13
    by_line = {int(event.envelope.source.original_message_id.rsplit(":", 1)[1]): (message, event)
               for message, event in records}
    assert sorted(by_line) == list(range(2, 15))
    message, event = by_line[2]
    assert event.envelope.event_id == event_id_for(summary.sha256, 2)
    assert dict(message.headers())[HEADER_EVENT_ID].decode() == event.envelope.event_id
    assert message.key() == f"{SYNTHEA_ID_SYSTEM}|838e3532-0deb-eb80-3c5e-f5b4c243efaa".encode()
    assert event.envelope.event_type == "patient.upserted"
    assert event.payload.birth_date.isoformat() == "2020-02-06"
    assert (event.payload.names[0].family, event.payload.names[0].given) == ("Mayert710", ("Eustolia154", "Maia476"))
    assert by_line[4][1].payload.deceased is True

    again = asyncio.run(loader.load(sample))
    assert again.already_loaded and again.events == 0
    assert len(bus.read("patient", f"{group_id}-again", 13)) == 13


def test_a_bad_row_goes_to_the_dead_letter_topic_and_the_rest_is_published(
        bus: Bus, tmp_path: Path, samples_dir: Path, group_id: str) -> None:
    lines = (samples_dir / "csv" / "synthea__patients.csv").read_bytes().splitlines(keepends=True)
    bad_line = lines[4].replace(b"1989-12-06", b"06/12/1989")
    path = tmp_path / "patients-with-a-bad-row.csv"
    path.write_bytes(b"".join([*lines[:4], bad_line, *lines[5:]]))

    summary = asyncio.run(bus.loader(tmp_path).load(path, source_system="SYNTHEA-TEST"))
    assert (summary.rows, summary.events, summary.rejected_rows) == (13, 12, 1)
    assert len(bus.read("patient", group_id, 12)) == 12

    (letter,) = _dead_letters_for(bus.connection, summary.sha256, f"{group_id}-dlq", 1)
    assert letter.value() == bad_line
    headers = {name: value.decode() for name, value in letter.headers() or []}
    assert headers[DEADLETTER_HEADER_REASON] == "date-format"
    assert headers[DEADLETTER_HEADER_SENDER] == "SYNTHEA-TEST"
    detail = parse_detail(headers[DEADLETTER_HEADER_DETAIL])
    assert (detail["file"], detail["line"], detail["errors"]) == (path.name, "5", "BIRTHDATE:date-format")
    assert "06/12/1989" not in headers[DEADLETTER_HEADER_DETAIL]


class _FailingOnce:
    """The real publisher, except that the n-th batch fails as a broker outage would."""

    def __init__(self, inner: KafkaEventPublisher, fail_on_call: int) -> None:
        self._inner, self._left = inner, fail_on_call

    async def publish(self, events: Any) -> list[Delivery]:
        self._left -= 1
        if self._left == 0:
            raise PublishError("canonical.result.v1", "_MSG_TIMED_OUT")
        return await self._inner.publish(events)


def test_an_interrupted_load_resumes_without_duplicates(bus: Bus, tmp_path: Path, group_id: str) -> None:
    path = tmp_path / "labs.csv"
    path.write_bytes(lab_csv(*({"report_id": f"R-{report}", "test_code": f"T{row}"}
                               for report in range(20) for row in range(3))))
    with pytest.raises(PublishError):
        asyncio.run(bus.loader(tmp_path, publisher=_FailingOnce(bus.publisher, 3), batch_rows=9).load(path))
    resumed = asyncio.run(bus.loader(tmp_path, batch_rows=9).load(path))
    assert resumed.resumed_from_line == 2 + 2 * 9
    assert resumed.events == 14

    records = bus.read("result", group_id, 20)
    ids = [event.envelope.event_id for _, event in records]
    assert len(ids) == len(set(ids)) == 20
    assert sorted(ids) == sorted(event_id_for(resumed.sha256, 2 + 3 * report) for report in range(20))
    assert {event.envelope.event_type for _, event in records} == {"result.finalized"}
    assert all(len(event.payload.observations) == 3 for _, event in records)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, kafka_bootstrap: str,
        kafka_connection: KafkaConnection) -> Iterator[tuple[CliRunner, InProcessRegistry]]:
    from carebus.cli import _context
    from carebus.cli import batch as batch_cli

    registry = InProcessRegistry()
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", kafka_bootstrap)
    monkeypatch.setenv("CAREBUS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(batch_cli, "_registry", lambda: registry)
    _context.settings.cache_clear()
    for domain in DOMAINS:
        _ensure_topic(kafka_connection, canonical_topic(domain), 3)
    _ensure_topic(kafka_connection, deadletter_topic("batch"), 3)
    yield CliRunner(), registry
    _context.settings.cache_clear()


def test_cli_load_then_load_again_then_a_bad_file(cli: tuple[CliRunner, InProcessRegistry], tmp_path: Path,
                                                  samples_dir: Path, group_id: str,
                                                  kafka_connection: KafkaConnection) -> None:
    from carebus.cli.main import app

    runner, registry = cli
    sample = samples_dir / "csv" / "synthea__patients.csv"
    first = runner.invoke(app, ["batch", "load", str(sample)])
    assert first.exit_code == 0, first.output + first.stderr
    assert "synthea__patients.csv: layout=patients rows=13 published=13 events=13 rejected=0 rows/s=" in first.stdout

    second = runner.invoke(app, ["batch", "load", str(sample)])
    assert second.exit_code == 0
    assert "already loaded" in second.stdout

    lines = sample.read_bytes().splitlines(keepends=True)
    bad = tmp_path / "bad.csv"
    bad.write_bytes(lines[0] + lines[1].replace(b",F,", b",Q,") + lines[2])
    third = runner.invoke(app, ["batch", "load", str(bad)])
    assert third.exit_code == 1
    assert "rejected=1" in third.stdout
    assert "bad.csv line 2, column GENDER: allowed-values" in third.stderr

    status = runner.invoke(app, ["batch", "status"])
    assert status.exit_code == 0
    assert "synthea__pati" in status.stdout

    # canonical.patient.v1 is shared by the session: look for exactly the events these loads made.
    expected = {event_id_for(hashlib.sha256(sample.read_bytes()).hexdigest(), line) for line in range(2, 15)}
    expected.add(event_id_for(hashlib.sha256(bad.read_bytes()).hexdigest(), 3))
    rejected = event_id_for(hashlib.sha256(bad.read_bytes()).hexdigest(), 2)
    seen: set[str] = set()
    with ExplicitCommitConsumer(kafka_connection, group_id=group_id, topics=[canonical_topic("patient")]) as consumer:
        deadline = time.monotonic() + 30
        while not expected <= seen and time.monotonic() < deadline:
            seen.update(dict(m.headers() or [])[HEADER_EVENT_ID].decode() for m in consumer.poll_batch(timeout_s=0.5))
    assert expected <= seen
    assert rejected not in seen
    serde = AvroSerde(registry, Subject("canonical.patient.v1-value"), event_schema("patient"))
    assert serde.schema_id == 1  # the CLI registered the patient schema through the (fake) registry port


def test_cli_watch_once_moves_files(cli: tuple[CliRunner, InProcessRegistry], tmp_path: Path,
                                    samples_dir: Path) -> None:
    from carebus.cli.main import app

    runner, _ = cli
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "patients.csv").write_bytes((samples_dir / "csv" / "synthea__patients.csv").read_bytes())
    (drop / "junk.csv").write_bytes(b"what,is,this\n1,2,3\n")
    result = runner.invoke(app, ["batch", "watch", str(drop), "--once", "--settle", "0", "--interval", "0.1"])
    assert result.exit_code == 2, result.output + result.stderr  # junk.csv failed
    assert (drop / "done" / "patients.csv").exists()
    assert (drop / "failed" / "junk.csv").exists()
