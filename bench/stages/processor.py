"""processor: canonical events through one processor worker (normalize, dedupe, ownership, identity, routing),
exactly-once, next to a plain confluent-kafka consume-and-produce loop over the same records.

carebus's path: one `carebus processors worker` process (faust, exactly-once, commit every 0.5 s) on fresh
canonical topics (6 partitions); every event crosses three hops (intake -> identity topic -> normalized topic
-> routing), is Avro-decoded and validated three times, encoded twice, and copied to the subscriber topics the
shipped routing rules name. The worker is started and warmed up first (start-up, rebalance and table recovery
are not timed); each run then publishes a batch and times until the last normalized event of the batch is
visible to a read_committed consumer, so the figure includes up to three commit intervals of latency.

Baseline, same run, same records: confluent-kafka consuming the batch from the canonical topic and producing
each record unchanged to another topic (acks=all, idempotent, no decode, no transaction), timed to the last
delivery: the transport's ceiling for moving these records once.

Events: `CAREBUS_BENCH_PROCESSOR_EVENTS` per run (default 3,000; seeded: 85% ORU-shaped results with 1-4 local
lab codes and text units, 15% ADT-shaped patient registrations, over 500 patients); runs:
`CAREBUS_BENCH_PROCESSOR_RUNS` (default 3). The stage deletes its topics afterwards.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import yaml
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient

from bench._harness import Result, Stage, summarize
from carebus.cli.processors import worker_command
from carebus.events import (
    SCHEMA_VERSION,
    CodedConcept,
    Envelope,
    Event,
    HumanName,
    Identifier,
    Observation,
    Patient,
    PatientEvent,
    Quantity,
    QuantityValue,
    ResultEvent,
    Source,
    Subject,
    event_schema,
    to_avro_dict,
)
from carebus.events import (
    Result as ResultPayload,
)
from carebus.ids import CorrelationId, EventId, SourcePatientId
from carebus.ids import Subject as SubjectName
from carebus.kafka.admin import apply_topics
from carebus.kafka.config import DURABLE_PRODUCER_CONFIG, KafkaConnection
from carebus.publishing import domain_of, event_headers, event_key
from carebus.registry.server import running_registry
from carebus.serde import AvroSerde
from processors.config_files import DEFAULT_CONFIG_DIR
from processors.options import ProcessorOptions
from processors.runtime import required_topics
from processors.topology import Topology

STAGE: Final = "processor"
EVENTS_ENV: Final = "CAREBUS_BENCH_PROCESSOR_EVENTS"
RUNS_ENV: Final = "CAREBUS_BENCH_PROCESSOR_RUNS"
DEFAULT_EVENTS: Final = 3000
DEFAULT_RUNS: Final = 3
PARTITIONS: Final = 6
PATIENTS: Final = 500
SEED: Final = 20240314
COMMIT_INTERVAL_S: Final = float(os.environ.get("CAREBUS_BENCH_PROCESSOR_COMMIT_S", "1.0"))
WARMUP_EVENTS: Final = 200
RUN_TIMEOUT_S: Final = 600.0
MRN_SYSTEM: Final = "urn:oid:2.16.840.1.113883.19.5.99999.1"
AT: Final = datetime(2024, 3, 14, 9, 30, tzinfo=UTC)
# (local code, display, low, high, unit as sent): the demo lab's local codes (config/codes/lab.csv).
TESTS: Final = (("GLU", "Glucose", 70, 99, "mg/dl"), ("K", "Potassium", 3.5, 5.1, "mmol/L"),
                ("NA", "Sodium", 136, 145, "mmol/L"), ("CREAT", "Creatinine", 0.6, 1.3, "mg/dL"),
                ("HGB", "Hemoglobin", 12, 17.5, "g/dL"), ("PLT", "Platelets", 150, 400, "10^3/uL"))


def _envelope(rng: random.Random, event_type: str, mrn: str, system: str, message_type: str) -> Envelope:
    identifier = Identifier(value=mrn, system=MRN_SYSTEM, type_code="MR")
    message_id = f"BENCH-{rng.getrandbits(64):016x}"
    return Envelope(
        event_id=EventId(str(uuid.UUID(int=rng.getrandbits(128), version=4))), event_type=event_type,
        occurred_at=AT, recorded_at=AT, received_at=AT,
        source=Source(system=system, facility="BENCH GENERAL", protocol="hl7v2", original_message_id=message_id,
                      message_type=message_type),
        correlation_id=CorrelationId(f"{system}|{message_id}"),
        subject=Subject(source_patient_id=SourcePatientId(f"{MRN_SYSTEM}|{mrn}"), source_identifiers=(identifier,)),
        data_classification="phi", schema_version=SCHEMA_VERSION)


def generate_events(count: int, rng: random.Random) -> list[Event]:
    events: list[Event] = []
    for _ in range(count):
        n = rng.randrange(PATIENTS)
        mrn = f"BENCH-MRN-{n:06d}"
        if rng.random() < 0.15:
            events.append(PatientEvent(
                envelope=_envelope(rng, "patient.upserted", mrn, "DEMOEHR", "ADT^A08"),
                payload=Patient(identifiers=(Identifier(value=mrn, system=MRN_SYSTEM, type_code="MR"),),
                                names=(HumanName(use="official", family=f"Zzbench{n}", given=("Qatest",)),),
                                birth_date=date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
                                administrative_sex=rng.choice(("F", "M", "female", "male")))))
            continue
        observations = []
        for set_id, (code, display, low, high, unit) in enumerate(rng.sample(TESTS, rng.randint(1, 4)), start=1):
            value = round(rng.uniform(low * 0.8, high * 1.2), 1)
            observations.append(Observation(
                set_id=set_id, value_type="NM", status_original="F",
                code=CodedConcept(code=code, display=display, original_code=code, original_system="L"),
                value=QuantityValue(quantity=Quantity(value=value, unit=unit, code=unit, value_text=str(value))),
                critical=value > high * 1.15))
        events.append(ResultEvent(
            envelope=_envelope(rng, "result.finalized", mrn, "DEMOLAB", "ORU^R01"),
            payload=ResultPayload(code=CodedConcept(code="BMP", original_code="BMP", original_system="L"),
                                  status_original="F", observations=tuple(observations))))
    return events


class _Bench:
    def __init__(self, bootstrap: str, work: Path) -> None:
        self.bootstrap = bootstrap
        self.connection = KafkaConnection(bootstrap)
        tag = uuid.uuid4().hex[:8]
        self.topology = Topology(app_id=f"bench-processors-{tag}", prefix=f"bench{tag}.", partitions=PARTITIONS,
                                 retry_delays_s=(1.0,))
        self.config_dir = _config_copy(work / "config", self.topology.prefix)
        self.options = ProcessorOptions(broker=bootstrap, topology=self.topology, config_dir=self.config_dir,
                                        commit_interval_s=COMMIT_INTERVAL_S, datadir=work / "data")
        self.admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
        self.topics = [spec.name for spec in required_topics(self.options)]
        apply_topics(self.connection, required_topics(self.options))
        self.baseline_topic = f"{self.topology.prefix}baseline-out"
        self.admin.create_topics([NewTopic(self.baseline_topic, PARTITIONS, 1)])[self.baseline_topic].result(30)
        self.topics.append(self.baseline_topic)
        self.producer = Producer({"bootstrap.servers": bootstrap, **DURABLE_PRODUCER_CONFIG, "log_level": 3})
        self.serdes: dict[str, AvroSerde] = {}

    def publish(self, registry: SchemaRegistryClient, events: list[Event]) -> dict[str, dict[int, int]]:
        """Publish; return each canonical topic's end offsets from before, so the baseline reads the same records."""
        starts = {topic: self._ends(topic) for topic in {self.topology.canonical(domain_of(e)) for e in events}}
        for event in events:
            domain = domain_of(event)
            topic = self.topology.canonical(domain)
            serde = self.serdes.get(topic)
            if serde is None:
                serde = self.serdes[topic] = AvroSerde(registry, SubjectName(f"{topic}-value"), event_schema(domain))
            while True:
                try:
                    self.producer.produce(topic, key=event_key(event), value=serde.serialize(to_avro_dict(event)),
                                          headers=event_headers(event))
                    break
                except BufferError:
                    self.producer.poll(0.05)
        if self.producer.flush(60):
            raise RuntimeError("bench events not delivered")
        return starts

    def wait_normalized(self, reader: Consumer, expected: int, counted: list[int]) -> None:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while counted[0] < expected:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {counted[0]} of {expected} normalized events within {RUN_TIMEOUT_S}s")
            counted[0] += sum(1 for m in reader.consume(num_messages=5000, timeout=0.2) if m.error() is None)

    def baseline(self, starts: dict[str, dict[int, int]], count: int) -> float:
        """Records/s of consume + produce unchanged, over the `count` records published from `starts`."""
        consumer = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"bench-base-{uuid.uuid4().hex[:8]}",
                             "enable.auto.commit": False, "log_level": 3})
        consumer.assign([TopicPartition(t, p, o) for t, ends in starts.items() for p, o in ends.items()])
        producer = Producer({"bootstrap.servers": self.bootstrap, **DURABLE_PRODUCER_CONFIG, "log_level": 3})
        producer.produce(self.baseline_topic, value=b"warm-up")
        producer.flush(30)
        moved = 0
        started = time.perf_counter()
        try:
            while moved < count:
                for message in consumer.consume(num_messages=1000, timeout=1.0):
                    if message.error() is not None:
                        continue
                    while True:
                        try:
                            producer.produce(self.baseline_topic, key=message.key(), value=message.value(),
                                             headers=message.headers())
                            break
                        except BufferError:
                            producer.poll(0.05)
                    moved += 1
                producer.poll(0)
            if producer.flush(120):
                raise RuntimeError("baseline produce did not finish")
            return count / (time.perf_counter() - started)
        finally:
            consumer.close()

    def normalized_reader(self) -> Consumer:
        reader = Consumer({"bootstrap.servers": self.bootstrap, "group.id": f"bench-read-{uuid.uuid4().hex[:8]}",
                           "isolation.level": "read_committed", "enable.auto.commit": False, "log_level": 3})
        reader.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t in self.topology.normalized_topics
                       for p in range(PARTITIONS)])
        return reader

    def _ends(self, topic: str) -> dict[int, int]:
        probe = Consumer({"bootstrap.servers": self.bootstrap, "group.id": "bench-probe", "log_level": 3})
        try:
            return {p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(PARTITIONS)}
        finally:
            probe.close()

    def delete_topics(self) -> None:
        internal = [t for t in self.admin.list_topics(timeout=30).topics if t.startswith(self.topology.app_id)]
        for future in self.admin.delete_topics([*self.topics, *internal]).values():
            with contextlib.suppress(Exception):  # best effort: the broker may be a throw-away one
                future.result(timeout=30)


def _config_copy(target: Path, prefix: str) -> Path:
    shutil.copytree(DEFAULT_CONFIG_DIR, target)
    rules: dict[str, Any] = yaml.safe_load((target / "routing.yaml").read_text())
    for rule in rules.get("rules", []):
        targets = rule["to"] if isinstance(rule["to"], list) else [rule["to"]]
        rule["to"] = [f"{prefix}{topic}" for topic in targets]
    (target / "routing.yaml").write_text(yaml.safe_dump(rules, sort_keys=False))
    return target


@contextmanager
def _worker(options: ProcessorOptions, registry_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(worker_command(options, registry_url), stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def run(bootstrap: str | None) -> list[Result]:
    if bootstrap is None:
        raise RuntimeError("processor needs a broker")
    count = int(os.environ.get(EVENTS_ENV, DEFAULT_EVENTS))
    runs = int(os.environ.get(RUNS_ENV, DEFAULT_RUNS))
    rng = random.Random(SEED)
    warmup = generate_events(WARMUP_EVENTS, rng)
    batches = [generate_events(count, rng) for _ in range(runs)]
    rates: list[float] = []
    baseline: list[float] = []
    with tempfile.TemporaryDirectory(prefix="carebus-bench-processor-") as temp:
        work = Path(temp)
        bench = _Bench(bootstrap, work)
        try:
            with running_registry(bench.connection, topic=f"_schemas-{bench.topology.app_id}") as url, \
                    SchemaRegistryClient({"url": url}) as registry, \
                    _worker(bench.options, url, work / "worker.log") as process:
                reader = bench.normalized_reader()
                counted = [0]
                try:
                    bench.publish(registry, warmup)  # start-up, rebalance, recovery and first schemas: untimed
                    bench.wait_normalized(reader, WARMUP_EVENTS, counted)
                    for batch in batches:
                        if process.poll() is not None:
                            raise RuntimeError(f"the worker exited ({process.returncode}); see its log")
                        started = time.perf_counter()
                        starts = bench.publish(registry, batch)
                        bench.wait_normalized(reader, counted[0] + len(batch), counted)
                        rates.append(len(batch) / (time.perf_counter() - started))
                        baseline.append(bench.baseline(starts, len(batch)))
                finally:
                    reader.close()
        finally:
            bench.delete_topics()
    params = {"events": count, "workers": 1, "partitions": PARTITIONS, "guarantee": "exactly_once",
              "commit_interval_s": COMMIT_INTERVAL_S, "hops": 3,
              "mix": "85% ORU results (1-4 local codes), 15% ADT patients", "python": sys.version.split()[0]}
    base = summarize(STAGE, "baseline", "events/s", baseline)
    return [summarize(STAGE, "throughput_per_worker", "events/s", rates, params=params,
                      baseline="confluent-kafka consume + produce of the same records (no decode, no transaction)",
                      baseline_value=base.value)]


STAGE_DEF = Stage(STAGE, needs_broker=True, run=run)
