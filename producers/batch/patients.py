"""Layout `patients`: Synthea's `patients.csv` export, one row per patient -> `patient.upserted`.

Columns as Synthea writes them (synthetichealth/synthea `csv/patients.csv`; the header matches
case-insensitively). Synthea has added columns over the years (MIDDLE, FIPS, INCOME), so columns
this layout does not know are ignored rather than refused. The field mapping follows Synthea's own
FHIR exporter where the CSV carries the same data, so a patient loaded from CSV and one loaded from
Synthea FHIR look alike on the bus. Decisions:

- `Id` is the patient's source identifier, in Synthea's namespace `https://github.com/synthetichealth/synthea`
  (the system Synthea's FHIR export gives it); it is the subject and so the record key.
- DRIVERS and PASSPORT carry their 0203 type (DL, PPN) but no system: Synthea's FHIR exporter hard-codes a
  Massachusetts OID for every licence, which the CSV cannot confirm (the sample is Swedish).
- DEATHDATE is a date; `deceased_at` is midnight UTC of it (the contract's rule for date-only values).
  An empty DEATHDATE leaves `deceased` null: the export does not say "alive", it says nothing.
- RACE and ETHNICITY are Synthea's words, mapped to CDC Race & Ethnicity codes (OMB categories), with the
  word kept as `original_code`.
- BIRTHPLACE, LAT, LON, FIPS, HEALTHCARE_EXPENSES, HEALTHCARE_COVERAGE and INCOME have no place in the
  canonical Patient; they are validated (a malformed number usually means a shifted row) and dropped.
- `occurred_at` and `recorded_at` are the load's `received_at`: the export has no time of change.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, time
from decimal import Decimal
from typing import Annotated, Final, Literal

from pydantic import PlainValidator
from pydantic_core import PydanticCustomError

from carebus.events import Address, CodedConcept, HumanName, Identifier, Patient, PatientEvent, Subject
from carebus.ids import SourcePatientId
from producers.batch._envelope import LoadContext, batch_envelope
from producers.batch._fields import RULES, IsoDate, MoneyAmount, RowModel, one_of
from producers.batch._layout import Layout, ParsedRow

__all__ = ["LAYOUT", "SYNTHEA_ID_SYSTEM", "PatientRow", "map_patient_row"]

SYNTHEA_ID_SYSTEM: Final = "https://github.com/synthetichealth/synthea"
SSN_SYSTEM: Final = "http://hl7.org/fhir/sid/us-ssn"
MARITAL_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
CDC_RACE_ETHNICITY_SYSTEM: Final = "urn:oid:2.16.840.1.113883.6.238"
SYNTHEA_CODES: Final = "synthea"
"""`original_system` of the words Synthea writes (RACE, ETHNICITY, MARITAL)."""

COLUMNS: Final = (
    "id", "birthdate", "deathdate", "ssn", "drivers", "passport", "prefix", "first", "middle", "last",
    "suffix", "maiden", "marital", "race", "ethnicity", "gender", "birthplace", "address", "city", "state",
    "county", "fips", "zip", "lat", "lon", "healthcare_expenses", "healthcare_coverage", "income",
)
REQUIRED: Final = frozenset({
    "id", "birthdate", "deathdate", "ssn", "first", "last", "race", "ethnicity", "gender", "birthplace",
    "address", "city", "state",
})

# v3 MaritalStatus; Synthea writes M, S, D, W.
MARITAL: Final[Mapping[str, str]] = {
    "A": "Annulled", "D": "Divorced", "I": "Interlocutory", "L": "Legally Separated", "M": "Married",
    "P": "Polygamous", "S": "Never Married", "T": "Domestic partner", "U": "unmarried", "W": "Widowed",
}
RACES: Final[Mapping[str, tuple[str, str]]] = {
    "white": ("2106-3", "White"),
    "black": ("2054-5", "Black or African American"),
    "asian": ("2028-9", "Asian"),
    "native": ("1002-5", "American Indian or Alaska Native"),
    "hawaiian": ("2076-8", "Native Hawaiian or Other Pacific Islander"),
    "other": ("2131-1", "Other Race"),
}
ETHNICITIES: Final[Mapping[str, tuple[str, str]]] = {
    "hispanic": ("2135-2", "Hispanic or Latino"),
    "nonhispanic": ("2186-5", "Not Hispanic or Latino"),
}
SEXES: Final[Mapping[str, str]] = {"M": "male", "F": "female"}

_COORDINATE = re.compile(r"-?\d{1,3}(\.\d{1,20})?")


def _parse_coordinate(value: object) -> Decimal:
    if not isinstance(value, str) or not _COORDINATE.fullmatch(value):
        raise PydanticCustomError("number-format", RULES["number-format"])
    return Decimal(value)


Coordinate = Annotated[Decimal, PlainValidator(_parse_coordinate)]


class PatientRow(RowModel):
    """One row of Synthea's patients.csv (field names are the lower-cased column names)."""

    id: str
    birthdate: IsoDate
    deathdate: IsoDate | None = None
    ssn: str | None = None
    drivers: str | None = None
    passport: str | None = None
    prefix: str | None = None
    first: str
    middle: str | None = None
    last: str
    suffix: str | None = None
    maiden: str | None = None
    marital: Annotated[str, one_of(tuple(MARITAL))] | None = None
    race: Annotated[str, one_of(tuple(RACES))] | None = None
    ethnicity: Annotated[str, one_of(tuple(ETHNICITIES))] | None = None
    gender: Literal["M", "F"]
    birthplace: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    county: str | None = None
    fips: str | None = None
    zip: str | None = None
    lat: Coordinate | None = None
    lon: Coordinate | None = None
    healthcare_expenses: MoneyAmount | None = None
    healthcare_coverage: MoneyAmount | None = None
    income: MoneyAmount | None = None


def _identifiers(row: PatientRow) -> tuple[Identifier, ...]:
    identifiers = [Identifier(value=row.id, system=SYNTHEA_ID_SYSTEM)]  # Id
    if row.ssn:
        identifiers.append(Identifier(value=row.ssn, system=SSN_SYSTEM, type_code="SS"))  # SSN
    if row.drivers:
        identifiers.append(Identifier(value=row.drivers, type_code="DL"))  # DRIVERS
    if row.passport:
        identifiers.append(Identifier(value=row.passport, type_code="PPN"))  # PASSPORT
    return tuple(identifiers)


def _names(row: PatientRow) -> tuple[HumanName, ...]:
    given = tuple(part for part in (row.first, row.middle) if part)  # FIRST, MIDDLE
    official = HumanName(use="official", family=row.last, given=given,  # LAST
                         prefixes=(row.prefix,) if row.prefix else (),  # PREFIX
                         suffixes=(row.suffix,) if row.suffix else ())  # SUFFIX
    if not row.maiden:
        return (official,)
    return (official, HumanName(use="maiden", family=row.maiden, given=given))  # MAIDEN


def _address(row: PatientRow) -> tuple[Address, ...]:
    if not any((row.address, row.city, row.county, row.state, row.zip)):
        return ()
    return (Address(use="home", lines=(row.address,) if row.address else (),  # ADDRESS
                    city=row.city, district=row.county, state=row.state, postal_code=row.zip),)  # CITY..ZIP


def _coded(word: str | None, table: Mapping[str, tuple[str, str]]) -> tuple[CodedConcept, ...]:
    if word is None:
        return ()
    code, display = table[word]
    return (CodedConcept(code=code, display=display, system=CDC_RACE_ETHNICITY_SYSTEM,
                         original_code=word, original_system=SYNTHEA_CODES),)


def _marital(code: str | None) -> CodedConcept | None:
    if code is None:
        return None
    return CodedConcept(code=code, display=MARITAL[code], system=MARITAL_SYSTEM,
                        original_code=code, original_system=SYNTHEA_CODES)


def map_patient_row(rows: Sequence[ParsedRow[PatientRow]], context: LoadContext) -> PatientEvent:
    """Synthea patients.csv row -> patient.upserted (one row per event)."""
    (parsed,) = rows
    row = parsed.row
    identifiers = _identifiers(row)
    patient = Patient(
        identifiers=identifiers,
        names=_names(row),
        birth_date=row.birthdate,  # BIRTHDATE
        administrative_sex=SEXES[row.gender],  # GENDER
        addresses=_address(row),
        deceased=True if row.deathdate else None,  # DEATHDATE
        deceased_at=datetime.combine(row.deathdate, time(), UTC) if row.deathdate else None,
        marital_status=_marital(row.marital),  # MARITAL
        races=_coded(row.race, RACES),  # RACE
        ethnicities=_coded(row.ethnicity, ETHNICITIES),  # ETHNICITY
    )
    subject = Subject(source_patient_id=SourcePatientId(f"{SYNTHEA_ID_SYSTEM}|{row.id}"),
                      source_identifiers=identifiers[:1])
    envelope = batch_envelope(context, line=parsed.line, event_type="patient.upserted",
                              message_type=LAYOUT.message_type, subject=subject)
    return PatientEvent(envelope=envelope, payload=patient)


LAYOUT: Final = Layout(
    name="patients",
    domain="patient",
    columns=COLUMNS,
    required=REQUIRED,
    allow_extra_columns=True,
    row_model=PatientRow,
    map_group=map_patient_row,
    message_type="csv/synthea-patients",
    default_source_system="synthea",
)
