"""mllp_ingest: ORU^R01 (5 OBX) over MLLP, AA only after the durable, transactional write.

Throughput: 8 connections, each sending its next message when the last one's ACK arrives, as
MLLP senders do. Latency: p50/p99 from a message's scheduled send time to its ACK (so a stall
counts against us instead of silently lowering the offered load) at a fixed 500 messages/s.
Baseline, same run, same messages: python-hl7's `hl7.parse` alone on one core.
Per step, on one core and no broker: microseconds per message to parse, map, serialize (the
records the publisher hands to Kafka) and build the ACK, each timed on the previous step's output.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import hl7
from confluent_kafka.admin import AdminClient, NewTopic
from confluent_kafka.schema_registry import SchemaRegistryClient
from prometheus_client import CollectorRegistry

from bench._harness import Result, Stage, measure_rate, summarize
from carebus.kafka.config import KafkaConnection
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.kafka.producer import DurableProducer
from carebus.publishing import KafkaDeadLetterPublisher, KafkaEventPublisher
from carebus.registry.server import running_registry
from carebus.topics import CATALOG
from producers.hl7v2.ack import build_ack
from producers.hl7v2.client import MllpClient, read_ack
from producers.hl7v2.dedupe import ResendWindow
from producers.hl7v2.errors import AckCode
from producers.hl7v2.handler import HandlerConfig, MessageHandler
from producers.hl7v2.listener import build_map_events
from producers.hl7v2.metrics import Hl7Metrics
from producers.hl7v2.parsing import parse_message
from producers.hl7v2.runtime import serving_in_thread
from producers.hl7v2.server import MllpServer, ServerConfig

STAGE = "mllp_ingest"
CONNECTIONS = 8
MESSAGES_PER_CONNECTION = 250
OFFERED_RATE = 500
LATENCY_SECONDS = 6.0
RUNS = 3
SEED = 20261125
# A broker started for the run is a cold JVM: throughput climbed from ~310 to ~700 msg/s over its first
# 30 s (same code, runs of 2,000 messages), so a few hundred messages of warm-up measured the JIT.
WARMUP_S = 20.0
STEP_MESSAGES = 500
STEPS = ("parse", "map", "serialize", "ack")

_OBX = [("2345-7", "Glucose", "mg/dL", "70-99"), ("2160-0", "Creatinine", "mg/dL", "0.6-1.3"),
        ("2951-2", "Sodium", "mmol/L", "135-145"), ("2823-3", "Potassium", "mmol/L", "3.5-5.1"),
        ("17861-6", "Calcium", "mg/dL", "8.5-10.5")]


def synthetic_oru(rng: random.Random, control_id: str) -> bytes:
    """An ORU^R01 shaped like the samples: MSH, PID, PV1, ORC, OBR and 5 NM OBX; invented values."""
    mrn = f"BENCH{rng.randrange(10**6):06d}"
    lines = [
        f"MSH|^~\\&|BENCHLAB|BENCHHOSP|CAREBUS|CAREBUS|20261125120000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||{mrn}^^^BENCHHOSP^MR||Testpatient^Bench^Q||19700101|F|||1 Test St^^Testville^TS^00000",
        "PV1|1|O|LAB^^^BENCHHOSP",
        f"ORC|RE|PL{control_id}|FL{control_id}",
        f"OBR|1|PL{control_id}|FL{control_id}|24323-8^Comprehensive metabolic panel^LN|||20261125110000|||||||"
        "||||||||20261125115500|||F",
    ]
    for index, (code, name, unit, reference) in enumerate(_OBX, start=1):
        value = round(rng.uniform(1, 150), 1)
        lines.append(f"OBX|{index}|NM|{code}^{name}^LN||{value}|{unit}^{unit}^UCUM|{reference}|N|||F|||"
                     "20261125113000")
    return ("\r".join(lines) + "\r").encode()


@contextlib.contextmanager
def _listener(bootstrap: str) -> Iterator[int]:
    connection = KafkaConnection(bootstrap)
    admin = AdminClient({**connection.as_librdkafka_dict(), "log_level": 3})
    prefix = f"bench{uuid.uuid4().hex[:6]}"
    topics = {spec.name.split(".")[1]: f"{prefix}.{spec.name}" for spec in CATALOG
              if spec.name.startswith("canonical.")}
    existing = admin.list_topics(timeout=10).topics
    wanted = [NewTopic(t, 6, 1) for t in [*topics.values(), "deadletter.hl7v2"] if t not in existing]
    for future in admin.create_topics(wanted).values():
        future.result(timeout=30)
    with running_registry(connection, topic=f"_schemas-{prefix}") as url, \
            SchemaRegistryClient({"url": url}) as registry_client:
        transport = GroupCommitPublisher(connection, transactional_id=f"{prefix}-mllp")
        transport.start()
        dead_producer = DurableProducer(connection)
        metrics = Hl7Metrics(CollectorRegistry())
        handler = MessageHandler(
            publisher=KafkaEventPublisher(transport, registry_client, topic_for=topics.__getitem__),
            deadletters=KafkaDeadLetterPublisher(dead_producer), map_events=build_map_events(),
            resends=ResendWindow(), metrics=metrics, config=HandlerConfig())
        try:
            with serving_in_thread(MllpServer(handler, metrics, ServerConfig(port=0))) as port:
                yield port
        finally:
            transport.close()
            dead_producer.close()


def _send_all(port: int, batches: list[list[bytes]]) -> int:
    failures: list[str] = []

    def sender(messages: list[bytes]) -> None:
        with MllpClient("127.0.0.1", port) as client:
            for message in messages:
                code = read_ack(client.send(message)).code
                if code != "AA":
                    failures.append(code)

    threads = [threading.Thread(target=sender, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise RuntimeError(f"{len(failures)} messages not accepted (first: {failures[0]})")
    return sum(len(batch) for batch in batches)


def _latencies(port: int, messages: list[bytes]) -> list[float]:
    interval = CONNECTIONS / OFFERED_RATE
    latencies: list[float] = []
    lock = threading.Lock()

    def sender(mine: list[bytes], offset: float, start: float) -> None:
        with MllpClient("127.0.0.1", port) as client:
            for index, message in enumerate(mine):
                scheduled = start + offset + index * interval
                delay = scheduled - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)  # pacing the offered load, not waiting for readiness
                client.send(message)
                with lock:
                    latencies.append(time.perf_counter() - scheduled)

    start = time.perf_counter() + 0.2
    per_connection = [messages[i::CONNECTIONS] for i in range(CONNECTIONS)]
    threads = [threading.Thread(target=sender, args=(mine, i * interval / CONNECTIONS, start))
               for i, mine in enumerate(per_connection)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


class _FixedIdRegistry:
    """The registry port for the per-step timing: every subject's schema has id 1 (no HTTP)."""

    def register_schema(self, subject_name: str, schema: Any, normalize_schemas: bool = False) -> int:
        return 1


def _step_times(messages: list[bytes]) -> dict[str, float]:
    """Microseconds per message of each step, each timed on fresh output of the step before it."""
    map_events = build_map_events()
    publisher = KafkaEventPublisher(None, _FixedIdRegistry(), topic_for=lambda domain: domain)  # type: ignore[arg-type]
    received_at = datetime.now(UTC)
    spent = dict.fromkeys(STEPS, 0.0)
    clock = time.perf_counter
    for message in messages:
        started = clock()
        parsed = parse_message(message)
        parsed_at = clock()
        events = map_events(parsed, received_at)
        mapped_at = clock()
        publisher.to_records(events)
        serialized_at = clock()
        build_ack(AckCode.AA, reply_to=parsed.header.reply_to, control_id="CB1-1", timestamp=received_at)
        acked_at = clock()
        spent["parse"] += parsed_at - started
        spent["map"] += mapped_at - parsed_at
        spent["serialize"] += serialized_at - mapped_at
        spent["ack"] += acked_at - serialized_at
    return {step: total / len(messages) * 1e6 for step, total in spent.items()}


def run(bootstrap: str | None) -> list[Result]:
    if bootstrap is None:
        raise RuntimeError("mllp_ingest needs a broker")
    rng = random.Random(SEED)
    counter = iter(range(10**9))

    def fresh(count: int) -> list[bytes]:
        return [synthetic_oru(rng, f"M{next(counter):09d}") for _ in range(count)]

    parse_sample = fresh(2000)
    parse_rates = measure_rate(lambda: [hl7.parse(m.decode()) for m in parse_sample] and len(parse_sample))
    parse_only = statistics.median(parse_rates)
    _step_times(fresh(STEP_MESSAGES))  # warm-up
    step_runs = [_step_times(fresh(STEP_MESSAGES)) for _ in range(RUNS)]
    with _listener(bootstrap) as port:
        warm_until = time.perf_counter() + WARMUP_S  # warm-up: registration, both JITs, connections
        while time.perf_counter() < warm_until:
            _send_all(port, [fresh(50) for _ in range(CONNECTIONS)])
        rates = []
        for _ in range(RUNS):
            batches = [fresh(MESSAGES_PER_CONNECTION) for _ in range(CONNECTIONS)]
            started = time.perf_counter()
            sent = _send_all(port, batches)
            rates.append(sent / (time.perf_counter() - started))
        p50s, p99s = [], []
        for _ in range(RUNS):
            latencies = sorted(_latencies(port, fresh(int(OFFERED_RATE * LATENCY_SECONDS))))
            p50s.append(latencies[len(latencies) // 2] * 1000)
            p99s.append(latencies[int(len(latencies) * 0.99) - 1] * 1000)
    params: dict[str, Any] = {"message": "ORU^R01 5 OBX", "connections": CONNECTIONS}
    return [
        summarize(STAGE, "throughput", "msg/s", rates, params=params,
                  baseline="python-hl7 parse only", baseline_value=parse_only),
        summarize(STAGE, "parse_only_throughput", "msg/s", parse_rates, params={"parser": "hl7.parse"}),
        summarize(STAGE, "ack_latency_p50", "ms", p50s, params={"offered_rate": OFFERED_RATE}),
        summarize(STAGE, "ack_latency_p99", "ms", p99s, params={"offered_rate": OFFERED_RATE}),
        *(summarize(STAGE, f"step_{step}", "us/msg", [times[step] for times in step_runs],
                    params={"message": "ORU^R01 5 OBX", "cores": 1}) for step in STEPS),
    ]


STAGE_DEF = Stage(STAGE, needs_broker=True, run=run)
