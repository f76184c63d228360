"""`Subscriber`: typed events from a topic, a handler per event, commits after it, dead letters on failure.

Delivery is at-least-once, precisely:

- An offset is committed only after the handler returned for that record (or the record was
  dead-lettered and the broker acknowledged the dead letter). Commits happen after each polled batch
  and on `stop()`, so a crash or SIGKILL re-delivers every record whose offset was not yet committed:
  at most one batch (`max_batch`) per partition. Nothing is skipped; some records may be seen twice.
  Handlers should be idempotent by `event.envelope.event_id`.
- A handler that raises is called again with backoff (`RetryPolicy`, three attempts by default). If it
  still fails, the original bytes go to `deadletter.sdk` with the reason in headers, the offset is
  committed and the stream moves on. A record that cannot be decoded is dead-lettered at once.
- If the broker refuses the dead letter, or the registry cannot be reached, `run()` raises without
  committing that record: it is delivered again after a restart.
- Within a partition, records are handled one at a time, in order (a patient's events stay ordered).
  Run more subscribers with the same `group` to scale out: the topic's partitions are shared among them.
- `stop()` (or SIGTERM / SIGINT while `run()` holds the main thread) finishes the record in hand,
  commits, and returns; a retry wait is cut short and that record is left for redelivery.

Each handler call runs inside `following(event)`, so events it publishes carry the same correlation id
and name the handled event as their cause.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from types import FrameType, TracebackType
from typing import Any

import confluent_kafka
from confluent_kafka.schema_registry import SchemaRegistryClient
from prometheus_client import REGISTRY, CollectorRegistry
from pydantic import ValidationError

from carebus.errors import SerializationError
from carebus.events import DOMAINS, Event, event_schema, from_avro_dict
from carebus.ids import Subject
from carebus.kafka.config import KafkaConnection
from carebus.kafka.consumer import ExplicitCommitConsumer
from carebus.kafka.producer import DurableProducer
from carebus.publishing import DeadLetter, KafkaDeadLetterPublisher
from carebus.sdk._context import following
from carebus.sdk._publisher import Stage
from carebus.sdk.errors import SdkError
from carebus.sdk.metrics import SubscriberMetrics
from carebus.sdk.retry import DEFAULT_RETRY, RetryPolicy
from carebus.serde import AvroSerde, RegistryPort
from carebus.topics import canonical_topic, deadletter_topic, normalized_topic

__all__ = [
    "DEADLETTER_HEADER_OFFSET",
    "DEADLETTER_HEADER_PARTITION",
    "DEADLETTER_HEADER_TOPIC",
    "REASON_HANDLER_FAILED",
    "REASON_UNDECODABLE",
    "Handler",
    "Subscriber",
    "resolve_topic",
]

logger = logging.getLogger(__name__)

Handler = Callable[[Event], object]

REASON_HANDLER_FAILED = "handler_failed"
REASON_UNDECODABLE = "undecodable"
# Where the dead letter was read from; the stage, reason, detail, sender and time use carebus.publishing's names.
DEADLETTER_HEADER_TOPIC = "carebus.dlq.topic"
DEADLETTER_HEADER_PARTITION = "carebus.dlq.partition"
DEADLETTER_HEADER_OFFSET = "carebus.dlq.offset"
DEFAULT_MAX_BATCH = 100
DEFAULT_POLL_TIMEOUT_S = 0.5
DEFAULT_LAG_INTERVAL_S = 5.0
_STAGED_TOPIC = re.compile(r"^(canonical|normalized)\.([a-z]+)\.v\d+$")
_TOPIC_OF_STAGE: dict[str, Callable[[str], str]] = {"canonical": canonical_topic, "normalized": normalized_topic}
_REBALANCE_ERRORS = frozenset({
    confluent_kafka.KafkaError.REBALANCE_IN_PROGRESS,
    confluent_kafka.KafkaError.ILLEGAL_GENERATION,
    confluent_kafka.KafkaError.UNKNOWN_MEMBER_ID,
    confluent_kafka.KafkaError._NO_OFFSET,
})


def resolve_topic(*, topic: str | None, domain: str | None, stage: Stage) -> tuple[str, str]:
    """(topic, domain) from a topic name, a domain and stage, or both; `SdkError` when they cannot say."""
    if domain is not None and domain not in DOMAINS:
        raise SdkError(f"unknown domain {domain!r}; expected one of {', '.join(DOMAINS)}")
    if topic is None:
        if domain is None:
            raise SdkError("give a topic or a domain to subscribe to")
        if stage not in _TOPIC_OF_STAGE:
            raise SdkError(f"stage must be canonical or normalized, not {stage!r}")
        return _TOPIC_OF_STAGE[stage](domain), domain
    if domain is None:
        match = _STAGED_TOPIC.match(topic)
        if match is None or match.group(2) not in DOMAINS:
            raise SdkError(f"cannot tell the domain of topic {topic!r}: pass domain=")
        domain = match.group(2)
    return topic, domain


class Subscriber:
    """Consumes one topic in a consumer group. Build with `Subscriber.connect(...)`; use as a context manager."""

    def __init__(
        self,
        consumer: ExplicitCommitConsumer,
        registry: RegistryPort,
        deadletters: DurableProducer,
        *,
        topic: str,
        domain: str,
        group: str,
        retry: RetryPolicy = DEFAULT_RETRY,
        metrics: SubscriberMetrics | None = None,
        deadletter_to: str | None = None,
        max_batch: int = DEFAULT_MAX_BATCH,
        poll_timeout_s: float = DEFAULT_POLL_TIMEOUT_S,
        lag_interval_s: float = DEFAULT_LAG_INTERVAL_S,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if max_batch < 1:
            raise SdkError("max_batch must be at least 1")
        self.topic = topic
        self.domain = domain
        self.group = group
        self._consumer = consumer
        self._serde = AvroSerde(registry, Subject(f"{topic}-value"), event_schema(domain), auto_register=False)
        self._deadletters = deadletters
        self._deadletter_to = deadletter_to or deadletter_topic("sdk")
        self._letters = KafkaDeadLetterPublisher(deadletters)
        self._retry = retry
        self._metrics = metrics or SubscriberMetrics.on(REGISTRY)
        self._max_batch = max_batch
        self._poll_timeout_s = poll_timeout_s
        self._lag_interval_s = lag_interval_s
        self._lag_due = 0.0
        self._on_close = on_close
        self._stopping = threading.Event()

    @classmethod
    def connect(
        cls,
        *,
        bootstrap: str | KafkaConnection,
        registry: str | RegistryPort,
        group: str,
        topic: str | None = None,
        domain: str | None = None,
        stage: Stage = "normalized",
        retry: RetryPolicy = DEFAULT_RETRY,
        from_beginning: bool = True,
        session_timeout_s: float | None = None,
        metrics_registry: CollectorRegistry = REGISTRY,
        deadletter_to: str | None = None,
        client_id: str = "carebus-sdk",
        max_batch: int = DEFAULT_MAX_BATCH,
    ) -> Subscriber:
        """A subscriber to `topic`, or to `domain`'s topic at `stage` (normalized by default), in `group`.

        `from_beginning` decides where a group with no committed offset starts. Nothing connects until
        the first poll.
        """
        topic, domain = resolve_topic(topic=topic, domain=domain, stage=stage)
        connection = bootstrap if isinstance(bootstrap, KafkaConnection) else KafkaConnection(bootstrap)
        overrides: dict[str, Any] = {"client.id": client_id}
        if session_timeout_s is not None:
            overrides["session.timeout.ms"] = int(session_timeout_s * 1000)
            overrides["heartbeat.interval.ms"] = max(100, int(session_timeout_s * 1000 / 3))
        consumer = ExplicitCommitConsumer(connection, group_id=group, topics=[topic], overrides=overrides,
                                          auto_offset_reset="earliest" if from_beginning else "latest")
        client: RegistryPort
        on_close = None
        if isinstance(registry, str):
            owned = SchemaRegistryClient({"url": registry})
            client, on_close = owned, owned.close
        else:
            client = registry
        return cls(consumer, client, DurableProducer(connection, client_id=f"{client_id}-deadletters"),
                   topic=topic, domain=domain, group=group, retry=retry,
                   metrics=SubscriberMetrics.on(metrics_registry), deadletter_to=deadletter_to,
                   max_batch=max_batch, on_close=on_close)

    # ------------------------------------------------------------------ the two ways to consume

    def run(self, handler: Handler, *, handle_signals: bool = True) -> None:
        """Call `handler` for each event until `stop()` (or SIGTERM/SIGINT when `handle_signals`)."""
        with self._signals_stop(handle_signals):
            while not self._stopping.is_set():
                batch = self._consumer.poll_batch(self._max_batch, self._poll_timeout_s)
                finished: list[confluent_kafka.Message] = []
                try:
                    for message in batch:
                        if self._stopping.is_set() or not self._handle(message, handler):
                            break
                        finished.append(message)
                finally:
                    self._commit(finished)
                self._report_lag()

    def __iter__(self) -> Iterator[Event]:
        """Events one by one. A record is committed once you ask for the next; the one in hand when you
        leave the loop (break, exception) is delivered again. No retries here: an exception is yours."""
        done: list[confluent_kafka.Message] = []
        try:
            while not self._stopping.is_set():
                self._commit(done)
                done = []
                for message in self._consumer.poll_batch(self._max_batch, self._poll_timeout_s):
                    event = self._decode(message)
                    if event is not None:
                        yield event
                        self._metrics.records.labels(self.topic, "handled").inc()
                    done.append(message)
                    if self._stopping.is_set():
                        break
                self._report_lag()
        finally:
            self._commit(done)

    def stop(self) -> None:
        """Finish the record in hand, commit, and return from `run()` (safe from signal handlers and threads)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    # ------------------------------------------------------------------ one record

    def _handle(self, message: confluent_kafka.Message, handler: Handler) -> bool:
        """Handle or dead-letter one record; False when stopped during a retry wait (leave it uncommitted)."""
        event = self._decode(message)
        if event is None:
            return True
        failure: Exception | None = None
        for wait in (*self._retry.delays(), None):
            started = time.perf_counter()
            try:
                with following(event):
                    handler(event)
            except Exception as exc:
                self._metrics.handler_seconds.labels(self.topic, "error").observe(time.perf_counter() - started)
                failure = exc
                logger.warning("handler failed on %s[%s]@%s event %s: %s", message.topic(), message.partition(),
                               message.offset(), event.envelope.event_id, type(exc).__name__)
                if wait is None or self._stopping.wait(wait):
                    break
            else:
                self._metrics.handler_seconds.labels(self.topic, "ok").observe(time.perf_counter() - started)
                self._metrics.records.labels(self.topic, "handled").inc()
                return True
        if self._stopping.is_set() and wait is not None:
            return False
        detail = f"{type(failure).__name__} after {self._retry.attempts} attempts"
        self._dead_letter(message, REASON_HANDLER_FAILED, detail)
        self._metrics.records.labels(self.topic, "dead_lettered").inc()
        return True

    def _decode(self, message: confluent_kafka.Message) -> Event | None:
        """The record's event; None (after dead-lettering it) when it cannot be one. Registry outages raise."""
        value = message.value()
        try:
            if value is None:
                raise SerializationError(self.topic, "record has no value")
            return from_avro_dict(self.domain, self._serde.deserialize(value))
        except (SerializationError, ValidationError) as exc:
            logger.warning("undecodable record on %s[%s]@%s: %s", message.topic(), message.partition(),
                           message.offset(), type(exc).__name__)
            self._dead_letter(message, REASON_UNDECODABLE, type(exc).__name__)
            self._metrics.records.labels(self.topic, "undecodable").inc()
            return None

    def _dead_letter(self, message: confluent_kafka.Message, reason: str, detail: str) -> None:
        letter = DeadLetter(stage="sdk", original=message.value() or b"", reason=reason, detail=detail,
                            sender=self.group, key=message.key())
        record = self._letters.to_record(letter)
        carried = [(name, value) for name, value in (message.headers() or []) if name.startswith("carebus.")
                   and not name.startswith("carebus.dlq.")]
        where = [(DEADLETTER_HEADER_TOPIC, str(message.topic()).encode()),
                 (DEADLETTER_HEADER_PARTITION, str(message.partition()).encode()),
                 (DEADLETTER_HEADER_OFFSET, str(message.offset()).encode())]
        record = dataclasses.replace(record, topic=self._deadletter_to,
                                     headers=[*record.headers, *where, *carried])
        self._deadletters.publish([record])

    # ------------------------------------------------------------------ offsets, lag, lifecycle

    def _commit(self, messages: Sequence[confluent_kafka.Message]) -> None:
        if not messages:
            return
        try:
            self._consumer.commit(messages)
        except confluent_kafka.KafkaException as exc:
            error = exc.args[0] if exc.args else None
            if not isinstance(error, confluent_kafka.KafkaError) or error.code() not in _REBALANCE_ERRORS:
                raise
            # The partitions moved to another member, which starts from the last commit: a redelivery.
            logger.warning("commit on %s skipped by a rebalance (%s); records will be delivered again",
                           self.topic, error.name())

    def _report_lag(self) -> None:
        now = time.monotonic()
        if now < self._lag_due:
            return
        self._lag_due = now + self._lag_interval_s
        client = self._consumer.client
        try:
            assigned = client.assignment()
            behind = 0
            for position in client.position(assigned) if assigned else []:
                low, high = client.get_watermark_offsets(position, timeout=1.0, cached=False)
                behind += max(0, high - (position.offset if position.offset >= 0 else low))
        except confluent_kafka.KafkaException:
            return
        self._metrics.lag.labels(self.topic).set(behind)

    @contextlib.contextmanager
    def _signals_stop(self, enabled: bool) -> Iterator[None]:
        if not enabled or threading.current_thread() is not threading.main_thread():
            yield
            return

        def on_signal(_signum: int, _frame: FrameType | None) -> None:
            self.stop()

        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def close(self) -> None:
        """Leave the group (its partitions go to the other members at once) and release the clients."""
        self._stopping.set()
        self._consumer.close()
        self._deadletters.close()
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
