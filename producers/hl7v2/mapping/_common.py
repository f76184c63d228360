"""Coded values and identifiers: CWE/CE/CNE/IS -> CodedConcept, CX and EI -> Identifier, HD -> a namespace.

Decisions (sources as in shared/notes/hl7v2-mapping.md §9):

- CWE: of the triplets sent (CWE.1-3, CWE.4-6, CWE.10-12), the first whose coding system has a URI (a standard:
  LOINC, SNOMED CT, an HL7 table...) gives code/system/display/version, else the first one sent; `original_*`
  keep the first triplet whose system has no URI (the sender's local code), else the chosen one again. So
  [S] Epic `21838^...^MAYO^21668-9^...^LN` is LOINC 21668-9 with original MAYO 21838, and [S] TN
  `46762-1^...^LN^CH^...^99TNH` is LOINC 46762-1 with original 99TNH CH: the contract's "CWE.4 when the primary
  triplet was mapped". The adapter itself maps no code. A coding-system name becomes a URI when it is in
  `CODE_SYSTEMS` or is an HL7 table (`HL70078`, also `HL7283`, any case) -> `http://terminology.hl7.org/
  CodeSystem/v2-0078`; otherwise `system` is null and the name stays in `original_system` ([S]: `L`, `99zzz`,
  `CD:1220`, the literal `HL7nnnn`). CWE.7 (CWE.8, CWE.13 for the alternates) the version, CWE.9 the text. No code
  at all but a display or text: a text-only concept.
- No CWE.3, no system, even where the field is bound to a table: most of those tables (0002, 0005, 0006, 0007,
  0023, 0063, 0069, 0112, 0189, 0281, 0284, 0286) are user-defined, so a site's local values (`NHS
  Provider-General` in PV1-14, [S]) would be passed off as HL7's. Only HL7-defined tables get their URI
  (`table_code`: OBR-24, table 0074; PV1-2 in `_encounter`).
- CX -> Identifier: CX.1 value (none: no identifier); CX.5 type as sent (non-0203 local types too); CX.6 (HD.1,
  else HD.2) the assigning facility; CX.7/CX.8 the period. The system is the assigning authority CX.4: HD.1 when
  valued, else HD.2 as `urn:oid:` (HD.3 ISO) or `urn:uuid:` (UUID/GUID) or as sent. The contract, [IG] `HD[uri]`
  and [MSFC] agree on HD.1 first; the note's suggestion of HD.2 first is not followed. HD.1 with blanks in it is
  a name (`Covenant- Morristown-Hamblen Healthcare System`): it is also copied to `assigner`.
- EI (order numbers, OBX-21, RF1-6): EI.1 value, EI.2 namespace (else EI.3 as a URI) the system.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Final

import hl7

from carebus.events import CodedConcept, Identifier, Period
from producers.hl7v2.mapping._fields import component_values, parts, repetitions, value
from producers.hl7v2.mapping._time import parse_ts
from producers.hl7v2.parsing import field_parts

__all__ = [
    "CODE_SYSTEMS",
    "DIAGNOSTIC_SECTIONS",
    "V2_TABLE",
    "Getter",
    "coded",
    "coded_parts",
    "concepts",
    "cx",
    "ei",
    "ei_parts",
    "getter",
    "hd_system",
    "system_uri",
    "table_code",
]

Getter = Callable[[int], str | None]
"""Reads the n-th part (component or subcomponent, from 1) of one composite value."""

V2_TABLE: Final = "http://terminology.hl7.org/CodeSystem/v2-{table}"

CODE_SYSTEMS: Final[Mapping[str, str]] = MappingProxyType({
    "LN": "http://loinc.org",
    "LOINC": "http://loinc.org",
    "SCT": "http://snomed.info/sct",
    "SNOMED": "http://snomed.info/sct",
    "SNOMEDCT": "http://snomed.info/sct",
    "I10": "http://hl7.org/fhir/sid/icd-10",
    "I10C": "http://hl7.org/fhir/sid/icd-10-cm",
    "ICD10CM": "http://hl7.org/fhir/sid/icd-10-cm",
    "I9C": "http://hl7.org/fhir/sid/icd-9-cm",
    "C4": "http://www.ama-assn.org/go/cpt",
    "CPT": "http://www.ama-assn.org/go/cpt",
    "UCUM": "http://unitsofmeasure.org",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "CVX": "http://hl7.org/fhir/sid/cvx",
    "CDCREC": "urn:oid:2.16.840.1.113883.6.238",
})
"""Coding-system names (HL7 table 0396 and common variants) with a well-known URI."""

DIAGNOSTIC_SECTIONS: Final = frozenset({
    "AU", "BG", "BLB", "CG", "CH", "CP", "CT", "CTH", "CUS", "EC", "EN", "GE", "HM", "ICU", "IMG", "IMM", "LAB",
    "MB", "MCB", "MYC", "NMR", "NMS", "NRS", "OSL", "OT", "OTH", "OUS", "PAR", "PAT", "PF", "PHR", "PHY", "PT",
    "RAD", "RC", "RT", "RUS", "RX", "SP", "SR", "TX", "URN", "VR", "VUS", "XRC",
})
"""HL7 table 0074 (diagnostic service section ID, OBR-24)."""

_HL7_TABLE: Final = re.compile(r"^HL7(\d{3,4})$", re.IGNORECASE)
_TRIPLETS: Final = ((1, 2, 3, 7), (4, 5, 6, 8), (10, 11, 12, 13))


def getter(found: Sequence[str | None]) -> Getter:
    """A Getter over parts already read (index 0 = part 1), such as `_fields.parts()` gives."""
    size = len(found)
    return lambda n: found[n - 1] if n <= size else None


@lru_cache(maxsize=1024)
def system_uri(name: str | None) -> str | None:
    """The URI of a coding-system name as sent, or None when it has no known URI."""
    if name is None:
        return None
    table = _HL7_TABLE.match(name)
    if table:
        return V2_TABLE.format(table=table.group(1).zfill(4))
    return CODE_SYSTEMS.get(name.upper())


def coded_parts(part: Getter) -> CodedConcept | None:
    """A CodedConcept from the parts of one CWE/CE/CNE (or IS: a bare code)."""
    original_text = part(9)
    sent = []
    for code_at, display_at, system_at, version_at in _TRIPLETS:
        if (code := part(code_at)) is not None:
            sent.append((code, part(display_at), part(system_at), part(version_at)))
    if not sent:
        display = part(2)
        if display is None and original_text is None:
            return None
        return CodedConcept(text=original_text or display, original_display=display, original_system=part(3))
    standard = next((triplet for triplet in sent if system_uri(triplet[2])), sent[0])
    local = next((triplet for triplet in sent if not system_uri(triplet[2])), standard)
    code, display, name, version = standard
    return CodedConcept(code=code, system=system_uri(name), display=display, version=version, text=original_text,
                        original_code=local[0], original_system=local[2], original_display=local[1])


def coded(seg: hl7.Segment, number: int, repetition: int = 0) -> CodedConcept | None:
    """The CWE (or CE, CNE, IS) in one field repetition."""
    if repetition < 0:
        raise ValueError("repetitions count from 0")
    reps = field_parts(seg, number)
    return _coded_repetition(reps[repetition]) if repetition < len(reps) else None


@lru_cache(maxsize=4096)
def _coded_repetition(repetition: tuple[tuple[str | None, ...], ...]) -> CodedConcept | None:
    # A pure function of the repetition's values, and a feed repeats its codes (every OBX-3 and OBX-6 of a
    # panel, message after message): the concept, immutable, is kept for the next time.
    found = component_values(repetition)
    return coded_parts(getter(found)) if any(found) else None


def concepts(seg: hl7.Segment, number: int) -> tuple[CodedConcept, ...]:
    """Every repetition of a coded field, empty ones left out."""
    found = (coded(seg, number, rep) for rep in repetitions(seg, number))
    return tuple(concept for concept in found if concept is not None)


def table_code(code: str | None, table: str, values: frozenset[str]) -> CodedConcept | None:
    """A bare value of an HL7-defined table (an ID such as OBR-24) as a concept in that table when it is one of
    the table's `values`; any other value ([S] Oracle `CD:692`) is kept only as `original_code`."""
    if code is None:
        return None
    if code.upper() not in values:
        return CodedConcept(original_code=code)
    return CodedConcept(code=code.upper(), system=V2_TABLE.format(table=table), original_code=code)


def hd_system(namespace: str | None, universal: str | None, universal_type: str | None) -> str | None:
    """The namespace an HD names: HD.1, else HD.2 as a URI per HD.3."""
    if namespace:
        return namespace
    if not universal:
        return None
    kind = (universal_type or "").upper()
    if universal.lower().startswith("urn:"):
        return universal
    if kind == "ISO":
        return f"urn:oid:{universal}"
    if kind in ("UUID", "GUID"):
        return f"urn:uuid:{universal}"
    return universal


def cx(seg: hl7.Segment, number: int, repetition: int = 0, *, tz: tzinfo,
       default_type: str | None = None) -> Identifier | None:
    """The CX in one field repetition; `default_type` stands in for an empty CX.5 (VN for PV1-19)."""
    def part(component: int, sub: int = 1) -> str | None:
        return value(seg, number, component, repetition, sub)

    ident = part(1)
    if ident is None:
        return None
    namespace = part(4)
    start, end = parse_ts(part(7), tz), parse_ts(part(8), tz)
    return Identifier(
        value=ident,
        system=hd_system(namespace, part(4, 2), part(4, 3)),  # CX.4
        type_code=part(5) or default_type,  # CX.5
        assigner=namespace if namespace and " " in namespace else None,
        assigning_facility=part(6) or part(6, 2),  # CX.6
        period=Period(start=start, end=end) if start or end else None,  # CX.7, CX.8
    )


def ei_parts(part: Getter, *, type_code: str | None = None) -> Identifier | None:
    """An EI from its parts: EI.1 value, EI.2 namespace, EI.3 universal id, EI.4 its type."""
    ident = part(1)
    if ident is None:
        return None
    return Identifier(value=ident, system=hd_system(part(2), part(3), part(4)), type_code=type_code)


def ei(seg: hl7.Segment, number: int, repetition: int = 0, *, type_code: str | None = None) -> Identifier | None:
    """The EI in one field repetition."""
    found = parts(seg, number, repetition)
    return ei_parts(getter(found), type_code=type_code) if found and found[0] is not None else None
