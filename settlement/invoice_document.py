"""The invoice a customer reads: one issued invoice assembled from the database as a typed,
frozen document that the PDF (settlement/invoice_pdf.py) and the Peppol UBL file render.

Every figure comes from the stored invoice (its rows and the parts stored with it when it was
made, migration 0042); nothing is recomputed here except sums, which `check` compares with the
stored totals. Danish invoice content (momsloven § 52 a, elleveringsbekendtgørelsen's bill
specification): number, issue date, supplier name/address/CVR, customer name/address, the
installation (GSRN), the period, per charge type the quantity and the published rate in force,
VAT once, totals and payment details.

Field names are a contract with the renderers (PDF, UBL): add fields, do not rename them.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from schemas.calendar import BillingPeriod, local_date
from schemas.codelists import BillingFrequency, ChargeType, InvoiceType
from schemas.errors import ElflowError
from schemas.invoice_records import ACONTO, AcontoKind
from schemas.settings import settings
from settlement.rules import VAT_RATE, invoice_totals
from storage import invoice_details as details
from storage.db import Conn
from storage.invoice_documents import invoice_with_lines

ZERO = Decimal("0.00")
# The description of a part at amount ÷ quantity (no published rates stored or reproducible).
FALLBACK = "gennemsnitspris"

TYPE_TITLES: dict[InvoiceType, str] = {
    InvoiceType.STANDARD: "Faktura",
    InvoiceType.ACONTO_COMBINED: "Faktura",
    InvoiceType.FINAL_SETTLEMENT: "Slutafregning",
    InvoiceType.CREDIT_NOTE: "Kreditnota",
    InvoiceType.DEBIT_NOTE: "Debetnota",
}
NOTES = frozenset({InvoiceType.CREDIT_NOTE, InvoiceType.DEBIT_NOTE})
_SUBSCRIPTIONS = frozenset(
    {str(ChargeType.GRID_SUBSCRIPTION), str(ChargeType.SUPPLIER_SUBSCRIPTION)}
)


class InvoiceDocumentError(ElflowError):
    """An invoice cannot be printed as stored (not issued, or its figures do not add up)."""


@dataclass(frozen=True)
class Supplier:
    name: str
    address: str
    cvr: str
    gln: str
    email: str
    phone: str
    bank_reg: str
    bank_account: str
    iban: str
    bic: str


@dataclass(frozen=True)
class Customer:
    id: uuid.UUID
    name: str
    address: str | None
    cpr_cvr: str
    is_business: bool
    email: str | None


@dataclass(frozen=True)
class Installation:
    gsrn: str
    address: str | None  # not known from DataHub master data yet: None
    grid_area_code: str | None
    grid_operator_name: str | None


@dataclass(frozen=True)
class RateLine:
    """A part of an invoice line: quantity × the rate in force over [first_day, last_day]."""

    description: str
    quantity: Decimal
    quantity_unit: str  # 'kWh' | 'dage'
    rate: Decimal
    rate_unit: str  # 'øre/kWh' | 'kr/kWh' | 'kr/dag'
    first_day: date | None
    last_day: date | None
    amount: Decimal  # excl. VAT, øre
    # False when no single published rate exists (the consumption-weighted mean spot price, or
    # an invoice made before the parts were stored: amount ÷ quantity).
    published: bool
    # False: the part prices kWh that another part of the line already counts (a spot
    # product's spot share beside its margin); the counted quantities add up to the line's.
    counts_quantity: bool = True


@dataclass(frozen=True)
class DocumentLine:
    """One invoice_line row with what the customer reads about it."""

    line_no: int
    gsrn: str
    charge_type: str  # a ChargeType value or 'Aconto'
    aconto_kind: str | None  # 'Paid' | 'Next' for aconto lines
    description: str
    quantity: Decimal
    quantity_unit: str  # 'kWh' | 'dage' | 'stk'
    unit_price: Decimal  # as stored on the row (amount ÷ quantity); print the rates instead
    amount: Decimal  # excl. VAT
    # Aconto lines: the amount incl. VAT the customer paid / is to pay; else None.
    amount_incl_vat: Decimal | None
    rates: tuple[RateLine, ...]


@dataclass(frozen=True)
class InvoiceDocument:
    invoice_id: uuid.UUID
    number: str
    type: InvoiceType
    title: str  # Faktura / Kreditnota / Debetnota / Slutafregning
    corrects_invoice_id: uuid.UUID | None
    corrects_number: str | None
    issue_date: date  # local
    due_date: date  # local
    period_label: str  # 2026-10 or 2026-Q4
    period_first_day: date
    period_last_day: date
    currency: str
    supplier: Supplier
    customer: Customer
    installations: tuple[Installation, ...]
    lines: tuple[DocumentLine, ...]
    vat_rate: Decimal
    total_ex_vat: Decimal
    vat_amount: Decimal
    total_incl_vat: Decimal
    # Aconto paid in the period and the next period's aconto, incl. VAT (0 without aconto).
    aconto_paid_incl_vat: Decimal
    next_aconto_incl_vat: Decimal
    # What the customer pays (positive) or gets back (negative) by the due date.
    amount_due: Decimal

    @property
    def is_note(self) -> bool:
        return self.type in NOTES

    @property
    def charge_lines(self) -> tuple[DocumentLine, ...]:
        return tuple(line for line in self.lines if line.charge_type != ACONTO)

    @property
    def aconto_lines(self) -> tuple[DocumentLine, ...]:
        return tuple(line for line in self.lines if line.charge_type == ACONTO)


def supplier_from_settings() -> Supplier:
    cfg = settings()
    return Supplier(
        name=cfg.supplier_name,
        address=cfg.supplier_address,
        cvr=cfg.supplier_cvr,
        gln=cfg.supplier_gln,
        email=cfg.supplier_email,
        phone=cfg.supplier_phone,
        bank_reg=cfg.supplier_bank_reg,
        bank_account=cfg.supplier_bank_account,
        iban=cfg.supplier_iban,
        bic=cfg.supplier_bic,
    )


def quantity_unit(charge_type: str) -> str:
    if charge_type == ACONTO:
        return "stk"
    return "dage" if charge_type in _SUBSCRIPTIONS else "kWh"


def _fallback_rate(
    charge_type: str, quantity: Decimal, amount: Decimal, unit_price: Decimal
) -> tuple[RateLine, ...]:
    """An invoice made before its parts were stored: one part at amount ÷ quantity, marked."""
    if charge_type == ACONTO or quantity == 0:
        return ()
    unit = quantity_unit(charge_type)
    return (
        RateLine(
            description=FALLBACK,
            quantity=quantity,
            quantity_unit=unit,
            rate=unit_price,
            rate_unit="kr/dag" if unit == "dage" else "kr/kWh",
            first_day=None,
            last_day=None,
            amount=amount,
            published=False,
        ),
    )


def assemble(conn: Conn, invoice_id: uuid.UUID) -> InvoiceDocument:
    """The printed document of one issued invoice; raises InvoiceDocumentError (one line) when
    it is not issued or its parts do not add up to its stored figures."""
    found = invoice_with_lines(conn, invoice_id)
    if found is None:
        raise InvoiceDocumentError(f"no invoice {invoice_id}")
    head, numbered = found
    if head["invoice_number"] is None or head["issued_at"] is None or head["due_date"] is None:
        raise InvoiceDocumentError(f"invoice {invoice_id} is {head['status']}, not issued")
    address, corrects_number = details.customer_extras(conn, invoice_id)
    period = BillingPeriod(BillingFrequency(head["frequency"]), head["period_start"])
    kind = InvoiceType(head["type"])

    by_line: dict[int, list[details.PartRow]] = defaultdict(list)
    for part in details.parts(conn, invoice_id):
        by_line[part.line_no].append(part)

    lines: list[DocumentLine] = []
    for n, (line_no, line) in enumerate(numbered, start=1):
        number = line_no if line_no is not None else n
        own = by_line.get(number, [])
        rates = tuple(
            RateLine(
                description=p.description,
                quantity=p.quantity,
                quantity_unit=p.quantity_unit,
                rate=p.rate,
                rate_unit=p.rate_unit or "",
                first_day=p.first_day,
                last_day=p.last_day,
                amount=p.amount,
                published=p.published,
                counts_quantity=p.counts_quantity,
            )
            for p in own
            if p.kind == "rate" and p.rate is not None
        )
        if not own:
            rates = _fallback_rate(line.charge_type, line.quantity, line.amount, line.unit_price)
        incl = [p.amount_incl_vat for p in own if p.kind == "aconto"]
        lines.append(
            DocumentLine(
                line_no=number,
                gsrn=line.metering_point_id,
                charge_type=line.charge_type,
                aconto_kind=None if line.aconto_kind is None else str(line.aconto_kind),
                description=line.description,
                quantity=line.quantity,
                quantity_unit=quantity_unit(line.charge_type),
                unit_price=line.unit_price,
                amount=line.amount,
                amount_incl_vat=incl[0] if incl and incl[0] is not None else None,
                rates=rates,
            )
        )

    gsrns = sorted({line.gsrn for line in lines if line.gsrn})
    aconto_paid = sum(
        (
            -(line.amount_incl_vat or ZERO)
            for line in lines
            if line.aconto_kind == str(AcontoKind.PAID)
        ),
        ZERO,
    )
    next_aconto = sum(
        (
            line.amount_incl_vat or ZERO
            for line in lines
            if line.aconto_kind == str(AcontoKind.NEXT)
        ),
        ZERO,
    )
    document = InvoiceDocument(
        invoice_id=invoice_id,
        number=str(head["invoice_number"]),
        type=kind,
        title=TYPE_TITLES[kind],
        corrects_invoice_id=head["corrects_invoice_id"],
        corrects_number=corrects_number,
        issue_date=local_date(head["issued_at"]),
        due_date=head["due_date"],
        period_label=period.label,
        period_first_day=period.start,
        period_last_day=period.end - timedelta(days=1),
        currency="DKK",
        supplier=supplier_from_settings(),
        customer=Customer(
            id=head["customer_id"],
            name=head["customer_name"],
            address=address,
            cpr_cvr=head["cpr_cvr"],
            is_business=head["contact_type"] == "Business",
            email=head["email"],
        ),
        installations=tuple(
            Installation(row.gsrn, None, row.grid_area_code, row.grid_operator_name)
            for row in details.installations(conn, gsrns)
        ),
        lines=tuple(lines),
        vat_rate=VAT_RATE,
        total_ex_vat=head["total_ex_vat"],
        vat_amount=head["vat_amount"],
        total_incl_vat=head["total_incl_vat"],
        aconto_paid_incl_vat=aconto_paid,
        next_aconto_incl_vat=next_aconto,
        amount_due=head["total_incl_vat"],
    )
    check(document)
    return document


def check(document: InvoiceDocument) -> None:
    """Raise InvoiceDocumentError (one line) unless every part adds up: each line's parts to the
    line (kWh and amount), the lines to the stored totals, VAT once on the net."""
    for line in document.lines:
        if not line.rates:
            continue
        amount = sum((r.amount for r in line.rates), ZERO)
        quantity = sum((r.quantity for r in line.rates if r.counts_quantity), Decimal(0))
        if amount != line.amount or quantity != line.quantity:
            raise InvoiceDocumentError(
                f"invoice {document.number} line {line.line_no}: its rate parts add up to "
                f"{quantity} {line.quantity_unit} and {amount} DKK, the line has {line.quantity} "
                f"and {line.amount}"
            )
    totals = invoice_totals([line.amount for line in document.lines])
    stored = (document.total_ex_vat, document.vat_amount, document.total_incl_vat)
    if tuple(totals) != stored:
        raise InvoiceDocumentError(
            f"invoice {document.number}: its lines give totals {tuple(map(str, totals))}, "
            f"the invoice has {tuple(map(str, stored))}"
        )
