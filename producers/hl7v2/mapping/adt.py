"""ADT -> patient and encounter events (shared/notes/hl7v2-mapping.md §1-3, §8).

| trigger | events | Encounter.status |
|---|---|---|
| A01 admit | patient.upserted + encounter.started | in-progress |
| A04 register | patient.upserted + encounter.started | in-progress |
| A05 pre-admit | patient.upserted + encounter.planned | planned |
| A02 transfer, A06/A07 class change | encounter.updated | in-progress |
| A03 discharge | encounter.ended | finished |
| A08 update | patient.updated (+ encounter.updated when PV1 names a visit) | from PV1 (`derived_status`) |
| A11 cancel admit/visit | encounter.cancelled | cancelled |
| A13 cancel discharge | encounter.reopened | in-progress |
| A28 add person / A31 update person | patient.upserted / patient.updated | (no encounter) |
| A40 merge | patient.merged per PID/MRG pair | (no encounter) |

Decisions:

- A04 is `in-progress`, as [MSFC] has it, not [IG]'s `planned` (nor the event catalog's comment, which follows
  [IG]): v2 defines A04 as "the patient has arrived or checked in"; a visit that has not begun is A05 (or A14).
- The trigger, not PV1-2, decides the status: an A01 whose PV1-2 is P (preadmit; [S] msfc A01, A04) is still an
  admission. Only A08, which asserts no state, reads PV1 (PV1-45, PV1-2).
- Only the triggers that create or update a person emit a patient event (A01, A04, A05, A08, A28, A31); A02, A03,
  A06, A07, A11 and A13 carry a PID to say whom the visit is about, not to change demographics.
- PID is required (AE otherwise); PV1 too for the encounter triggers. A08's PV1 makes an event only when it
  names a visit (PV1-19, PV1-3 or PV1-44): the pseudo `PV1|1|N` of person-level updates is not an encounter.
  A28/A31 ignore PV1.
- A40: each PID and the MRG after it (before the next PID) is one merge; a PID with no MRG, or an MRG-1 with
  no identifier, is refused (AE). The payload is the surviving patient (PID, its identifiers the survivors);
  `links` has one `replaces` link per MRG-1 repetition (the retired identifiers). MRG-3/MRG-5 (prior account,
  visit) are not patient identifiers and are not mapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from carebus.events import PatientLink
from producers.hl7v2.mapping._common import cx
from producers.hl7v2.mapping._encounter import derived_status, encounter
from producers.hl7v2.mapping._envelope import Draft, Inbound
from producers.hl7v2.mapping._errors import missing_field, missing_segment
from producers.hl7v2.mapping._fields import repetitions, value
from producers.hl7v2.mapping._patient import patient
from producers.hl7v2.mapping._subject import subject
from producers.hl7v2.parsing import iter_segments, segment, segment_id

__all__ = ["ADT_TRIGGERS", "SUPPORTED_ADT_TRIGGERS", "AdtTrigger", "map_adt"]


@dataclass(frozen=True)
class AdtTrigger:
    patient_event: str | None
    encounter_event: str | None
    status: str | None  # None: derived from PV1
    needs_pv1: bool


ADT_TRIGGERS: Final[Mapping[str, AdtTrigger]] = MappingProxyType({
    "A01": AdtTrigger("patient.upserted", "encounter.started", "in-progress", True),
    "A02": AdtTrigger(None, "encounter.updated", "in-progress", True),
    "A03": AdtTrigger(None, "encounter.ended", "finished", True),
    "A04": AdtTrigger("patient.upserted", "encounter.started", "in-progress", True),
    "A05": AdtTrigger("patient.upserted", "encounter.planned", "planned", True),
    "A06": AdtTrigger(None, "encounter.updated", "in-progress", True),
    "A07": AdtTrigger(None, "encounter.updated", "in-progress", True),
    "A08": AdtTrigger("patient.updated", "encounter.updated", None, False),
    "A11": AdtTrigger(None, "encounter.cancelled", "cancelled", True),
    "A13": AdtTrigger(None, "encounter.reopened", "in-progress", True),
    "A28": AdtTrigger("patient.upserted", None, None, False),
    "A31": AdtTrigger("patient.updated", None, None, False),
})
"""Every ADT trigger but A40, which `map_adt` handles as merges."""

SUPPORTED_ADT_TRIGGERS: Final = frozenset({*ADT_TRIGGERS, "A40"})


def map_adt(message: Inbound) -> list[Draft]:
    parsed, tz = message.parsed, message.tz
    trigger_code = parsed.header.trigger_event.upper()
    if trigger_code == "A40":
        return _merges(message)
    trigger = ADT_TRIGGERS[trigger_code]
    pid = segment(parsed, "PID")
    if pid is None:
        raise missing_segment("PID")
    who = subject(pid, rule=message.context.patient_identifier_rule, namespace=message.namespace, tz=tz)
    drafts: list[Draft] = []
    if trigger.patient_event:
        drafts.append(Draft(trigger.patient_event, patient(pid, tz=tz), who))
    pv1 = segment(parsed, "PV1")
    if trigger.encounter_event and pv1 is None and trigger.needs_pv1:
        raise missing_segment("PV1")
    names_visit = pv1 is not None and any(value(pv1, n) for n in (3, 19, 44))  # PV1-3, PV1-19, PV1-44
    if trigger.encounter_event and pv1 is not None and (trigger.needs_pv1 or names_visit):
        status = trigger.status or derived_status(pv1)
        drafts.append(Draft(trigger.encounter_event, encounter(parsed, pv1, status=status, tz=tz), who))
    return drafts


def _merges(message: Inbound) -> list[Draft]:
    tz, rule = message.tz, message.context.patient_identifier_rule
    drafts: list[Draft] = []
    pid = None
    merged = True
    counts: dict[str, int] = {}
    for seg in iter_segments(message.parsed):
        kind = segment_id(seg)
        counts[kind] = counts.get(kind, 0) + 1
        if kind == "PID":
            if not merged:
                raise missing_segment("MRG")
            pid, merged = seg, False
        elif kind == "MRG" and pid is not None and not merged:
            links = tuple(PatientLink(type="replaces", identifier=ident)
                          for rep in repetitions(seg, 1) if (ident := cx(seg, 1, rep, tz=tz)))  # MRG-1
            if not links:
                raise missing_field("MRG", counts[kind], 1)
            drafts.append(Draft("patient.merged", patient(pid, tz=tz, links=links),
                                subject(pid, rule=rule, namespace=message.namespace, tz=tz)))
            merged = True
    if pid is None:
        raise missing_segment("PID")
    if not merged:
        raise missing_segment("MRG")
    return drafts
