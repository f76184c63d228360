"""What the processor integration tests share: a bus of fresh topics, worker subprocesses, and readers.

Nothing is mocked: canonical events go onto real topics through a real registry (the built-in one, on a log
topic of the test's own), workers run as separate processes (`worker.py`), and the tests read the outputs
back with read_committed librdkafka consumers. Every wait polls a real condition against a deadline; a
timeout prints the workers' log tails.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest
import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.schema_registry import SchemaRegistryClient

from carebus.events import Event, event_schema, from_avro_dict, to_avro_dict
from carebus.ids import Subject
from carebus.kafka.admin import apply_topics
from carebus.kafka.config import DURABLE_PRODUCER_CONFIG, KafkaConnection
from carebus.publishing import domain_of, event_headers, event_key
from carebus.serde import AvroSerde
from processors.config_files import DEFAULT_CONFIG_DIR
from processors.options import ProcessorOptions
from processors.runtime import required_topics
from processors.topology import Topology

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker.py"
DEADLINE_S = 60.0
POLL_S = 0.2
PARTITIONS = 2


class ProcessorWorker:
    """One worker process of a test's app; `start()` again after `kill()` runs a new process, same app id."""

    def __init__(self, command: list[str], workdir: Path, name: str) -> None:
        self.command = command
        self.workdir = workdir
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{name}.none.log"
        self._log: IO[bytes] | None = None
        self.runs = 0

    def start(self) -> ProcessorWorker:
        assert self.process is None or self.process.poll() is not None, "worker already running"
        self._close_log()
        self.runs += 1
        self.log_path = self.workdir / f"{self.name}.run{self.runs}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.command, stdout=self._log, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        return self

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, timeout_s: float = 30.0) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"worker ignored SIGTERM for {timeout_s}s\n{self.tail()}")

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def all_logs(self) -> str:
        return "".join(path.read_text(errors="replace") for path in sorted(self.workdir.glob(f"{self.name}.run*.log")))

    def tail(self, lines: int = 60) -> str:
        status = "not started" if self.process is None else f"exit code {self.process.poll()}"
        text = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- worker {self.name} run {self.runs} ({status}), {self.log_path}:\n{text}"


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]


class TopicReader:
    """Reads every partition of some topics from the beginning, read_committed."""

    def __init__(self, bootstrap: str, topics: Iterable[str], isolation: str = "read_committed") -> None:
        self.consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
                                  "isolation.level": isolation, "enable.auto.commit": False,
                                  "log_level": 3})
        metadata = self.consumer.list_topics(timeout=10).topics
        self.consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in topics for p in metadata[t].partitions])
        self.records: list[Record] = []

    def poll(self) -> list[Record]:
        for message in self.consumer.consume(num_messages=1000, timeout=POLL_S):
            assert message.error() is None, message.error()
            headers = {k: v.decode() for k, v in (message.headers() or [])}
            self.records.append(Record(message.topic(), message.partition(), message.offset(), message.key(),
                                       message.value(), headers))
        return self.records

    def close(self) -> None:
        self.consumer.close()


@dataclass
class ProcessorBus:
    """A test's own topics, registry and config folder, and the processor workers running on them."""

    bootstrap: str
    registry_url: str
    workdir: Path
    topology: Topology
    config_dir: Path
    workers: list[ProcessorWorker] = field(default_factory=list)
    readers: list[TopicReader] = field(default_factory=list)
    _serdes: dict[str, AvroSerde] = field(default_factory=dict)
    _producer: Producer | None = None

    def __post_init__(self) -> None:
        self.registry = SchemaRegistryClient({"url": self.registry_url})

    def worker(self, *extra: str) -> ProcessorWorker:
        command = [sys.executable, str(WORKER_SCRIPT), "--broker", self.bootstrap, "--registry", self.registry_url,
                   "--app", self.topology.app_id, "--prefix", self.topology.prefix,
                   "--partitions", str(self.topology.partitions), "--config-dir", str(self.config_dir),
                   "--datadir", str(self.workdir / "data"),
                   "--retry-delays", ",".join(str(d) for d in self.topology.retry_delays_s), *extra]
        worker = ProcessorWorker(command, self.workdir, f"worker{len(self.workers)}")
        self.workers.append(worker)
        return worker

    def publish(self, events: Iterable[Event]) -> None:
        """Put canonical events on their topics the way the adapters do (Avro, key, headers, murmur2)."""
        if self._producer is None:
            self._producer = Producer({"bootstrap.servers": self.bootstrap, **DURABLE_PRODUCER_CONFIG,
                                       "log_level": 3})
        for event in events:
            domain = domain_of(event)
            topic = self.topology.canonical(domain)
            serde = self._serde(topic, domain)
            self._producer.produce(topic, key=event_key(event), value=serde.serialize(to_avro_dict(event)),
                                   headers=event_headers(event))
        assert self._producer.flush(30) == 0, "records not delivered"

    def publish_raw(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        producer = Producer({"bootstrap.servers": self.bootstrap, **DURABLE_PRODUCER_CONFIG, "log_level": 3})
        producer.produce(topic, key=key, value=value)
        assert producer.flush(30) == 0

    def decode(self, record: Record, domain: str) -> Event:
        assert record.value is not None
        return from_avro_dict(domain, self._serde(record.topic, domain).deserialize(record.value))

    def reader(self, *topics: str, isolation: str = "read_committed") -> TopicReader:
        self.readers.append(TopicReader(self.bootstrap, topics, isolation))
        return self.readers[-1]

    def wait_for(self, condition: Callable[[], Any], what: str, timeout_s: float = DEADLINE_S) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            result = condition()
            if result:
                return result
            if time.monotonic() > deadline:
                tails = "\n".join(worker.tail() for worker in self.workers)
                pytest.fail(f"timed out after {timeout_s}s waiting for {what}\n{tails}")
            time.sleep(POLL_S)

    def read_until(self, reader: TopicReader, condition: Callable[[list[Record]], bool], what: str,
                   timeout_s: float = DEADLINE_S) -> list[Record]:
        return self.wait_for(lambda: condition(reader.poll()) and reader.records, what, timeout_s)

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
        for reader in self.readers:
            reader.close()
        self.registry.__exit__(None, None, None)
        if self._producer is not None:
            self._producer.flush(10)
            self._producer = None

    def _serde(self, topic: str, domain: str) -> AvroSerde:
        if topic not in self._serdes:
            self._serdes[topic] = AvroSerde(self.registry, Subject(f"{topic}-value"), event_schema(domain))
        return self._serdes[topic]


def make_config_dir(target: Path, prefix: str, *, routing: dict[str, Any] | None = None) -> Path:
    """A copy of the shipped config/ with the routing rules' subscriber topics prefixed for this test."""
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    rules = routing if routing is not None else yaml.safe_load((target / "routing.yaml").read_text())
    for rule in rules.get("rules", []):
        targets = rule["to"] if isinstance(rule["to"], list) else [rule["to"]]
        rule["to"] = [f"{prefix}{topic}" for topic in targets]
    (target / "routing.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    return target


def create_topics(connection: KafkaConnection, options: ProcessorOptions) -> None:
    apply_topics(connection, required_topics(options))
