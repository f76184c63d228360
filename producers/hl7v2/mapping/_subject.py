"""The patient an event is about: PID-3 (and PID-2, PID-4) -> `Envelope.subject`.

`source_identifiers` lists PID-3 (every repetition), PID-2 and PID-4, in that order, as the contract says.
`source_patient_id` comes from PID-3, chosen by `MappingContext.patient_identifier_rule` (see
PatientIdentifierRule). Only when PID-3 has no identifier with a value does the deprecated PID-2 (external id,
the primary id of many v2.3 senders: [S] Epic ORM sends it and leaves PID-3 empty), then PID-4, stand in; with
none of them the subject has no key. `enterprise_id` stays null: identity resolution fills it on the normalized
topics.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import tzinfo

import hl7

from carebus.events import Identifier, Subject
from carebus.ids import SourcePatientId
from producers.hl7v2.mapping._common import cx
from producers.hl7v2.mapping._context import PatientIdentifierRule
from producers.hl7v2.mapping._fields import repetitions, value

__all__ = ["pid_identifiers", "subject"]


@dataclass(frozen=True)
class _Candidate:
    identifier: Identifier
    authorities: frozenset[str]


def _candidates(pid: hl7.Segment, tz: tzinfo, number: int = 3) -> list[_Candidate]:
    found: list[_Candidate] = []
    for rep in repetitions(pid, number):
        ident = cx(pid, number, rep, tz=tz)
        if ident is not None:
            names = (value(pid, number, 4, rep, 1), value(pid, number, 4, rep, 2), value(pid, number, 6, rep, 1),
                     value(pid, number, 6, rep, 2))
            found.append(_Candidate(ident, frozenset(name for name in names if name)))
    return found


def _choose(candidates: list[_Candidate], rule: PatientIdentifierRule) -> Identifier | None:
    wanted = set(rule.authorities)

    def from_authority(candidate: _Candidate) -> bool:
        return not wanted or bool(candidate.authorities & wanted)

    for kind in rule.types:
        for candidate in candidates:
            if candidate.identifier.type_code == kind and from_authority(candidate):
                return candidate.identifier
    if wanted:
        for candidate in candidates:
            if from_authority(candidate):
                return candidate.identifier
    return candidates[0].identifier if candidates else None


def pid_identifiers(pid: hl7.Segment, tz: tzinfo, pid3: list[_Candidate] | None = None) -> tuple[Identifier, ...]:
    """PID-3 (every repetition), then PID-2 and PID-4 (every repetition); `pid3`: PID-3's, when already read."""
    found = [candidate.identifier for candidate in (_candidates(pid, tz) if pid3 is None else pid3)]
    for number in (2, 4):  # PID-2, PID-4
        found += [ident for rep in repetitions(pid, number) if (ident := cx(pid, number, rep, tz=tz))]
    return tuple(found)


def subject(pid: hl7.Segment, *, rule: PatientIdentifierRule, namespace: str, tz: tzinfo) -> Subject:
    """The subject of the events about the patient in `pid`; `namespace` is the sender's (MSH-4 or MSH-3)."""
    pid3 = _candidates(pid, tz)
    chosen = (_choose(pid3, rule)  # PID-3
              or _choose(_candidates(pid, tz, 2), rule)  # PID-2
              or _choose(_candidates(pid, tz, 4), rule))  # PID-4
    key = None
    if chosen is not None:
        system = chosen.system or chosen.assigning_facility or namespace
        key = SourcePatientId(f"{system}|{chosen.value}")
    return Subject(source_patient_id=key, source_identifiers=pid_identifiers(pid, tz, pid3))
