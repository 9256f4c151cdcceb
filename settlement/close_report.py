"""The period-close report (`elflow close --period 2026-10`): what finance checks before a month
is closed, from what the database holds (it changes nothing).

- per grid area and month: the latest completed run (version, when, metering points settled
  and left out with the reason in words, Σ of its lines) and every failed run with its error;
- the period's invoices by type, totals excl. VAT, VAT and incl. VAT;
- every customer exactly once (Active customers, and any other with a contract overlapping the
  period or an invoice of it), with one status and the reason in words:

  | status | when |
  | --- | --- |
  | invoiced | at least one issued invoice of the period (numbers, net total of its invoices) |
  | not yet issued | only Draft invoices (`elflow invoice --issue` issues them) |
  | not yet invoiced | settled lines in the latest runs, no invoice (`elflow invoice`) |
  | left out | every settled-for metering point was left out of the run (missing data) |
  | quarterly billing / monthly billing | supplied, but billed in the other kind of period |
  | no supply | no contract, or no supplied day we could settle, in the period |

- aconto: per customer the aconto settlement of the latest runs (paid, actual cost, difference,
  next aconto; incl. VAT, positive difference = the customer owes).

A period with a supplied grid area and no completed run is refused (UnsettledPeriod, one line).
The text for the terminal and the CSV and Parquet files are in settlement.close_output.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from schemas.calendar import BillingPeriod
from schemas.codelists import BillingFrequency, InvoiceStatus
from schemas.invoice_records import AcontoSettled
from settlement.settled_period import require_settled
from storage import invoices as invoice_store
from storage import period_close as store
from storage import settlement_runs as run_store
from storage.db import Conn

INVOICED = "invoiced"
NOT_ISSUED = "not yet issued"
NOT_INVOICED = "not yet invoiced"
LEFT_OUT = "left out"
QUARTERLY = "quarterly billing"
MONTHLY = "monthly billing"
NO_SUPPLY = "no supply"
STATUS_ORDER = (INVOICED, NOT_ISSUED, NOT_INVOICED, LEFT_OUT, QUARTERLY, MONTHLY, NO_SUPPLY)

# At most this many names per list on the terminal (invoiced ones: SHOWN_INVOICED); the files
# hold every row.
SHOWN = 50
SHOWN_INVOICED = 10


@dataclass(frozen=True)
class AreaClose:
    """One grid area in one month (or the whole quarter) of the period."""

    month: date
    frequency: str
    grid_area: str
    supplied: bool
    completed: store.RunRow | None
    failed: tuple[store.RunRow, ...]
    energy_kwh: Decimal
    amount: Decimal
    vat: Decimal

    @property
    def status(self) -> str:
        return "Completed" if self.completed else ("Failed" if self.failed else "no run")


@dataclass(frozen=True)
class TypeTotal:
    type: str
    invoices: int
    total_ex_vat: Decimal
    vat_amount: Decimal
    total_incl_vat: Decimal


@dataclass(frozen=True)
class CustomerClose:
    """A customer's one row of the report."""

    customer_id: uuid.UUID
    name: str
    contact_type: str
    status: str
    reason: str
    # "571313100000000017 settled, 571313100000000108 left out" (text, so no spreadsheet
    # turns an 18-digit GSRN into a rounded number).
    metering_points: str
    billing: str
    invoice_numbers: tuple[str, ...]
    invoice_types: tuple[str, ...]
    total_ex_vat: Decimal | None
    vat_amount: Decimal | None
    total_incl_vat: Decimal | None
    aconto_paid: Decimal | None
    aconto_actual_cost: Decimal | None
    aconto_difference: Decimal | None
    new_aconto_amount: Decimal | None


@dataclass(frozen=True)
class CloseReport:
    period: BillingPeriod
    areas: tuple[AreaClose, ...]
    invoice_types: tuple[TypeTotal, ...]
    customers: tuple[CustomerClose, ...]


def build_close_report(conn: Conn, period: BillingPeriod) -> CloseReport:
    """The report of `period` (module docstring); raises UnsettledPeriod first when a supplied
    grid area of the period has no completed run."""
    require_settled(conn, period)
    runs = store.period_runs(conn, period)
    latest = invoice_store.latest_completed_runs(conn, period)
    latest_ids = {run.id for run in latest}
    areas = _areas(conn, period, runs, latest_ids)
    left_out: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        if run.id in latest_ids:
            for gsrn, reason in run.left_out:
                left_out[gsrn].append(reason)
    contracts = store.period_contracts(conn, period)
    settled = store.settled_per_contract(conn, sorted(latest_ids))
    aconto = invoice_store.aconto_settlements(conn, period, [c.id for c in contracts], latest)
    invoices = store.period_invoices(conn, period)
    contracts_of: dict[uuid.UUID, list[store.ContractRow]] = defaultdict(list)
    for contract in contracts:
        contracts_of[contract.customer_id].append(contract)
    invoices_of: dict[uuid.UUID, list[store.InvoiceRow]] = defaultdict(list)
    for invoice in invoices:
        invoices_of[invoice.customer_id].append(invoice)
    customer_of = {c.id: c.customer_id for c in contracts}
    aconto_of: dict[uuid.UUID, list[AcontoSettled]] = defaultdict(list)
    for row in aconto:
        aconto_of[customer_of[row.contract_id]].append(row)
    customers = tuple(
        _customer(
            period,
            customer,
            contracts_of[customer.id],
            settled,
            left_out,
            invoices_of[customer.id],
            aconto_of[customer.id],
        )
        for customer in store.period_customers(conn, period)
    )
    return CloseReport(period, areas, _type_totals(invoices), customers)


def _areas(
    conn: Conn, period: BillingPeriod, runs: list[store.RunRow], latest: set[uuid.UUID]
) -> tuple[AreaClose, ...]:
    supplied = {
        (month, area)
        for month in period.months
        for area in run_store.supplied_grid_areas(conn, month, BillingPeriod.month_of(month).end)
    }
    keys = sorted(
        {(month, "Monthly", area) for month, area in supplied}
        | {(run.month, run.frequency, run.grid_area or "all") for run in runs}
    )
    result = []
    for month, frequency, area in keys:
        own = [
            r
            for r in runs
            if (r.month, r.frequency, r.grid_area or "all") == (month, frequency, area)
        ]
        completed = next((r for r in own if r.id in latest), None)
        if completed is None and frequency != "Monthly" and not own:
            continue
        totals = run_store.charge_totals(conn, completed.id) if completed else []
        result.append(
            AreaClose(
                month=month,
                frequency=frequency,
                grid_area=area,
                supplied=(month, area) in supplied,
                completed=completed,
                failed=tuple(r for r in own if r.status == "Failed"),
                energy_kwh=sum((t.kwh for t in totals if t.charge_type == "Energy"), Decimal(0)),
                amount=sum((t.amount for t in totals), Decimal(0)),
                vat=sum((t.vat for t in totals), Decimal(0)),
            )
        )
    return tuple(result)


def _type_totals(invoices: Iterable[store.InvoiceRow]) -> tuple[TypeTotal, ...]:
    by_type: dict[str, list[store.InvoiceRow]] = defaultdict(list)
    for invoice in invoices:
        by_type[invoice.type].append(invoice)
    return tuple(
        TypeTotal(
            kind,
            len(rows),
            sum((r.total_ex_vat for r in rows), Decimal("0.00")),
            sum((r.vat_amount for r in rows), Decimal("0.00")),
            sum((r.total_incl_vat for r in rows), Decimal("0.00")),
        )
        for kind, rows in sorted(by_type.items())
    )


def _customer(
    period: BillingPeriod,
    customer: store.CustomerRow,
    contracts: list[store.ContractRow],
    settled: dict[uuid.UUID, store.Settled],
    left_out: dict[str, list[str]],
    invoices: list[store.InvoiceRow],
    aconto: list[AcontoSettled],
) -> CustomerClose:
    status, reason = _status(period, contracts, settled, left_out, invoices)
    points = []
    for gsrn in sorted({c.gsrn for c in contracts}):
        own = [c for c in contracts if c.gsrn == gsrn]
        if gsrn in left_out:
            state = "left out"
        elif any(c.id in settled for c in own):
            state = "settled"
        elif any(c.supplied_days for c in own):
            state = "supplied, not settled"
        else:
            state = "not supplied"
        points.append(f"{gsrn} {state}")
    billing = sorted({f"{c.billing_frequency} {c.payment_model}" for c in contracts})
    paid = actual = new = None
    if aconto:
        paid = sum((a.aconto_paid for a in aconto), Decimal(0))
        actual = sum((a.actual_cost for a in aconto), Decimal(0))
        new = max(aconto, key=lambda a: a.period_start).new_aconto_amount
    return CustomerClose(
        customer_id=customer.id,
        name=customer.name,
        contact_type=customer.contact_type,
        status=status,
        reason=reason,
        metering_points=", ".join(points),
        billing=", ".join(billing),
        invoice_numbers=tuple(i.number for i in invoices if i.number),
        invoice_types=tuple(i.type for i in invoices),
        total_ex_vat=_sum(i.total_ex_vat for i in invoices) if invoices else None,
        vat_amount=_sum(i.vat_amount for i in invoices) if invoices else None,
        total_incl_vat=_sum(i.total_incl_vat for i in invoices) if invoices else None,
        aconto_paid=paid,
        aconto_actual_cost=actual,
        aconto_difference=None if paid is None or actual is None else actual - paid,
        new_aconto_amount=new,
    )


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal("0.00"))


def _status(
    period: BillingPeriod,
    contracts: list[store.ContractRow],
    settled: dict[uuid.UUID, store.Settled],
    left_out: dict[str, list[str]],
    invoices: list[store.InvoiceRow],
) -> tuple[str, str]:
    """The customer's one status and its reason in words (precedence as in the table above)."""
    mine = [c for c in contracts if c.billing_frequency == str(period.frequency)]
    other = [c for c in contracts if c.billing_frequency != str(period.frequency)]
    lost = sorted({c.gsrn for c in contracts if c.gsrn in left_out})
    notes = [f"{gsrn} left out: {' / '.join(left_out[gsrn])}" for gsrn in lost]
    if any(c.supplied_days for c in other):
        notes.append(_other_billing(period)[1])
    drafts = [i for i in invoices if i.status == InvoiceStatus.DRAFT]
    if invoices and len(drafts) < len(invoices):
        if drafts:
            notes.append(f"{', '.join(i.type for i in drafts)} Draft not yet issued")
        return INVOICED, "; ".join(notes)
    if drafts:
        return NOT_ISSUED, "; ".join(notes)
    if any(c.id in settled for c in mine):
        return NOT_INVOICED, "; ".join(["settled, no invoice built yet", *notes])
    if any(c.gsrn in left_out for c in mine):
        return LEFT_OUT, "; ".join(notes)
    supplied = [c for c in mine if c.supplied_days]
    if supplied:
        return NO_SUPPLY, (
            f"supplied {max(c.supplied_days for c in supplied)} days but not settled: the"
            " metering point was not a connected consumption point of ours on them"
        )
    if any(c.supplied_days for c in other):
        return _other_billing(period)[0], "; ".join(notes)
    if contracts:
        return NO_SUPPLY, "no supply in the period (a contract, but no supply period)"
    return NO_SUPPLY, "no supply in the period (no contract)"


def _other_billing(period: BillingPeriod) -> tuple[str, str]:
    """The status and words of a customer billed in the other kind of period."""
    if period.frequency is BillingFrequency.MONTHLY:
        first = date(period.start.year, (period.start.month - 1) // 3 * 3 + 1, 1)
        quarter = BillingPeriod(BillingFrequency.QUARTERLY, first).label
        return QUARTERLY, f"billed quarterly: invoiced with {quarter}"
    return MONTHLY, f"billed monthly: invoiced with each month of {period.label}"
