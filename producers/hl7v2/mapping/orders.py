"""ORM^O01 and OML^O21 -> order events, one per order group (shared/notes/hl7v2-mapping.md §4).

ORC-1 (table 0119) decides the event; ORC-5 (table 0038) when valued, else ORC-1, decides the status:

| ORC-1 | event | status when ORC-5 is empty |
|---|---|---|
| NW (and CH, PA: new child/parent orders) | order.placed | active ([IG]; [MSFC] says unknown) |
| CA | order.cancelled | revoked |
| CR, OC, DC, OD, DR, DF | order.cancelled | revoked ([IG]; [MSFC] unknown for OC, OD) |
| DE (data errors) | order.cancelled | entered-in-error |
| XO, XX, XR | order.updated | unknown |
| SC and every other code, local ones too ([S] Oracle `CD:2539`) | order.status-changed | see below |

ORC-1 -> status for order.status-changed: OK, RL, RO, RQ, PR, PY, AF, RE active; HD, OH, HR on-hold; FU
completed; SC and any other code unknown (ORC-5 is what an SC is about).

ORC-5: A, IP, SC active; CM completed; CA, DC, RP revoked; HD on-hold; ER entered-in-error; any other code
unknown (kept as sent in `status_original`).

Decisions:

- CA (cancel request) is `order.cancelled` / revoked, as [MSFC] has it, not [IG]'s "active until the filler
  confirms": the placer sends CA when it has withdrawn the order, and the bus reports the orderer's intent; the
  filler's confirmation (CR) is another event.
- An order group without ORC (the ORC is required; [S] MDHHS lost it inside GT1) is read as a new order:
  order.placed, status active, `order_control` null so consumers can tell it was implied.
- `ordered_at` is ORC-9 only when ORC-1 is NW (ORC-9 is the time of whatever transaction ORC-1 names).
  `occurred_at` is ORC-9 in every case.
- priority: TQ1-9, else ORC-7.6, else OBR-27.6 (TQ priority), else OBR-5: S/STAT stat, A/ASAP asap,
  R/ROUTINE routine, T (timing critical)/URGENT urgent; other codes leave it null. requested_period: TQ1-7/8,
  else ORC-7.4/.5, else OBR-27.4/.5. intent: OBR-11 G (reflex) reflex-order; anything else order.
- requester ORC-12 else OBR-16; ordering facility ORC-21; code OBR-4; category OBR-24 (table 0074); reasons
  OBR-31 and the DG1s of the group; specimens the group's SPMs (else OBR-15); notes the NTEs of the ORC/OBR.
- OBX in an order group (ask-at-order-entry answers, OBX-29 QST) have no place in the Order contract and are
  not mapped. DG1 outside an order group belongs to no order.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import Order, Period
from producers.hl7v2.mapping._clinical import diagnoses, note, specimen, specimen_from_obr
from producers.hl7v2.mapping._common import DIAGNOSTIC_SECTIONS, coded, concepts, table_code
from producers.hl7v2.mapping._envelope import Draft, Inbound
from producers.hl7v2.mapping._errors import missing_segment
from producers.hl7v2.mapping._fields import value
from producers.hl7v2.mapping._groups import OrderGroup, eip, filler_number, order_groups, placer_number
from producers.hl7v2.mapping._people import organization, practitioner
from producers.hl7v2.mapping._subject import subject
from producers.hl7v2.mapping._time import ts

__all__ = ["ORDER_CONTROL_EVENTS", "ORDER_CONTROL_STATUS", "ORDER_STATUS", "PRIORITY", "map_orders"]

ORDER_CONTROL_EVENTS: Final[Mapping[str, str]] = MappingProxyType({
    **dict.fromkeys(("NW", "CH", "PA"), "order.placed"),
    **dict.fromkeys(("CA", "CR", "OC", "DC", "OD", "DR", "DF", "DE"), "order.cancelled"),
    **dict.fromkeys(("XO", "XX", "XR"), "order.updated"),
})
"""ORC-1 codes with an event of their own; every other code is order.status-changed."""

ORDER_CONTROL_STATUS: Final[Mapping[str, str]] = MappingProxyType({
    **dict.fromkeys(("NW", "CH", "PA", "OK", "RL", "RO", "RQ", "PR", "PY", "AF", "RE"), "active"),
    **dict.fromkeys(("CA", "CR", "OC", "DC", "OD", "DR", "DF"), "revoked"),
    "DE": "entered-in-error",
    **dict.fromkeys(("HD", "OH", "HR"), "on-hold"),
    "FU": "completed",
})
ORDER_STATUS: Final[Mapping[str, str]] = MappingProxyType({
    "A": "active", "IP": "active", "SC": "active", "CM": "completed", "CA": "revoked", "DC": "revoked",
    "RP": "revoked", "HD": "on-hold", "ER": "entered-in-error",
})
PRIORITY: Final[Mapping[str, str]] = MappingProxyType({
    "S": "stat", "STAT": "stat", "A": "asap", "ASAP": "asap", "R": "routine", "ROUTINE": "routine",
    "T": "urgent", "URGENT": "urgent",
})


def _priority(group: OrderGroup, orc: hl7.Segment | None, obr: hl7.Segment | None) -> str | None:
    sent = [value(tq1.segment, 9) for tq1 in group.of("TQ1")]  # TQ1-9
    sent += [value(orc, 7, 6)] if orc else []  # ORC-7.6
    sent += [value(obr, 27, 6), value(obr, 5)] if obr else []  # OBR-27.6, OBR-5
    return next((PRIORITY[code.upper()] for code in sent if code and code.upper() in PRIORITY), None)


def _requested(group: OrderGroup, message: Inbound) -> Period | None:
    tz = message.tz
    spans = [(ts(tq1.segment, 7, tz), ts(tq1.segment, 8, tz)) for tq1 in group.of("TQ1")]  # TQ1-7, TQ1-8
    spans += [(ts(item.segment, n, tz, component=4), ts(item.segment, n, tz, component=5))  # ORC-7.4/.5, OBR-27.4/.5
              for item, n in ((group.orc, 7), (group.obr, 27)) if item is not None]
    start, end = next((span for span in spans if span[0] or span[1]), (None, None))
    return Period(start=start, end=end) if start or end else None


def _order(group: OrderGroup, message: Inbound) -> tuple[str, Order]:
    tz = message.tz
    orc = group.orc.segment if group.orc else None
    obr = group.obr.segment if group.obr else None
    control = value(orc, 1) if orc else None  # ORC-1
    sent_status = value(orc, 5) if orc else None  # ORC-5
    key = (control or "NW").upper()
    status = (ORDER_STATUS.get(sent_status.upper(), "unknown") if sent_status
              else ORDER_CONTROL_STATUS.get(key, "unknown"))
    specimens = tuple(specimen(item.segment, tz=tz) for item in group.of("SPM"))  # SPM
    if not specimens and obr is not None and (from_obr := specimen_from_obr(obr)) is not None:
        specimens = (from_obr,)  # OBR-15
    reasons = (concepts(obr, 31) if obr else ()) + tuple(  # OBR-31, DG1-3
        dx.code for dx in diagnoses((item.segment for item in group.of("DG1")), tz=tz))
    section = table_code(value(obr, 24), "0074", DIAGNOSTIC_SECTIONS) if obr else None  # OBR-24
    notes = tuple(text for owner, nte in group.owned_notes()
                  if (owner is None or owner.kind in ("ORC", "OBR")) and (text := note(nte.segment)))
    order = Order(
        placer_order_number=placer_number(group), filler_order_number=filler_number(group),
        placer_group_number=eip(orc, 4, type_code="PGN") if orc else None,  # ORC-4
        code=coded(obr, 4) if obr else None,  # OBR-4
        category=(section,) if section else (),
        status=status, status_original=sent_status, order_control=control,
        status_reason=coded(orc, 16) if orc else None,  # ORC-16
        intent="reflex-order" if obr and (value(obr, 11) or "").upper() == "G" else "order",  # OBR-11
        priority=_priority(group, orc, obr),
        ordered_at=ts(orc, 9, tz) if orc and key == "NW" else None,  # ORC-9
        requested_period=_requested(group, message),
        requester=(practitioner(orc, 12) if orc else None) or (practitioner(obr, 16) if obr else None),
        ordering_facility=organization(orc, 21) if orc else None,  # ORC-21
        reason_codes=reasons, specimens=specimens, notes=notes,
    )
    return ORDER_CONTROL_EVENTS.get(key, "order.status-changed"), order


def map_orders(message: Inbound) -> list[Draft]:
    groups = order_groups(message.parsed)
    if not groups:
        raise missing_segment("ORC")
    rule, tz = message.context.patient_identifier_rule, message.tz
    drafts: list[Draft] = []
    for group in groups:
        if group.pid is None:
            raise missing_segment("PID")
        event_type, order = _order(group, message)
        occurred = ts(group.orc.segment, 9, tz) if group.orc else None  # ORC-9
        drafts.append(Draft(event_type, order, subject(group.pid.segment, rule=rule, namespace=message.namespace,
                                                       tz=tz), occurred))
    return drafts
