"""DFT^P03 (and P11) -> claim.submitted: one Claim, one charge line per FT1 (note §7; [MSFC] `DFT_P03.liquid`).

Decisions:

- Every FT1 is a line, whatever its FT1-6 kind (CG charge, CD credit, PY payment, AJ adjustment, CO co-pay),
  kept as sent in `transaction_type`. [MSFC] drops all but CG, which silently loses credits and payments.
- Money is exact: CP.1 is an MO in subcomponents (`100&USD`): MO.1 the amount as a Decimal, MO.2 the currency.
  An amount that is not a decimal number, has more than the contract's 4 decimal places, or reaches 10^14 is
  refused (AE, money-invalid, at that FT1 field), never rounded: money must add up.
- Line: sequence FT1-1 (else its position); transaction id FT1-2; service date FT1-4 (its start, the date as
  written); posted FT1-5; code FT1-7, else FT1-25; modifiers FT1-26; quantity FT1-10; total FT1-11 (extended
  amount; [MSFC]'s priceOverride) and unit FT1-12; department FT1-13; performed by FT1-20, ordered by FT1-21;
  diagnoses FT1-19.
- `total` adds the extended amounts of the charge lines (FT1-6 CG or empty); a line without FT1-11 counts as
  FT1-12 x FT1-10. Credits, payments and adjustments are not added: their sign conventions differ by sender.
  When a charge line has no amount, or currencies differ, `total` is null rather than wrong. `currency` is
  the one currency every amount states, else null.
- Claim: status active (a posted charge); account PID-18, visit PV1-19; created_at EVN-2 (the recorded time);
  diagnoses every DG1. Coverage per IN1: IN1-1 sequence, IN1-3/IN1-4 payer, IN1-2 plan, IN1-15 plan type,
  IN1-49 member id (else IN1-36 policy number), IN1-8 group, IN1-17 relationship (0063), IN1-12/13 period.
  The payer is the IN1 with IN1-1 = 1, else the first. claim_type and provider are not in a DFT: null.
- PID is required, and at least one FT1 (AE otherwise).
"""

from __future__ import annotations

from decimal import Decimal

import hl7

from carebus.events import Claim, ClaimLine, Coverage, Identifier, Money, OrganizationRef, Period, Quantity
from producers.hl7v2.mapping._clinical import diagnoses
from producers.hl7v2.mapping._common import coded, concepts, cx, hd_system
from producers.hl7v2.mapping._envelope import Draft, Inbound
from producers.hl7v2.mapping._errors import MappingReason, bad_value, missing_segment
from producers.hl7v2.mapping._fields import decimal, integer, number, value
from producers.hl7v2.mapping._people import practitioner
from producers.hl7v2.mapping._subject import subject
from producers.hl7v2.mapping._time import date_of, ts
from producers.hl7v2.parsing import segment, segments

__all__ = ["MONEY_LIMIT", "map_claim"]

MONEY_LIMIT = Decimal("1e14")
"""Amounts must stay below this: the contract's decimal has 18 digits, 4 of them after the point."""


def _money(ft1: hl7.Segment, sequence: int, number_: int) -> Money | None:
    sent = value(ft1, number_, 1, 0, 1)  # CP.1 / MO.1
    if sent is None:
        return None
    amount = decimal(sent)
    exponent = amount.as_tuple().exponent if amount is not None else 0
    if amount is None or not isinstance(exponent, int) or exponent < -4 or abs(amount) >= MONEY_LIMIT:
        raise bad_value(MappingReason.MONEY_INVALID, "FT1", sequence, number_)
    return Money(amount=amount, currency=value(ft1, number_, 1, 0, 2))  # MO.2


def _line(ft1: hl7.Segment, sequence: int, message: Inbound) -> ClaimLine:
    tz = message.tz
    count_text = value(ft1, 10)  # FT1-10
    count = number(count_text)
    return ClaimLine(
        sequence=integer(ft1, 1) or sequence,  # FT1-1
        transaction_identifier=cx(ft1, 2, tz=tz),  # FT1-2
        transaction_type=value(ft1, 6),  # FT1-6
        procedure_code=coded(ft1, 7) or coded(ft1, 25),  # FT1-7, FT1-25
        modifiers=concepts(ft1, 26),  # FT1-26
        quantity=Quantity(value=count, value_text=count_text) if count is not None else None,
        unit_charge=_money(ft1, sequence, 12),  # FT1-12
        total_charge=_money(ft1, sequence, 11),  # FT1-11
        service_date=date_of(ft1, 4),  # FT1-4
        posted_at=ts(ft1, 5, tz),  # FT1-5
        department=coded(ft1, 13),  # FT1-13
        performing_provider=practitioner(ft1, 20),  # FT1-20
        ordering_provider=practitioner(ft1, 21),  # FT1-21
        diagnosis_codes=concepts(ft1, 19),  # FT1-19
    )


def _extended(line: ClaimLine) -> Money | None:
    if line.total_charge is not None:
        return line.total_charge
    if line.unit_charge is None or line.quantity is None or line.quantity.value_text is None:
        return None
    amount = line.unit_charge.amount * Decimal(line.quantity.value_text)
    exponent = amount.as_tuple().exponent
    if not isinstance(exponent, int) or exponent < -4 or abs(amount) >= MONEY_LIMIT:
        return None
    return Money(amount=amount, currency=line.unit_charge.currency)


def _total(lines: tuple[ClaimLine, ...]) -> Money | None:
    charges = [_extended(line) for line in lines if (line.transaction_type or "CG").upper() == "CG"]
    if not charges or any(money is None for money in charges):
        return None
    currencies = {money.currency for money in charges if money is not None}
    if len(currencies) != 1:
        return None
    amount = sum((money.amount for money in charges if money is not None), Decimal(0))
    return Money(amount=amount, currency=currencies.pop()) if abs(amount) < MONEY_LIMIT else None


def _coverage(in1: hl7.Segment, message: Inbound) -> Coverage:
    tz = message.tz
    payer_id = value(in1, 3)  # IN1-3
    payer_name = value(in1, 4)  # IN1-4
    payer = OrganizationRef(id=payer_id, name=payer_name,
                            id_system=hd_system(value(in1, 3, 4), value(in1, 3, 4, 0, 2), value(in1, 3, 4, 0, 3))
                            if payer_id else None) if payer_id or payer_name else None
    policy = value(in1, 36)  # IN1-36
    start, end = ts(in1, 12, tz), ts(in1, 13, tz)  # IN1-12, IN1-13
    return Coverage(
        sequence=integer(in1, 1),  # IN1-1
        payer=payer,
        plan=coded(in1, 2),  # IN1-2
        plan_type=coded(in1, 15),  # IN1-15
        member_id=cx(in1, 49, tz=tz) or (Identifier(value=policy) if policy else None),  # IN1-49, IN1-36
        group_number=value(in1, 8),  # IN1-8
        subscriber_relationship=coded(in1, 17),  # IN1-17
        period=Period(start=start, end=end) if start or end else None,
    )


def map_claim(message: Inbound) -> list[Draft]:
    parsed, tz = message.parsed, message.tz
    pid = segment(parsed, "PID")
    if pid is None:
        raise missing_segment("PID")
    ft1s = segments(parsed, "FT1")
    if not ft1s:
        raise missing_segment("FT1")
    lines = tuple(_line(ft1, index, message) for index, ft1 in enumerate(ft1s, start=1))
    coverages = tuple(_coverage(in1, message) for in1 in segments(parsed, "IN1"))
    primary = next((c for c in coverages if c.sequence == 1), coverages[0] if coverages else None)
    amounts = [money for line in lines for money in (line.unit_charge, line.total_charge) if money is not None]
    currencies = {money.currency for money in amounts}
    pv1 = segment(parsed, "PV1")
    claim = Claim(
        account_number=cx(pid, 18, tz=tz, default_type="AN"),  # PID-18
        visit_number=cx(pv1, 19, tz=tz, default_type="VN") if pv1 else None,  # PV1-19
        status="active",
        created_at=message.recorded_at,  # EVN-2
        payer=primary.payer if primary else None,
        coverages=coverages,
        diagnoses=diagnoses(segments(parsed, "DG1"), tz=tz),  # DG1
        lines=lines,
        total=_total(lines),
        currency=currencies.pop() if len(currencies) == 1 else None,
    )
    who = subject(pid, rule=message.context.patient_identifier_rule, namespace=message.namespace, tz=tz)
    return [Draft("claim.submitted", claim, who)]
