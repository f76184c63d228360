"""REF^I12/I13/I14 -> referral events (note §6; [MSFC] `REF_I12.liquid`; [IG] has no map).

| trigger | event | Referral.status |
|---|---|---|
| I12 new referral | referral.requested | from RF1-1; empty: active |
| I13 modify | referral.updated | from RF1-1; empty: active |
| I14 cancel | referral.cancelled | revoked |

Decisions:

- RF1-1 (table 0283): A active, P on-hold (as the contract and [MSFC] say), R revoked, E (expired) revoked:
  an expired referral ended before completion, which is FHIR's revoked; [MSFC]'s entered-in-error would claim
  it never should have existed. RF1-25 (action code) D overrides any status with entered-in-error.
- I14 is revoked whatever RF1-1 says ([MSFC]: revoked only when RF1-1 is R, else entered-in-error): a cancel
  is the requester withdrawing the referral, not a data error.
- priority RF1-2 (table 0280): S stat, A asap, R routine. referral_type RF1-3 (0281), category RF1-5 (0284),
  kept as codes (not [MSFC]'s location code).
- referral_identifier RF1-6; identifiers RF1-11; period RF1-7 / RF1-8; authored_at RF1-9 (also occurred_at).
  reason_codes RF1-10 (every repetition), else RF1-14 as a text-only reason; diagnoses every DG1.
- requester: the PRD with PRD-1 = RP (name PRD-2, id PRD-7.1 typed PRD-7.2, role PRD-1), its organization
  PRD-10. recipient: the PRD with PRD-1 = RT, else RF1-20; recipient organization RF1-19, else the RT PRD-10.
- requested_service stays null: RF1 names no service; OBR in a REF is a clinical observation, not the request.
- notes: RF1-24, then the NTEs that belong to the referral itself (not those after an OBR or OBX).
- PID is required (AE); RF1 is optional in REF_I12, and its absence leaves those fields null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import CodedConcept, Period, PractitionerRef, Referral
from producers.hl7v2.mapping._clinical import diagnoses, note
from producers.hl7v2.mapping._common import coded, concepts, ei
from producers.hl7v2.mapping._envelope import Draft, Inbound
from producers.hl7v2.mapping._errors import missing_segment
from producers.hl7v2.mapping._fields import value
from producers.hl7v2.mapping._people import human_names, organization, practitioner
from producers.hl7v2.mapping._subject import subject
from producers.hl7v2.mapping._time import ts
from producers.hl7v2.parsing import iter_segments, segment, segment_id, segments

__all__ = ["REFERRAL_EVENTS", "REFERRAL_PRIORITY", "REFERRAL_STATUS", "map_referral"]

REFERRAL_EVENTS: Final[Mapping[str, str]] = MappingProxyType({
    "I12": "referral.requested", "I13": "referral.updated", "I14": "referral.cancelled",
})
REFERRAL_STATUS: Final[Mapping[str, str]] = MappingProxyType({
    "A": "active", "P": "on-hold", "R": "revoked", "E": "revoked",
})
REFERRAL_PRIORITY: Final[Mapping[str, str]] = MappingProxyType({"S": "stat", "A": "asap", "R": "routine"})
_OBSERVATION_SEGMENTS: Final = frozenset({"OBR", "OBX"})
_NOT_OWNERS: Final = frozenset({"NTE", "PRT"})


def _provider(prd: hl7.Segment | None, tz: tzinfo) -> PractitionerRef | None:
    if prd is None:
        return None
    names = human_names(prd, 2, tz=tz)  # PRD-2
    ident = value(prd, 7)  # PRD-7.1
    if not names and ident is None:
        return None
    return PractitionerRef(id=ident, id_type_code=value(prd, 7, 2) if ident else None,  # PRD-7.2
                           name=names[0] if names else None, role=coded(prd, 1))  # PRD-1


def _referral_notes(message: Inbound) -> list[str]:
    found: list[str] = []
    owner: str | None = None
    for seg in iter_segments(message.parsed):
        kind = segment_id(seg)
        if kind == "NTE" and owner not in _OBSERVATION_SEGMENTS and (text := note(seg)):
            found.append(text)
        elif kind not in _NOT_OWNERS:
            owner = kind
    return found


def map_referral(message: Inbound) -> list[Draft]:
    parsed, tz, trigger = message.parsed, message.tz, message.parsed.header.trigger_event.upper()
    pid = segment(parsed, "PID")
    if pid is None:
        raise missing_segment("PID")
    rf1 = segment(parsed, "RF1")
    by_role: dict[str, hl7.Segment] = {}
    for prd in segments(parsed, "PRD"):
        by_role.setdefault((value(prd, 1) or "").upper(), prd)  # PRD-1
    requester, recipient = by_role.get("RP"), by_role.get("RT")

    def rf1_value(number: int, component: int = 1) -> str | None:
        return value(rf1, number, component) if rf1 else None

    sent = rf1_value(1)  # RF1-1
    status = "revoked" if trigger == "I14" else REFERRAL_STATUS.get((sent or "A").upper(), "unknown")
    if (rf1_value(25) or "").upper() == "D":  # RF1-25
        status = "entered-in-error"
    start, end = (ts(rf1, 7, tz), ts(rf1, 8, tz)) if rf1 else (None, None)  # RF1-7, RF1-8
    reason_text = rf1_value(14)  # RF1-14
    reasons = concepts(rf1, 10) if rf1 else ()  # RF1-10
    comment = rf1_value(24)  # RF1-24
    referral = Referral(
        referral_identifier=ei(rf1, 6) if rf1 else None,  # RF1-6
        identifiers=tuple(found for found in (ei(rf1, 11) if rf1 else None,) if found),  # RF1-11
        status=status, status_original=sent,
        priority=REFERRAL_PRIORITY.get((rf1_value(2) or "").upper()),  # RF1-2
        referral_type=coded(rf1, 3) if rf1 else None,  # RF1-3
        category=coded(rf1, 5) if rf1 else None,  # RF1-5
        reason_codes=reasons or ((CodedConcept(text=reason_text),) if reason_text else ()),
        requester=_provider(requester, tz),
        requester_organization=organization(requester, 10) if requester else None,  # PRD-10
        recipient=_provider(recipient, tz) or (practitioner(rf1, 20) if rf1 else None),  # RF1-20
        recipient_organization=((organization(rf1, 19) if rf1 else None)  # RF1-19
                                or (organization(recipient, 10) if recipient else None)),
        period=Period(start=start, end=end) if start or end else None,
        authored_at=ts(rf1, 9, tz) if rf1 else None,  # RF1-9
        diagnoses=diagnoses(segments(parsed, "DG1"), tz=tz),  # DG1
        notes=tuple(([comment] if comment else []) + _referral_notes(message)),
    )
    who = subject(pid, rule=message.context.patient_identifier_rule, namespace=message.namespace, tz=tz)
    return [Draft(REFERRAL_EVENTS[trigger], referral, who, referral.authored_at)]

