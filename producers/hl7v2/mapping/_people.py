"""People and organizations: XPN -> HumanName, XCN/CNN -> PractitionerRef, XON -> OrganizationRef.

Decisions ([IG] `XPN[HumanName]`, `XCN[Practitioner]`; [MSFC] `DataType/_XPN.liquid`):

- XPN: XPN.1.1 family; XPN.2 then XPN.3 split on blanks the given names; XPN.5 prefix; XPN.4, XPN.6 (degree) and
  XPN.14 (professional suffix) suffixes. XPN.7 via table 0200: L and R official, D usual, M maiden, N nickname,
  BAD old, TEMP and NAV temp, MSK anonymous; any other type is kept as sent, an empty one stays null. The period
  is XPN.12/XPN.13 (v2.7+), else the deprecated XPN.10 range. XPN.15 (called-by name) becomes a second
  HumanName with use `nickname`, as [IG] does. A name with no part at all is skipped.
- XCN (and v2.3 CN): XCN.1 id; XCN.2-7 the name; XCN.13 the id type. The id system is the NPI URI when XCN.13 is
  `NPI` or the authority XCN.9 is `NPI` or the NPI OID, else XCN.9 as for CX.4. Of a repeating XCN (ORC-12 in
  [S] Oracle sends nine), the first repetition typed NPI wins, else the first. Neither id nor name: nothing.
- CNN/NDL (OBR-32..35): the same parts, as subcomponents of the first component ([S] `&CYTO&JANE`).
- XON: XON.1 name; XON.10 id, else the deprecated XON.3; XON.6 its authority.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import HumanName, OrganizationRef, Period, PractitionerRef
from producers.hl7v2.mapping._common import Getter, hd_system
from producers.hl7v2.mapping._fields import repetitions, value
from producers.hl7v2.mapping._time import parse_ts

__all__ = ["NPI_SYSTEM", "human_names", "ndl", "organization", "practitioner", "practitioner_parts", "practitioners"]

NPI_SYSTEM: Final = "http://hl7.org/fhir/sid/us-npi"
_NPI_OID: Final = "2.16.840.1.113883.4.6"
NAME_USE: Final[Mapping[str, str]] = MappingProxyType({
    "L": "official", "R": "official", "D": "usual", "M": "maiden", "N": "nickname", "BAD": "old",
    "TEMP": "temp", "NAV": "temp", "MSK": "anonymous",
})


def _given(*parts: str | None) -> tuple[str, ...]:
    return tuple(name for part in parts if part for name in part.split())


def _present(*parts: str | None) -> tuple[str, ...]:
    return tuple(part for part in parts if part)


def human_names(seg: hl7.Segment, number: int, *, tz: tzinfo) -> tuple[HumanName, ...]:
    """Every XPN repetition of a field, with the called-by names after the name they belong to."""
    names: list[HumanName] = []
    for rep in repetitions(seg, number):
        def part(component: int, sub: int = 1, rep: int = rep) -> str | None:
            return value(seg, number, component, rep, sub)

        kind = part(7)
        start = parse_ts(part(12), tz) or parse_ts(part(10, 1), tz)
        end = parse_ts(part(13), tz) or parse_ts(part(10, 2), tz)
        name = HumanName(
            use=NAME_USE.get(kind.upper(), kind) if kind else None,  # XPN.7
            family=part(1),  # XPN.1.1
            given=_given(part(2), part(3)),  # XPN.2, XPN.3
            prefixes=_present(part(5)),  # XPN.5
            suffixes=_present(part(4), part(6), part(14)),  # XPN.4, XPN.6, XPN.14
            period=Period(start=start, end=end) if start or end else None,
        )
        if name.family or name.given or name.prefixes or name.suffixes:
            names.append(name)
        called_by = part(15)
        if called_by:
            names.append(HumanName(use="nickname", given=(called_by,)))  # XPN.15
    return tuple(names)


def practitioner_parts(part: Getter) -> PractitionerRef | None:
    """A PractitionerRef from the parts of one XCN/CN/CNN (1 id, 2 family, 3-7 name, 9 authority, 13 type)."""
    ident, type_code = part(1), part(13)
    authority = (part(9), part(10), part(11))  # CNN spreads the HD over 9-11; XCN.9 is one HD component
    family, given = part(2), _given(part(3), part(4))
    has_name = bool(family or given)
    if ident is None and not has_name:
        return None
    name = HumanName(family=family, given=given, prefixes=_present(part(6)), suffixes=_present(part(5), part(7)))
    is_npi = (type_code or "").upper() == "NPI" or (authority[0] or "").upper() == "NPI" or _NPI_OID in authority
    system = NPI_SYSTEM if is_npi else hd_system(*authority)
    return PractitionerRef(id=ident, id_system=system if ident else None, id_type_code=type_code,
                           name=name if has_name else None)


def practitioners(seg: hl7.Segment, number: int) -> tuple[PractitionerRef, ...]:
    """Every XCN repetition of a field that names someone."""
    found: list[PractitionerRef] = []
    for rep in repetitions(seg, number):
        def part(component: int, rep: int = rep) -> str | None:
            if component in (10, 11):  # XCN.10/11 are name type and check digit: the HD parts come from XCN.9
                return value(seg, number, 9, rep, component - 8)
            return value(seg, number, component, rep)

        ref = practitioner_parts(part)
        if ref is not None:
            found.append(ref)
    return tuple(found)


def practitioner(seg: hl7.Segment, number: int) -> PractitionerRef | None:
    """The clinician in a (repeating) XCN field: the first repetition typed NPI, else the first."""
    found = practitioners(seg, number)
    return next((ref for ref in found if ref.id_system == NPI_SYSTEM), found[0] if found else None)


def ndl(seg: hl7.Segment, number: int, repetition: int = 0) -> PractitionerRef | None:
    """The clinician in an NDL field (OBR-32..35): a CNN as subcomponents of NDL.1."""
    return practitioner_parts(lambda sub: value(seg, number, 1, repetition, sub))


def organization(seg: hl7.Segment, number: int, repetition: int = 0) -> OrganizationRef | None:
    """The XON in one field repetition."""
    def part(component: int, sub: int = 1) -> str | None:
        return value(seg, number, component, repetition, sub)

    name, ident = part(1), part(10) or part(3)
    if name is None and ident is None:
        return None
    system = hd_system(part(6), part(6, 2), part(6, 3)) if ident else None
    return OrganizationRef(id=ident, id_system=system, name=name)
