"""A consumer that commits only when told to, reading committed data only.

Offsets move when the caller has finished with a record (written it to a sink, produced its
output), never on a timer, so a crash re-delivers rather than loses.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any, Literal

import confluent_kafka

from carebus.errors import KafkaError
from carebus.kafka.config import KafkaConnection

__all__ = ["ExplicitCommitConsumer"]

logger = logging.getLogger(__name__)


class ExplicitCommitConsumer:
    """confluent-kafka's Consumer with auto-commit off and read_committed isolation."""

    def __init__(
        self,
        connection: KafkaConnection,
        *,
        group_id: str,
        topics: Sequence[str],
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self._config: dict[str, Any] = {
            **connection.as_librdkafka_dict(),
            "group.id": group_id,
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": auto_offset_reset,
            **(overrides or {}),
        }
        self._topics = list(topics)
        self._consumer: confluent_kafka.Consumer | None = None

    @property
    def client(self) -> confluent_kafka.Consumer:
        if self._consumer is None:
            consumer = confluent_kafka.Consumer(self._config)
            consumer.subscribe(self._topics)
            self._consumer = consumer
        return self._consumer

    def poll_batch(self, max_records: int = 500, timeout_s: float = 1.0) -> list[confluent_kafka.Message]:
        """Up to `max_records` records, waiting at most `timeout_s` for the first."""
        messages = self.client.consume(num_messages=max_records, timeout=timeout_s)
        batch = []
        for message in messages:
            error = message.error()
            if error is None:
                batch.append(message)
            elif error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                continue
            elif error.fatal() or not error.retriable():
                raise KafkaError(f"consumer error {error.name()} on {message.topic()}[{message.partition()}]")
            else:
                logger.warning("transient consumer error %s", error.name())
        return batch

    def commit(self, messages: Iterable[confluent_kafka.Message] | None = None) -> None:
        """Commit after `messages` (each partition's highest offset + 1), synchronously."""
        if messages is None:
            self.client.commit(asynchronous=False)
            return
        highest: dict[tuple[str, int], int] = {}
        for message in messages:
            key = (str(message.topic()), int(message.partition() or 0))
            highest[key] = max(highest.get(key, -1), int(message.offset() or 0))
        if not highest:
            return
        offsets = [confluent_kafka.TopicPartition(topic, partition, offset + 1)
                   for (topic, partition), offset in highest.items()]
        self.client.commit(offsets=offsets, asynchronous=False)

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None

    def __enter__(self) -> ExplicitCommitConsumer:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
