"""faust-streaming (processors.app) against the session's real Kafka 4.1 broker.

Each test runs the worker in `faust_workers/counter.py` as a subprocess (a fresh app id, fresh
topics), feeds it over Kafka and reads its output topic back with librdkafka consumers. Nothing is
mocked and no sleep stands in for readiness: every wait polls a real condition (records read,
committed offsets, end offsets) against a deadline, and a timeout prints the worker's log tail.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, OFFSET_INVALID, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

WORKER_SCRIPT = Path(__file__).resolve().parent / "faust_workers" / "counter.py"
PARTITIONS = 2
KEYS = tuple(f"patient-{n}" for n in range(6))
DEADLINE_S = 45.0
POLL_S = 0.2
SESSION_TIMEOUT_S = 6.0  # the broker's default group.min.session.timeout.ms: a SIGKILLed member's lease
NO_TIMED_COMMIT_S = 600.0  # longer than any test: only commit_every (or shutdown) commits

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


# --- the worker subprocess -------------------------------------------------------------------


class FaustWorker:
    """One faust app id; `start()` runs a fresh worker process for it, logging to a file."""

    def __init__(self, *, bootstrap: str, app_id: str, source: str, output: str, workdir: Path,
                 extra_args: Iterable[str] = ()) -> None:
        self.app_id = app_id
        self.command = [
            sys.executable, str(WORKER_SCRIPT), "--broker", bootstrap, "--app", app_id,
            "--source", source, "--output", output, "--partitions", str(PARTITIONS),
            "--datadir", str(workdir / "data"), "--session-timeout", str(SESSION_TIMEOUT_S), *extra_args,
        ]
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "none.log"
        self._log: IO[bytes] | None = None
        self.runs = 0

    def start(self, *extra_args: str) -> FaustWorker:
        assert self.process is None or self.process.poll() is not None, "worker already running"
        self._close_log()
        self.runs += 1
        self.log_path = self.workdir / f"{self.app_id}.run{self.runs}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen([*self.command, *extra_args], stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def terminate(self, timeout_s: float = 30.0) -> int:
        """SIGTERM: faust's graceful shutdown (final commit, LeaveGroup). Returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"worker ignored SIGTERM for {timeout_s}s\n{self.tail()}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

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

    def tail(self, lines: int = 60) -> str:
        status = "not started" if self.process is None else f"exit code {self.process.poll()}"
        text = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- worker {self.app_id} run {self.runs} ({status}), {self.log_path}:\n{text}"


@pytest.fixture
def faust_worker(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Callable[..., FaustWorker]]:
    workers: list[FaustWorker] = []

    def make(source: str, output: str, *extra_args: str) -> FaustWorker:
        worker = FaustWorker(bootstrap=kafka_bootstrap, app_id=f"carebus-faust-{uuid.uuid4().hex[:8]}",
                             source=source, output=output, workdir=tmp_path, extra_args=extra_args)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


# --- Kafka helpers -------------------------------------------------------------------------------


def wait_until(condition: Callable[[], Any], what: str, worker: FaustWorker, timeout_s: float = DEADLINE_S) -> Any:
    """Poll `condition` until it returns something truthy; fail with the worker's log otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}\n{worker.tail()}")
        time.sleep(POLL_S)


def inputs(ids: Iterable[int]) -> list[tuple[str, dict[str, Any]]]:
    return [(KEYS[n % len(KEYS)], {"id": n}) for n in ids]


def expected_counts(ids: Iterable[int]) -> dict[str, int]:
    return dict(Counter(KEYS[n % len(KEYS)] for n in ids))


def send(bootstrap: str, topic: str, records: Iterable[tuple[str, dict[str, Any]]]) -> None:
    # murmur2 is the Java client's and aiokafka's partitioner, so a key lands on the partition faust
    # expects for it (librdkafka's own default, consistent_random, is CRC32).
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random",
                         "enable.idempotence": True, "log_level": 3})
    for key, value in records:
        producer.produce(topic, key=key.encode(), value=json.dumps(value).encode())
    assert producer.flush(30) == 0, "records not delivered"


def end_offsets(consumer: Consumer, topic: str) -> dict[int, int]:
    """High watermarks; for a read_committed consumer librdkafka returns the last stable offset."""
    return {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)[1]
            for p in range(PARTITIONS)}


@dataclass(frozen=True)
class Output:
    partition: int
    offset: int
    value: dict[str, Any]


class TopicReader:
    """Reads every partition of a topic from the beginning with one isolation level."""

    def __init__(self, bootstrap: str, topic: str, isolation: str) -> None:
        self.topic = topic
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap, "group.id": f"reader-{uuid.uuid4().hex[:8]}",
            "isolation.level": isolation, "enable.auto.commit": False, "log_level": 3,
        })
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        self.records: list[Output] = []

    def poll(self) -> None:
        for message in self.consumer.consume(num_messages=1000, timeout=POLL_S):
            assert message.error() is None, message.error()
            self.records.append(Output(message.partition(), message.offset(), json.loads(message.value())))

    def read_until(self, condition: Callable[[list[Output]], bool], what: str, worker: FaustWorker) -> list[Output]:
        def check() -> bool:
            self.poll()
            return condition(self.records)

        wait_until(check, f"{what} on {self.topic}", worker)
        return self.records

    def counts(self) -> list[dict[str, Any]]:
        return [r.value for r in self.records if r.value["kind"] == "count"]

    def states(self, pid: int) -> dict[str, dict[str, Any]]:
        return {r.value["key"]: r.value for r in self.records
                if r.value["kind"] == "state" and r.value["pid"] == pid}

    def end_offsets(self) -> dict[int, int]:
        return end_offsets(self.consumer, self.topic)

    def close(self) -> None:
        self.consumer.close()


@pytest.fixture
def reader(kafka_bootstrap: str) -> Iterator[Callable[[str, str], TopicReader]]:
    readers: list[TopicReader] = []

    def make(topic: str, isolation: str = "read_committed") -> TopicReader:
        readers.append(TopicReader(kafka_bootstrap, topic, isolation))
        return readers[-1]

    yield make
    for made in readers:
        made.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "log_level": 3})
    try:
        tps = consumer.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return {tp.partition: tp.offset for tp in tps}
    finally:
        consumer.close()


def fully_committed(bootstrap: str, group: str, topic: str) -> bool:
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": f"probe-{uuid.uuid4().hex[:8]}", "log_level": 3})
    try:
        return committed_offsets(bootstrap, group, topic) == end_offsets(probe, topic)
    finally:
        probe.close()


def list_transactions(bootstrap: str) -> dict[str, str]:
    """transactional.id -> state, from the broker's ListTransactions API (KIP-664).

    confluent-kafka's AdminClient has no transaction APIs, so this sends ListTransactions v0 through
    aiokafka's protocol classes (the request and response schemas are apache/kafka's
    ListTransactionsRequest.json / ListTransactionsResponse.json, version 0).
    """
    from aiokafka.client import AIOKafkaClient
    from aiokafka.protocol.api import Request, RequestStruct, Response
    from aiokafka.protocol.types import CompactArray, CompactString, Int16, Int32, Int64, Schema, TaggedFields

    class ListTransactionsResponseV0(Response):
        API_KEY = 66
        API_VERSION = 0
        SCHEMA = Schema(
            ("throttle_time_ms", Int32), ("error_code", Int16),
            ("unknown_state_filters", CompactArray(CompactString("utf-8"))),
            ("transaction_states", CompactArray(
                ("transactional_id", CompactString("utf-8")), ("producer_id", Int64),
                ("transaction_state", CompactString("utf-8")), ("tags", TaggedFields))),
            ("tags", TaggedFields),
        )

    class ListTransactionsRequestV0(RequestStruct):
        API_KEY = 66
        API_VERSION = 0
        FLEXIBLE_VERSION = True
        RESPONSE_TYPE = ListTransactionsResponseV0
        SCHEMA = Schema(("state_filters", CompactArray(CompactString("utf-8"))),
                        ("producer_id_filters", CompactArray(Int64)), ("tags", TaggedFields))

    class ListTransactionsRequest(Request[ListTransactionsRequestV0]):
        API_KEY = 66

        def build(self, request_struct_class: type[ListTransactionsRequestV0]) -> ListTransactionsRequestV0:
            return request_struct_class([], [], {})

    async def query() -> dict[str, str]:
        client = AIOKafkaClient(bootstrap_servers=bootstrap)
        await client.bootstrap()
        try:
            states: dict[str, str] = {}
            for broker in client.cluster.brokers():
                response = (await client.send(broker.nodeId, ListTransactionsRequest())).to_object()
                assert response["error_code"] == 0, response
                states.update({t["transactional_id"]: t["transaction_state"] for t in response["transaction_states"]})
            return states
        finally:
            await client.close()

    return asyncio.run(query())


def app_transactions(bootstrap: str, app_id: str) -> dict[str, str]:
    return {tid: state for tid, state in list_transactions(bootstrap).items() if tid.startswith(f"{app_id}-")}


def topic_config(admin: AdminClient, topic: str, name: str) -> str:
    resource = ConfigResource(ConfigResource.Type.TOPIC, topic)
    config = admin.describe_configs([resource])[resource].result(timeout=30)
    return str(config[name].value)


# --- 1. tables and their changelog ------------------------------------------------------------------


def test_faust_creates_the_table_changelog_topic_compacted(
    kafka_bootstrap: str, topic_factory: Callable[..., str], faust_worker: Callable[..., FaustWorker],
    reader: Callable[..., TopicReader],
) -> None:
    source, output = (topic_factory(prefix, partitions=PARTITIONS) for prefix in ("faust-src", "faust-out"))
    worker = faust_worker(source, output).start()
    ids = range(60)
    send(kafka_bootstrap, source, [*inputs(ids), *((key, {"op": "get"}) for key in KEYS)])

    out = reader(output)
    out.read_until(lambda _: len(out.states(worker.pid)) == len(KEYS), "a state reply for every key", worker)

    assert {key: state["count"] for key, state in out.states(worker.pid).items()} == expected_counts(ids)
    changelog = f"{worker.app_id}-counts-changelog"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap, "log_level": 3})
    topics = admin.list_topics(timeout=30).topics
    assert changelog in topics, f"{changelog} missing: {sorted(t for t in topics if worker.app_id in t)}"
    assert len(topics[changelog].partitions) == PARTITIONS
    assert topic_config(admin, changelog, "cleanup.policy") == "compact"
    probe = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "probe", "log_level": 3})
    try:  # one changelog record per increment (at-least-once: no transaction markers)
        wait_until(lambda: sum(end_offsets(probe, changelog).values()) == len(ids), "every increment in the changelog",
                   worker)
    finally:
        probe.close()
    assert worker.terminate() == 0, worker.tail()


# --- 2. recovery from the changelog --------------------------------------------------------------


@pytest.mark.parametrize("stop", ["SIGTERM", "SIGKILL"])
def test_restarted_worker_recovers_the_table_from_the_changelog(
    stop: str, kafka_bootstrap: str, topic_factory: Callable[..., str],
    faust_worker: Callable[..., FaustWorker], reader: Callable[..., TopicReader],
) -> None:
    source, output = (topic_factory(prefix, partitions=PARTITIONS) for prefix in ("faust-src", "faust-out"))
    worker = faust_worker(source, output, "--commit-interval", "0.5").start()
    ids = range(300)
    send(kafka_bootstrap, source, inputs(ids))
    changelog = f"{worker.app_id}-counts-changelog"
    probe = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": "probe", "log_level": 3})
    try:
        # At-least-once: only what is committed is safe from replay, so stop once every offset is
        # committed and every increment has reached the changelog.
        wait_until(lambda: fully_committed(kafka_bootstrap, worker.app_id, source), "all source offsets committed",
                   worker)
        wait_until(lambda: sum(end_offsets(probe, changelog).values()) == len(ids), "every increment in the changelog",
                   worker)
    finally:
        probe.close()
    first_pid = worker.pid
    if stop == "SIGTERM":
        assert worker.terminate() == 0, worker.tail()
    else:
        worker.kill()

    worker.start()  # same app id, new process, memory:// store: the table exists only in the changelog
    send(kafka_bootstrap, source, [(key, {"op": "get"}) for key in KEYS])
    out = reader(output)
    out.read_until(lambda _: len(out.states(worker.pid)) == len(KEYS), "a state reply for every key", worker)

    states = out.states(worker.pid)
    assert worker.pid != first_pid
    assert {key: state["count"] for key, state in states.items()} == expected_counts(ids), worker.tail()
    assert {state["processed"] for state in states.values()} == {0}, "the restarted worker re-read source records"
    assert worker.terminate() == 0, worker.tail()


# --- 3. exactly-once -----------------------------------------------------------------------------------


def test_exactly_once_commits_through_transactions_and_survives_sigkill(
    kafka_bootstrap: str, topic_factory: Callable[..., str], faust_worker: Callable[..., FaustWorker],
    reader: Callable[..., TopicReader],
) -> None:
    source, output = (topic_factory(prefix, partitions=PARTITIONS) for prefix in ("faust-src", "faust-out"))
    batch_a, batch_b = range(120), range(120, 240)
    # First run: no timed commits; the first commit comes when batch B's first record arrives
    # after all of batch A was acked (commit_every = len(A)), so A is committed and B stays open.
    worker = faust_worker(source, output, "--guarantee", "exactly_once")
    worker.start("--commit-interval", str(NO_TIMED_COMMIT_S), "--commit-every", str(len(batch_a)))
    committed, uncommitted = reader(output, "read_committed"), reader(output, "read_uncommitted")

    send(kafka_bootstrap, source, inputs(batch_a))
    uncommitted.read_until(lambda _: len(uncommitted.counts()) == len(batch_a), "batch A's outputs", worker)
    # Written, but inside open transactions: the last stable offset has not moved.
    assert committed.end_offsets() == dict.fromkeys(range(PARTITIONS), 0)
    committed.poll()
    assert committed.records == []
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap, "log_level": 3})
    assert "__transaction_state" in admin.list_topics(timeout=30).topics
    transactions = app_transactions(kafka_bootstrap, worker.app_id)
    assert sorted(transactions.values()).count("Ongoing") == PARTITIONS, transactions

    send(kafka_bootstrap, source, inputs(batch_b))
    committed.read_until(lambda records: len(records) == len(batch_a), "batch A committed", worker)
    uncommitted.read_until(lambda _: len(uncommitted.counts()) == len(batch_a) + len(batch_b), "batch B's outputs",
                           worker)
    assert {v["id"] for v in committed.counts()} == set(batch_a)
    # Per output partition: A's records, then one commit marker per source-partition transaction
    # that wrote there; B's records sit after them in transactions still open.
    a_outputs = [r for r in uncommitted.records if r.value["id"] in batch_a]
    b_outputs = [r for r in uncommitted.records if r.value["id"] in batch_b]
    for p in range(PARTITIONS):
        a_here = [r for r in a_outputs if r.partition == p]
        markers = len({r.value["src"] for r in a_here})
        assert committed.end_offsets()[p] == len(a_here) + markers
        assert uncommitted.end_offsets()[p] == len(a_here) + markers + sum(r.partition == p for r in b_outputs)

    worker.kill()  # SIGKILL with batch B processed but uncommitted
    killed_pid = worker.pid
    assert sorted(app_transactions(kafka_bootstrap, worker.app_id).values()).count("Ongoing") == PARTITIONS

    worker.start("--commit-interval", "0.5")  # fences the old producers, aborts B's transactions, replays B
    all_ids = set(batch_a) | set(batch_b)
    committed.read_until(lambda _: {v["id"] for v in committed.counts()} == all_ids, "every id committed", worker)
    # A state reply per key, sent after everything else: once read, so is every count before it.
    send(kafka_bootstrap, source, [(key, {"op": "get"}) for key in KEYS])
    for seen_by in (committed, uncommitted):
        seen_by.read_until(lambda _, r=seen_by: len(r.states(worker.pid)) == len(KEYS), "a state reply per key",
                           worker)
    assert {r.partition for r in committed.records if r.value["kind"] == "state"} == set(range(PARTITIONS))

    # Exactly once for read_committed, end to end: every input id once, and per key the counts run
    # 1..n with no gap or repeat (the table, its changelog and the offsets moved together).
    committed_ids = Counter(v["id"] for v in committed.counts())
    assert set(committed_ids) == all_ids
    assert [id_ for id_, n in committed_ids.items() if n > 1] == [], "duplicates for read_committed"
    per_key: dict[str, list[int]] = defaultdict(list)
    for value in sorted(committed.counts(), key=lambda v: v["id"]):
        per_key[value["key"]].append(value["count"])
    assert {key: counts for key, counts in per_key.items() if counts != list(range(1, len(counts) + 1))} == {}
    # read_uncommitted saw batch B twice: the killed worker's attempt was written, then aborted.
    seen = Counter(v["id"] for v in uncommitted.counts())
    assert {id_ for id_, n in seen.items() if n == 2} == set(batch_b)
    assert {id_ for id_, n in seen.items() if n == 1} == set(batch_a)
    # The restarted worker recovered A's counts from the changelog (skipping B's aborted
    # writes) and processed batch B only.
    states = committed.states(worker.pid)
    assert {key: s["count"] for key, s in states.items()} == expected_counts(all_ids)
    assert max(s["processed"] for s in states.values()) <= len(batch_b)
    assert worker.pid != killed_pid
    assert "commit skipped" not in worker.log_text(), worker.tail()
    assert worker.terminate() == 0, worker.tail()
    assert "Ongoing" not in app_transactions(kafka_bootstrap, worker.app_id).values()


def test_stock_faust_exactly_once_sends_outputs_outside_the_transaction(
    kafka_bootstrap: str, topic_factory: Callable[..., str], faust_worker: Callable[..., FaustWorker],
    reader: Callable[..., TopicReader],
) -> None:
    """faust-streaming/faust#177, the reason for processors.app's first exactly-once fix.

    A plain faust App with processing_guarantee="exactly_once" and no commit yet: its output is
    already visible to read_committed consumers, so a crash would replay it. When this test
    fails, faust has fixed the bug and processors.app's `_EosTransactionManager` can go.
    """
    source, output = (topic_factory(prefix, partitions=PARTITIONS) for prefix in ("faust-src", "faust-out"))
    worker = faust_worker(source, output, "--guarantee", "exactly_once", "--stock")
    worker.start("--commit-interval", str(NO_TIMED_COMMIT_S))
    ids = range(20)
    send(kafka_bootstrap, source, inputs(ids))

    committed = reader(output, "read_committed")
    committed.read_until(lambda _: len(committed.counts()) == len(ids), "outputs visible to read_committed", worker)
    nothing_committed = dict.fromkeys(range(PARTITIONS), OFFSET_INVALID)
    assert committed_offsets(kafka_bootstrap, worker.app_id, source) == nothing_committed
    worker.kill()
