"""Records that invoicing reads from and writes to the database: typed values, no I/O, no rules.

They live here, below both `storage` (which loads and stores them) and `settlement` (which
decides with them), so neither package imports the other's internals.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum

from schemas.codelists import (
    BillingFrequency,
    ChargeType,
    InvoiceStatus,
    InvoiceType,
    PaymentModel,
)

ACONTO = "Aconto"  # invoice_line.charge_type of the aconto lines (not a settlement ChargeType)


class AcontoKind(StrEnum):
    PAID = "Paid"
    NEXT = "Next"


@dataclass(frozen=True)
class RunRef:
    """A completed settlement run an invoice draws on."""

    id: uuid.UUID
    # The first day of the run's billing period and the months it covers.
    month: date
    months: tuple[date, ...]
    grid_area_code: str | None
    version: int


@dataclass(frozen=True)
class ContractTerms:
    """A contract as invoicing needs it. end_date is the effective end: the earlier of the
    contract's end and the end of the metering point's supply (exclusive local dates)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    gsrn: str
    grid_area_code: str
    billing_frequency: BillingFrequency
    payment_model: PaymentModel
    payment_term_days: int
    start_date: date
    end_date: date | None

    def overlaps(self, start: date, end: date) -> bool:
        return self.start_date < end and (self.end_date is None or self.end_date > start)

    def ended_by(self, day: date) -> bool:
        return self.end_date is not None and self.end_date <= day


@dataclass(frozen=True)
class SettledLine:
    """A settlement_line of the latest completed run of its month and grid area."""

    run_id: uuid.UUID
    run_version: int
    month: date
    metering_point_id: str
    charge_type: ChargeType
    total_kwh: Decimal
    total_amount: Decimal
    vat_amount: Decimal
    contract_id: uuid.UUID


@dataclass(frozen=True)
class AcontoSettled:
    """An aconto_settlement row; its amounts are incl. VAT."""

    contract_id: uuid.UUID
    period_start: date
    frequency: BillingFrequency
    actual_cost: Decimal
    aconto_paid: Decimal
    new_aconto_amount: Decimal


@dataclass(frozen=True)
class Line:
    """An invoice line; amount excl. VAT in DKK."""

    metering_point_id: str
    charge_type: str  # a ChargeType value or ACONTO
    aconto_kind: AcontoKind | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    amount: Decimal

    @property
    def key(self) -> tuple[str, str, str]:
        """What the line is for; a correction compares lines with equal keys."""
        return (self.metering_point_id, self.charge_type, self.aconto_kind or "")


@dataclass(frozen=True)
class ExistingInvoice:
    """An invoice already stored for the customer and period (Cancelled ones are left out)."""

    id: uuid.UUID
    type: InvoiceType
    status: InvoiceStatus
    lines: tuple[Line, ...]
    corrects_invoice_id: uuid.UUID | None = None
    # The invoice number, once issued (e.g. EF-2026-000123).
    number: str | None = None
