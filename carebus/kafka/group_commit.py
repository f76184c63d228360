"""Atomic publishing for asyncio adapters, with group commit.

An inbound message (an HL7 v2 message, a FHIR transaction) often becomes several events that must
land whole or not at all, and its sender may be told "accepted" only once Kafka has them. A Kafka
transaction per message gives that, but one producer runs one transaction at a time, and a commit
costs a round trip to the transaction coordinator: per-message transactions would cap ingest at a
few hundred messages a second.

So requests that arrive while a transaction is being committed wait for the next one, and each
transaction carries every request queued by then (up to `max_batch` records). A request's future
resolves only after the transaction that holds it commits; if the transaction fails, every request
in it fails with `PublishError` and nothing in it becomes visible to read_committed consumers, so
each sender's retry is safe. The producer is re-created after a fatal error (fenced, timed out
while the broker was down), because librdkafka cannot recover a transactional producer from one.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import confluent_kafka

from carebus.errors import PublishError
from carebus.kafka.config import DURABLE_PRODUCER_CONFIG, KafkaConnection
from carebus.kafka.producer import Delivery, Record

__all__ = ["GroupCommitPublisher"]

logger = logging.getLogger(__name__)

DEFAULT_MAX_BATCH = 2000
DEFAULT_TIMEOUT_S = 10.0
_IDLE_WAIT_S = 0.5


@dataclass
class _Request:
    records: Sequence[Record]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Delivery]]
    deliveries: list[Delivery | None] = field(default_factory=list)


class GroupCommitPublisher:
    """Publishes each request's records atomically, batching concurrent requests into one transaction."""

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        transactional_id: str,
        max_batch: int = DEFAULT_MAX_BATCH,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        self._config: dict[str, Any] = {
            **connection.as_librdkafka_dict(),
            **DURABLE_PRODUCER_CONFIG,
            "transactional.id": transactional_id,
            # A transaction that cannot finish within the ACK bound should fail, not linger.
            "transaction.timeout.ms": max(int(timeout_s * 1000) * 3, 10_000),
            "message.timeout.ms": int(timeout_s * 1000),
            "log_level": 3,
            **(overrides or {}),
        }
        self._max_batch = max_batch
        self._timeout_s = timeout_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._producer: confluent_kafka.Producer | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="carebus-group-commit", daemon=True)
            self._thread.start()

    def close(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        """Finish what is queued, then stop."""
        if self._thread is None:
            return
        self._stopping.set()
        self._queue.put(None)
        self._thread.join(timeout_s)
        self._thread = None
        if self._producer is not None:
            # Nothing is in flight once the thread is gone; dropping the handle lets librdkafka close it.
            self._producer.flush(0)
            self._producer = None

    async def publish(self, records: Sequence[Record]) -> list[Delivery]:
        """Resolve once the transaction holding `records` has committed; raise `PublishError` otherwise."""
        if self._thread is None:
            raise RuntimeError("GroupCommitPublisher.start() was not called")
        loop = asyncio.get_running_loop()
        request = _Request(records=records, loop=loop, future=loop.create_future())
        self._queue.put(request)
        return await request.future

    # -- the publishing thread ------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._commit(batch)

    def _next_batch(self) -> list[_Request] | None:
        try:
            first = self._queue.get(timeout=_IDLE_WAIT_S)
        except queue.Empty:
            return None if self._stopping.is_set() else []
        if first is None:
            return None
        batch, size = [first], len(first.records)
        while size < self._max_batch:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                break
            if request is None:
                self._queue.put(None)  # stop after this batch
                break
            batch.append(request)
            size += len(request.records)
        return batch

    def _commit(self, batch: list[_Request]) -> None:
        started = time.monotonic()
        try:
            producer = self._ensure_producer()
            producer.begin_transaction()
            failures: list[str] = []
            for request in batch:
                request.deliveries = [None] * len(request.records)
                for index, record in enumerate(request.records):
                    self._produce(producer, record, request, index, failures)
            remaining = producer.flush(self._remaining(started))
            if failures or remaining:
                raise PublishError(batch[0].records[0].topic if batch[0].records else "?",
                                   failures[0] if failures else f"{remaining} records unacknowledged")
            producer.commit_transaction(self._remaining(started))
        except (PublishError, confluent_kafka.KafkaException) as exc:
            error = exc if isinstance(exc, PublishError) else PublishError("transaction", _error_name(exc))
            self._abort_or_reset(exc)
            for request in batch:
                request.loop.call_soon_threadsafe(_fail, request.future, error)
            return
        for request in batch:
            deliveries = [delivery for delivery in request.deliveries if delivery is not None]
            request.loop.call_soon_threadsafe(_succeed, request.future, deliveries)

    def _produce(self, producer: confluent_kafka.Producer, record: Record, request: _Request, index: int,
                 failures: list[str]) -> None:
        def on_delivery(error: confluent_kafka.KafkaError | None, message: confluent_kafka.Message) -> None:
            if error is not None:
                failures.append(error.name())
            else:
                request.deliveries[index] = Delivery(str(message.topic()), int(message.partition() or 0),
                                                     int(message.offset() or 0))

        while True:
            try:
                producer.produce(record.topic, value=record.value, key=record.key, headers=list(record.headers),
                                 on_delivery=on_delivery)
                return
            except BufferError:
                producer.poll(0.05)

    def _remaining(self, started: float) -> float:
        return max(0.1, self._timeout_s - (time.monotonic() - started))

    def _ensure_producer(self) -> confluent_kafka.Producer:
        if self._producer is None:
            producer = confluent_kafka.Producer(self._config)
            producer.init_transactions(self._timeout_s)
            self._producer = producer
        return self._producer

    def _abort_or_reset(self, exc: Exception) -> None:
        producer = self._producer
        if producer is None:
            return
        error = exc.args[0] if isinstance(exc, confluent_kafka.KafkaException) and exc.args else None
        fatal = isinstance(error, confluent_kafka.KafkaError) and (error.fatal() or not error.txn_requires_abort())
        if not fatal:
            try:
                producer.abort_transaction(self._timeout_s)
                return
            except confluent_kafka.KafkaException as abort_exc:
                logger.warning("aborting a transaction failed (%s); re-creating the producer",
                               _error_name(abort_exc))
        # Fatal, or the abort itself failed: this producer is unusable, a new one fences its epoch.
        logger.warning("transactional producer reset after %s", _error_name(exc))
        self._producer = None


def _error_name(exc: Exception) -> str:
    error = exc.args[0] if exc.args else None
    return error.name() if isinstance(error, confluent_kafka.KafkaError) else type(exc).__name__


def _succeed(future: asyncio.Future[list[Delivery]], deliveries: list[Delivery]) -> None:
    if not future.done():
        future.set_result(deliveries)


def _fail(future: asyncio.Future[list[Delivery]], error: PublishError) -> None:
    if not future.done():
        future.set_exception(error)
