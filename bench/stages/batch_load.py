"""batch_load: a synthetic lab-results CSV through `carebus batch load`'s path onto a real broker.

carebus's path: sha256 of the file, streaming CSV, per-row pydantic validation, grouping rows into
reports, mapping to `result.*` events, Avro (Confluent wire format), one Kafka transaction per batch
through KafkaEventPublisher + GroupCommitPublisher, one SQLite ledger commit per batch. Baselines,
measured in the same run on the same file:

- `throughput`: confluent-kafka producing each CSV line as it is (acks=all, idempotent, lz4; no parse,
  no transaction): the transport's ceiling for these rows.
- `parse_map_throughput`: the same load in this process with a publisher that only serializes (no broker),
  next to the csv module reading the file: the price of validation, mapping and Avro.
- `peak_rss`: each timed load runs in a fresh process (spawned), which reports its own peak RSS
  (`resource.getrusage`). `peak_rss_small` is the same for a file a tenth the size (at least five batches,
  so the pipeline reaches its steady state): equal values mean memory does not grow with the file.

Rows: `CAREBUS_BENCH_BATCH_ROWS` (default 20,000, about 4.5 rows per report: the stage then takes under a
minute on two busy cores); runs: `CAREBUS_BENCH_BATCH_RUNS` (default 3). Every run loads into a
fresh topic with a fresh ledger; the stage deletes its topics and files afterwards.
"""

from __future__ import annotations

import asyncio
import csv
import os
import random
import resource
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Final

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from bench._harness import Result, Stage, summarize
from carebus.kafka.config import DURABLE_PRODUCER_CONFIG, KafkaConnection
from carebus.kafka.group_commit import GroupCommitPublisher
from carebus.publishing import KafkaEventPublisher
from carebus.registry.in_process import InProcessRegistry
from producers.batch.lab_results import COLUMNS
from producers.batch.ledger import SqliteLedger
from producers.batch.loader import BatchLoader

STAGE: Final = "batch_load"
ROWS_ENV: Final = "CAREBUS_BENCH_BATCH_ROWS"
RUNS_ENV: Final = "CAREBUS_BENCH_BATCH_RUNS"
DEFAULT_ROWS: Final = 20_000
DEFAULT_RUNS: Final = 3
SMALL_FILE_MIN_BATCHES: Final = 5
SEED: Final = 20240314
BATCH_ROWS: Final = 2000
TOPIC_PARTITIONS: Final = 6

# (LOINC code, display, units, low, high, decimals): a few common chemistry and haematology tests.
TESTS: Final[Sequence[tuple[str, str, str, float, float, int]]] = (
    ("2345-7", "Glucose [Mass/volume] in Serum or Plasma", "mg/dL", 70, 99, 0),
    ("2823-3", "Potassium [Moles/volume] in Serum or Plasma", "mmol/L", 3.5, 5.1, 1),
    ("2951-2", "Sodium [Moles/volume] in Serum or Plasma", "mmol/L", 136, 145, 0),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", 0.6, 1.3, 2),
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 12, 17.5, 1),
    ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL", 4.5, 11, 1),
    ("777-3", "Platelets [#/volume] in Blood by Automated count", "10*3/uL", 150, 400, 0),
    ("1742-6", "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma", "U/L", 7, 56, 0),
)
PANEL: Final = ("24323-8", "Comprehensive metabolic 2000 panel - Serum or Plasma")
REPORT_COLUMNS: Final = (
    "patient_id", "patient_id_system", "report_id", "order_number", "accession_number", "report_code",
    "report_code_system", "report_display", "report_status", "issued_at", "performing_lab",
)
OBSERVATION_COLUMNS: Final = (
    "test_code", "test_code_system", "test_display", "value_type", "value", "value_system", "units",
    "reference_range", "abnormal_flag", "status", "observed_at",
)


def generate_lab_results(path: Path, rows: int, *, seed: int = SEED) -> int:
    """Write a seeded synthetic lab-results CSV of `rows` rows, streaming; return its size in bytes.
    Reports have 1 to 8 observations (4.5 on average); about a fifth of the values are out of range."""
    if COLUMNS[:11] != REPORT_COLUMNS or COLUMNS[11:] != OBSERVATION_COLUMNS:
        raise RuntimeError("the lab-results layout changed: update the generator's column lists")
    rng = random.Random(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(COLUMNS)
        written, report = 0, 0
        while written < rows:
            report += 1
            size = min(rng.randint(1, len(TESTS)), rows - written)
            observed = start + timedelta(minutes=7 * report)
            observed_at = observed.isoformat()
            common = [f"BENCH-MRN-{rng.randrange(50_000):06d}", "urn:oid:2.16.840.1.113883.19.5.99999.1",
                      f"BENCH-R-{report:09d}", f"BENCH-PLAC-{report:09d}", f"BENCH-ACC-{report:09d}", PANEL[0], "LN",
                      PANEL[1], "", (observed + timedelta(hours=2)).isoformat(), "Bench Lab"]
            for code, display, units, low, high, decimals in rng.sample(TESTS, size):
                value = round(rng.uniform(low * 0.8, high * 1.2), decimals)
                flag = "H" if value > high else "L" if value < low else "N"
                writer.writerow([*common, code, "LN", display, "", value, "", units, f"{low}-{high}", flag, "F",
                                 observed_at])
            written += size
    return path.stat().st_size


class _SerializeOnly:
    """An EventPublisher that serializes like KafkaEventPublisher and sends nothing."""

    def __init__(self) -> None:
        self._publisher = KafkaEventPublisher(None, InProcessRegistry())  # type: ignore[arg-type]

    async def publish(self, events: Sequence[Any]) -> list[Any]:
        self._publisher.to_records(events)
        return []


class _CountingDeadLetters:
    def __init__(self) -> None:
        self.count = 0

    async def publish(self, letter: Any) -> None:
        self.count += 1


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _load_once(csv_path: str, bootstrap: str | None, topic: str | None, work_dir: str) -> dict[str, float]:
    """One timed load in this (fresh) process; returns rows, events, seconds and the process's peak RSS."""
    transport = None
    if bootstrap is None or topic is None:
        publisher: Any = _SerializeOnly()
    else:
        transport = GroupCommitPublisher(KafkaConnection(bootstrap), transactional_id=f"bench-{uuid.uuid4().hex}")
        transport.start()
        target = topic
        publisher = KafkaEventPublisher(transport, InProcessRegistry(), topic_for=lambda _domain: target)
    try:
        loader = BatchLoader(publisher=publisher, dead_letters=_CountingDeadLetters(),
                             ledger=SqliteLedger(Path(work_dir) / f"ledger-{uuid.uuid4().hex}.sqlite3"),
                             batch_rows=BATCH_ROWS)
        warmup = Path(work_dir) / f"warmup-{uuid.uuid4().hex}.csv"
        generate_lab_results(warmup, 50, seed=uuid.uuid4().int)  # connects, registers, inits the transaction
        asyncio.run(loader.load(warmup))
        started = time.perf_counter()
        summary = asyncio.run(loader.load(Path(csv_path)))
        elapsed = time.perf_counter() - started
    finally:
        if transport is not None:
            transport.close()
    return {"rows": summary.rows, "events": summary.events, "seconds": elapsed, "peak_rss_mb": _peak_rss_mb()}


def _in_fresh_process(csv_path: Path, bootstrap: str | None, topic: str | None, work_dir: Path) -> dict[str, float]:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_load_once, str(csv_path), bootstrap, topic, str(work_dir)).result()


def _raw_produce_rate(csv_path: Path, bootstrap: str, topic: str) -> float:
    """Baseline rows/s: each CSV line produced as it is (acks=all, idempotent), then flushed. The producer is
    connected and warmed with one record first, as the loads are, so start-up does not count."""
    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, **DURABLE_PRODUCER_CONFIG, "log_level": 3})
    producer.produce(topic, value=b"warm-up")
    producer.flush(30)
    rows = 0
    started = time.perf_counter()
    with csv_path.open("rb") as file:
        next(file)
        for line in file:
            while True:
                try:
                    producer.produce(topic, value=line)
                    break
                except BufferError:
                    producer.poll(0.05)
            rows += 1
    if producer.flush(120):
        raise RuntimeError("baseline produce did not finish")
    return rows / (time.perf_counter() - started)


def _csv_parse(csv_path: Path) -> int:
    with csv_path.open(newline="", encoding="utf-8") as file:
        return sum(1 for _ in csv.reader(file)) - 1


def _rates(samples: list[dict[str, float]]) -> list[float]:
    return [sample["rows"] / sample["seconds"] for sample in samples]


def run(bootstrap: str | None) -> list[Result]:
    if bootstrap is None:
        raise RuntimeError("batch_load needs a broker")
    rows = int(os.environ.get(ROWS_ENV, DEFAULT_ROWS))
    runs = int(os.environ.get(RUNS_ENV, DEFAULT_RUNS))
    small_rows = min(rows, max(rows // 10, SMALL_FILE_MIN_BATCHES * BATCH_ROWS))
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 3})
    topics: list[str] = []

    def fresh_topic() -> str:
        name = f"bench-batch-{uuid.uuid4().hex[:12]}"
        admin.create_topics([NewTopic(name, TOPIC_PARTITIONS, 1)])[name].result(timeout=30)
        topics.append(name)
        return name

    with tempfile.TemporaryDirectory(prefix="carebus-bench-batch-") as temp:
        work = Path(temp)
        full, smaller = work / "lab-results.csv", work / "lab-results-small.csv"
        size = generate_lab_results(full, rows)
        small_size = generate_lab_results(smaller, small_rows)
        try:
            loads = [_in_fresh_process(full, bootstrap, fresh_topic(), work) for _ in range(runs)]
            small = _in_fresh_process(smaller, bootstrap, fresh_topic(), work)
            offline = [_load_once(str(full), None, None, str(work)) for _ in range(runs)]
            raw = [_raw_produce_rate(full, bootstrap, fresh_topic()) for _ in range(runs)]
            parse = []
            for _ in range(runs):
                started = time.perf_counter()
                parse.append(_csv_parse(full) / (time.perf_counter() - started))
        finally:
            if topics:
                for future in admin.delete_topics(topics).values():
                    future.result(timeout=30)

    events = int(loads[0]["events"])
    params: dict[str, Any] = {"rows": rows, "events": events, "file_mb": round(size / 2**20, 1),
                              "batch_rows": BATCH_ROWS, "layout": "lab-results"}
    raw_rate = summarize(STAGE, "raw", "rows/s", raw).value
    parse_rate = summarize(STAGE, "raw", "rows/s", parse).value
    return [
        summarize(STAGE, "throughput", "rows/s", _rates(loads), params=params,
                  baseline="confluent-kafka produce of the raw CSV lines (acks=all, idempotent, no parse)",
                  baseline_value=raw_rate),
        summarize(STAGE, "parse_map_throughput", "rows/s", _rates(offline), params=params,
                  baseline="csv.reader over the same file", baseline_value=parse_rate),
        summarize(STAGE, "peak_rss", "MB", [sample["peak_rss_mb"] for sample in loads], params=params),
        summarize(STAGE, "peak_rss_small", "MB", [small["peak_rss_mb"]],
                  params={**params, "rows": int(small["rows"]), "events": int(small["events"]),
                          "file_mb": round(small_size / 2**20, 1)}),
    ]


STAGE_DEF = Stage(STAGE, needs_broker=True, run=run)
