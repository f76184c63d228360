"""The durable producer: acks=all, idempotent, and a synchronous publish that raises on any failure.

`publish()` returns only once the broker has acknowledged every record, which is what lets an
adapter send a positive ACK. `publish_atomically()` wraps the records in a Kafka transaction, so
one inbound message that becomes several events lands whole or not at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka

from carebus.errors import ConfigError, PublishError
from carebus.kafka.config import DURABLE_PRODUCER_CONFIG, KafkaConnection

__all__ = ["DEFAULT_PUBLISH_TIMEOUT_S", "Delivery", "DurableProducer", "Record"]

logger = logging.getLogger(__name__)

DEFAULT_PUBLISH_TIMEOUT_S = 10.0
_POLL_INTERVAL_S = 0.05
_FORBIDDEN_OVERRIDES = frozenset(DURABLE_PRODUCER_CONFIG) - {"compression.type", "linger.ms", "partitioner"}


@dataclass(frozen=True)
class Record:
    """One record to publish. Headers carry coordinates (reason codes, ids), never PHI."""

    topic: str
    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int | None = field(default=None)


@dataclass(frozen=True)
class Delivery:
    """Where the broker put a record."""

    topic: str
    partition: int
    offset: int


DeliveryCallback = Callable[[confluent_kafka.KafkaError | None, confluent_kafka.Message], None]


class DurableProducer:
    """confluent-kafka's Producer with carebus's guarantees pinned; built lazily on first use."""

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        client_id: str = "carebus",
        transactional_id: str | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        overrides = dict(overrides or {})
        pinned = _FORBIDDEN_OVERRIDES & overrides.keys()
        if pinned:
            raise ConfigError(f"producer settings {sorted(pinned)} are fixed by carebus's delivery guarantee")
        self._config: dict[str, Any] = {
            **connection.as_librdkafka_dict(),
            **DURABLE_PRODUCER_CONFIG,
            "client.id": client_id,
            **overrides,
        }
        if transactional_id is not None:
            self._config["transactional.id"] = transactional_id
        self._transactional = transactional_id is not None
        self._producer: confluent_kafka.Producer | None = None
        self._lock = threading.Lock()

    @property
    def client(self) -> confluent_kafka.Producer:
        if self._producer is None:
            with self._lock:
                if self._producer is None:
                    producer = confluent_kafka.Producer(self._config)
                    if self._transactional:
                        producer.init_transactions(DEFAULT_PUBLISH_TIMEOUT_S)
                    self._producer = producer
        return self._producer

    def produce(self, record: Record, on_delivery: DeliveryCallback | None = None) -> None:
        """Queue one record; `on_delivery` fires from `poll()`/`flush()` once the broker answers."""
        kwargs: dict[str, Any] = {"key": record.key, "value": record.value, "headers": list(record.headers)}
        if record.partition is not None:
            kwargs["partition"] = record.partition
        if on_delivery is not None:
            kwargs["on_delivery"] = on_delivery
        while True:
            try:
                self.client.produce(record.topic, **kwargs)
                return
            except BufferError:
                # The local queue is full: serve delivery reports to make room, then try again.
                self.client.poll(_POLL_INTERVAL_S)

    def publish(self, records: Sequence[Record], *, timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S) -> list[Delivery]:
        """Publish `records` and return once every one is acknowledged; raise `PublishError` otherwise."""
        if self._transactional:
            return self.publish_atomically(records, timeout_s=timeout_s)
        return self._produce_and_wait(records, timeout_s)

    def publish_atomically(
        self, records: Sequence[Record], *, timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S
    ) -> list[Delivery]:
        """Publish `records` in one Kafka transaction: all become visible to read_committed readers, or none."""
        if not self._transactional:
            raise ConfigError("publish_atomically needs a producer built with a transactional_id")
        producer = self.client
        producer.begin_transaction()
        try:
            deliveries = self._produce_and_wait(records, timeout_s)
            producer.commit_transaction(timeout_s)
        except (PublishError, confluent_kafka.KafkaException) as exc:
            self._abort(producer, timeout_s)
            if isinstance(exc, PublishError):
                raise
            topic = records[0].topic if records else "?"
            raise PublishError(topic, _describe(exc)) from exc
        return deliveries

    def flush(self, timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S) -> int:
        """Wait for queued records; return how many are still undelivered."""
        if self._producer is None:
            return 0
        return int(self._producer.flush(timeout_s))

    def poll(self, timeout_s: float = 0.0) -> int:
        return 0 if self._producer is None else int(self._producer.poll(timeout_s))

    def close(self, timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S) -> None:
        remaining = self.flush(timeout_s)
        if remaining:
            logger.warning("producer closed with %d undelivered records", remaining)
        self._producer = None

    def _produce_and_wait(self, records: Sequence[Record], timeout_s: float) -> list[Delivery]:
        results: list[Delivery | None] = [None] * len(records)
        failures: list[tuple[str, str]] = []

        def remember(index: int) -> DeliveryCallback:
            def callback(error: confluent_kafka.KafkaError | None, message: confluent_kafka.Message) -> None:
                if error is not None:
                    failures.append((str(message.topic()), error.name()))
                else:
                    results[index] = Delivery(str(message.topic()), int(message.partition() or 0),
                                              int(message.offset() or 0))
            return callback

        for index, record in enumerate(records):
            self.produce(record, remember(index))
        deadline = time.monotonic() + timeout_s
        producer = self.client
        while any(result is None for result in results) and not failures:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                missing = sum(result is None for result in results)
                raise PublishError(records[0].topic, f"{missing} of {len(records)} records unacknowledged "
                                                     f"after {timeout_s:.1f}s")
            # flush, not poll: the caller is waiting, so don't sit out linger.ms before sending.
            producer.flush(min(remaining, _POLL_INTERVAL_S))
        if failures:
            topic, reason = failures[0]
            raise PublishError(topic, reason)
        return [result for result in results if result is not None]

    @staticmethod
    def _abort(producer: confluent_kafka.Producer, timeout_s: float) -> None:
        try:
            producer.abort_transaction(timeout_s)
        except confluent_kafka.KafkaException as exc:
            logger.warning("aborting a transaction failed: %s", _describe(exc))


def _describe(exc: confluent_kafka.KafkaException) -> str:
    """A broker error's code name: librdkafka's text can quote nothing sensitive, but keep it short."""
    error = exc.args[0] if exc.args else None
    if isinstance(error, confluent_kafka.KafkaError):
        return error.name()
    return type(exc).__name__
