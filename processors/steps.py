"""The stages, one function each: a record and the state it may read in, records and state writes out.

The faust agents (`processors.agents`) are loops that call these and carry out what they return: send the
`outputs` (inside the source partition's transaction) and apply the table `writes`. Nothing here touches
Kafka, a table or the clock; the codec's registry lookups are the only I/O, cached after the first record
of each schema, and surface as `TransientError`.

- `intake` (canonical topics): decode -> dedupe -> ownership -> identifier check -> normalize -> the
  identity topic. Dedupe runs first so a replayed bad record is not dead-lettered twice; ownership before
  normalization, so nothing is spent on a record that will be refused.
- `resolve` (identity topic): enterprise id -> `normalized.<domain>.v1`, keyed by it.
- `route` (normalized topics) and `retry_route` (routing retry topics): copies to subscriber topics.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from carebus.publishing import HEADER_EVENT_TYPE, HEADER_SOURCE, domain_of
from processors.codec import EventCodec
from processors.config_files import ProcessorRules
from processors.dedupe import Entry, check_replay
from processors.errors import IdentityError, ProcessorError, UndecodableEventError
from processors.identity import IdentityView, has_patient_identifier, resolve_identity
from processors.lineage import normalized_event
from processors.normalize import Finding, normalize_event
from processors.ownership import check_ownership
from processors.records import (
    HEADER_DOMAIN,
    HEADER_RETRY_TARGET,
    HEADER_UNMAPPED,
    InRecord,
    OutRecord,
    dead_letter,
    event_record_headers,
    header,
    with_headers,
)
from processors.retry import next_retry
from processors.topology import Topology

__all__ = ["StepResult", "intake", "resolve", "retry_route", "route"]

NORMALIZE: Final = "normalize"
OWNERSHIP: Final = "ownership"
IDENTITY: Final = "identity"
ROUTING: Final = "routing"


@dataclass(frozen=True)
class StepResult:
    """What a stage decided for one record."""

    outcome: str
    """passed | duplicate | deadletter | routed | retry (a label for the metrics)."""
    outputs: tuple[OutRecord, ...] = ()
    writes: tuple[tuple[str, str, Any], ...] = ()
    """(table, key, value) to write."""
    domain: str = "unknown"
    source: str | None = None
    findings: tuple[Finding, ...] = ()
    mapped: int = 0
    reason: str | None = None
    """duplicate: which key; deadletter: the reason; resolve: the identity method."""


def intake(record: InRecord, *, domain: str, codec: EventCodec, rules: ProcessorRules, seen: Mapping[str, Entry],
           now_ms: int, window_s: float, topology: Topology) -> StepResult:
    try:
        event = codec.decode_canonical(NORMALIZE, domain, record.value)
    except UndecodableEventError as exc:
        return _dead(record, topology.deadletter(NORMALIZE), exc, domain=domain, sender=None, now_ms=now_ms)
    source = event.envelope.source
    decision = check_replay(event.envelope, seen, now_ms=now_ms, window_s=window_s)
    if decision.replay_of is not None:
        return StepResult("duplicate", domain=domain, source=source.system, reason=decision.replay_of)
    remember = tuple(("dedupe", key, entry) for key, entry in decision.remember)

    violation = check_ownership(rules.catalog, system=source.system, protocol=source.protocol,
                                facility=source.facility, domain=domain)
    if violation is not None:
        error = ProcessorError(OWNERSHIP, violation.reason, violation.detail)
        return _dead(record, topology.deadletter(OWNERSHIP), error, domain=domain, sender=source.system,
                     now_ms=now_ms, writes=remember)
    if not has_patient_identifier(event, rules.identity):
        error = IdentityError(IDENTITY, "no-patient-identifier", "the event names no usable patient identifier")
        return _dead(record, topology.deadletter(IDENTITY), error, domain=domain, sender=source.system,
                     now_ms=now_ms, writes=remember)

    normalized = normalize_event(event, rules.tables)
    value = codec.encode_normalized(NORMALIZE, normalized.event)
    unmapped = ",".join(finding.path for finding in normalized.unmapped) or None
    headers = event_record_headers(normalized.event, domain=domain, unmapped=unmapped)
    return StepResult("passed", (OutRecord(topology.identity, record.key, value, headers),), remember, domain,
                      source.system, normalized.unmapped, normalized.mapped)


def resolve(record: InRecord, *, codec: EventCodec, rules: ProcessorRules, view: IdentityView,
            topology: Topology, now_ms: int) -> StepResult:
    domain = header(record.headers, HEADER_DOMAIN) or "unknown"
    try:
        event = codec.decode_normalized(IDENTITY, domain, record.value)
    except (UndecodableEventError, KeyError) as exc:
        error = exc if isinstance(exc, ProcessorError) else UndecodableEventError(IDENTITY, "unknown-domain")
        return _dead(record, topology.deadletter(IDENTITY), error, domain=domain, sender=None, now_ms=now_ms)
    try:
        resolution = resolve_identity(event, view, rules.identity)
    except IdentityError as exc:
        return _dead(record, topology.deadletter(IDENTITY), exc, domain=domain, sender=event.envelope.source.system,
                     now_ms=now_ms)
    out = normalized_event(event, resolution.enterprise_id)
    headers = event_record_headers(out, unmapped=header(record.headers, HEADER_UNMAPPED),
                                   identity_method=resolution.method)
    writes = (*(("links", k, v) for k, v in resolution.links), *(("people", k, v) for k, v in resolution.people),
              *(("merges", k, v) for k, v in resolution.merges))
    output = OutRecord(topology.normalized(domain_of(out)), resolution.enterprise_id.encode(),
                       codec.encode_normalized(IDENTITY, out), headers)
    return StepResult("passed", (output,), writes, domain, event.envelope.source.system,
                      reason=resolution.method)


def route(record: InRecord, *, domain: str, codec: EventCodec, rules: ProcessorRules,
          topic_exists: Callable[[str], bool], topology: Topology, now_ms: int) -> StepResult:
    event_type = header(record.headers, HEADER_EVENT_TYPE)
    decoded: dict[str, Any] | None = None
    try:
        if event_type is None or rules.routing.needs_record(event_type):
            decoded = codec.normalized_record(ROUTING, domain, record.value)
            event_type = str(decoded["envelope"]["event_type"])
    except UndecodableEventError as exc:
        return _dead(record, topology.deadletter(ROUTING), exc, domain=domain,
                     sender=header(record.headers, HEADER_SOURCE), now_ms=now_ms)
    targets = rules.routing.targets(event_type, decoded)
    outputs = tuple(_deliver(record, target, attempt=0, topic_exists=topic_exists, topology=topology,
                             now_ms=now_ms, domain=domain) for target in targets)
    return StepResult(_routing_outcome(outputs, topology), outputs, domain=domain)


def retry_route(record: InRecord, *, attempt: int, topic_exists: Callable[[str], bool], topology: Topology,
                now_ms: int) -> StepResult:
    target = header(record.headers, HEADER_RETRY_TARGET)
    if target is None:
        error = ProcessorError(ROUTING, "no-retry-target", "a retry record without its target topic")
        return _dead(record, topology.deadletter(ROUTING), error, domain="unknown", sender=None, now_ms=now_ms)
    domain = header(record.headers, HEADER_DOMAIN) or "unknown"
    output = _deliver(record, target, attempt=attempt, topic_exists=topic_exists, topology=topology,
                      now_ms=now_ms, domain=domain)
    return StepResult(_routing_outcome((output,), topology), (output,), domain=domain)


# --- helpers ---------------------------------------------------------------------------------------------


def _deliver(record: InRecord, target: str, *, attempt: int, topic_exists: Callable[[str], bool],
             topology: Topology, now_ms: int, domain: str) -> OutRecord:
    """A copy for `target`, or, while `target` does not exist, the next retry topic or the dead letter."""
    if topic_exists(target):
        return OutRecord(target, record.key, record.value,
                         with_headers(record.headers, domain=None, retry_target=None, retry_attempt=None))
    step = next_retry(attempt, topology.retry_delays_s)
    if step.attempt is None:
        error = ProcessorError(ROUTING, "retries-exhausted",
                               f"subscriber topic {target} still missing after {attempt} retries")
        return dead_letter(record, topology.deadletter(ROUTING), error,
                           sender=header(record.headers, HEADER_SOURCE), now_ms=now_ms)
    return OutRecord(topology.retry(step.attempt), record.key, record.value,
                     with_headers(record.headers, domain=domain, retry_target=target, retry_attempt=str(step.attempt)))


def _routing_outcome(outputs: tuple[OutRecord, ...], topology: Topology) -> str:
    if any(out.topic.startswith(topology.deadletter(ROUTING)) for out in outputs):
        return "deadletter"
    if any(out.topic in topology.retry_topics for out in outputs):
        return "retry"
    return "routed" if outputs else "unrouted"


def _dead(record: InRecord, topic: str, error: ProcessorError, *, domain: str, sender: str | None, now_ms: int,
          writes: tuple[tuple[str, str, Any], ...] = ()) -> StepResult:
    return StepResult("deadletter", (dead_letter(record, topic, error, sender=sender, now_ms=now_ms),), writes,
                      domain, sender, reason=error.reason)

