"""PID -> the canonical Patient ([IG] `PID[Patient]`; [MSFC] `Resource/_Patient.liquid`).

Decisions:

- identifiers: PID-3 (every repetition), PID-2, PID-4, then PID-19 and PID-20. PID-19 is typed `SS` with system
  `http://hl7.org/fhir/sid/us-ssn`, as [IG] does for the US; [MSFC]'s `SB` (social beneficiary) is a different
  identifier. A PID-19 with no non-zero digit is a placeholder ([S]: `SSN`, `000-00-0000`) and is dropped.
  PID-20 (DLN) is typed `DL`, its issuing state DLN.2 the system.
- names: PID-5 (legal name first, as sent), then PID-9 aliases. PID-6 (mother's maiden name) has no place in the
  contract and is not mapped.
- birth: PID-7 gives `birth_date` (the calendar date as written, never shifted by a zone; only with a day) and,
  when it has a time, `birth_time` (UTC). PID-8 (table 0001): F female, M male, U unknown, O/A/N other.
- Placeholders: a typed field that does not parse is absent, never an error. [S] Epic sends the template
  words `DOB` and `SEX`; they give no birth date and no sex. Free-text and coded fields cannot be told apart
  from real values and are kept as sent (`MARITAL` becomes a marital-status code `MARITAL`).
- address PID-11 (PID-12 county fills an empty XAD.9); telecom PID-13 (home when XTN.2 is empty), PID-14
  (work), PID-40 (v2.7+). PID-15 language, PID-16 marital status (table 0002), PID-17 religion (0006), PID-10
  races and PID-22 ethnic groups (every repetition). PID-24 multiple birth and PID-30 death indicator: Y/N;
  PID-25 birth order; PID-29 death time, which also sets `deceased` when PID-30 is empty.
- `active` is never sent by v2 and stays null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import tzinfo
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import Identifier, Patient, PatientLink
from producers.hl7v2.mapping._common import coded, concepts
from producers.hl7v2.mapping._contact import addresses, contact_points
from producers.hl7v2.mapping._fields import integer, value
from producers.hl7v2.mapping._people import human_names
from producers.hl7v2.mapping._subject import pid_identifiers
from producers.hl7v2.mapping._time import date_of, has_time, parse_ts, ts

__all__ = ["ADMINISTRATIVE_SEX", "SSN_SYSTEM", "patient"]

SSN_SYSTEM: Final = "http://hl7.org/fhir/sid/us-ssn"
ADMINISTRATIVE_SEX: Final[Mapping[str, str]] = MappingProxyType({
    "F": "female", "M": "male", "U": "unknown", "O": "other", "A": "other", "N": "other",
})
_YES_NO: Final[Mapping[str, bool]] = MappingProxyType({"Y": True, "N": False})


def _flag(pid: hl7.Segment, number: int) -> bool | None:
    return _YES_NO.get((value(pid, number) or "").upper())


def _extra_identifiers(pid: hl7.Segment) -> tuple[Identifier, ...]:
    found: list[Identifier] = []
    ssn = value(pid, 19)  # PID-19
    if ssn and any(digit in "123456789" for digit in ssn):
        found.append(Identifier(value=ssn, system=SSN_SYSTEM, type_code="SS"))
    licence = value(pid, 20)  # PID-20
    if licence:
        found.append(Identifier(value=licence, system=value(pid, 20, 2), type_code="DL"))
    return tuple(found)


def patient(pid: hl7.Segment, *, tz: tzinfo, links: tuple[PatientLink, ...] = ()) -> Patient:
    """The Patient the PID describes; `links` are the merge's retired records (A40, MRG-1)."""
    raw_birth = value(pid, 7)  # PID-7
    birth_time = parse_ts(raw_birth, tz) if has_time(raw_birth) else None
    deceased_at = ts(pid, 29, tz)  # PID-29
    deceased = _flag(pid, 30)  # PID-30
    return Patient(
        identifiers=pid_identifiers(pid, tz) + _extra_identifiers(pid),  # PID-3, PID-2, PID-4, PID-19, PID-20
        names=human_names(pid, 5, tz=tz) + human_names(pid, 9, tz=tz),  # PID-5, PID-9
        birth_date=date_of(pid, 7),
        birth_time=birth_time,
        administrative_sex=ADMINISTRATIVE_SEX.get((value(pid, 8) or "").upper()),  # PID-8
        addresses=addresses(pid, 11, tz=tz, district=value(pid, 12)),  # PID-11, PID-12
        telecom=(contact_points(pid, 13, default_use="home")  # PID-13
                 + contact_points(pid, 14, default_use="work")  # PID-14
                 + contact_points(pid, 40)),  # PID-40
        deceased=deceased if deceased is not None else (True if deceased_at else None),
        deceased_at=deceased_at,
        marital_status=coded(pid, 16),  # PID-16
        language=coded(pid, 15),  # PID-15
        races=concepts(pid, 10),  # PID-10
        ethnicities=concepts(pid, 22),  # PID-22
        religion=coded(pid, 17),  # PID-17
        multiple_birth=_flag(pid, 24),  # PID-24
        birth_order=integer(pid, 25),  # PID-25
        links=links,
    )
