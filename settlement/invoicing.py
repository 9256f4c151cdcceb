"""Invoices from settlement lines: pure rules, no I/O.

(Over 400 lines on purpose: building an invoice, correcting an issued one and planning what to
write share one line model and one set of invariants; split, they would drift apart.)

One invoice per customer per billing period. The period follows the contracts' BillingFrequency:
a month ("2026-10") for Monthly contracts, a quarter ("2026-Q4" = October..December) for
Quarterly ones. A customer with both gets a monthly invoice for the monthly contracts and a
quarterly one for the quarterly contracts. Settlement runs are monthly (a DataHub wholesale run
covers exactly one calendar month, DOMAIN § 1), so a quarterly invoice draws on the latest
completed run of each of the quarter's three months (or, per grid area, on a run of the whole
quarter when one exists; storage.invoices.latest_completed_runs). A customer is left out, and
reported, while any month and grid area of its contracts has no completed run (missing_runs).

Lines and money (DOMAIN § 4, settlement.rules):
- One line per charge type per metering point. Its amount is the sum of the covered settlement
  lines, each rounded to øre half-up first (so Σ settlement lines rounded per line = Σ invoice
  lines, exactly). Quantity is kWh, or supplied days for the two subscriptions. unit_price =
  amount / quantity to 8 decimals, 0 when the quantity is 0.
- Totals by rules.invoice_totals: total excl. VAT = Σ rounded lines; VAT 25 % once on that total.
- All invoice line amounts are excl. VAT, aconto lines included, and VAT is computed once on
  the invoice's net. aconto_settlement figures are incl. VAT (settlement/aconto.py: aconto is
  paid incl. VAT, actual_cost = Σ (total_amount + vat_amount)), so an aconto line is the figure
  ÷ 1.25 rounded to øre; the invoice's VAT puts the 25 % back. The customer's total can differ
  from the incl.-VAT aconto difference + new aconto by a øre or two of rounding.

Invoice types:
- Standard: PostPayment contracts; the period's charge lines, billed afterwards.
- AcontoCombined: at least one Aconto contract. Lines, per metering point: the period's charge
  lines (the actual cost), then an 'Aconto' line "Betalt aconto" of minus the aconto paid for the
  period, then an 'Aconto' line "Aconto <next period>" of plus the next period's aconto amount.
  The charge lines plus the paid line are the aconto settlement's difference (positive = the
  customer owes, negative = the customer is owed and it is set off on this invoice); the invoice
  total is that difference plus the new aconto. Both aconto lines have quantity 1 and
  unit_price = their amount; invoice_line.charge_type is 'Aconto' and aconto_kind 'Paid'/'Next'.
- FinalSettlement: every contract on the invoice ended (contract end or supply end) by the end of
  the period. As the above, but an aconto contract gets no "Next" line.
- CreditNote / DebitNote: after an invoice was Issued, a later settlement run changed the amounts.
  The note carries, per line (metering point + charge type, or aconto kind), only the difference
  new − already invoiced (Σ over the Issued invoice and notes of the customer and period). Sign
  convention: note lines are signed differences, so a credit note's lines are negative (its net
  and totals are negative) and a debit note's positive; a note that moves money both ways has
  lines of both signs and its type follows the sign of the net (rules.credit_or_debit).
  corrects_invoice_id is the original invoice of the period. A change whose net is 0 creates no
  note.

Drafts follow the latest runs (rebuilt in place when the runs change); Issued invoices never change.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from uuid import UUID

from schemas.calendar import BillingPeriod, add_months
from schemas.codelists import (
    BillingFrequency,
    ChargeType,
    InvoiceStatus,
    InvoiceType,
    PaymentModel,
)
from schemas.invoice_records import (
    ACONTO,
    AcontoKind,
    AcontoSettled,
    ContractTerms,
    ExistingInvoice,
    Line,
    SettledLine,
)
from settlement.rules import (
    VAT_RATE,
    InvoiceTotals,
    credit_or_debit,
    invoice_totals,
    round_ore,
    supplied_days,
)

UNIT_PRICE_QUANTUM = Decimal("0.00000001")
ZERO = Decimal("0.00")

CHARGE_NAMES: dict[ChargeType, str] = {
    ChargeType.ENERGY: "Elektricitet",
    ChargeType.GRID_TARIFF: "Nettarif",
    ChargeType.SYSTEM_TARIFF: "Systemtarif",
    ChargeType.TRANSMISSION_TARIFF: "Transmissions nettarif",
    ChargeType.ELECTRICITY_TAX: "Elafgift",
    ChargeType.GRID_SUBSCRIPTION: "Netabonnement",
    ChargeType.SUPPLIER_SUBSCRIPTION: "Leverandørabonnement",
}
_SUBSCRIPTIONS = frozenset({ChargeType.GRID_SUBSCRIPTION, ChargeType.SUPPLIER_SUBSCRIPTION})
_CHARGE_ORDER = {charge: n for n, charge in enumerate(ChargeType)}
_NOTES = frozenset({InvoiceType.CREDIT_NOTE, InvoiceType.DEBIT_NOTE})


class InvoicingError(Exception):
    """The data for one customer's invoice is inconsistent; the message says why."""


# ------------------------------------------------------------------------------------ outputs
@dataclass(frozen=True)
class InvoiceDraft:
    customer_id: UUID
    type: InvoiceType
    lines: tuple[Line, ...]
    payment_term_days: int
    settlement_run_id: UUID | None = None
    corrects_invoice_id: UUID | None = None
    totals: InvoiceTotals = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "totals", invoice_totals([line.amount for line in self.lines]))


def unit_price(amount: Decimal, quantity: Decimal) -> Decimal:
    """amount / quantity to 8 decimals (half-up); 0 for a zero quantity."""
    if quantity == 0:
        return Decimal("0E-8")
    return (amount / quantity).quantize(UNIT_PRICE_QUANTUM, ROUND_HALF_UP)


def _line(
    gsrn: str,
    charge_type: str,
    kind: AcontoKind | None,
    description: str,
    quantity: Decimal,
    amount: Decimal,
) -> Line:
    return Line(
        gsrn, charge_type, kind, description, quantity, unit_price(amount, quantity), amount
    )


def ex_vat(amount_incl_vat: Decimal) -> Decimal:
    """An amount incl. VAT as a line amount excl. VAT: ÷ (1 + VAT_RATE), rounded to øre."""
    return round_ore(amount_incl_vat / (1 + VAT_RATE))


def charge_description(charge_type: ChargeType, gsrn: str) -> str:
    return f"{CHARGE_NAMES[charge_type]}, målepunkt {gsrn}"


# --------------------------------------------------------------------------- building invoices
def missing_runs(
    period: BillingPeriod,
    contracts: Iterable[ContractTerms],
    completed: set[tuple[date, str | None]],
) -> list[str]:
    """Months and grid areas an invoice would need but that have no completed settlement run.

    `completed` holds (month, grid area) of the completed runs; a run without a grid area covers
    every area. A contract needs every month of the period it overlaps.
    """
    missing: set[tuple[date, str]] = set()
    for contract in contracts:
        for month in period.months:
            if not contract.overlaps(month, add_months(month, 1)):
                continue
            if (month, contract.grid_area_code) not in completed and (month, None) not in completed:
                missing.add((month, contract.grid_area_code))
    return [f"{month:%Y-%m} grid area {area}" for month, area in sorted(missing)]


def invoice_type(contracts: Sequence[ContractTerms], period: BillingPeriod) -> InvoiceType:
    """FinalSettlement when every contract has ended by the period's end; else AcontoCombined
    when any contract is paid aconto; else Standard."""
    if all(contract.ended_by(period.end) for contract in contracts):
        return InvoiceType.FINAL_SETTLEMENT
    if any(contract.payment_model is PaymentModel.ACONTO for contract in contracts):
        return InvoiceType.ACONTO_COMBINED
    return InvoiceType.STANDARD


def _subscription_days(period: BillingPeriod, contracts: Iterable[ContractTerms]) -> Decimal:
    days = sum(supplied_days(period.start, period.end, c.start_date, c.end_date) for c in contracts)
    return Decimal(days).quantize(Decimal("0.001"))


def aconto_for_contract(
    period: BillingPeriod, contract: ContractTerms, rows: Sequence[AcontoSettled]
) -> tuple[Decimal, Decimal, Decimal]:
    """(actual cost, aconto paid, next aconto) of one contract for the period, incl. VAT.

    A row for the whole period wins (a quarterly aconto settlement); otherwise the monthly rows
    of the period's months are added up and the next aconto is the latest month's.
    """
    whole = [r for r in rows if r.frequency is period.frequency and r.period_start == period.start]
    if whole:
        chosen = whole[-1:]
    else:
        chosen = sorted(
            (
                r
                for r in rows
                if r.frequency is BillingFrequency.MONTHLY and r.period_start in period.months
            ),
            key=lambda r: r.period_start,
        )
    if not chosen:
        raise InvoicingError(
            f"aconto contract {contract.id} has no aconto settlement for {period.label}"
        )
    actual = sum((r.actual_cost for r in chosen), Decimal(0))
    paid = sum((r.aconto_paid for r in chosen), Decimal(0))
    return actual, paid, chosen[-1].new_aconto_amount


def build_invoice(
    period: BillingPeriod,
    customer_id: UUID,
    contracts: Sequence[ContractTerms],
    lines: Sequence[SettledLine],
    aconto: Sequence[AcontoSettled] = (),
) -> InvoiceDraft:
    """The invoice of one customer for one period from the latest runs' settlement lines.

    `contracts` are the customer's contracts of the period's billing frequency that overlap the
    period; lines of other contracts are ignored. Raises InvoicingError when an aconto contract
    has no aconto settlement or its actual cost differs from its settlement lines.
    """
    own = [c for c in contracts if c.customer_id == customer_id]
    if not own:
        raise InvoicingError(f"customer {customer_id} has no contract for {period.label}")
    by_id = {c.id: c for c in own}
    kind = invoice_type(own, period)

    charges: dict[tuple[str, ChargeType], list[SettledLine]] = defaultdict(list)
    for line in lines:
        if line.contract_id in by_id and line.month in period.months:
            charges[(line.metering_point_id, line.charge_type)].append(line)

    per_gsrn: dict[str, list[Line]] = defaultdict(list)
    for (gsrn, charge), group in sorted(
        charges.items(), key=lambda kv: (kv[0][0], _CHARGE_ORDER[kv[0][1]])
    ):
        amount = sum((round_ore(s.total_amount) for s in group), ZERO)
        if charge in _SUBSCRIPTIONS:
            quantity = _subscription_days(period, {by_id[s.contract_id] for s in group})
        else:
            quantity = sum((s.total_kwh for s in group), Decimal("0.000"))
        per_gsrn[gsrn].append(
            _line(gsrn, charge, None, charge_description(charge, gsrn), quantity, amount)
        )

    aconto_rows: dict[UUID, list[AcontoSettled]] = defaultdict(list)
    for row in aconto:
        aconto_rows[row.contract_id].append(row)
    paid_by_gsrn: dict[str, Decimal] = defaultdict(lambda: ZERO)
    next_by_gsrn: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for contract in own:
        if contract.payment_model is not PaymentModel.ACONTO:
            continue
        contract_lines = [
            s for group in charges.values() for s in group if s.contract_id == contract.id
        ]
        if not contract_lines and not aconto_rows.get(contract.id):
            continue
        actual, paid, next_aconto = aconto_for_contract(
            period, contract, aconto_rows.get(contract.id, [])
        )
        settled = sum((s.total_amount + s.vat_amount for s in contract_lines), Decimal(0))
        if round_ore(actual) != round_ore(settled):
            raise InvoicingError(
                f"aconto settlement of contract {contract.id} for {period.label} has actual cost "
                f"{actual} incl. VAT, its settlement lines sum to {settled}"
            )
        paid_by_gsrn[contract.gsrn] += ex_vat(paid)
        if kind is not InvoiceType.FINAL_SETTLEMENT and not contract.ended_by(period.end):
            next_by_gsrn[contract.gsrn] += ex_vat(next_aconto)

    following = period.following().label
    ordered: list[Line] = []
    for gsrn in sorted(set(per_gsrn) | set(paid_by_gsrn)):
        ordered.extend(per_gsrn.get(gsrn, []))
        if gsrn in paid_by_gsrn:
            paid = paid_by_gsrn[gsrn]
            ordered.append(
                _line(
                    gsrn,
                    ACONTO,
                    AcontoKind.PAID,
                    f"Betalt aconto {period.label}, målepunkt {gsrn}",
                    Decimal("1.000"),
                    -paid,
                )
            )
        if gsrn in next_by_gsrn:
            ordered.append(
                _line(
                    gsrn,
                    ACONTO,
                    AcontoKind.NEXT,
                    f"Aconto {following}, målepunkt {gsrn}",
                    Decimal("1.000"),
                    next_by_gsrn[gsrn],
                )
            )

    used = [s for group in charges.values() for s in group]
    latest_run = max(used, key=lambda s: (s.month, s.run_version)).run_id if used else None
    return InvoiceDraft(
        customer_id=customer_id,
        type=kind,
        lines=tuple(ordered),
        # The longest agreed term: the invoice is never due before any contract allows.
        payment_term_days=max(c.payment_term_days for c in own),
        settlement_run_id=latest_run,
    )


def build_correction(
    target: InvoiceDraft, invoiced: Iterable[Line], corrects_invoice_id: UUID
) -> InvoiceDraft | None:
    """A credit or debit note taking what was invoiced (Issued invoice and notes) to `target`.

    Lines: per key, new amount − invoiced amount where that is not 0 (quantity likewise). None
    when the net does not change.
    """
    before: dict[tuple[str, str, str], list[Line]] = defaultdict(list)
    for line in invoiced:
        before[line.key].append(line)
    after = {line.key: line for line in target.lines}
    order = [line.key for line in target.lines] + sorted(k for k in before if k not in after)

    lines: list[Line] = []
    for key in order:
        new = after.get(key)
        old_amount = sum((line.amount for line in before.get(key, [])), ZERO)
        old_quantity = sum((line.quantity for line in before.get(key, [])), Decimal("0.000"))
        amount = (new.amount if new else ZERO) - old_amount
        if amount == 0:
            continue
        quantity = (new.quantity if new else Decimal("0.000")) - old_quantity
        described = new if new else before[key][-1]
        description = described.description.removeprefix("Korrektion: ")
        lines.append(
            _line(
                key[0],
                key[1],
                described.aconto_kind,
                f"Korrektion: {description}",
                quantity,
                amount,
            )
        )

    old_net = sum((line.amount for lines_ in before.values() for line in lines_), ZERO)
    verdict = credit_or_debit(old_net, sum((line.amount for line in target.lines), ZERO))
    if verdict is None:
        return None
    note_type, _difference = verdict
    return InvoiceDraft(
        customer_id=target.customer_id,
        type=note_type,
        lines=tuple(lines),
        payment_term_days=target.payment_term_days,
        settlement_run_id=target.settlement_run_id,
        corrects_invoice_id=corrects_invoice_id,
    )


# ------------------------------------------------------------------------------------ planning
@dataclass(frozen=True)
class Create:
    draft: InvoiceDraft


@dataclass(frozen=True)
class Replace:
    """Rebuild a Draft in place (it was never issued)."""

    invoice_id: UUID
    draft: InvoiceDraft


@dataclass(frozen=True)
class Discard:
    """Delete a Draft that the latest runs no longer call for."""

    invoice_id: UUID


Action = Create | Replace | Discard


def _same(existing: ExistingInvoice, draft: InvoiceDraft) -> bool:
    return (
        existing.type is draft.type
        and existing.lines == draft.lines
        and existing.corrects_invoice_id == draft.corrects_invoice_id
    )


def _keep_or_write(existing: ExistingInvoice | None, draft: InvoiceDraft) -> list[Action]:
    if existing is None:
        return [Create(draft)]
    return [] if _same(existing, draft) else [Replace(existing.id, draft)]


def plan_customer(target: InvoiceDraft, existing: Sequence[ExistingInvoice]) -> list[Action]:
    """What to write for one customer and period so the stored invoices match the latest runs.

    `target` is the invoice the latest runs call for (no lines: nothing to bill). Without an Issued
    invoice the single Draft is created, rebuilt or discarded; once one is Issued, only a
    credit/debit note (a Draft until issued) carries the difference. An empty list means the
    stored invoices already match (re-invoicing is idempotent).
    """
    live = [e for e in existing if e.status is not InvoiceStatus.CANCELLED]
    issued = [e for e in live if e.status is not InvoiceStatus.DRAFT]
    drafts = [e for e in live if e.status is InvoiceStatus.DRAFT]
    original_draft = next((e for e in drafts if e.type not in _NOTES), None)
    note_drafts = [e for e in drafts if e.type in _NOTES]

    if not issued:
        actions: list[Action] = [Discard(e.id) for e in note_drafts]
        if not target.lines:
            return actions + ([Discard(original_draft.id)] if original_draft else [])
        return actions + _keep_or_write(original_draft, target)

    originals = sorted((e for e in issued if e.type not in _NOTES), key=lambda e: e.id.int)
    corrected = originals[0].id if originals else issued[0].id
    note = build_correction(target, (line for e in issued for line in e.lines), corrected)
    keep = note_drafts[0] if note_drafts else None
    actions = [Discard(e.id) for e in note_drafts[1:]]
    if note is None:
        return actions + ([Discard(keep.id)] if keep else [])
    return actions + _keep_or_write(keep, note)
