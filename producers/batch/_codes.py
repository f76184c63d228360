"""Code systems as feeds name them, turned into the URIs the canonical contract uses.

A feed writes `LN`, `LOINC` or `http://loinc.org` for the same system; the canonical CodedConcept
wants the URI in `system` and the sender's spelling in `original_system`. A name we do not know is
kept only as `original_system` (the contract's rule: no URI is invented). A value that already
looks like a URI or OID (`://`, `urn:oid:`, `urn:uuid:`) is used as it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Final

from carebus.events import CodedConcept

__all__ = ["CPT", "HCPCS", "ICD10CM", "LOINC", "SNOMED", "coded", "system_uri"]

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
ICD10CM: Final = "http://hl7.org/fhir/sid/icd-10-cm"
CPT: Final = "http://www.ama-assn.org/go/cpt"
HCPCS: Final = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
UCUM: Final = "http://unitsofmeasure.org"
CONCEPT_CACHE_SIZE: Final = 4096

KNOWN_SYSTEMS: Final[Mapping[str, str]] = {
    # HL7 table 0396 names first, then the words feeds use.
    "ln": LOINC, "loinc": LOINC,
    "sct": SNOMED, "sct2": SNOMED, "snomed": SNOMED, "snomedct": SNOMED, "snomed-ct": SNOMED,
    # ICD-10-CM only: plain `I10`/`ICD10` is WHO ICD-10, a different code system.
    "i10c": ICD10CM, "icd10cm": ICD10CM, "icd-10-cm": ICD10CM,
    "c4": CPT, "cpt": CPT, "cpt4": CPT, "cpt-4": CPT,
    # `HPC` is table 0396's HCPCS (`HCPT` there is the provider taxonomy, not a procedure code system).
    "hpc": HCPCS, "hcpcs": HCPCS,
    "ucum": UCUM,
    **{uri.lower(): uri for uri in (LOINC, SNOMED, ICD10CM, CPT, HCPCS, UCUM)},
}
"""Lower-cased system names feeds use, to the canonical URI."""


def system_uri(sent: str | None) -> str | None:
    """The URI for a system as sent, or None when the name is not one we know."""
    if sent is None:
        return None
    known = KNOWN_SYSTEMS.get(sent.lower())
    if known is not None:
        return known
    if "://" in sent or sent.startswith(("urn:oid:", "urn:uuid:")):
        return sent
    return None


@lru_cache(maxsize=CONCEPT_CACHE_SIZE)
def coded(code: str, sent_system: str | None, display: str | None = None, *,
          default_system: str | None = None) -> CodedConcept:
    """A CodedConcept for a code as the feed sent it; `default_system` applies when the feed names none.

    Cached: a feed repeats the same few thousand codes, and the models are frozen, so events share them."""
    system = system_uri(sent_system) if sent_system else default_system
    return CodedConcept(code=code, system=system, display=display,
                        original_code=code, original_system=sent_system)
