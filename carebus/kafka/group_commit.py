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

Transactions run on `lanes` producers at once (transactional ids `<id>`, `<id>-1`, ...), each on its
own thread, taking the next requests from one queue. Most of a transaction's time is waiting for
the broker (partitions added to the transaction, records acknowledged, the commit), and with one
producer the requests that arrived meanwhile waited for all of it; and the next transaction on the
same producer could start before the broker had finished the last one's commit markers, which
librdkafka answers by retrying after 20 ms. With two lanes one commits while the other fills.
Requests in flight at the same time may now land in either order, as they already could when one
of them failed and its sender retried; a request made after another has resolved lands after it,
so a sender that waits for each answer (MLLP, a FHIR client) keeps its order.
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
DEFAULT_LANES = 2
_IDLE_WAIT_S = 0.5


@dataclass
class _Request:
    records: Sequence[Record]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[list[Delivery]]
    deliveries: list[Delivery | None] = field(default_factory=list)


@dataclass
class _Lane:
    """One transactional producer and the thread that drives it."""

    transactional_id: str
    thread: threading.Thread | None = None
    producer: confluent_kafka.Producer | None = None


class GroupCommitPublisher:
    """Publishes each request's records atomically, batching concurrent requests into one transaction."""

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        transactional_id: str,
        max_batch: int = DEFAULT_MAX_BATCH,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        lanes: int = DEFAULT_LANES,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        if lanes < 1 or max_batch < 1:
            raise ValueError("lanes and max_batch must be positive")
        self._config: dict[str, Any] = {
            **connection.as_librdkafka_dict(),
            **DURABLE_PRODUCER_CONFIG,
            # A transaction that cannot finish within the ACK bound should fail, not linger.
            "transaction.timeout.ms": max(int(timeout_s * 1000) * 3, 10_000),
            "message.timeout.ms": int(timeout_s * 1000),
            "log_level": 3,
            **(overrides or {}),
        }
        self._max_batch = max_batch
        self._timeout_s = timeout_s
        self._queue: queue.Queue[_Request | None] = queue.Queue()
        # Lane 0 keeps the plain id (the one producer's before lanes): a restart fences the previous instance
        # lane by lane. A lane only makes its producer when it first commits, so an idle lane costs a thread.
        self._lanes = [_Lane(transactional_id if index == 0 else f"{transactional_id}-{index}")
                       for index in range(lanes)]
        self._started = False
        self._stopping = threading.Event()

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        for index, lane in enumerate(self._lanes):
            lane.thread = threading.Thread(target=self._run, args=(lane,), name=f"carebus-group-commit-{index}",
                                           daemon=True)
            lane.thread.start()

    def close(self, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
        """Finish what is queued, then stop."""
        if not self._started:
            return
        self._stopping.set()
        self._queue.put(None)  # each lane puts it back for the next
        deadline = time.monotonic() + timeout_s
        for lane in self._lanes:
            if lane.thread is not None:
                lane.thread.join(max(0.0, deadline - time.monotonic()))
                lane.thread = None
        self._started = False
        for lane in self._lanes:
            if lane.producer is not None:
                # Nothing is in flight once the thread is gone; dropping the handle lets librdkafka close it.
                lane.producer.flush(0)
                lane.producer = None

    async def publish(self, records: Sequence[Record]) -> list[Delivery]:
        """Resolve once the transaction holding `records` has committed; raise `PublishError` otherwise."""
        if not self._started:
            raise RuntimeError("GroupCommitPublisher.start() was not called")
        loop = asyncio.get_running_loop()
        request = _Request(records=records, loop=loop, future=loop.create_future())
        self._queue.put(request)
        return await request.future

    # -- the publishing threads, one per lane ----------------------------------------------------

    def _run(self, lane: _Lane) -> None:
        while True:
            batch = self._next_batch()
            if batch is None:
                return
            if batch:
                self._commit(lane, batch)

    def _next_batch(self) -> list[_Request] | None:
        try:
            first = self._queue.get(timeout=_IDLE_WAIT_S)
        except queue.Empty:
            return None if self._stopping.is_set() else []
        if first is None:
            self._queue.put(None)  # the other lanes stop too
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

    def _commit(self, lane: _Lane, batch: list[_Request]) -> None:
        started = time.monotonic()
        try:
            producer = self._ensure_producer(lane)
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
            self._abort_or_reset(lane, exc)
            _settle(batch, error)
            return
        _settle(batch, None)

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

    def _ensure_producer(self, lane: _Lane) -> confluent_kafka.Producer:
        if lane.producer is None:
            producer = confluent_kafka.Producer({**self._config, "transactional.id": lane.transactional_id})
            producer.init_transactions(self._timeout_s)
            lane.producer = producer
        return lane.producer

    def _abort_or_reset(self, lane: _Lane, exc: Exception) -> None:
        producer = lane.producer
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
        lane.producer = None


def _error_name(exc: Exception) -> str:
    error = exc.args[0] if exc.args else None
    return error.name() if isinstance(error, confluent_kafka.KafkaError) else type(exc).__name__


def _settle(batch: list[_Request], error: PublishError | None) -> None:
    """Resolve every request of a transaction: one wake-up per event loop, not one per request."""
    by_loop: dict[asyncio.AbstractEventLoop, list[_Request]] = {}
    for request in batch:
        by_loop.setdefault(request.loop, []).append(request)
    for loop, requests in by_loop.items():
        loop.call_soon_threadsafe(_resolve, requests, error)


def _resolve(requests: list[_Request], error: PublishError | None) -> None:
    for request in requests:
        if request.future.done():
            continue
        if error is not None:
            request.future.set_exception(error)
        else:
            request.future.set_result([delivery for delivery in request.deliveries if delivery is not None])
