"""Invoices in the database: read the latest completed settlement runs of a period, what was
already invoiced, and write invoices and their lines. SQL only.

The money rules and the decision what to write are in settlement/invoicing.py, the orchestration
of an invoicing run in settlement/invoice_run.py and the files in settlement/exports.py.

Which runs count: per month and grid area, the Completed settlement_run with the highest version
of the month's Monthly billing_period (runs still Running or Failed are ignored). A quarterly
invoice uses the three months' runs and is filed under the quarter's own Quarterly
billing_period row, created here when first needed.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from schemas.calendar import BillingPeriod, local_date
from schemas.codelists import BillingFrequency, ChargeType, InvoiceStatus, InvoiceType, PaymentModel
from schemas.invoice_records import (
    AcontoKind,
    AcontoSettled,
    ContractTerms,
    ExistingInvoice,
    Line,
    RunRef,
    SettledLine,
)
from storage.db import Conn

# Serialises invoicing runs (an arbitrary, fixed advisory-lock key).
INVOICING_LOCK_KEY = 7_231_044


class InvoiceNotDraft(Exception):
    """An invoice to rebuild is no longer a Draft (it was issued meanwhile)."""


class DraftToWrite(Protocol):
    """What storage needs of an invoice draft (settlement.invoicing.InvoiceDraft)."""

    @property
    def customer_id(self) -> uuid.UUID: ...
    @property
    def type(self) -> InvoiceType: ...
    @property
    def lines(self) -> tuple[Line, ...]: ...
    @property
    def payment_term_days(self) -> int: ...
    @property
    def settlement_run_id(self) -> uuid.UUID | None: ...
    @property
    def corrects_invoice_id(self) -> uuid.UUID | None: ...
    @property
    def totals(self) -> tuple[Decimal, Decimal, Decimal]: ...


def lock_invoicing(conn: Conn) -> None:
    """Transaction-level lock: one invoicing run at a time."""
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (INVOICING_LOCK_KEY,))


# ---------------------------------------------------------------------------------- reading
def latest_completed_runs(conn: Conn, period: BillingPeriod) -> list[RunRef]:
    """The settlement runs an invoice of the period draws on.

    Per billing period and grid area the Completed run with the highest version counts. For a
    quarter, a grid area's run of the whole quarter (a Quarterly billing period) is used when
    there is one; otherwise the runs of its three months.
    """
    rows = conn.execute(
        """SELECT DISTINCT ON (bp.id, r.grid_area_code)
                  r.id, bp.period_start, bp.frequency, r.grid_area_code, r.version
           FROM settlement_run r JOIN billing_period bp ON bp.id = r.billing_period_id
           WHERE r.status = 'Completed'
             AND ((bp.frequency = 'Monthly' AND bp.period_start = ANY(%(months)s))
                  OR (bp.frequency = %(frequency)s AND bp.period_start = %(start)s))
           ORDER BY bp.id, r.grid_area_code, r.version DESC""",
        {"months": list(period.months), "frequency": str(period.frequency), "start": period.start},
    ).fetchall()
    whole = {row[3] for row in rows if row[2] == str(period.frequency) and row[1] == period.start}
    runs = []
    for run_id, start, frequency, area, version in rows:
        if frequency == str(period.frequency) and start == period.start:
            runs.append(RunRef(run_id, start, period.months, area, version))
        elif area not in whole:
            runs.append(RunRef(run_id, start, (start,), area, version))
    return sorted(runs, key=lambda run: (run.month, run.grid_area_code or "", run.version))


def settled_lines(conn: Conn, runs: list[RunRef]) -> tuple[list[SettledLine], int]:
    """The runs' settlement lines with a contract, and the count of lines without one."""
    months = {run.id: run for run in runs}
    rows = conn.execute(
        """SELECT settlement_run_id, metering_point_id, charge_type, total_kwh, total_amount,
                  vat_amount, contract_id
           FROM settlement_line WHERE settlement_run_id = ANY(%s)
           ORDER BY settlement_run_id, metering_point_id, charge_type, contract_id""",
        ([run.id for run in runs],),
    ).fetchall()
    lines = [
        SettledLine(
            run_id=row[0],
            run_version=months[row[0]].version,
            month=months[row[0]].month,
            metering_point_id=row[1],
            charge_type=ChargeType(row[2]),
            total_kwh=row[3],
            total_amount=row[4],
            vat_amount=row[5],
            contract_id=row[6],
        )
        for row in rows
        if row[6] is not None
    ]
    return lines, sum(1 for row in rows if row[6] is None)


def contracts_for_period(conn: Conn, period: BillingPeriod, tz: str) -> list[ContractTerms]:
    """Contracts of the period's billing frequency overlapping it; the effective end is the
    earliest of the contract's end, the end of the metering point's supply and the metering
    point's close down (the first local day whose midnight is at or after it, `tz`)."""
    rows = conn.execute(
        """SELECT c.id, c.customer_id, c.gsrn, mp.grid_area_code, c.billing_frequency,
                  c.payment_model, c.payment_term_days, c.start_date,
                  LEAST(c.end_date, s.end_date, x.closed_down)
           FROM contract c
           JOIN metering_point mp ON mp.gsrn = c.gsrn
           LEFT JOIN LATERAL (
               SELECT sp.end_date FROM supply_period sp
               WHERE sp.gsrn = c.gsrn AND sp.start_date < %(end)s
                 AND (sp.end_date IS NULL OR sp.end_date > %(start)s)
               ORDER BY sp.start_date DESC LIMIT 1
           ) s ON true
           LEFT JOIN LATERAL (
               SELECT ((min(v.valid_from) AT TIME ZONE %(tz)s) - interval '1 microsecond')::date
                      + 1 AS closed_down
               FROM metering_point_version v
               WHERE v.gsrn = c.gsrn AND v.connection_status = 'ClosedDown'
           ) x ON true
           WHERE c.billing_frequency = %(frequency)s AND c.start_date < %(end)s
             AND (c.end_date IS NULL OR c.end_date > %(start)s)
           ORDER BY c.customer_id, c.start_date, c.id""",
        {"start": period.start, "end": period.end, "frequency": str(period.frequency), "tz": tz},
    ).fetchall()
    return [
        ContractTerms(
            id=row[0],
            customer_id=row[1],
            gsrn=row[2],
            grid_area_code=row[3],
            billing_frequency=BillingFrequency(row[4]),
            payment_model=PaymentModel(row[5]),
            payment_term_days=row[6],
            start_date=row[7],
            end_date=row[8],
        )
        for row in rows
    ]


def aconto_settlements(
    conn: Conn, period: BillingPeriod, contract_ids: list[uuid.UUID], runs: list[RunRef]
) -> list[AcontoSettled]:
    """Per contract and billing period of the invoice period (its months, or the period itself),
    the aconto settlement of the latest runs, else one not tied to a run."""
    rows = conn.execute(
        """SELECT DISTINCT ON (a.contract_id, a.billing_period_id)
                  a.contract_id, bp.period_start, bp.frequency, a.actual_cost, a.aconto_paid,
                  a.new_aconto_amount
           FROM aconto_settlement a JOIN billing_period bp ON bp.id = a.billing_period_id
           WHERE a.contract_id = ANY(%(contracts)s)
             AND ((bp.frequency = 'Monthly' AND bp.period_start = ANY(%(months)s))
                  OR (bp.frequency = %(frequency)s AND bp.period_start = %(start)s))
             AND (a.settlement_run_id IS NULL OR a.settlement_run_id = ANY(%(runs)s))
           ORDER BY a.contract_id, a.billing_period_id, a.settlement_run_id IS NULL, a.id""",
        {
            "contracts": contract_ids,
            "months": list(period.months),
            "frequency": str(period.frequency),
            "start": period.start,
            "runs": [run.id for run in runs],
        },
    ).fetchall()
    return [
        AcontoSettled(row[0], row[1], BillingFrequency(row[2]), row[3], row[4], row[5])
        for row in rows
    ]


def find_billing_period(conn: Conn, period: BillingPeriod) -> uuid.UUID | None:
    row = conn.execute(
        """SELECT id FROM billing_period WHERE frequency = %s AND period_start = %s
           ORDER BY period_end LIMIT 1""",
        (str(period.frequency), period.start),
    ).fetchone()
    return None if row is None else row[0]


def ensure_billing_period(conn: Conn, period: BillingPeriod) -> uuid.UUID:
    """The period's billing_period row; a quarter's is created on first use, ending where its
    last month's row ends (so it follows whatever end convention the runs' rows use)."""
    found = find_billing_period(conn, period)
    if found is not None:
        return found
    last = BillingPeriod.month_of(period.months[-1])
    row = conn.execute(
        "SELECT period_end FROM billing_period WHERE frequency = 'Monthly' AND period_start = %s"
        " ORDER BY period_end LIMIT 1",
        (last.start,),
    ).fetchone()
    end = period.end if row is None else row[0]
    conn.execute(
        """INSERT INTO billing_period (id, period_start, period_end, frequency)
           VALUES (%s, %s, %s, %s) ON CONFLICT (period_start, period_end, frequency) DO NOTHING""",
        (uuid.uuid4(), period.start, end, str(period.frequency)),
    )
    found = find_billing_period(conn, period)
    assert found is not None
    return found


LINE_COLUMNS = (
    "metering_point_id, charge_type, aconto_kind, description, quantity, unit_price, amount"
)


def line_from_row(row: tuple[Any, ...]) -> Line:
    return Line(
        metering_point_id=row[0] or "",
        charge_type=row[1],
        aconto_kind=None if row[2] is None else AcontoKind(row[2]),
        description=row[3],
        quantity=row[4],
        unit_price=row[5],
        amount=row[6],
    )


def existing_invoices(
    conn: Conn, billing_period_id: uuid.UUID
) -> dict[uuid.UUID, list[ExistingInvoice]]:
    """The period's invoices per customer, with their lines (Cancelled ones left out)."""
    heads = conn.execute(
        """SELECT id, customer_id, type, status, corrects_invoice_id, invoice_number FROM invoice
           WHERE billing_period_id = %s AND status <> 'Cancelled'
           ORDER BY created_at, id""",
        (billing_period_id,),
    ).fetchall()
    lines: dict[uuid.UUID, list[Line]] = defaultdict(list)
    for row in conn.execute(
        f"""SELECT l.invoice_id, {", ".join("l." + c for c in LINE_COLUMNS.split(", "))}
            FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id
            WHERE i.billing_period_id = %s AND i.status <> 'Cancelled'
            ORDER BY l.invoice_id, l.line_no NULLS LAST, l.id""",
        (billing_period_id,),
    ):
        lines[row[0]].append(line_from_row(row[1:]))
    found: dict[uuid.UUID, list[ExistingInvoice]] = defaultdict(list)
    for head in heads:
        found[head[1]].append(
            ExistingInvoice(
                id=head[0],
                type=InvoiceType(head[2]),
                status=InvoiceStatus(head[3]),
                lines=tuple(lines[head[0]]),
                corrects_invoice_id=head[4],
                number=head[5],
            )
        )
    return found


# ---------------------------------------------------------------------------------- writing
def _write_lines(conn: Conn, invoice_id: uuid.UUID, draft: DraftToWrite) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            f"""INSERT INTO invoice_line (id, invoice_id, line_no, {LINE_COLUMNS})
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (
                    uuid.uuid4(),
                    invoice_id,
                    n,
                    line.metering_point_id,
                    line.charge_type,
                    None if line.aconto_kind is None else str(line.aconto_kind),
                    line.description,
                    line.quantity,
                    line.unit_price,
                    line.amount,
                )
                for n, line in enumerate(draft.lines, start=1)
            ],
        )


def create_invoice(conn: Conn, billing_period_id: uuid.UUID, draft: DraftToWrite) -> uuid.UUID:
    invoice_id = uuid.uuid4()
    conn.execute(
        """INSERT INTO invoice (id, customer_id, billing_period_id, type, total_ex_vat, vat_amount,
                                total_incl_vat, status, settlement_run_id, corrects_invoice_id,
                                payment_term_days)
           VALUES (%s, %s, %s, %s, %s, %s, %s, 'Draft', %s, %s, %s)""",
        (
            invoice_id,
            draft.customer_id,
            billing_period_id,
            str(draft.type),
            *draft.totals,
            draft.settlement_run_id,
            draft.corrects_invoice_id,
            draft.payment_term_days,
        ),
    )
    _write_lines(conn, invoice_id, draft)
    return invoice_id


def replace_draft(conn: Conn, invoice_id: uuid.UUID, draft: DraftToWrite) -> None:
    """Rebuild a Draft in place; the database refuses if it is no longer a Draft."""
    conn.execute("DELETE FROM invoice_line WHERE invoice_id = %s", (invoice_id,))
    updated = conn.execute(
        """UPDATE invoice SET type = %s, total_ex_vat = %s, vat_amount = %s, total_incl_vat = %s,
                  settlement_run_id = %s, corrects_invoice_id = %s, payment_term_days = %s
           WHERE id = %s AND status = 'Draft'""",
        (
            str(draft.type),
            *draft.totals,
            draft.settlement_run_id,
            draft.corrects_invoice_id,
            draft.payment_term_days,
            invoice_id,
        ),
    ).rowcount
    if updated != 1:
        raise InvoiceNotDraft(f"invoice {invoice_id} is not a Draft")
    _write_lines(conn, invoice_id, draft)


def discard_draft(conn: Conn, invoice_id: uuid.UUID) -> None:
    conn.execute("DELETE FROM invoice_line WHERE invoice_id = %s", (invoice_id,))
    conn.execute("DELETE FROM invoice WHERE id = %s AND status = 'Draft'", (invoice_id,))


def issue_drafts(
    conn: Conn, billing_period_id: uuid.UUID, now: datetime, prefix: str
) -> list[uuid.UUID]:
    """Draft → Issued for the period's drafts: issued_at = now, due_date = the issue date (local)
    + the payment term, and the next numbers of the series `<prefix>-<local year>` in the
    drafts' creation order.

    The series' counter row is updated in the caller's transaction, so numbers are gap-free: a
    rolled-back issue takes its numbers back with it, and concurrent issuers wait on the row.
    """
    issue_date = local_date(now)
    series = f"{prefix}-{issue_date.year}"
    drafts = [
        row[0]
        for row in conn.execute(
            """SELECT id FROM invoice WHERE billing_period_id = %s AND status = 'Draft'
               ORDER BY created_at, id FOR UPDATE""",
            (billing_period_id,),
        ).fetchall()
    ]
    if not drafts:
        return []
    conn.execute(
        "INSERT INTO invoice_number_series (series) VALUES (%s) ON CONFLICT DO NOTHING", (series,)
    )
    row = conn.execute(
        """UPDATE invoice_number_series SET last_number = last_number + %s WHERE series = %s
           RETURNING last_number""",
        (len(drafts), series),
    ).fetchone()
    assert row is not None
    first = int(row[0]) - len(drafts) + 1
    with conn.cursor() as cur:
        cur.executemany(
            """UPDATE invoice SET status = 'Issued', issued_at = %s,
                      due_date = %s::date + payment_term_days, number_series = %s,
                      number_in_series = %s, invoice_number = %s
               WHERE id = %s AND status = 'Draft'""",
            [
                (now, issue_date, series, n, invoice_number(series, n), invoice_id)
                for n, invoice_id in enumerate(drafts, start=first)
            ],
        )
    return sorted(drafts)


def invoice_number(series: str, number: int) -> str:
    """The printed invoice number: series and number, zero-padded to six digits."""
    return f"{series}-{number:06d}"


def invoice_numbers(conn: Conn, invoice_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The numbers of those invoices that have one (issued)."""
    rows = conn.execute(
        "SELECT id, invoice_number FROM invoice WHERE id = ANY(%s) AND invoice_number IS NOT NULL",
        (invoice_ids,),
    ).fetchall()
    return {row[0]: str(row[1]) for row in rows}
