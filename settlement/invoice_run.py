"""An invoicing run: bring a period's invoices in line with the latest completed settlement runs.

Reads its inputs through storage.invoices, decides per customer with the pure rules of
settlement.invoicing (build_invoice, plan_customer) and applies the plan, all in one
transaction under an advisory lock, so two invoicing runs never interleave.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from schemas.calendar import BillingPeriod
from schemas.codelists import InvoiceStatus, InvoiceType
from schemas.invoice_records import AcontoSettled, ContractTerms, SettledLine
from schemas.settings import settings
from settlement.invoice_parts import Written
from settlement.invoice_parts import store as store_parts
from settlement.invoicing import (
    Create,
    Discard,
    InvoiceDraft,
    InvoicingError,
    Replace,
    build_invoice,
    missing_runs,
    plan_customer,
)
from settlement.settled_period import require_settled
from storage import invoices as store
from storage.db import Conn


@dataclass
class InvoicingReport:
    period: str
    billing_period_id: uuid.UUID | None = None
    created: list[uuid.UUID] = field(default_factory=list)
    replaced: list[uuid.UUID] = field(default_factory=list)
    discarded: list[uuid.UUID] = field(default_factory=list)
    unchanged: int = 0
    issued: list[uuid.UUID] = field(default_factory=list)
    # The numbers the issued invoices got (gap-free per series), in order.
    issued_numbers: list[str] = field(default_factory=list)
    # (customer id, reason) of customers left out of this run.
    skipped: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    # Settlement lines without a contract cannot be billed to anyone.
    lines_without_contract: int = 0


def run_invoicing(
    conn: Conn, period: BillingPeriod, now: datetime, *, issue: bool = False
) -> InvoicingReport:
    """Bring the period's invoices in line with the latest completed settlement runs, in one
    transaction; with `issue`, then issue every Draft of the period.

    Raises UnsettledPeriod (nothing written) when a supplied grid area of the period has no
    completed settlement run."""
    if now.tzinfo is None:
        raise ValueError("expected an aware datetime")
    report = InvoicingReport(period=period.label)
    with conn.transaction():
        store.lock_invoicing(conn)
        require_settled(conn, period)
        runs = store.latest_completed_runs(conn, period)
        lines, report.lines_without_contract = store.settled_lines(conn, runs)
        contracts = store.contracts_for_period(conn, period, settings().timezone)
        bp_id = store.find_billing_period(conn, period)
        already = store.existing_invoices(conn, bp_id) if bp_id is not None else {}

        customer_of = {c.id: c.customer_id for c in contracts}
        by_customer: dict[uuid.UUID, list[ContractTerms]] = defaultdict(list)
        for contract in contracts:
            by_customer[contract.customer_id].append(contract)
        lines_of: dict[uuid.UUID, list[SettledLine]] = defaultdict(list)
        for line in lines:
            if line.contract_id in customer_of:
                lines_of[customer_of[line.contract_id]].append(line)
        aconto_of: dict[uuid.UUID, list[AcontoSettled]] = defaultdict(list)
        for row in store.aconto_settlements(conn, period, sorted(customer_of), runs):
            aconto_of[customer_of[row.contract_id]].append(row)
        completed = {(month, run.grid_area_code) for run in runs for month in run.months}
        written: list[Written] = []

        for customer in sorted(set(lines_of) | set(aconto_of) | set(already)):
            own = by_customer.get(customer, [])
            gaps = missing_runs(period, own, completed)
            if gaps:
                reason = "no completed settlement run for " + ", ".join(gaps)
                report.skipped.append((customer, reason))
                continue
            try:
                target = (
                    build_invoice(period, customer, own, lines_of[customer], aconto_of[customer])
                    if own
                    else InvoiceDraft(customer, InvoiceType.STANDARD, (), 0)
                )
            except InvoicingError as exc:
                report.skipped.append((customer, str(exc)))
                continue
            actions = plan_customer(target, already.get(customer, []))
            if not actions:
                report.unchanged += 1
                continue
            if bp_id is None:
                bp_id = store.ensure_billing_period(conn, period)
            invoiced = tuple(
                (e.id, e.lines)
                for e in already.get(customer, [])
                if e.status is not InvoiceStatus.DRAFT and e.status is not InvoiceStatus.CANCELLED
            )
            for action in actions:
                if isinstance(action, Create):
                    invoice_id = store.create_invoice(conn, bp_id, action.draft)
                    report.created.append(invoice_id)
                elif isinstance(action, Replace):
                    invoice_id = action.invoice_id
                    store.replace_draft(conn, invoice_id, action.draft)
                    report.replaced.append(invoice_id)
                if isinstance(action, Create | Replace):
                    written.append(
                        Written(
                            invoice_id,
                            action.draft.lines,
                            action.draft.corrects_invoice_id is not None,
                            target.lines,
                            tuple(own),
                            tuple(aconto_of[customer]),
                            tuple(lines_of[customer]),
                            invoiced,
                        )
                    )
                elif isinstance(action, Discard):
                    store.discard_draft(conn, action.invoice_id)
                    report.discarded.append(action.invoice_id)
        store_parts(conn, period, written, settings().timezone)
        report.billing_period_id = bp_id
        if issue and bp_id is not None:
            report.issued = store.issue_drafts(conn, bp_id, now, settings().invoice_number_prefix)
            report.issued_numbers = sorted(store.invoice_numbers(conn, report.issued).values())
    return report
