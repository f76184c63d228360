"""PV1 (+ PV2, DG1, PID-18) -> the canonical Encounter ([IG] `PV1[Encounter]`; [MSFC] `Resource/_Encounter.liquid`).

Decisions:

- The trigger event sets the status (see `adt`); `derived_status()` reads it from PV1 for A08, where the
  trigger asserts no state: PV1-45 valued -> finished; PV1-2 P -> planned, U -> unknown, anything else
  (N included: "not applicable" says nothing about cancellation, so [IG], not [MSFC]'s cancelled) ->
  in-progress.
- Class PV1-2 (table 0004) into v3 ActCode: E EMER, I IMP, O AMB, P PRENC (both sources agree). R, B, C, N and U
  keep the v2-0004 code, as [IG] does ([MSFC]'s OBS and PBILLACCT for B and C are guesses). A value outside
  table 0004 ([S] `ff`) is kept only as `original_code`.
- visit_number PV1-19 (type VN when CX.5 is empty), else PV1-50; PV1-50 goes to `identifiers` when PV1-19 is
  there. account_number PID-18 (type AN). period PV1-44 / PV1-45.
- location PV1-3, with status PL.5, else planned / completed / active by the encounter's status; prior_location
  PV1-6 (completed). facility PV1-3's PL.4, else PV1-39.
- People: attending PV1-7, referring PV1-8, consulting PV1-9 (every repetition), admitting PV1-17.
- PV1-4 admission type (0007), PV1-10 hospital service (0069), PV1-14 admit source (0023), PV1-18 patient
  type, PV1-36 discharge disposition (0112); reason PV2-3; diagnoses every DG1 of the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import CodedConcept, Encounter, OrganizationRef, Period
from producers.hl7v2.mapping._clinical import diagnoses
from producers.hl7v2.mapping._common import V2_TABLE, coded, concepts, cx
from producers.hl7v2.mapping._contact import location
from producers.hl7v2.mapping._fields import value
from producers.hl7v2.mapping._people import practitioner, practitioners
from producers.hl7v2.mapping._time import ts
from producers.hl7v2.parsing import ParsedMessage, segment, segments

__all__ = ["ENCOUNTER_CLASS", "derived_status", "encounter"]

ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
ENCOUNTER_CLASS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType({
    "E": ("EMER", "emergency"), "I": ("IMP", "inpatient encounter"), "O": ("AMB", "ambulatory"),
    "P": ("PRENC", "pre-admission"),
})
_TABLE_0004: Final = frozenset({"E", "I", "O", "P", "R", "B", "C", "N", "U"})
_LOCATION_STATUS: Final[Mapping[str, str]] = MappingProxyType({"planned": "planned", "finished": "completed"})


def _class(pv1: hl7.Segment) -> CodedConcept | None:
    sent = value(pv1, 2)  # PV1-2
    if sent is None:
        return None
    key = sent.upper()
    if key in ENCOUNTER_CLASS:
        code, display = ENCOUNTER_CLASS[key]
        return CodedConcept(code=code, system=ACT_CODE, display=display, original_code=sent,
                            original_system="HL70004")
    if key in _TABLE_0004:
        return CodedConcept(code=key, system=V2_TABLE.format(table="0004"), original_code=sent,
                            original_system="HL70004")
    return CodedConcept(original_code=sent)


def derived_status(pv1: hl7.Segment) -> str:
    """The status PV1 implies, for triggers that carry none (A08)."""
    if value(pv1, 45):  # PV1-45
        return "finished"
    kind = (value(pv1, 2) or "").upper()  # PV1-2
    return {"P": "planned", "U": "unknown"}.get(kind, "in-progress")


def encounter(parsed: ParsedMessage, pv1: hl7.Segment, *, status: str, tz: tzinfo) -> Encounter:
    """The Encounter of an ADT message, with the status the trigger (or PV1) decided."""
    pid, pv2 = segment(parsed, "PID"), segment(parsed, "PV2")
    visit = cx(pv1, 19, tz=tz, default_type="VN")  # PV1-19
    alternate = cx(pv1, 50, tz=tz, default_type="VN")  # PV1-50
    start, end = ts(pv1, 44, tz), ts(pv1, 45, tz)  # PV1-44, PV1-45
    where = location(pv1, 3, status=_LOCATION_STATUS.get(status, "active"))  # PV1-3
    facility = (where.facility if where else None) or value(pv1, 39)  # PL.4, PV1-39
    return Encounter(
        visit_number=visit or alternate,
        identifiers=(alternate,) if visit and alternate else (),
        account_number=cx(pid, 18, tz=tz, default_type="AN") if pid else None,  # PID-18
        status=status,
        encounter_class=_class(pv1),
        patient_type=coded(pv1, 18),  # PV1-18
        admission_type=coded(pv1, 4),  # PV1-4
        hospital_service=coded(pv1, 10),  # PV1-10
        period=Period(start=start, end=end) if start or end else None,
        location=where,
        prior_location=location(pv1, 6, status="completed"),  # PV1-6
        attending=practitioner(pv1, 7),  # PV1-7
        admitting=practitioner(pv1, 17),  # PV1-17
        referring=practitioner(pv1, 8),  # PV1-8
        consulting=practitioners(pv1, 9),  # PV1-9
        admit_source=coded(pv1, 14),  # PV1-14
        discharge_disposition=coded(pv1, 36),  # PV1-36
        reason_codes=concepts(pv2, 3) if pv2 else (),  # PV2-3
        diagnoses=diagnoses(segments(parsed, "DG1"), tz=tz),  # DG1
        facility=OrganizationRef(id=facility) if facility else None,
    )

