"""Splitting ORM/OML/ORU messages into order groups: an ORC and/or OBR with the segments that follow it.

Rules (the same for orders and results):

- An ORC opens a group. An OBR joins the open group when that group has no OBR yet; otherwise it opens a new
  group that shares the last ORC ([S]: CA newborn screening sends one ORC and 20 OBRs, MN sends two OBRs under
  one ORC). An OBR before any ORC opens a group without one ([S] MDHHS, whose ORC ended up inside GT1).
- Every other segment belongs to the open group (OBX, NTE, SPM, TQ1, DG1, PRT, CTD, FT1...), in order.
  Segments before the first ORC/OBR (PID, PV1, IN1, a patient-level OBX) belong to no group.
- A PID closes the open group and changes the patient of the groups after it (ORU allows several patients).
- Order numbers: placer ORC-2 else OBR-2 (type PLAC), filler ORC-3 else OBR-3 (type FILL), as [IG] and
  [MSFC] both do. An EI with an empty EI.1 ([S] CA: `^FormNumber`) is no identifier.
- Notes go to their owner: an NTE belongs to the nearest OBX, SPM, OBR or ORC before it (PRT and other
  segments in between are skipped), so the NTEs after an OBR are the report's, those after an OBX are its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import hl7

from carebus.events import Identifier
from producers.hl7v2.mapping._common import ei, ei_parts
from producers.hl7v2.mapping._fields import value
from producers.hl7v2.parsing import ParsedMessage, iter_segments, segment_id

__all__ = ["Item", "OrderGroup", "eip", "filler_number", "order_groups", "placer_number"]

_OWNERS = frozenset({"ORC", "OBR", "OBX", "SPM"})


@dataclass(frozen=True)
class Item:
    """A segment with its id and its ordinal among the segments of that id (as ERR-2 counts them)."""

    kind: str
    sequence: int
    segment: hl7.Segment = field(repr=False)


@dataclass(frozen=True)
class OrderGroup:
    pid: Item | None
    orc: Item | None
    obr: Item | None
    items: tuple[Item, ...]
    """Every segment of the group in message order, its own ORC (not a shared one) and its OBR included."""

    def of(self, kind: str) -> list[Item]:
        return [item for item in self.items if item.kind == kind]

    def owned_notes(self) -> list[tuple[Item | None, Item]]:
        """(owner, NTE) for each NTE of the group; the owner is the nearest ORC/OBR/OBX/SPM before it."""
        owner: Item | None = None
        pairs: list[tuple[Item | None, Item]] = []
        for item in self.items:
            if item.kind in _OWNERS:
                owner = item
            elif item.kind == "NTE":
                pairs.append((owner, item))
        return pairs


def order_groups(parsed: ParsedMessage) -> list[OrderGroup]:
    opened: list[tuple[Item | None, Item | None, list[Item]]] = []  # (patient, ORC, the group's segments)
    counts: dict[str, int] = {}
    pid: Item | None = None
    current: list[Item] | None = None
    last_orc: Item | None = None
    for seg in iter_segments(parsed):
        kind = segment_id(seg)
        counts[kind] = counts.get(kind, 0) + 1
        item = Item(kind, counts[kind], seg)
        if kind == "PID":
            pid, current, last_orc = item, None, None
        elif kind == "ORC":
            current, last_orc = [item], item
            opened.append((pid, item, current))
        elif kind == "OBR" and (current is None or any(known.kind == "OBR" for known in current)):
            current = [item]
            opened.append((pid, last_orc, current))
        elif current is not None:
            current.append(item)
    return [OrderGroup(patient, orc, next((i for i in items if i.kind == "OBR"), None), tuple(items))
            for patient, orc, items in opened]


def _number(group: OrderGroup, number: int, type_code: str) -> Identifier | None:
    for item in (group.orc, group.obr):
        if item is not None and (found := ei(item.segment, number, type_code=type_code)) is not None:
            return found
    return None


def placer_number(group: OrderGroup) -> Identifier | None:
    """ORC-2, else OBR-2."""
    return _number(group, 2, "PLAC")


def filler_number(group: OrderGroup) -> Identifier | None:
    """ORC-3, else OBR-3."""
    return _number(group, 3, "FILL")


def eip(seg: hl7.Segment, number: int, *, type_code: str | None = None) -> Identifier | None:
    """The placer part of an EIP (v2.6+: EI in the subcomponents of EIP.1), or an older plain EI field."""
    if value(seg, number, 1, 0, 2) is not None or value(seg, number, 1, 0, 3) is not None:
        return ei_parts(lambda sub: value(seg, number, 1, 0, sub), type_code=type_code)
    return ei(seg, number, type_code=type_code)
