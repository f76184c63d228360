"""Normalize: local codes, units and status values onto the standards, through the operator's tables.

One pure function, `normalize_event(event, tables) -> Normalized`. What it touches, per domain:

- Result.code, Observation.code, ObservationComponent.code, Order.code: `codes/*.csv`, for a concept that has
  no standard `system`;
- the Quantity in Observation(.component).value: `units.csv`, for a quantity whose system is not UCUM;
- Result.status, Observation.status, Order.status, Encounter.status, Referral.status: `value_sets.yaml`, for a
  value outside the FHIR value set (else `status_original` when `status` is null);
- Patient.administrative_sex: `value_sets.yaml` administrative-sex;
- Encounter.encounter_class: `value_sets.yaml` encounter-class, for a concept not in v3 ActCode.

Decisions:

- A mapped concept gets the standard `code`, `system` and `display`; the code as sent stays in `original_code`,
  `original_system` and `original_display` (the contract's fields for exactly this), so a mapping can be audited
  or redone. A concept that already has a standard system (the adapter recognised LOINC, SNOMED, a v2 table) is
  left alone; so is a text-only concept (nothing to map).
- An unmapped value is kept exactly as it came: the concept keeps `system` null with the sender's code in
  `original_code`/`original_system`, which is how the contract marks a code with no known system. The event is
  never dropped. Each unmapped value becomes a `Finding` (the field's path and the table, no value): the
  intake stage counts them in a metric and lists the paths in the `carebus.normalize.unmapped` header of the
  normalized record. The envelope has no field for such flags; adding one is a contract change.
- A quantity keeps `unit` (the human-readable unit as sent); only `code` and `system` become UCUM.
- A status outside the value set is looked up in the set's `map` (HL7 table values, spellings); when `status` is
  null the adapter's `status_original` is looked up instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final, TypeVar

from carebus.events import (
    CodedConcept,
    Encounter,
    EncounterEvent,
    Event,
    Observation,
    ObservationComponent,
    Order,
    OrderEvent,
    Patient,
    PatientEvent,
    QuantityValue,
    Referral,
    ReferralEvent,
    Result,
    ResultEvent,
)
from processors.mapping_tables import UCUM, MappingTables

__all__ = ["Finding", "Normalized", "normalize_event"]

CODES: Final = "codes"
UNITS: Final = "units"
_T = TypeVar("_T")


@dataclass(frozen=True)
class Finding:
    """A value no table maps: where it is (a field path such as `payload.observations[2].code`) and which
    table was asked. Never the value itself."""

    path: str
    table: str


@dataclass(frozen=True)
class Normalized:
    event: Event
    unmapped: tuple[Finding, ...] = ()
    mapped: int = 0
    """How many values a table changed."""


def normalize_event(event: Event, tables: MappingTables) -> Normalized:
    """`event` with its codes, units and statuses mapped where the tables know them."""
    run = _Run(tables, event.envelope.source.system)
    payload: Any
    if isinstance(event, ResultEvent):
        payload = run.result(event.payload)
    elif isinstance(event, OrderEvent):
        payload = run.order(event.payload)
    elif isinstance(event, EncounterEvent):
        payload = run.encounter(event.payload)
    elif isinstance(event, PatientEvent):
        payload = run.patient(event.payload)
    elif isinstance(event, ReferralEvent):
        payload = run.referral(event.payload)
    else:  # claims: codes are CPT/ICD as sent; nothing to map yet
        payload = event.payload
    normalized = event if payload is event.payload else event.model_copy(update={"payload": payload})
    return Normalized(normalized, tuple(run.findings), run.mapped)


@dataclass
class _Run:
    tables: MappingTables
    source_system: str
    findings: list[Finding] = field(default_factory=list)
    mapped: int = 0

    # --- domains -----------------------------------------------------------------------------

    def result(self, result: Result) -> Result:
        return _updated(result, {
            "code": self.concept(result.code, "payload.code"),
            "status": self.status(result.status, result.status_original, "report-status", "payload.status"),
            "observations": self.each(result.observations, "payload.observations", self.observation),
        })

    def observation(self, obs: Observation, path: str) -> Observation:
        return _updated(obs, {
            "code": self.concept(obs.code, f"{path}.code"),
            "value": self.value(obs.value, f"{path}.value"),
            "status": self.status(obs.status, obs.status_original, "observation-status", f"{path}.status"),
            "components": self.each(obs.components, f"{path}.components", self.component),
        })

    def component(self, component: ObservationComponent, path: str) -> ObservationComponent:
        return _updated(component, {
            "code": self.concept(component.code, f"{path}.code"),
            "value": self.value(component.value, f"{path}.value"),
        })

    def order(self, order: Order) -> Order:
        return _updated(order, {
            "code": self.concept(order.code, "payload.code"),
            "status": self.status(order.status, order.status_original, "order-status", "payload.status"),
        })

    def encounter(self, encounter: Encounter) -> Encounter:
        return _updated(encounter, {
            "status": self.status(encounter.status, None, "encounter-status", "payload.status"),
            "encounter_class": self.encounter_class(encounter.encounter_class, "payload.encounter_class"),
        })

    def patient(self, patient: Patient) -> Patient:
        return _updated(patient, {
            "administrative_sex": self.status(patient.administrative_sex, None, "administrative-sex",
                                              "payload.administrative_sex"),
        })

    def referral(self, referral: Referral) -> Referral:
        return _updated(referral, {
            "status": self.status(referral.status, referral.status_original, "referral-status", "payload.status"),
        })

    # --- values --------------------------------------------------------------------------------

    def each(self, items: Sequence[_T], path: str, step: Any) -> tuple[_T, ...] | Sequence[_T]:
        out = tuple(step(item, f"{path}[{n}]") for n, item in enumerate(items))
        return items if all(a is b for a, b in zip(out, items, strict=True)) else out

    def concept(self, concept: CodedConcept | None, path: str) -> CodedConcept | None:
        if concept is None or concept.system is not None:
            return concept
        local = concept.original_code or concept.code
        if local is None:
            return concept  # text only
        target = self.tables.code_for(self.source_system, concept.original_system, local)
        if target is None:
            self.findings.append(Finding(path, CODES))
            return concept
        self.mapped += 1
        return concept.model_copy(update={
            "code": target.code, "system": target.system, "display": target.display or concept.display,
            "original_code": local, "original_system": concept.original_system,
            "original_display": concept.original_display or concept.display,
        })

    def value(self, value: Any, path: str) -> Any:
        if not isinstance(value, QuantityValue):
            return value
        quantity = value.quantity
        if quantity.system == UCUM:
            return value
        sent = [unit for unit in (quantity.code, quantity.unit) if unit]
        if not sent:
            return value
        ucum = next((found for unit in sent if (found := self.tables.ucum_for(unit))), None)
        if ucum is None:
            self.findings.append(Finding(f"{path}.quantity", UNITS))
            return value
        self.mapped += 1
        return value.model_copy(update={"quantity": quantity.model_copy(update={"code": ucum, "system": UCUM})})

    def status(self, status: str | None, original: str | None, value_set: str, path: str) -> str | None:
        table = self.tables.value_set(value_set)
        if status is not None and status in table.valid:
            return status
        sent = status if status is not None else original
        if sent is None:
            return status
        resolved = table.resolve(sent)
        if resolved is None:
            self.findings.append(Finding(path, value_set))
            return status
        self.mapped += 1
        return resolved

    def encounter_class(self, concept: CodedConcept | None, path: str) -> CodedConcept | None:
        if concept is None or concept.system == self.tables.encounter_class_system:
            return concept
        sent = concept.original_code or concept.code
        if sent is None:
            return concept
        target = self.tables.encounter_class_for(sent)
        if target is None:
            self.findings.append(Finding(path, "encounter-class"))
            return concept
        self.mapped += 1
        return concept.model_copy(update={
            "code": target.code, "system": target.system, "display": target.display,
            "original_code": sent, "original_system": concept.original_system,
            "original_display": concept.original_display or concept.display,
        })


def _updated(model: _T, changes: dict[str, Any]) -> _T:
    """`model` with `changes` applied, or `model` itself when nothing changed (no copy on the common path)."""
    changed = {name: value for name, value in changes.items() if value is not getattr(model, name)}
    return model.model_copy(update=changed) if changed else model  # type: ignore[attr-defined]
