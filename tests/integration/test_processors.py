"""The stream processors end to end, on the session's real broker and the built-in registry.

Canonical events shaped like the adapters' (tests/unit/processors/builders.py) go onto fresh canonical topics;
processor workers run as subprocesses (processor_workers/worker.py, exactly-once); read_committed consumers
read the normalized, subscriber and dead-letter topics back. One worker serves the module's behaviour tests
(its start-up, a rebalance and the table recoveries cost about twenty seconds); the crash test has its own.
"""

from __future__ import annotations

import io
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from carebus.cli.processors import print_report
from carebus.events import Event, PatientEvent, ResultEvent
from carebus.ids import TopicName
from carebus.kafka.admin import apply_topics
from carebus.kafka.config import KafkaConnection
from carebus.publishing import DEADLETTER_HEADER_REASON, DEADLETTER_HEADER_STAGE
from carebus.registry.server import running_registry
from carebus.topics import TopicSpec
from processors.lineage import normalized_event_id
from processors.options import ProcessorOptions
from processors.records import HEADER_IDENTITY_METHOD, HEADER_UNMAPPED
from processors.topology import Topology
from tests.integration.processor_workers.harness import (
    PARTITIONS,
    ProcessorBus,
    Record,
    create_topics,
    make_config_dir,
)
from tests.unit.processors.builders import (
    GLUCOSE,
    POTASSIUM,
    UNMAPPED,
    fhir_patient,
    hl7_merge,
    hl7_patient,
    oru_result,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"


def _new_bus(kafka_bootstrap: str, connection: KafkaConnection, workdir: Path) -> Iterator[ProcessorBus]:
    tag = uuid.uuid4().hex[:8]
    prefix = f"t{tag}."
    topology = Topology(app_id=f"carebus-proc-{tag}", prefix=prefix, partitions=PARTITIONS,
                        retry_delays_s=(0.5, 1.0))
    config_dir = make_config_dir(workdir / "config", prefix)
    create_topics(connection, ProcessorOptions(broker=kafka_bootstrap, topology=topology, config_dir=config_dir))
    with running_registry(connection, topic=f"_schemas-{tag}") as url:
        bus = ProcessorBus(kafka_bootstrap, url, workdir, topology, config_dir)
        try:
            yield bus
        finally:
            bus.close()


@pytest.fixture(scope="module")
def bus(kafka_bootstrap: str, kafka_connection: KafkaConnection,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessorBus]:
    """A bus with one worker running for the whole module."""
    for made in _new_bus(kafka_bootstrap, kafka_connection, tmp_path_factory.mktemp("processors")):
        made.worker().start()
        yield made


def _normalized(bus: ProcessorBus, records: list[Record], domain: str) -> list[Event]:
    topic = bus.topology.normalized(domain)
    return [bus.decode(record, domain) for record in records if record.topic == topic]


def _by_cause(bus: ProcessorBus, records: list[Record], domain: str, *canonical: Event) -> dict[str, Event]:
    wanted = {str(event.envelope.event_id) for event in canonical}
    return {str(e.envelope.causation_id): e for e in _normalized(bus, records, domain)
            if str(e.envelope.causation_id) in wanted}


# --- normalize + identity: an ORU^R01 with local codes ----------------------------------------------------


def test_oru_with_local_codes_becomes_a_normalized_result_with_loinc_and_an_enterprise_id(
        bus: ProcessorBus) -> None:
    mrn = f"MRN-{uuid.uuid4().hex[:8]}"
    result = oru_result(mrn, (GLUCOSE, POTASSIUM, UNMAPPED))
    reader = bus.reader(bus.topology.normalized("result"))
    bus.publish([result])

    records = bus.read_until(reader, lambda r: bool(_by_cause(bus, r, "result", result)), "the normalized result")
    out = _by_cause(bus, records, "result", result)[str(result.envelope.event_id)]
    assert isinstance(out, ResultEvent)
    glucose, potassium, unknown = out.payload.observations
    assert (glucose.code.code, glucose.code.system) == ("2345-7", LOINC)
    assert (glucose.code.original_code, glucose.code.original_system) == ("GLU", "L")
    assert (potassium.code.code, potassium.code.system) == ("2823-3", LOINC)
    assert glucose.value.quantity.code == "mg/dL" and glucose.value.quantity.system == UCUM
    assert glucose.value.quantity.unit == "mg/dl"  # as sent
    assert (out.payload.code.code, out.payload.code.system) == ("51990-0", LOINC)
    # Unmapped: kept as sent, flagged in a header, never dropped.
    assert (unknown.code.code, unknown.code.system, unknown.code.original_code) == ("ZZ-NEW", None, "ZZ-NEW")
    record = next(r for r in records if r.headers.get("carebus.event_id") == str(out.envelope.event_id))
    assert record.headers[HEADER_UNMAPPED] == ("payload.observations[2].code,payload.observations[2].value.quantity")
    # The enterprise id: in the envelope, and the record's key.
    enterprise_id = out.envelope.subject.enterprise_id
    assert enterprise_id and record.key == enterprise_id.encode()
    assert out.envelope.event_id == normalized_event_id(result.envelope.event_id)
    assert out.envelope.causation_id == result.envelope.event_id
    assert out.envelope.correlation_id == result.envelope.correlation_id


# --- identity: two sources, one person; then a merge ----------------------------------------------------------


def test_a_fhir_patient_and_an_hl7_adt_for_one_person_resolve_to_one_enterprise_id(bus: ProcessorBus) -> None:
    family = f"Zz{uuid.uuid4().hex[:6]}"
    adt = hl7_patient(f"MRN-{uuid.uuid4().hex[:8]}", family=family, given="Qatest", birth=date(1961, 7, 4),
                      sex="F")  # PID-8 as a sender may leave it: normalized to `female` before matching
    portal = fhir_patient(f"P-{uuid.uuid4().hex[:8]}", family=family.upper(), given="QATEST",
                          birth=date(1961, 7, 4), sex="female")
    reader = bus.reader(bus.topology.normalized("patient"))
    bus.publish([adt])
    bus.read_until(reader, lambda r: len(_by_cause(bus, r, "patient", adt)) == 1, "the ADT's patient")
    bus.publish([portal])
    records = bus.read_until(reader, lambda r: len(_by_cause(bus, r, "patient", adt, portal)) == 2,
                             "both patients")

    found = _by_cause(bus, records, "patient", adt, portal)
    from_adt, from_portal = found[str(adt.envelope.event_id)], found[str(portal.envelope.event_id)]
    assert from_adt.envelope.subject.enterprise_id == from_portal.envelope.subject.enterprise_id
    assert isinstance(from_adt, PatientEvent) and from_adt.payload.administrative_sex == "female"
    methods = {r.headers["carebus.event_id"]: r.headers[HEADER_IDENTITY_METHOD] for r in records}
    assert methods[str(from_adt.envelope.event_id)] == "new"
    assert methods[str(from_portal.envelope.event_id)] == "demographic"


def test_a_merge_relinks_both_records_to_the_survivor(bus: ProcessorBus) -> None:
    tag = uuid.uuid4().hex[:6]
    old_mrn, new_mrn = f"MRN-OLD-{tag}", f"MRN-NEW-{tag}"
    # Two records of one person that the demographic rule cannot match (a typo in the family name), and a
    # portal registration that matches the first one by demographics.
    first = hl7_patient(old_mrn, family=f"Zzexample{tag}", given="Qatest")
    second = hl7_patient(new_mrn, family=f"Zzexampel{tag}", given="Qatest")
    portal = fhir_patient(f"P-{tag}", family=f"Zzexample{tag}", given="Qatest")
    reader = bus.reader(bus.topology.normalized("patient"), bus.topology.normalized("result"))
    bus.publish([first, second, portal])
    records = bus.read_until(reader, lambda r: len(_by_cause(bus, r, "patient", first, second, portal)) == 3,
                             "three patients")
    before = {cause: e.envelope.subject.enterprise_id
              for cause, e in _by_cause(bus, records, "patient", first, second, portal).items()}
    assert before[str(first.envelope.event_id)] == before[str(portal.envelope.event_id)]
    assert before[str(first.envelope.event_id)] != before[str(second.envelope.event_id)]
    survivor_id = before[str(second.envelope.event_id)]

    merge = hl7_merge(new_mrn, old_mrn, family=f"Zzexampel{tag}")  # ADT^A40: new survives, old is retired
    # After the merge, results filed under either MRN, and the portal's next update, follow the survivor.
    bus.publish([merge])
    bus.read_until(reader, lambda r: len(_by_cause(bus, r, "patient", merge)) == 1, "the merge")
    late_old, late_new = oru_result(old_mrn, (GLUCOSE,)), oru_result(new_mrn, (GLUCOSE,))
    portal_again = fhir_patient(f"P-{tag}", family=f"Zzexample{tag}", given="Qatest")
    bus.publish([late_old, late_new, portal_again])
    records = bus.read_until(
        reader, lambda r: len(_by_cause(bus, r, "result", late_old, late_new)) == 2
        and len(_by_cause(bus, r, "patient", portal_again)) == 1, "the results and the update after the merge")

    after = {**_by_cause(bus, records, "result", late_old, late_new),
             **_by_cause(bus, records, "patient", merge, portal_again)}
    assert {e.envelope.subject.enterprise_id for e in after.values()} == {survivor_id}


# --- ownership, dedupe, routing ---------------------------------------------------------------------------------


def test_ownership_dedupe_and_routing(bus: ProcessorBus) -> None:
    topology = bus.topology
    mrn = f"MRN-{uuid.uuid4().hex[:8]}"
    good = oru_result(mrn, (GLUCOSE,))
    replay = good  # the same event again
    resend = oru_result(mrn, (GLUCOSE,), message_id=good.envelope.source.original_message_id,
                        received_at=good.envelope.received_at.replace(minute=31))  # a resent message: new id
    not_owned = oru_result(mrn, (GLUCOSE,), system="DEMOEHR")  # the EHR does not own results
    unknown = oru_result(mrn, (GLUCOSE,), system="ROGUE-LAB")
    reader = bus.reader(topology.normalized("result"), topology.deadletter("ownership"),
                        f"{topology.prefix}subscriber.clinician-inbox.results.v1")
    bus.publish([good, replay, resend, not_owned, unknown])
    bus.publish_raw(topology.canonical("result"), b"not avro at all", key=b"k")
    marker = oru_result(mrn, (GLUCOSE,))
    bus.publish([marker])  # after everything else: once it is out, so is everything before it

    wanted_copies = {str(normalized_event_id(e.envelope.event_id)) for e in (good, marker)}

    def done(records: list[Record]) -> bool:
        copied = {r.headers["carebus.event_id"] for r in records if r.topic.endswith("clinician-inbox.results.v1")}
        return bool(_by_cause(bus, records, "result", marker)) and wanted_copies <= copied

    records = bus.read_until(reader, done, "the marker result")
    normalized = _by_cause(bus, records, "result", good, resend, not_owned, unknown, marker)
    assert set(normalized) == {str(good.envelope.event_id), str(marker.envelope.event_id)}
    assert Counter(r.headers.get("carebus.event_id") for r in records
                   if r.topic == topology.normalized("result"))[str(normalized_event_id(good.envelope.event_id))] == 1
    dead = [r for r in records if r.topic == topology.deadletter("ownership")]
    assert sorted(r.headers[DEADLETTER_HEADER_REASON] for r in dead) == ["domain-not-owned", "unknown-source"]
    assert all(r.headers[DEADLETTER_HEADER_STAGE] == "ownership" for r in dead)
    assert {r.headers["carebus.event_id"] for r in dead} == {str(not_owned.envelope.event_id),
                                                             str(unknown.envelope.event_id)}
    # A routing rule copies every final result to the clinician inbox, byte for byte.
    inbox = [r for r in records if r.topic.endswith("clinician-inbox.results.v1")]
    copies = {r.headers["carebus.event_id"] for r in inbox}
    assert {str(e.envelope.event_id) for e in normalized.values()} <= copies
    undecodable = bus.reader(topology.deadletter("normalize"))
    found = bus.read_until(undecodable, lambda r: len(r) >= 1, "the undecodable record's dead letter")
    assert found[0].value == b"not avro at all" and found[0].headers[DEADLETTER_HEADER_REASON] == "undecodable"


# --- operator files reload while the worker runs; routing retries --------------------------------------------


def _retry_targets(records: list[Record]) -> set[str]:
    return {r.headers.get("carebus.retry.target", "") for r in records}


def test_edited_tables_and_rules_apply_without_a_restart_and_missing_topics_are_retried(
        bus: ProcessorBus, kafka_connection: KafkaConnection) -> None:
    topology, config = bus.topology, bus.config_dir
    late, never = f"{topology.prefix}subscriber.late.v1", f"{topology.prefix}subscriber.never.v1"
    codes, routing = config / "codes" / "lab.csv", config / "routing.yaml"
    saved = codes.read_text(), routing.read_text()
    try:
        codes.write_text(saved[0] + "DEMOLAB,L,ZZ-NEW,http://loinc.org,94500-6,A newly mapped test\n")
        rules = yaml.safe_load(saved[1])
        rules["rules"].append({"name": "late", "event_type": "result.*", "to": [late]})
        rules["rules"].append({"name": "never", "event_type": "result.*", "to": [never]})
        routing.write_text(yaml.safe_dump(rules, sort_keys=False))
        retries = bus.reader(topology.retry(1), topology.deadletter("routing"), topology.normalized("result"))

        probes: list[ResultEvent] = []

        def reloaded(records: list[Record]) -> bool:
            """A probe normalized with the new code and routed by the new rules (to the retry topic)."""
            if not probes or _by_cause(bus, records, "result", probes[-1]):
                probes.append(oru_result(f"MRN-{uuid.uuid4().hex[:8]}", (UNMAPPED,)))
                bus.publish([probes[-1]])
            mapped = [e for e in _normalized(bus, records, "result")
                      if e.payload.observations[0].code.code == "94500-6"]
            return bool(mapped) and {late, never} <= _retry_targets(records)

        bus.read_until(retries, reloaded, "a result mapped and routed by the edited files")
        # The rules name topics that do not exist: copies wait in the retry topics. Create one of them now.
        apply_topics(kafka_connection, [TopicSpec(name=TopicName(late), description="test", key="enterprise id",
                                                  value_schema=None, partitions=PARTITIONS)])
        delivered = bus.reader(late)
        bus.read_until(delivered, lambda r: len(r) >= 1, "a retried copy delivered to the new topic")
        exhausted = bus.read_until(
            retries, lambda r: any(x.headers.get("carebus.dlq.reason") == "retries-exhausted" for x in r),
            "a copy for the topic that never appears, dead-lettered after its retries")
        letter = next(x for x in exhausted if x.headers.get("carebus.dlq.reason") == "retries-exhausted")
        assert letter.topic == topology.deadletter("routing")
        assert letter.headers["carebus.retry.target"] == never
        assert f"subscriber topic {never} still missing after 2 retries" == letter.headers["carebus.dlq.detail"]
    finally:
        codes.write_text(saved[0])
        routing.write_text(saved[1])


def test_the_report_counts_normalized_events_and_dead_letters(bus: ProcessorBus,
                                                               kafka_connection: KafkaConnection) -> None:
    out = io.StringIO()
    report = print_report(kafka_connection, bus.topology, config_dir=bus.config_dir,
                          console=Console(file=out, width=150))
    assert report.complete
    assert report.normalized["result"] >= 4 and report.normalized["patient"] >= 6
    reasons = {(d.stage, d.reason): d.count for d in report.dead_letters}
    assert reasons[("ownership", "domain-not-owned")] == 1 and reasons[("ownership", "unknown-source")] == 1
    assert reasons[("normalize", "undecodable")] == 1
    assert report.subscribers[f"{bus.topology.prefix}subscriber.clinician-inbox.results.v1"] >= 2
    assert "domain-not-owned" in out.getvalue() and "normalized" in out.getvalue()


def test_worker_logs_carry_no_patient_data(bus: ProcessorBus) -> None:
    """Every earlier test's identifiers, names and birth dates, looked for in everything the worker logged."""
    logs = "".join(worker.all_logs() for worker in bus.workers)
    assert "Ready" in logs  # the log is there
    for secret in ("MRN-", "Zzexample", "ZZEXAMPLE", "Qatest", "QATEST", "1961-07-04", "P-"):
        assert secret not in logs, f"{secret!r} in the worker log"


# --- exactly-once across a SIGKILL ----------------------------------------------------------------------------


@pytest.fixture
def own_bus(kafka_bootstrap: str, kafka_connection: KafkaConnection, tmp_path: Path) -> Iterator[ProcessorBus]:
    yield from _new_bus(kafka_bootstrap, kafka_connection, tmp_path)


def test_sigkill_mid_stream_loses_nothing_and_duplicates_nothing(own_bus: ProcessorBus) -> None:
    bus, topology = own_bus, own_bus.topology
    patients = [f"MRN-K{n:03d}-{uuid.uuid4().hex[:6]}" for n in range(40)]
    first = [hl7_patient(mrn, family=f"Zzkill{n}") for n, mrn in enumerate(patients)]
    first += [oru_result(patients[n % len(patients)], (GLUCOSE,)) for n in range(400)]
    second = [oru_result(patients[n % len(patients)], (POTASSIUM,)) for n in range(200)]
    sent = first + second
    inbox = f"{topology.prefix}subscriber.clinician-inbox.results.v1"
    reader = bus.reader(topology.normalized("result"), topology.normalized("patient"), inbox)
    uncommitted = bus.reader(topology.normalized("result"), isolation="read_uncommitted")
    # A short dedupe window, so the purge of expired entries runs (every second) while the worker is busy.
    worker = bus.worker("--dedupe-window", "4").start()

    bus.publish(first)
    bus.read_until(reader, lambda r: sum(x.topic == topology.normalized("result") for x in r) >= 40,
                   "some results through all three stages", timeout_s=90)
    worker.kill()  # mid-stream: most of the first batch is still in flight or uncommitted
    killed_at = sum(r.topic == topology.normalized("result") for r in reader.records)
    assert killed_at < 400, "the worker finished before it was killed; send more"
    worker.start()
    bus.publish(second)

    expected = {str(e.envelope.event_id) for e in sent}
    normalized = (topology.normalized("result"), topology.normalized("patient"))

    def every_event_out(records: list[Record]) -> bool:
        causes = {str(bus.decode(r, "result" if r.topic.endswith("result.v1") else "patient")
                      .envelope.causation_id) for r in records if r.topic in normalized}
        copies = sum(r.topic == inbox for r in records)
        return causes >= expected and copies >= 600

    bus.read_until(reader, every_event_out, "every event normalized after the restart", timeout_s=120)
    reader.poll()  # anything committed late would show up now
    outputs = [(r, bus.decode(r, "result" if r.topic.endswith("result.v1") else "patient"))
               for r in reader.records if r.topic in normalized]
    causes = Counter(str(event.envelope.causation_id) for _, event in outputs)
    assert set(causes) == expected, "lost or invented events"
    assert [cause for cause, n in causes.items() if n > 1] == [], "duplicates for read_committed"
    copies = Counter(r.headers["carebus.event_id"] for r in reader.records if r.topic == inbox)
    assert len(copies) == 600 and max(copies.values()) == 1, "subscriber copies lost or duplicated"
    # The index survived the crash (table changelogs): each patient has one enterprise id, before and after.
    per_patient: dict[str, set[str]] = {}
    for record, event in outputs:
        source_id = event.envelope.subject.source_patient_id or ""
        per_patient.setdefault(source_id, set()).add(record.key.decode() if record.key else "")
    assert all(len(ids) == 1 for ids in per_patient.values()), "a patient changed enterprise id across the crash"
    uncommitted.poll()
    seen = Counter(r.headers["carebus.event_id"] for r in uncommitted.records)
    print(f"killed after {killed_at} committed results; read_uncommitted saw "
          f"{sum(n > 1 for n in seen.values())} results twice (aborted, then redone)")
    assert worker.terminate() == 0, worker.tail()
    assert "commit skipped" not in worker.all_logs()
    assert "Traceback" not in worker.all_logs(), worker.tail()
