"""avro_serde: canonical events to Confluent wire format and back, next to raw fastavro on the same records.

carebus's path is the one adapters and subscribers take: a pydantic event to an Avro dict, fastavro,
the 5-byte header (and back, with model validation). The baseline writes and reads the same
records as plain dicts with fastavro alone, so the ratio is the price of the typed contract.
"""

from __future__ import annotations

import io
import json
from typing import Any

import fastavro

from bench._harness import Result, Stage, measure_rate, summarize
from carebus.events import DOMAINS, event_schema, from_avro_dict, to_avro_dict
from carebus.events.examples import example_event
from carebus.ids import Subject
from carebus.registry.in_process import InProcessRegistry
from carebus.serde import AvroSerde

STAGE = "avro_serde"
EVENTS_PER_DOMAIN = 500


def run(_bootstrap: str | None) -> list[Result]:
    registry = InProcessRegistry()
    serdes = {domain: AvroSerde(registry, Subject(f"canonical.{domain}.v1-value"), event_schema(domain))
              for domain in DOMAINS}
    parsed = {domain: fastavro.parse_schema(json.loads(json.dumps(event_schema(domain)))) for domain in DOMAINS}
    events = [(domain, example_event(domain)) for domain in DOMAINS for _ in range(EVENTS_PER_DOMAIN)]
    dicts = [(domain, to_avro_dict(event)) for domain, event in events]
    encoded = [(domain, serdes[domain].serialize(record)) for domain, record in dicts]
    raw_encoded = [(domain, _raw_write(parsed[domain], record)) for domain, record in dicts]

    def carebus_serialize() -> int:
        for domain, event in events:
            serdes[domain].serialize(to_avro_dict(event))
        return len(events)

    def raw_serialize() -> int:
        for domain, record in dicts:
            _raw_write(parsed[domain], record)
        return len(dicts)

    def carebus_deserialize() -> int:
        for domain, data in encoded:
            from_avro_dict(domain, serdes[domain].deserialize(data))
        return len(encoded)

    def raw_deserialize() -> int:
        for domain, data in raw_encoded:
            fastavro.schemaless_reader(io.BytesIO(data), parsed[domain])
        return len(raw_encoded)

    params: dict[str, Any] = {"events": len(events), "domains": len(DOMAINS),
                              "avg_bytes": round(sum(len(d) for _, d in encoded) / len(encoded))}
    raw_ser = summarize(STAGE, "raw", "events/s", measure_rate(raw_serialize))
    raw_de = summarize(STAGE, "raw", "events/s", measure_rate(raw_deserialize))
    return [
        summarize(STAGE, "serialize_throughput", "events/s", measure_rate(carebus_serialize), params=params,
                  baseline="fastavro schemaless_writer on prepared dicts", baseline_value=raw_ser.value),
        summarize(STAGE, "deserialize_throughput", "events/s", measure_rate(carebus_deserialize), params=params,
                  baseline="fastavro schemaless_reader to dicts", baseline_value=raw_de.value),
    ]


def _raw_write(schema: Any, record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


STAGE_DEF = Stage(STAGE, needs_broker=False, run=run)
