"""`Publisher`: canonical event models in, durable Kafka records out, with no Avro or registry in sight.

Each event is checked (`check_event`) and serialized through the schema registry before anything
reaches Kafka, then published with carebus's durable settings (acks=all, idempotent, murmur2 keys),
to the topic, key and headers the carebus adapters use, so an SDK record is indistinguishable from an
adapter's. Three forms share that path: `publish` (returns once acknowledged), `publish_many`
(validates all, sends all, waits once) and `publish_async` (awaitable; concurrent calls pipeline).

By default the publisher only looks its schema up in the registry: an outside team writes with the
schema carebus registered, and a subject that is missing fails with `RegistryError` instead of
creating a contract as a side effect. `auto_register=True` registers it (subject level
BACKWARD_TRANSITIVE still applies), for carebus's own services and tests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import confluent_kafka
from confluent_kafka.schema_registry import SchemaRegistryClient

from carebus.errors import PublishError, RegistryError, SerializationError
from carebus.events import Event, event_schema
from carebus.events._avro import to_avro_bytes
from carebus.ids import Subject
from carebus.kafka.config import KafkaConnection
from carebus.kafka.producer import DEFAULT_PUBLISH_TIMEOUT_S, DurableProducer, Record
from carebus.publishing import event_headers, event_key
from carebus.sdk._envelope import check_event, revalidate
from carebus.serde import AvroSerde, RegistryPort
from carebus.topics import canonical_topic, normalized_topic

__all__ = ["Delivery", "Publisher", "Stage"]

Stage = Literal["canonical", "normalized"]
_TOPIC_OF_STAGE: dict[str, Callable[[str], str]] = {"canonical": canonical_topic, "normalized": normalized_topic}
_POLL_S = 0.05


@dataclass(frozen=True)
class Delivery:
    """An acknowledged event: its id and where the broker put it."""

    event_id: str
    topic: str
    partition: int
    offset: int


class Publisher:
    """Publishes canonical events durably. Build with `Publisher.connect(...)`; use as a context manager."""

    def __init__(
        self,
        producer: DurableProducer,
        registry: RegistryPort,
        *,
        stage: Stage = "canonical",
        auto_register: bool = False,
        timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S,
        topic_for: Callable[[str], str] | None = None,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        if stage not in _TOPIC_OF_STAGE:
            raise ValueError(f"stage must be one of {sorted(_TOPIC_OF_STAGE)}, not {stage!r}")
        self._producer = producer
        self._registry = registry
        self._topic_for = topic_for or _TOPIC_OF_STAGE[stage]
        self._auto_register = auto_register
        self._timeout_s = timeout_s
        self._serdes: dict[str, tuple[str, AvroSerde]] = {}
        self._on_close = on_close
        self._poller: threading.Thread | None = None
        self._closed = threading.Event()

    @classmethod
    def connect(
        cls,
        *,
        bootstrap: str | KafkaConnection,
        registry: str | RegistryPort,
        stage: Stage = "canonical",
        auto_register: bool = False,
        client_id: str = "carebus-sdk",
        timeout_s: float = DEFAULT_PUBLISH_TIMEOUT_S,
        topic_for: Callable[[str], str] | None = None,
    ) -> Publisher:
        """A publisher for a cluster (bootstrap servers, or a `KafkaConnection` with security settings)
        and a Confluent-compatible registry (its URL, or a client). Nothing connects until the first publish."""
        connection = bootstrap if isinstance(bootstrap, KafkaConnection) else KafkaConnection(bootstrap)
        client: RegistryPort
        on_close = None
        if isinstance(registry, str):
            owned = SchemaRegistryClient({"url": registry})
            client, on_close = owned, owned.close
        else:
            client = registry
        return cls(DurableProducer(connection, client_id=client_id), client, stage=stage,
                   auto_register=auto_register, timeout_s=timeout_s, topic_for=topic_for, on_close=on_close)

    # ------------------------------------------------------------------ the three forms of publish

    def publish(self, event: Event) -> Delivery:
        """Publish one event; return once Kafka acknowledged it, else raise `PublishError`."""
        record = self.to_record(event)
        [delivered] = self._producer.publish([record], timeout_s=self._timeout_s)
        return Delivery(_event_id(event), delivered.topic, delivered.partition, delivered.offset)

    def publish_many(self, events: Sequence[Event], *, timeout_s: float | None = None) -> list[Delivery]:
        """Validate every event first (one bad event sends none), then publish all and wait for every ack.

        Not atomic: on `PublishError` some may have landed; publishing them again is safe for readers,
        which de-duplicate by event id.
        """
        records = [self.to_record(event) for event in events]
        if not records:
            return []
        delivered = self._producer.publish(records, timeout_s=timeout_s or self._timeout_s)
        return [Delivery(_event_id(event), d.topic, d.partition, d.offset) for event, d in zip(events, delivered,
                                                                                                strict=True)]

    async def publish_async(self, event: Event) -> Delivery:
        """Publish one event without blocking the event loop; concurrent calls share the broker round trips."""
        record = self.to_record(event)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Delivery] = loop.create_future()
        event_id = _event_id(event)

        def on_delivery(error: confluent_kafka.KafkaError | None, message: confluent_kafka.Message) -> None:
            if error is not None:
                outcome: Delivery | PublishError = PublishError(record.topic, error.name())
            else:
                outcome = Delivery(event_id, str(message.topic()), int(message.partition() or 0),
                                   int(message.offset() or 0))
            loop.call_soon_threadsafe(_settle, future, outcome)

        self._producer.produce(record, on_delivery)
        self._start_poller()
        try:
            return await asyncio.wait_for(future, self._timeout_s)
        except TimeoutError:
            raise PublishError(record.topic, f"unacknowledged after {self._timeout_s:.1f}s") from None

    # ------------------------------------------------------------------ building records

    def to_record(self, event: Event) -> Record:
        """The Kafka record for `event`: checked, serialized through the registry, keyed and headed."""
        checked = check_event(event)
        topic, serde = self._serde(checked.domain)
        try:
            value = serde.serialize(checked)
        except SerializationError as exc:
            revalidate(checked)  # raises InvalidEventError naming the field, when a field is at fault
            raise exc from None
        except RegistryError as exc:
            raise RegistryError(exc.http_status, exc.error_code,
                                f"no schema for subject {serde.subject} ({exc.message}); carebus registers "
                                "contracts, or connect with auto_register=True") from exc
        return Record(topic, value=value, key=event_key(checked), headers=event_headers(checked))

    def _serde(self, domain: str) -> tuple[str, AvroSerde]:
        found = self._serdes.get(domain)
        if found is None:
            topic = self._topic_for(domain)
            serde = AvroSerde(self._registry, Subject(f"{topic}-value"), event_schema(domain),
                              auto_register=self._auto_register, writer=to_avro_bytes)
            found = self._serdes.setdefault(domain, (topic, serde))
        return found

    # ------------------------------------------------------------------ lifecycle

    def _start_poller(self) -> None:
        if self._poller is None:
            self._poller = threading.Thread(target=self._serve_deliveries, name="carebus-sdk-deliveries",
                                            daemon=True)
            self._poller.start()

    def _serve_deliveries(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(_POLL_S)

    def close(self) -> None:
        """Wait for queued records, stop, and release the registry client this publisher made."""
        self._closed.set()
        if self._poller is not None:
            self._poller.join()
        self._producer.close(self._timeout_s)  # flushing serves the delivery reports still owed
        if self._on_close is not None:
            self._on_close()

    def __enter__(self) -> Publisher:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()


def _event_id(event: Event) -> str:
    return str(event.envelope.event_id)


def _settle(future: asyncio.Future[Any], outcome: Delivery | PublishError) -> None:
    if future.done():
        return
    if isinstance(outcome, PublishError):
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
