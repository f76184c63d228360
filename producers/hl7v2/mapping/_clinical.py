"""Clinical segments several message types share: DG1 -> Diagnosis, SPM (or OBR-15) -> Specimen, NTE -> notes.

Decisions:

- DG1 ([IG] `DG1[Condition]`): DG1-3 the code (a DG1 with no code but a DG1-4 description is a text-only code;
  neither: skipped); `sequence` DG1-15 (priority, 1 = principal) when it is a positive number, else DG1-1 (set
  id); DG1-6 the type as sent; DG1-5 when it was made. DG1-21 = `D` (delete) is a retraction: skipped.
- SPM ([IG] `SPM[Specimen]`): the specimen id is the filler's SPM-2.2 (the lab's own), else the placer's SPM-2.1;
  SPM-4 type, SPM-8 site, SPM-17.1/.2 collection start/end, SPM-18 received, SPM-30 accession (first repetition).
  v2.3-2.4 have no SPM: OBR-15 (SPS, a CWE in the subcomponents of SPS.1) gives the type when a group has no SPM.
- NTE: one note per NTE, its NTE-3 repetitions joined by line breaks; an NTE without text is dropped ([S] Epic
  sends blank NTEs as empty lines of one long comment; the text around them survives).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import tzinfo

import hl7

from carebus.events import CodedConcept, Diagnosis, Specimen
from producers.hl7v2.mapping._common import coded, coded_parts, cx, ei_parts
from producers.hl7v2.mapping._fields import integer, repetitions, text, value
from producers.hl7v2.mapping._time import ts
from producers.hl7v2.parsing import segment_id

__all__ = ["diagnoses", "note", "specimen", "specimen_from_obr"]


def diagnoses(segments: Iterable[hl7.Segment], *, tz: tzinfo) -> tuple[Diagnosis, ...]:
    """A Diagnosis per DG1 among `segments` (other segments are ignored)."""
    found: list[Diagnosis] = []
    for dg1 in segments:
        if segment_id(dg1) != "DG1" or (value(dg1, 21) or "").upper() == "D":  # DG1-21
            continue
        description = value(dg1, 4)  # DG1-4
        code = coded(dg1, 3) or (CodedConcept(text=description) if description else None)  # DG1-3
        if code is None:
            continue
        priority = integer(dg1, 15)  # DG1-15
        found.append(Diagnosis(
            sequence=priority if priority else integer(dg1, 1),  # DG1-1
            code=code, type=value(dg1, 6), recorded_at=ts(dg1, 5, tz),  # DG1-6, DG1-5
        ))
    return tuple(found)


def specimen(spm: hl7.Segment, *, tz: tzinfo) -> Specimen:
    """The Specimen an SPM describes."""
    filler = ei_parts(lambda sub: value(spm, 2, 2, 0, sub))  # SPM-2.2
    placer = ei_parts(lambda sub: value(spm, 2, 1, 0, sub))  # SPM-2.1
    return Specimen(
        identifier=filler or placer,
        accession_identifier=cx(spm, 30, tz=tz),  # SPM-30
        type=coded(spm, 4),  # SPM-4
        source_site=coded(spm, 8),  # SPM-8
        collected_at=ts(spm, 17, tz),  # SPM-17.1
        collection_end=ts(spm, 17, tz, component=2),  # SPM-17.2
        received_at=ts(spm, 18, tz),  # SPM-18
    )


def specimen_from_obr(obr: hl7.Segment) -> Specimen | None:
    """The specimen type OBR-15 names (v2.3-2.4 senders), when it names one."""
    kind = coded_parts(lambda sub: value(obr, 15, 1, 0, sub))  # OBR-15.1
    return Specimen(type=kind) if kind is not None else None


def note(nte: hl7.Segment) -> str | None:
    """The text of one NTE (NTE-3, repetitions joined by line breaks), or None when it has none."""
    lines = [line for rep in repetitions(nte, 3) if (line := text(nte, 3, rep)) is not None]
    joined = "\n".join(lines)
    return joined if joined.strip() else None
