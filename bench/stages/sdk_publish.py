"""sdk_publish: events/s through `carebus.sdk.Publisher`, next to raw confluent-kafka produce of the same bytes.

Both sides write the same records (the SDK's own serialized values, keys and headers) with the same durable
settings (acks=all, idempotent, lz4, linger 2 ms) to a fresh topic, in the same run:
- sync: one event at a time, each waited for (SDK `publish`; raw `produce` + `flush`);
- batched: `BATCH` events per call (SDK `publish_many`; raw `produce` x BATCH + `flush`).
The difference is the SDK's cost: the envelope check, Avro serialization and delivery bookkeeping.
"""

from __future__ import annotations

import random
import uuid

import confluent_kafka
from confluent_kafka.admin import AdminClient, NewTopic

from bench._harness import Result, Stage, measure_rate, summarize
from carebus.events.examples import example_event
from carebus.kafka.config import DURABLE_PRODUCER_CONFIG, KafkaConnection
from carebus.registry.server import running_registry
from carebus.sdk import Event, Publisher

STAGE = "sdk_publish"
SYNC_EVENTS = 200
BATCH = 500
BATCHES = 4
SEED = 8


def _events(count: int, rng: random.Random) -> list[Event]:
    template = example_event("result")
    return [template.model_copy(update={"envelope": template.envelope.model_copy(
        update={"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))})}) for _ in range(count)]


def run(bootstrap: str | None) -> list[Result]:
    if bootstrap is None:
        raise RuntimeError("sdk_publish needs a broker")
    connection = KafkaConnection(bootstrap)
    topic = f"bench-sdk-{uuid.uuid4().hex[:8]}"
    admin = AdminClient(connection.as_librdkafka_dict())
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(timeout=30)
    rng = random.Random(SEED)
    sync_events = _events(SYNC_EVENTS, rng)
    batch_events = _events(BATCH * BATCHES, rng)
    try:
        with running_registry(connection, topic=f"_schemas-bench-{uuid.uuid4().hex[:6]}") as url, \
                Publisher.connect(bootstrap=connection, registry=url, auto_register=True,
                                  topic_for=lambda _domain: topic) as publisher:
            records = [publisher.to_record(event) for event in batch_events]
            raw = confluent_kafka.Producer({**connection.as_librdkafka_dict(), **DURABLE_PRODUCER_CONFIG})

            def sdk_sync() -> int:
                for event in sync_events:
                    publisher.publish(event)
                return len(sync_events)

            def raw_sync() -> int:
                for record in records[:SYNC_EVENTS]:
                    raw.produce(record.topic, value=record.value, key=record.key, headers=list(record.headers))
                    raw.flush(10)
                return SYNC_EVENTS

            def sdk_batched() -> int:
                for start in range(0, len(batch_events), BATCH):
                    publisher.publish_many(batch_events[start:start + BATCH])
                return len(batch_events)

            def raw_batched() -> int:
                for start in range(0, len(records), BATCH):
                    for record in records[start:start + BATCH]:
                        raw.produce(record.topic, value=record.value, key=record.key, headers=list(record.headers))
                    raw.flush(10)
                return len(records)

            raw_sync_rate = summarize(STAGE, "raw_sync", "events/s", measure_rate(raw_sync))
            raw_batched_rate = summarize(STAGE, "raw_batched", "events/s", measure_rate(raw_batched))
            event_bytes = len(records[0].value or b"")
            return [
                summarize(STAGE, "sync_throughput", "events/s", measure_rate(sdk_sync),
                          params={"events": SYNC_EVENTS, "event_bytes": event_bytes, "acks": "all"},
                          baseline="confluent-kafka produce+flush per record, same bytes",
                          baseline_value=raw_sync_rate.value),
                summarize(STAGE, "batched_throughput", "events/s", measure_rate(sdk_batched),
                          params={"events": BATCH * BATCHES, "batch": BATCH, "event_bytes": event_bytes,
                                  "acks": "all"},
                          baseline="confluent-kafka produce x batch + flush, same bytes",
                          baseline_value=raw_batched_rate.value),
            ]
    finally:
        admin.delete_topics([topic])[topic].result(timeout=30)


STAGE_DEF = Stage(STAGE, needs_broker=True, run=run)
