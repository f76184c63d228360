"""Identity: an enterprise master patient index (EMPI) as a pure function over three lookups.

`resolve_identity(event, view, rule) -> Resolution` decides which enterprise id an event's patient has, and
which index entries to write. The resolve stage keeps the index in three faust tables (changelog-backed):

- `links`: identifier key -> enterprise id. An identifier key is (assigning authority, identifier value),
  hashed (`identifier_key`), so no MRN sits in a topic key.
- `people`: demographic key -> enterprise id, for the configurable demographic rule (`demographic_key`).
- `merges`: retired enterprise id -> the id that replaced it (`patient.merged`).

Matching, in order:

1. Deterministic: any of the event's identifiers (`subject.source_identifiers`, plus `payload.identifiers`
   of a patient event) already linked. The subject's primary identifier (`source_patient_id`) is tried first.
   Identifier types that never name a patient (account, visit numbers: `ignore_types`) are skipped. An
   identifier without an authority is qualified by the sending system.
2. Demographic (patient events only; the rule's fields, e.g. family, first given name, birth date and sex,
   all present): a person with the same demographic key.
3. Otherwise a new enterprise id: uuid5 of the primary identifier's key. Deterministic, so a replay of the
   same log gives the same ids.

Every identifier not yet linked is linked to the chosen id; a patient event's demographic key is recorded if
free. A key already linked to another person is not taken over (no silent merge): only `patient.merged` merges.

`patient.merged` (ADT^A40, FHIR Patient.link `replaces`): the survivor's id comes from its identifiers (else
from a retired one, so the person keeps their id), each retired identifier is re-linked to it, and each
retired identifier's former enterprise id is recorded in `merges` as replaced by the survivor: every other
identifier that pointed at the retired id (another system's MRN, a FHIR id matched by demographics) now
resolves to the survivor too. Lookups follow `merges` to the end of the chain.
"""

from __future__ import annotations

import hashlib
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Protocol

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from carebus.events import Event, Identifier, Patient, PatientEvent
from carebus.ids import EnterpriseId
from processors.errors import ConfigFileError, IdentityError

__all__ = [
    "DEMOGRAPHIC_FIELDS",
    "EMPI_NAMESPACE",
    "IDENTITY_FILE",
    "IdentityRule",
    "IdentityView",
    "Resolution",
    "demographic_key",
    "has_patient_identifier",
    "identifier_key",
    "load_identity_rule",
    "resolve_identity",
]

IDENTITY_FILE: Final = "identity.yaml"
EMPI_NAMESPACE: Final = uuid.UUID("6f3c1a2e-5d4b-4c8e-9a7f-0e1d2c3b4a59")
DEMOGRAPHIC_FIELDS: Final = ("family", "given", "given_initial", "birth_date", "birth_year", "sex", "postal_code")
MERGED: Final = "patient.merged"
_RETIRED_LINK_TYPES: Final = frozenset({"replaces"})
_MAX_MERGE_HOPS: Final = 64
_NAME_USES: Final = (None, "official", "usual")

Method = Literal["identifier", "demographic", "new", "merge"]


class IdentityRule(BaseModel):
    """The operator's matching rule (`config/identity.yaml`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ignore_types: frozenset[str] = frozenset({"AN", "VN"})
    """Identifier types (HL7 table 0203) that never name a patient: account and visit numbers."""
    demographic_fields: tuple[Literal["family", "given", "given_initial", "birth_date", "birth_year", "sex",
                                      "postal_code"], ...] = Field(("family", "given", "birth_date", "sex"),
                                                                   min_length=1)
    """Fields that must all be present and equal for a demographic match."""
    demographic_match: bool = True

    @field_validator("ignore_types")
    @classmethod
    def _upper(cls, value: frozenset[str]) -> frozenset[str]:
        return frozenset(code.upper() for code in value)


class IdentityView(Protocol):
    """Read access to the index: the resolve stage's tables, or dicts in tests."""

    def linked(self, key: str) -> str | None: ...

    def person(self, key: str) -> str | None: ...

    def replaced_by(self, enterprise_id: str) -> str | None: ...


@dataclass(frozen=True)
class Resolution:
    enterprise_id: EnterpriseId
    method: Method
    links: tuple[tuple[str, str], ...] = ()
    people: tuple[tuple[str, str], ...] = ()
    merges: tuple[tuple[str, str], ...] = ()


def identifier_key(identifier: Identifier, sending_system: str) -> str:
    """The index key of (assigning authority, value); an identifier with no authority is the sender's."""
    authority = identifier.system or identifier.assigner or identifier.assigning_facility or f"source:{sending_system}"
    return "id:" + _digest(authority.strip(), identifier.value.strip())


def demographic_key(patient: Patient, fields: Iterable[str]) -> str | None:
    """The index key of the rule's demographic fields, or None when one of them is missing."""
    name = next((n for use in _NAME_USES for n in patient.names if n.use == use), None)
    family = _fold(name.family) if name and name.family else ""
    given = _fold(name.given[0]) if name and name.given else ""
    sex = patient.administrative_sex if patient.administrative_sex not in (None, "unknown") else ""
    birth = patient.birth_date
    postal = next((a.postal_code for a in patient.addresses if a.postal_code), None)
    values = {
        "family": family,
        "given": given,
        "given_initial": given[:1],
        "birth_date": birth.isoformat() if birth else "",
        "birth_year": str(birth.year) if birth else "",
        "sex": sex or "",
        "postal_code": _fold(postal)[:5] if postal else "",
    }
    chosen = [(field, values[field]) for field in fields]
    if any(not value for _, value in chosen):
        return None
    return "demo:" + _digest(*(f"{field}={value}" for field, value in chosen))


def resolve_identity(event: Event, view: IdentityView, rule: IdentityRule) -> Resolution:
    """The event's enterprise id and the index writes it implies. Raises IdentityError when the event names
    no identifier the index can use."""
    system = event.envelope.source.system
    keys = _keys(_identifiers(event, rule), system)
    patient = event.payload if isinstance(event, PatientEvent) else None
    retired = _keys(_retired(patient, rule), system) if patient and event.envelope.event_type == MERGED else []
    if not keys and not retired:
        raise IdentityError("identity", "no-patient-identifier", "the event names no usable patient identifier")
    demo = demographic_key(patient, rule.demographic_fields) if patient and rule.demographic_match else None
    found = _roots(view, keys)

    if retired:
        retired_found = _roots(view, retired)
        enterprise_id = found[0] if found else retired_found[0] if retired_found else _new_id((keys or retired)[0])
        merges = tuple((old, enterprise_id) for old in dict.fromkeys(retired_found) if old != enterprise_id)
        links = tuple((key, enterprise_id) for key in dict.fromkeys(keys + retired)
                      if _root(view, view.linked(key)) != enterprise_id)
        return Resolution(EnterpriseId(enterprise_id), "merge", links, _claim(view, demo, enterprise_id), merges)

    method: Method
    if found:
        enterprise_id, method = found[0], "identifier"
    elif demo is not None and (person := _root(view, view.person(demo))) is not None:
        enterprise_id, method = person, "demographic"
    else:
        enterprise_id, method = _new_id(keys[0]), "new"
    links = tuple((key, enterprise_id) for key in keys if view.linked(key) is None)
    return Resolution(EnterpriseId(enterprise_id), method, links, _claim(view, demo, enterprise_id))


def has_patient_identifier(event: Event, rule: IdentityRule) -> bool:
    """Whether the index can match the event at all (checked at intake, so the dead letter keeps its bytes)."""
    if _identifiers(event, rule):
        return True
    patient = event.payload if isinstance(event, PatientEvent) else None
    return bool(patient and event.envelope.event_type == MERGED and _retired(patient, rule))


def load_identity_rule(path: Path) -> IdentityRule:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ConfigFileError(str(path), f"cannot read ({type(exc).__name__})") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigFileError(str(path), "not valid YAML", line=mark.line + 1 if mark else None) from exc
    if not isinstance(document, dict):
        raise ConfigFileError(str(path), "expected a mapping at the top level")
    try:
        return IdentityRule.model_validate(document)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigFileError(str(path), f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None


# --- helpers ---------------------------------------------------------------------------------------------


def _identifiers(event: Event, rule: IdentityRule) -> list[Identifier]:
    subject = event.envelope.subject
    found = list(subject.source_identifiers)
    if isinstance(event, PatientEvent):
        found.extend(event.payload.identifiers)
    usable = [i for i in found if i.value.strip() and (i.type_code or "").upper() not in rule.ignore_types]
    if subject.source_patient_id:  # the primary identifier first
        primary = [i for i in usable if f"{i.system}|{i.value}" == subject.source_patient_id]
        usable = primary + [i for i in usable if i not in primary]
    return usable


def _retired(patient: Patient, rule: IdentityRule) -> list[Identifier]:
    return [link.identifier for link in patient.links
            if link.type in _RETIRED_LINK_TYPES and link.identifier.value.strip()
            and (link.identifier.type_code or "").upper() not in rule.ignore_types]


def _keys(identifiers: list[Identifier], system: str) -> list[str]:
    return list(dict.fromkeys(identifier_key(i, system) for i in identifiers))


def _root(view: IdentityView, enterprise_id: str | None) -> str | None:
    """Follow `merges` from `enterprise_id` to the id that stands for the person now."""
    current = enterprise_id
    for _ in range(_MAX_MERGE_HOPS):
        if current is None:
            return None
        nxt = view.replaced_by(current)
        if nxt is None or nxt == current:
            return current
        current = nxt
    return current


def _roots(view: IdentityView, keys: list[str]) -> list[str]:
    roots = (_root(view, view.linked(key)) for key in keys)
    return list(dict.fromkeys(root for root in roots if root is not None))


def _claim(view: IdentityView, demo: str | None, enterprise_id: str) -> tuple[tuple[str, str], ...]:
    return ((demo, enterprise_id),) if demo is not None and view.person(demo) is None else ()


def _new_id(key: str) -> str:
    return str(uuid.uuid5(EMPI_NAMESPACE, key))


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _fold(text: str) -> str:
    """Casefolded, accents removed, letters and digits only: `O'Brien-Smith` and `obriensmith` agree."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum())
