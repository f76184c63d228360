"""The three stages chained in memory, with a fake registry at the port: what the agents would send and write."""

from __future__ import annotations

from typing import Any

import pytest

from carebus.events import Event, ResultEvent, event_schema, to_avro_dict
from carebus.ids import Subject
from carebus.publishing import domain_of, event_headers, event_key
from carebus.serde import AvroSerde
from processors import steps
from processors.codec import EventCodec
from processors.config_files import ProcessorRules
from processors.errors import TransientError
from processors.lineage import normalized_event_id
from processors.records import InRecord, OutRecord, header
from processors.topology import Topology
from tests.unit.processors.builders import GLUCOSE, UNMAPPED, hl7_patient, oru_result
from tests.unit.processors.fakes import FakeRegistry

TOPOLOGY = Topology(partitions=2, retry_delays_s=(1.0, 5.0))
NOW = 1_700_000_000_000


class Pipeline:
    def __init__(self, rules: ProcessorRules) -> None:
        self.registry = FakeRegistry()
        self.codec = EventCodec(self.registry, canonical_topic=TOPOLOGY.canonical,
                                normalized_topic=TOPOLOGY.normalized)
        self.rules = rules
        self.tables: dict[str, dict[str, Any]] = {"dedupe": {}, "links": {}, "people": {}, "merges": {}}
        self.existing: set[str] = set(rules.routing.topics)

    def linked(self, key: str) -> str | None:
        return self.tables["links"].get(key)

    def person(self, key: str) -> str | None:
        return self.tables["people"].get(key)

    def replaced_by(self, enterprise_id: str) -> str | None:
        return self.tables["merges"].get(enterprise_id)

    def canonical(self, event: Event) -> InRecord:
        domain = domain_of(event)
        topic = TOPOLOGY.canonical(domain)
        value = AvroSerde(self.registry, Subject(f"{topic}-value"), event_schema(domain)).serialize(to_avro_dict(event))
        return InRecord(topic, 0, 0, event_key(event), value, tuple(event_headers(event)))

    def apply(self, result: steps.StepResult) -> tuple[OutRecord, ...]:
        for table, key, value in result.writes:
            self.tables[table][key] = value
        return result.outputs

    def intake(self, record: InRecord) -> steps.StepResult:
        return steps.intake(record, domain=TOPOLOGY.domain_of(record.topic), codec=self.codec, rules=self.rules,
                            seen=self.tables["dedupe"], now_ms=NOW, window_s=3600, topology=TOPOLOGY)

    def resolve(self, out: OutRecord) -> steps.StepResult:
        return steps.resolve(_in(out), codec=self.codec, rules=self.rules, view=self, topology=TOPOLOGY, now_ms=NOW)

    def route(self, out: OutRecord) -> steps.StepResult:
        return steps.route(_in(out), domain=TOPOLOGY.domain_of(out.topic), codec=self.codec, rules=self.rules,
                           topic_exists=self.existing.__contains__, topology=TOPOLOGY, now_ms=NOW)

    def through(self, event: Event) -> tuple[OutRecord, tuple[OutRecord, ...]]:
        (to_identity,) = self.apply(self.intake(self.canonical(event)))
        (normalized,) = self.apply(self.resolve(to_identity))
        return normalized, self.apply(self.route(normalized))


def _in(out: OutRecord) -> InRecord:
    return InRecord(out.topic, 0, 0, out.key, out.value, out.headers, NOW)


@pytest.fixture
def pipeline(rules: ProcessorRules) -> Pipeline:
    return Pipeline(rules)


def test_an_oru_goes_through_every_stage(pipeline: Pipeline) -> None:
    event = oru_result("MRN-1", (GLUCOSE, UNMAPPED))
    normalized, copies = pipeline.through(event)

    assert normalized.topic == "normalized.result.v1"
    out = pipeline.codec.decode_normalized("test", "result", normalized.value)
    assert isinstance(out, ResultEvent)
    assert out.payload.observations[0].code.code == "2345-7"
    assert normalized.key == out.envelope.subject.enterprise_id.encode()  # type: ignore[union-attr]
    assert out.envelope.event_id == normalized_event_id(event.envelope.event_id)
    assert header(normalized.headers, "carebus.event_id") == out.envelope.event_id
    assert header(normalized.headers, "carebus.normalize.unmapped") == (
        "payload.observations[1].code,payload.observations[1].value.quantity")
    assert header(normalized.headers, "carebus.identity.method") == "new"
    assert [c.topic for c in copies] == ["subscriber.clinician-inbox.results.v1"]
    assert copies[0].value == normalized.value and copies[0].key == normalized.key


def test_a_replay_is_dropped_at_intake(pipeline: Pipeline) -> None:
    record = pipeline.canonical(oru_result("MRN-1", (GLUCOSE,)))
    assert pipeline.apply(pipeline.intake(record))
    again = pipeline.intake(record)
    assert (again.outcome, again.outputs, again.reason) == ("duplicate", (), "event-id")


def test_ownership_violations_are_dead_letters_with_the_original_bytes(pipeline: Pipeline) -> None:
    record = pipeline.canonical(oru_result("MRN-1", (GLUCOSE,), system="DEMOEHR"))
    result = pipeline.intake(record)
    (letter,) = result.outputs
    assert letter.topic == "deadletter.ownership" and letter.value == record.value and letter.key == record.key
    assert header(letter.headers, "carebus.dlq.reason") == "domain-not-owned"
    assert header(letter.headers, "carebus.dlq.stage") == "ownership"
    assert header(letter.headers, "carebus.dlq.sender") == "DEMOEHR"
    assert header(letter.headers, "carebus.event_id") == header(record.headers, "carebus.event_id")
    assert [w[0] for w in result.writes] == ["dedupe", "dedupe"]  # a replay of it will not be dead-lettered twice


def test_undecodable_bytes_are_dead_letters(pipeline: Pipeline) -> None:
    record = InRecord(TOPOLOGY.canonical("result"), 0, 0, b"k", b"\x00\x00\x00\x00\x07garbage")
    (letter,) = pipeline.intake(record).outputs
    assert letter.topic == "deadletter.normalize" and letter.value == record.value
    assert header(letter.headers, "carebus.dlq.reason") in {"undecodable", "unknown-schema"}
    (letter,) = pipeline.intake(InRecord(TOPOLOGY.canonical("result"), 0, 0, None, b"plain text")).outputs
    assert header(letter.headers, "carebus.dlq.reason") == "undecodable"


def test_an_event_on_the_wrong_topic_is_a_dead_letter(pipeline: Pipeline) -> None:
    record = pipeline.canonical(hl7_patient("MRN-1"))
    wrong = InRecord(TOPOLOGY.canonical("result"), 0, 0, record.key, record.value, record.headers)
    (letter,) = pipeline.intake(wrong).outputs
    assert letter.topic == "deadletter.normalize"


def test_no_usable_identifier_is_an_identity_dead_letter(pipeline: Pipeline) -> None:
    (letter,) = pipeline.intake(pipeline.canonical(oru_result("x", (GLUCOSE,), identifiers=()))).outputs
    assert letter.topic == "deadletter.identity"
    assert header(letter.headers, "carebus.dlq.reason") == "no-patient-identifier"


def test_an_unreachable_registry_is_transient(pipeline: Pipeline) -> None:
    record = pipeline.canonical(oru_result("MRN-1", (GLUCOSE,)))
    fresh = Pipeline(pipeline.rules)  # its serdes have not cached the schema yet
    fresh.registry._schemas = pipeline.registry._schemas  # same ids; then it goes down
    fresh.registry.down = True
    with pytest.raises(TransientError) as raised:
        fresh.intake(record)
    assert raised.value.reason == "registry-unavailable"


def test_a_missing_subscriber_topic_goes_through_the_retry_topics_then_to_the_dead_letters(
        pipeline: Pipeline) -> None:
    pipeline.existing.discard("subscriber.clinician-inbox.results.v1")
    normalized, (retry,) = pipeline.through(oru_result("MRN-1", (GLUCOSE,)))
    assert retry.topic == "carebus-processors-routing-retry-1"
    assert header(retry.headers, "carebus.retry.target") == "subscriber.clinician-inbox.results.v1"
    assert retry.value == normalized.value

    (second,) = steps.retry_route(_in(retry), attempt=1, topic_exists=pipeline.existing.__contains__,
                                  topology=TOPOLOGY, now_ms=NOW).outputs
    assert second.topic == "carebus-processors-routing-retry-2"
    (letter,) = steps.retry_route(_in(second), attempt=2, topic_exists=pipeline.existing.__contains__,
                                  topology=TOPOLOGY, now_ms=NOW).outputs
    assert letter.topic == "deadletter.routing" and letter.value == normalized.value
    assert header(letter.headers, "carebus.dlq.reason") == "retries-exhausted"

    pipeline.existing.add("subscriber.clinician-inbox.results.v1")  # the operator creates the topic
    (delivered,) = steps.retry_route(_in(second), attempt=2, topic_exists=pipeline.existing.__contains__,
                                     topology=TOPOLOGY, now_ms=NOW).outputs
    assert delivered.topic == "subscriber.clinician-inbox.results.v1"
    assert header(delivered.headers, "carebus.retry.target") is None  # retry bookkeeping stays internal


def test_no_identifier_or_name_leaks_into_headers(pipeline: Pipeline) -> None:
    secret_mrn, family = "MRN-SECRET-777", "Zzsecretname"
    patient = hl7_patient(secret_mrn, family=family)
    outputs = []
    (to_identity,) = pipeline.apply(pipeline.intake(pipeline.canonical(patient)))
    outputs.append(to_identity)
    normalized, copies = to_identity, ()
    (normalized,) = pipeline.apply(pipeline.resolve(to_identity))
    copies = pipeline.apply(pipeline.route(normalized))
    outputs += [normalized, *copies]
    outputs += pipeline.intake(pipeline.canonical(hl7_patient(secret_mrn, family=family).model_copy(update={
        "envelope": patient.envelope.model_copy(update={"source": patient.envelope.source.model_copy(
            update={"system": "ROGUE"})})}))).outputs
    for out in outputs:
        text = repr(out.headers)
        assert secret_mrn not in text and family not in text
    assert all(secret_mrn not in key for key in pipeline.tables["links"])  # the index keys are hashed
