"""OBX (+ its NTEs) -> the canonical Observation ([IG] `OBX[Observation]`; [MSFC] `Resource/_Observation.liquid`).

Decisions:

- Repeating OBX-5: the first repetition is `value`; each further one is a component (no code of its own) with
  the same type ([IG] `OBX[Observation-Component]`; [S] `60~120`, `27~25`). Text types (ST, TX, FT) are the
  exception: their repetitions are lines of one text and are joined with line breaks.
- OBX-8 (every repetition, matched on CWE.1 whatever CWE.3 says): each code in `INTERPRETATION_CODES` is a
  concept in v3 ObservationInterpretation; any other ([S] the inactive AC, HM, QCF, TOX, OBX, VS, MS, or local
  codes) keeps its code with no system. `abnormal_flags` keeps every CWE.1 as sent. `critical` is true when a
  flag is LL (critical low), HH (critical high) or AA (critical abnormal); `<` and `>` are off-scale, not
  critical; LU and HU (significantly low/high) are not critical either.
- OBX-11 (table 0085) -> status: F final, C corrected, A amended, P/R/S preliminary (R "not verified" and S
  "partial" are not final yet), I/O registered (specimen in lab; order detail only), U final (status change
  without the value), D/W entered-in-error, X cancelled, N (not asked) and anything else unknown.
- observed_at OBX-14; analyzed_at OBX-19; performer OBX-16 (the NPI repetition, else the first);
  performing_organization OBX-23; method OBX-17; identifier OBX-21; sub_id OBX-4 as sent ([S] TN sends
  `^1^1`); set_id OBX-1 when it is a number; code OBX-3; units OBX-6 as a concept.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import CodedConcept, Observation, ObservationComponent, StringValue
from producers.hl7v2.mapping._common import coded, ei
from producers.hl7v2.mapping._fields import component_values, integer, repetitions, text, value
from producers.hl7v2.mapping._people import organization, practitioner
from producers.hl7v2.mapping._time import ts
from producers.hl7v2.mapping._values import reference_range, value_of
from producers.hl7v2.parsing import FieldParts, field_parts

__all__ = ["CRITICAL_FLAGS", "INTERPRETATION_CODES", "OBSERVATION_STATUS", "observation"]

INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
INTERPRETATION_CODES: Final = frozenset({
    "L", "H", "N", "A", "<", ">", "LU", "HU", "U", "D", "B", "W", "S", "R", "I", "SDD", "NS", "NCL", "POS", "NEG",
    "DET", "ND", "RR", "NR", "WR", "IND", "E", "EX", "EXP", "UNE", "IE", "CAR", "LL", "HH", "AA",
})
CRITICAL_FLAGS: Final = frozenset({"LL", "HH", "AA"})
OBSERVATION_STATUS: Final[Mapping[str, str]] = MappingProxyType({
    "F": "final", "C": "corrected", "A": "amended", "P": "preliminary", "R": "preliminary", "S": "preliminary",
    "I": "registered", "O": "registered", "U": "final", "D": "entered-in-error", "W": "entered-in-error",
    "X": "cancelled", "N": "unknown",
})
_TEXT_TYPES: Final = frozenset({"ST", "TX", "FT"})


def _interpretations(obx: hl7.Segment) -> tuple[tuple[CodedConcept, ...], tuple[str, ...]]:
    return _interpretations_of(field_parts(obx, 8))  # OBX-8


@lru_cache(maxsize=1024)
def _interpretations_of(sent: FieldParts) -> tuple[tuple[CodedConcept, ...], tuple[str, ...]]:
    # Pure in OBX-8, whose few flags (N, H, L...) recur in every message: kept for the next time.
    concepts, flags = [], []
    for rep in sent:
        flag, display, system = [*component_values(rep), None, None, None][:3]
        if flag is None:
            continue
        flags.append(flag)
        known = flag.upper() in INTERPRETATION_CODES
        concepts.append(CodedConcept(
            code=flag.upper() if known else flag, system=INTERPRETATION if known else None,
            display=display, original_code=flag, original_system=system, original_display=display,
        ))
    return tuple(concepts), tuple(flags)


def observation(obx: hl7.Segment, notes: Iterable[str], *, tz: tzinfo) -> Observation:
    kind = value(obx, 2)  # OBX-2
    values = [value_of(obx, kind, rep, tz) for rep in repetitions(obx, 5)]  # OBX-5
    if (kind or "").upper() in _TEXT_TYPES and len(values) > 1:
        lines = [text(obx, 5, rep) or "" for rep in repetitions(obx, 5)]
        values = [StringValue(value="\n".join(lines))] if "".join(lines).strip() else []
    values = values or [None]
    interpretations, flags = _interpretations(obx)
    sent_status = value(obx, 11)  # OBX-11
    return Observation(
        set_id=integer(obx, 1),  # OBX-1
        sub_id=value(obx, 4) or text(obx, 4),  # OBX-4
        identifier=ei(obx, 21),  # OBX-21
        code=coded(obx, 3),  # OBX-3
        value_type=kind,
        value=values[0],
        units=coded(obx, 6),  # OBX-6
        reference_range=reference_range(obx),  # OBX-7
        interpretations=interpretations, abnormal_flags=flags,
        critical=any(flag.upper() in CRITICAL_FLAGS for flag in flags),
        status=OBSERVATION_STATUS.get(sent_status.upper(), "unknown") if sent_status else None,
        status_original=sent_status,
        observed_at=ts(obx, 14, tz),  # OBX-14
        analyzed_at=ts(obx, 19, tz),  # OBX-19
        performer=practitioner(obx, 16),  # OBX-16
        performing_organization=organization(obx, 23),  # OBX-23
        method=coded(obx, 17),  # OBX-17
        components=tuple(ObservationComponent(value=extra) for extra in values[1:] if extra is not None),
        notes=tuple(notes),
    )
