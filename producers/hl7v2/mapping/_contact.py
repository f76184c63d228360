"""Where people are and how to reach them: XAD -> Address, XTN -> ContactPoint, PL -> Location.

Decisions ([IG] `XAD[Address]`, `XTN[ContactPoint]`, `PL[Location]`):

- XAD: the first line is XAD.1's SAD.1 (street address), followed by SAD.2 (street name) and SAD.3 (dwelling
  number) when SAD.1 does not already contain them: they are parts of SAD.1, but [S] sends `1000&Hospital Lane`
  (`1000 Hospital Lane`). The second line is XAD.2. XAD.3 city, XAD.4 state, XAD.5 postal code, XAD.6 country, XAD.9
  county. XAD.7 (table 0190): H and P home, B and O work, C temp, BA old, M a postal (mailing) address; other
  types leave `use` null. Period: XAD.13/XAD.14, else the deprecated XAD.12 range.
- XTN: the value is XTN.1 (the v2.3 formatted number), else XTN.4 (email) for Internet/X.400, else the number
  built from XTN.5-8 (`+1 (586) 3365555 x12`), else XTN.12 (unformatted). XTN.3 (table 0202) gives the system:
  PH and CP phone, FX fax, BP pager, Internet and X.400 email, the rest other. XTN.2 (table 0201) gives the use:
  PRN, ORN and VHN home, WPN work, PRS mobile; CP with no XTN.2 is mobile; the caller's default (PID-13 home,
  PID-14 work) fills an empty XTN.2. XTN.18 is the rank.
- PL: point of care, room and bed are PL.1-3 (their first subcomponent: v2.7 made them HD); PL.4 facility (HD.1,
  else HD.2); PL.5 status; PL.7 building; PL.8 floor; PL.9 description. An empty PL is no location.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import Address, ContactPoint, Location, Period
from producers.hl7v2.mapping._common import Getter
from producers.hl7v2.mapping._fields import integer, repetitions, value
from producers.hl7v2.mapping._time import parse_ts

__all__ = ["addresses", "contact_points", "location"]

_ADDRESS_USE: Final[Mapping[str, str]] = MappingProxyType({
    "H": "home", "P": "home", "B": "work", "O": "work", "C": "temp", "BA": "old",
})
_TELECOM_SYSTEM: Final[Mapping[str, str]] = MappingProxyType({
    "PH": "phone", "CP": "phone", "FX": "fax", "BP": "pager", "INTERNET": "email", "X.400": "email",
})
_TELECOM_USE: Final[Mapping[str, str]] = MappingProxyType({
    "PRN": "home", "ORN": "home", "VHN": "home", "WPN": "work", "PRS": "mobile",
})


def addresses(seg: hl7.Segment, number: int, *, tz: tzinfo, district: str | None = None) -> tuple[Address, ...]:
    """Every XAD repetition; `district` (PID-12) fills an empty XAD.9."""
    found: list[Address] = []
    for rep in repetitions(seg, number):
        def part(component: int, sub: int = 1, rep: int = rep) -> str | None:
            return value(seg, number, component, rep, sub)

        street = part(1) or ""  # SAD.1, plus the SAD.2 / SAD.3 parts it does not already contain
        for extra in (part(1, 2), part(1, 3)):
            if extra and extra not in street:
                street = f"{street} {extra}".strip()
        lines = tuple(line for line in (street, part(2)) if line)
        kind = (part(7) or "").upper()
        start = parse_ts(part(13), tz) or parse_ts(part(12, 1), tz)
        end = parse_ts(part(14), tz) or parse_ts(part(12, 2), tz)
        address = Address(
            use=_ADDRESS_USE.get(kind), type="postal" if kind == "M" else None,  # XAD.7
            lines=lines, city=part(3), state=part(4), postal_code=part(5), country=part(6),
            district=part(9) or district,  # XAD.9, PID-12
            period=Period(start=start, end=end) if start or end else None,
        )
        if lines or address.city or address.state or address.postal_code or address.country:
            found.append(address)
    return tuple(found)


def _number(part: Getter) -> str | None:
    country, area, local, extension = (part(n) for n in (5, 6, 7, 8))  # XTN.5-8
    if local is None:
        return None
    text = f"+{country} " if country else ""
    text += f"({area}) " if area else ""
    return text + local + (f" x{extension}" if extension else "")


def contact_points(seg: hl7.Segment, number: int, *, default_use: str | None = None) -> tuple[ContactPoint, ...]:
    """Every XTN repetition with a value."""
    found: list[ContactPoint] = []
    for rep in repetitions(seg, number):
        def part(component: int, rep: int = rep) -> str | None:
            return value(seg, number, component, rep)

        equipment, use = (part(3) or "").upper(), (part(2) or "").upper()
        email = part(4) if equipment in ("INTERNET", "X.400") else None
        text = part(1) or email or _number(part) or part(12)
        if text is None:
            continue
        mobile = "mobile" if equipment == "CP" else None
        found.append(ContactPoint(
            system=_TELECOM_SYSTEM.get(equipment, "other" if equipment else "phone"),  # XTN.3
            value=text,
            use=_TELECOM_USE.get(use) or (None if use else mobile or default_use),  # XTN.2
            rank=integer(seg, number, 18, rep),  # XTN.18
        ))
    return tuple(found)


def location(seg: hl7.Segment, number: int, *, status: str | None = None) -> Location | None:
    """The PL in a field; `status` stands in for an empty PL.5."""
    def part(component: int, sub: int = 1) -> str | None:
        return value(seg, number, component, 0, sub)

    parts = {
        "point_of_care": part(1), "room": part(2), "bed": part(3),  # PL.1-3
        "facility": part(4) or part(4, 2),  # PL.4
        "building": part(7), "floor": part(8), "description": part(9),  # PL.7-9
    }
    if not any(parts.values()):
        return None
    return Location(**parts, status=part(5) or status)  # PL.5
