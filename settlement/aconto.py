"""Aconto settlement at period close: what the customer actually owes against what they prepaid,
and the next prepayment.

For each contract with payment model Aconto whose billing frequency is the closed period's
(a quarterly aconto customer is settled when the quarter closes, not at each month), linked to
the settlement run:

- actual_cost = Σ of the contract's settlement lines in the run, total_amount + vat_amount.
  Incl. VAT, because aconto payments are paid incl. VAT: both sides of the difference must be
  the same kind of money.
- aconto_paid = Σ aconto_payment.amount of the contract whose billing period lies within the
  closed period (a payment for 15 Jan – 1 Apr counts towards Q1).
- difference = actual_cost − aconto_paid (rules.aconto_difference): positive = the customer
  owes, negative = the customer is owed (refunded at this invoicing, DOMAIN § 4).
- new_aconto_amount = rules.new_aconto_amount(history, days of the next period, unit price,
  fixed charges), whole kroner rounded up, with
  - history: the metering point's own complete daily totals (daily_summary.total_kwh, days
    without missing quantities) over the 365 days before the period end;
  - unit price: the period's all-in average per kWh incl. VAT = Σ (amount + VAT) of the
    Energy, tariff and tax lines / Σ kWh of the Energy line (0 without consumption);
  - fixed charges: the period's subscription lines incl. VAT per supplied day × the days of
    the next period (a part-period customer is not charged a part-period subscription again).
  The next period is the next month or quarter, by the period's frequency.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from settlement import rules
from storage.aconto import AcontoInput, aconto_inputs, insert_aconto_settlements
from storage.db import Conn


@dataclass(frozen=True)
class AcontoOutcome:
    contract_id: uuid.UUID
    actual_cost: Decimal
    aconto_paid: Decimal
    difference: Decimal
    new_aconto_amount: Decimal


def aconto_outcome(data: AcontoInput, days_in_next_period: int) -> AcontoOutcome:
    """The aconto settlement of one contract (module docstring)."""
    unit_price = data.per_kwh_cost_incl_vat / data.energy_kwh if data.energy_kwh > 0 else Decimal(0)
    fixed = (
        data.fixed_cost_incl_vat / data.supplied_days * days_in_next_period
        if data.supplied_days > 0
        else Decimal(0)
    )
    # rules.new_aconto_amount uses only the mean of the daily history; passing the mean as a
    # one-day history gives the same result without sending up to 365 values per contract
    # through Python (the sum of 3-decimal kWh is exact, the mean is the same Decimal division).
    history = [data.history_kwh_sum / data.history_days] if data.history_days else []
    expected_annual = None
    if not history and data.supplied_days:
        expected_annual = data.energy_kwh / data.supplied_days * rules.DAYS_PER_YEAR
    new_amount = rules.new_aconto_amount(
        history,
        days_in_next_period,
        unit_price,
        fixed,
        expected_annual_kwh=expected_annual if expected_annual is not None else Decimal(0),
    )
    return AcontoOutcome(
        contract_id=data.contract_id,
        actual_cost=data.actual_cost_incl_vat,
        aconto_paid=data.aconto_paid,
        difference=rules.aconto_difference(data.actual_cost_incl_vat, data.aconto_paid),
        new_aconto_amount=new_amount,
    )


def settle_aconto(
    conn: Conn,
    run_id: uuid.UUID,
    billing_period_id: uuid.UUID,
    *,
    start: date,
    end: date,
    frequency: str,
    days_in_next_period: int,
    supplied_days: Mapping[str, int],
) -> list[AcontoOutcome]:
    """Insert the aconto settlements of the run (in the caller's transaction); `supplied_days`:
    the run's settled days per contract id."""
    inputs = aconto_inputs(
        conn,
        run_id,
        start=start,
        end=end,
        frequency=frequency,
        history_days=rules.ACONTO_HISTORY_DAYS,
        supplied_days=supplied_days,
    )
    outcomes = [aconto_outcome(data, days_in_next_period) for data in inputs]
    insert_aconto_settlements(
        conn,
        run_id,
        billing_period_id,
        [
            (o.contract_id, o.actual_cost, o.aconto_paid, o.difference, o.new_aconto_amount)
            for o in outcomes
        ],
    )
    return outcomes
