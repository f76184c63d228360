"""What the processors have produced so far: normalized events per domain, copies per subscriber topic, and
dead letters per stage and reason. Read from the topics themselves (read_committed, from the beginning to
the end as of now), so it works against any cluster and needs no worker running. Only headers are read:
ids, types and reasons, never a payload."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from carebus.events import DOMAINS
from carebus.kafka.config import KafkaConnection
from carebus.publishing import DEADLETTER_HEADER_REASON
from processors.runtime import PROCESSOR_STAGES
from processors.topology import Topology

__all__ = ["DeadLetterCount", "ProcessorReport", "collect_report"]

READ_TIMEOUT_S: Final = 30.0
_POLL_S: Final = 0.5


@dataclass(frozen=True)
class DeadLetterCount:
    stage: str
    reason: str
    count: int


@dataclass(frozen=True)
class ProcessorReport:
    normalized: Mapping[str, int]
    """domain -> normalized events."""
    subscribers: Mapping[str, int]
    """subscriber topic -> copies."""
    dead_letters: tuple[DeadLetterCount, ...]
    complete: bool = True
    """False when the deadline passed before every topic was read to its end."""

    @property
    def total_normalized(self) -> int:
        return sum(self.normalized.values())


def collect_report(connection: KafkaConnection, topology: Topology, *, subscriber_topics: Iterable[str] = (),
                   timeout_s: float = READ_TIMEOUT_S) -> ProcessorReport:
    normalized = {topology.normalized(domain): domain for domain in DOMAINS}
    dead = {topology.deadletter(stage): stage for stage in PROCESSOR_STAGES}
    subscribers = list(dict.fromkeys(subscriber_topics))
    consumer = Consumer({**connection.as_librdkafka_dict(), "group.id": f"carebus-report-{uuid.uuid4().hex[:8]}",
                         "isolation.level": "read_committed", "enable.auto.commit": False, "log_level": 3})
    try:
        counts, reasons, complete = _read(consumer, [*normalized, *dead, *subscribers], timeout_s)
    finally:
        consumer.close()
    return ProcessorReport(
        normalized={domain: counts.get(topic, 0) for topic, domain in normalized.items()},
        subscribers={topic: counts.get(topic, 0) for topic in subscribers},
        dead_letters=tuple(DeadLetterCount(dead[topic], reason, n)
                           for (topic, reason), n in sorted(reasons.items())),
        complete=complete,
    )


def _read(consumer: Consumer, topics: list[str], timeout_s: float) -> tuple[Counter[str], Counter[tuple[str, str]],
                                                                            bool]:
    metadata = consumer.list_topics(timeout=10).topics
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        if topic in metadata and metadata[topic].error is None:
            for partition in metadata[topic].partitions:
                _low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
                if high > 0:
                    ends[(topic, partition)] = high
    counts: Counter[str] = Counter()
    reasons: Counter[tuple[str, str]] = Counter()
    if not ends:
        return counts, reasons, True
    consumer.assign([TopicPartition(t, p, OFFSET_BEGINNING) for t, p in ends])
    pending = dict(ends)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=1000, timeout=_POLL_S):
            if message.error() is not None:
                continue
            topic, partition = message.topic(), message.partition()
            counts[topic] += 1
            headers = dict(message.headers() or [])
            if DEADLETTER_HEADER_REASON in headers:
                reasons[(topic, headers[DEADLETTER_HEADER_REASON].decode(errors="replace"))] += 1
            if message.offset() + 1 >= pending.get((topic, partition), 0):
                pending.pop((topic, partition), None)
        for (topic, partition) in list(pending):  # transaction markers can sit at the end: check positions
            position = consumer.position([TopicPartition(topic, partition)])[0].offset
            if position >= pending[(topic, partition)]:
                pending.pop((topic, partition))
    return counts, reasons, not pending
