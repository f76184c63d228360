"""ORU^R01 -> result events: one event per order group (OBR with its OBX, NTE, SPM) (note §5).

The report status OBR-25 (table 0123) decides the event type and `Result.status`:

| OBR-25 | event | Result.status |
|---|---|---|
| F | result.finalized | final |
| C | result.corrected | corrected |
| P | result.preliminary | preliminary |
| R (not verified), A (some results) | result.preliminary | partial ([MSFC]; [IG] maps no A) |
| O, I, S (ordered, in lab, scheduled) | result.preliminary | registered |
| X | result.cancelled | cancelled |
| Y, Z (no order / no patient on record), anything else | refused, AE (table value not found) | |

Decisions:

- O/I/S: the note suggests no event, but every order group of an ORU becomes one event and carebus has no
  `result.registered`; a pending report is pre-final information, so it travels as result.preliminary and
  its status `registered` says how pending it is.
- Empty OBR-25 ([IG]: an error; [MSFC]: unknown; [S] msfc LAB-ORU's second OBR): the group's OBX-11 decide
  instead, the least final winning: any P/R/S/I/O -> preliminary; else any C/A -> corrected; else any F/U ->
  finalized; else X/N -> cancelled; else D/W -> result.retracted (entered-in-error). `status_original` stays
  null. With no OBX-11 either, the message is refused (AE, OBR-25 missing). OBX-11 is required in every OBX,
  so the group's state is known; refusing would lose a result the sender stated completely.
- When OBR-25 is valued it alone decides, even if OBX-11 disagree ([S] LAB-ORU: OBR-25 F over OBX P and I);
  each Observation keeps its own status.
- An ORU without any OBR, or an order group (ORC) without one, is refused (AE, OBR missing); so is a group with
  no PID before it. OBX before the first ORC/OBR (v2.7+ patient observations) belong to no report: not mapped.
- Report fields: code OBR-4; category OBR-24 (table 0074); effective OBR-7/OBR-8; issued OBR-22 (also
  `occurred_at`); interpreter OBR-32; performer OBR-34, else OBR-35; report_identifier OBR-51 (v2.7+);
  performing_organization the first OBX-23 of the group; notes the NTEs of the OBR/ORC/SPM; specimens SPM (else
  OBR-15). Observations: every OBX of the group, specimen OBX included, each with the NTEs after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import Result
from producers.hl7v2.errors import ErrorCode
from producers.hl7v2.mapping._clinical import note, specimen, specimen_from_obr
from producers.hl7v2.mapping._common import DIAGNOSTIC_SECTIONS, coded, ei, table_code
from producers.hl7v2.mapping._envelope import Draft, Inbound
from producers.hl7v2.mapping._errors import MappingReason, bad_value, missing_field, missing_segment
from producers.hl7v2.mapping._fields import value
from producers.hl7v2.mapping._groups import Item, OrderGroup, filler_number, order_groups, placer_number
from producers.hl7v2.mapping._observation import observation
from producers.hl7v2.mapping._people import ndl
from producers.hl7v2.mapping._subject import subject
from producers.hl7v2.mapping._time import ts

__all__ = ["REPORT_STATUS", "RESULT_STATUS_EVENTS", "map_results"]

REPORT_STATUS: Final[Mapping[str, tuple[str, str]]] = MappingProxyType({
    "F": ("result.finalized", "final"),
    "C": ("result.corrected", "corrected"),
    "P": ("result.preliminary", "preliminary"),
    "R": ("result.preliminary", "partial"),
    "A": ("result.preliminary", "partial"),
    **dict.fromkeys(("O", "I", "S"), ("result.preliminary", "registered")),
    "X": ("result.cancelled", "cancelled"),
})
"""OBR-25 -> (event type, Result.status)."""

RESULT_STATUS_EVENTS: Final[Mapping[str, str]] = MappingProxyType({
    **dict.fromkeys(("P", "R", "S", "I", "O"), "result.preliminary"),
    **dict.fromkeys(("C", "A"), "result.corrected"),
    **dict.fromkeys(("F", "U"), "result.finalized"),
    **dict.fromkeys(("X", "N"), "result.cancelled"),
    **dict.fromkeys(("D", "W"), "result.retracted"),
})
"""OBX-11 -> event type, used only when OBR-25 is empty; listed from least to most final."""

_DERIVED_STATUS: Final[Mapping[str, str]] = MappingProxyType({
    "result.preliminary": "preliminary", "result.corrected": "corrected", "result.finalized": "final",
    "result.cancelled": "cancelled", "result.retracted": "entered-in-error",
})


def _status(group: OrderGroup, obr: Item) -> tuple[str, str]:
    sent = value(obr.segment, 25)  # OBR-25
    if sent is not None:
        if sent.upper() not in REPORT_STATUS:
            raise bad_value(MappingReason.TABLE_VALUE_UNKNOWN, "OBR", obr.sequence, 25,
                            code=ErrorCode.TABLE_VALUE_NOT_FOUND)
        return REPORT_STATUS[sent.upper()]
    found = {RESULT_STATUS_EVENTS.get((value(obx.segment, 11) or "").upper()) for obx in group.of("OBX")}  # OBX-11
    for event_type in dict.fromkeys(RESULT_STATUS_EVENTS.values()):
        if event_type in found:
            return event_type, _DERIVED_STATUS[event_type]
    raise missing_field("OBR", obr.sequence, 25)


def _result(group: OrderGroup, obr: hl7.Segment, status: str, *, tz: tzinfo) -> Result:
    notes: dict[int, list[str]] = {}
    report_notes: list[str] = []
    for owner, nte in group.owned_notes():
        if (text := note(nte.segment)) is None:
            continue
        if owner is not None and owner.kind == "OBX":
            notes.setdefault(id(owner), []).append(text)
        else:
            report_notes.append(text)
    obxs = group.of("OBX")
    observations = tuple(observation(obx.segment, notes.get(id(obx), ()), tz=tz) for obx in obxs)
    specimens = tuple(specimen(spm.segment, tz=tz) for spm in group.of("SPM"))
    if not specimens and (from_obr := specimen_from_obr(obr)) is not None:
        specimens = (from_obr,)  # OBR-15
    category = table_code(value(obr, 24), "0074", DIAGNOSTIC_SECTIONS)  # OBR-24
    return Result(
        report_identifier=ei(obr, 51),  # OBR-51
        placer_order_number=placer_number(group), filler_order_number=filler_number(group),
        code=coded(obr, 4),  # OBR-4
        status=status, status_original=value(obr, 25),  # OBR-25
        category=(category,) if category else (),
        effective_at=ts(obr, 7, tz), effective_end=ts(obr, 8, tz),  # OBR-7, OBR-8
        issued_at=ts(obr, 22, tz),  # OBR-22
        performer=ndl(obr, 34) or ndl(obr, 35),  # OBR-34, OBR-35
        interpreter=ndl(obr, 32),  # OBR-32
        performing_organization=next((o.performing_organization for o in observations
                                      if o.performing_organization), None),  # OBX-23
        observations=observations, specimens=specimens, notes=tuple(report_notes),
    )


def map_results(message: Inbound) -> list[Draft]:
    groups = order_groups(message.parsed)
    if not groups:
        raise missing_segment("OBR")
    rule, tz = message.context.patient_identifier_rule, message.tz
    drafts: list[Draft] = []
    for group in groups:
        obr = group.obr
        if obr is None:
            raise missing_segment("OBR")
        if group.pid is None:
            raise missing_segment("PID")
        event_type, status = _status(group, obr)
        who = subject(group.pid.segment, rule=rule, namespace=message.namespace, tz=tz)
        result = _result(group, obr.segment, status, tz=tz)
        drafts.append(Draft(event_type, result, who, ts(obr.segment, 22, tz)))  # OBR-22
    return drafts
