"""FHIR R4 Claim -> claim.submitted / claim.updated / claim.cancelled.

Event type, by `Claim.status` (financial-resource-status, checked here):

| status | create (POST) | update (PUT) |
|---|---|---|
| active | claim.submitted | claim.updated |
| draft | claim.updated | claim.updated |
| cancelled, entered-in-error | claim.cancelled | claim.cancelled |

A draft has not been submitted, so it never says "submitted". `use` (claim, preauthorization,
predetermination) is not part of the contract; every use is treated as a claim.

Fields, where FHIR and canonical differ:

- `claim_identifier` is `identifier[0]`. `account_number` and `visit_number` have no Claim element and stay null
  (Claim.item.encounter is not read).
- `provider` is an OrganizationRef whatever `Claim.provider` points at (Practitioner, PractitionerRole or
  Organization): it is the billing provider. `payer` is `insurer`.
- `coverages`: one per `insurance`, with `sequence`; a Coverage that is contained or in the Bundle adds payer
  (`payor[0]`), plan (`class` of type plan), plan type (`type`), member id (`subscriberId`, else
  `identifier[0]`), group number (`class` of type group), relationship and period.
- `diagnoses`: `diagnosisCodeableConcept`, or the code of a readable Condition, or the reference's display.
- `lines`: one per `item`: `productOrService`, `modifier`, `quantity`, `unitPrice`, `net` (exact money, see
  `_datatypes`), `servicedDate` (or `servicedPeriod.start`), `revenue` as the department, the performing
  provider from the first `careTeamSequence`, and the diagnosis codes its `diagnosisSequence` names.
  `transaction_type` (v2 FT1-6) stays null.
- `total` is `Claim.total`; `currency` is its currency, else the first line's.
- `occurred_at`: `created`.
"""

from __future__ import annotations

from typing import Any, Final

from carebus.events import (
    Claim,
    ClaimEvent,
    ClaimLine,
    CodedConcept,
    Coverage,
    Diagnosis,
    Identifier,
)
from producers.fhir.mapping._context import Interaction, MappingContext, Scope
from producers.fhir.mapping._datatypes import (
    coded,
    coded_from_coding,
    concepts,
    first,
    identifier,
    money,
    organization_ref,
    period,
    practitioner_ref,
    quantity,
    to_date,
    to_utc,
)
from producers.fhir.mapping._envelope import envelope, subject_of
from producers.fhir.validation import require_code

__all__ = ["CLAIM_STATUSES", "map_claim"]

CLAIM_STATUSES: Final = frozenset({"active", "cancelled", "draft", "entered-in-error"})
_CANCELLING: Final = frozenset({"cancelled", "entered-in-error"})


def _event_type(status: str, interaction: Interaction) -> str:
    if status in _CANCELLING:
        return "claim.cancelled"
    if status == "active" and interaction == "create":
        return "claim.submitted"
    return "claim.updated"


def _coverage_class(coverage: Any, kind: str) -> Any:
    for item in coverage.class_fhir or ():
        if any(coding.code == kind for coding in (item.type.coding or () if item.type else ())):
            return item
    return None


def _coverage(insurance: Any, scope: Scope) -> Coverage:
    target = scope.resolve(insurance.coverage)
    resource = target.resource if target is not None and target.resource_type == "Coverage" else None
    if resource is None:
        return Coverage(sequence=insurance.sequence)  # Claim.insurance.sequence
    plan = _coverage_class(resource, "plan")
    group = _coverage_class(resource, "group")
    member = (Identifier(value=resource.subscriberId) if resource.subscriberId
              else identifier(first(resource.identifier)))
    inner = scope.of(target)
    return Coverage(
        sequence=insurance.sequence,  # Claim.insurance.sequence
        payer=organization_ref(first(resource.payor), inner, any_type=True),  # Coverage.payor[0]
        plan=CodedConcept(code=plan.value, display=plan.name) if plan is not None else None,  # Coverage.class plan
        plan_type=coded(resource.type),  # Coverage.type
        member_id=member,  # Coverage.subscriberId / identifier[0]
        group_number=group.value if group is not None else None,  # Coverage.class group
        subscriber_relationship=coded(resource.relationship),  # Coverage.relationship
        period=period(resource.period),  # Coverage.period
    )


def _diagnoses(claim: Any, scope: Scope) -> list[tuple[int, Diagnosis]]:
    found = []
    for item in claim.diagnosis or ():
        code = coded(item.diagnosisCodeableConcept)
        if code is None and item.diagnosisReference is not None:
            target = scope.resolve(item.diagnosisReference)
            if target is not None and target.resource is not None:
                code = coded(getattr(target.resource, "code", None))
            if code is None and item.diagnosisReference.display:
                code = coded_from_coding(None, text=item.diagnosisReference.display)
        if code is not None:
            kind = first(first(item.type).coding) if item.type and first(item.type).coding else None
            found.append((item.sequence, Diagnosis(sequence=item.sequence, code=code,
                                                   type=kind.code if kind is not None else None)))
    return found


def _lines(claim: Any, scope: Scope, diagnoses: dict[int, CodedConcept]) -> tuple[ClaimLine, ...]:
    team = {member.sequence: member.provider for member in claim.careTeam or ()}
    lines = []
    for index, item in enumerate(claim.item or ()):
        path = f"Claim.item[{index}]"
        served = item.servicedDate or (item.servicedPeriod.start if item.servicedPeriod is not None else None)
        performer = team.get(first(item.careTeamSequence)) if item.careTeamSequence else None
        lines.append(ClaimLine(
            sequence=item.sequence,  # Claim.item.sequence
            procedure_code=coded(item.productOrService),  # Claim.item.productOrService
            modifiers=concepts(item.modifier),  # Claim.item.modifier
            quantity=quantity(item.quantity),  # Claim.item.quantity
            unit_charge=money(item.unitPrice, f"{path}.unitPrice"),  # Claim.item.unitPrice
            total_charge=money(item.net, f"{path}.net"),  # Claim.item.net
            service_date=to_date(served),  # Claim.item.serviced[x]
            department=coded(item.revenue),  # Claim.item.revenue
            performing_provider=practitioner_ref(performer, scope, implied=True) if performer else None,
            diagnosis_codes=tuple(diagnoses[seq] for seq in item.diagnosisSequence or () if seq in diagnoses),
        ))
    return tuple(lines)


def map_claim(claim: Any, ctx: MappingContext, *, interaction: Interaction, scope: Scope) -> tuple[ClaimEvent]:
    """One Claim -> one claim.* event (see the table above)."""
    require_code(claim.status, CLAIM_STATUSES, "Claim.status", required=True)
    diagnoses = _diagnoses(claim, scope)
    lines = _lines(claim, scope, {sequence: diagnosis.code for sequence, diagnosis in diagnoses})
    total = money(claim.total, "Claim.total")
    currency = total.currency if total is not None else None
    if currency is None:
        currency = next((line.total_charge.currency for line in lines
                         if line.total_charge is not None and line.total_charge.currency), None)
    payload = Claim(
        claim_identifier=identifier(first(claim.identifier)),  # Claim.identifier[0]
        status=claim.status,  # Claim.status
        claim_type=coded(claim.type),  # Claim.type
        created_at=to_utc(claim.created),  # Claim.created
        provider=organization_ref(claim.provider, scope, any_type=True),  # Claim.provider
        payer=organization_ref(claim.insurer, scope, implied=True),  # Claim.insurer
        coverages=tuple(_coverage(item, scope) for item in claim.insurance or ()),  # Claim.insurance
        diagnoses=tuple(diagnosis for _, diagnosis in diagnoses),  # Claim.diagnosis
        lines=lines,  # Claim.item
        total=total,  # Claim.total
        currency=currency,
    )
    return (ClaimEvent(
        envelope=envelope(claim, ctx, event_type=_event_type(claim.status, interaction), interaction=interaction,
                          subject=subject_of(claim.patient, scope, ctx), occurred_at=to_utc(claim.created)),
        payload=payload,
    ),)
