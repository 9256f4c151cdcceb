"""What the exports read: an invoice with its lines, a period's invoices, the runs' lines. SQL only.

The files themselves are written by settlement/exports.py.
"""

from __future__ import annotations

import uuid
from typing import Any

from schemas.calendar import BillingPeriod
from schemas.invoice_records import Line, RunRef
from storage.db import Conn
from storage.invoices import LINE_COLUMNS, find_billing_period, line_from_row


def period_invoice_ids(conn: Conn, period: BillingPeriod) -> list[uuid.UUID]:
    bp_id = find_billing_period(conn, period)
    if bp_id is None:
        return []
    rows = conn.execute(
        "SELECT id FROM invoice WHERE billing_period_id = %s ORDER BY created_at, id", (bp_id,)
    ).fetchall()
    return [row[0] for row in rows]


INVOICE_HEAD_COLUMNS = (
    "id",
    "type",
    "status",
    "issued_at",
    "due_date",
    "created_at",
    "settlement_run_id",
    "corrects_invoice_id",
    "payment_term_days",
    "total_ex_vat",
    "vat_amount",
    "total_incl_vat",
    "customer_id",
    "customer_name",
    "contact_type",
    "cpr_cvr",
    "email",
    "period_start",
    "period_end",
    "frequency",
    "invoice_number",
)


def invoice_with_lines(
    conn: Conn, invoice_id: uuid.UUID
) -> tuple[dict[str, Any], list[tuple[int | None, Line]]] | None:
    """An invoice's head (INVOICE_HEAD_COLUMNS) and its numbered lines, or None."""
    head = conn.execute(
        """SELECT i.id, i.type, i.status, i.issued_at, i.due_date, i.created_at,
                  i.settlement_run_id, i.corrects_invoice_id, i.payment_term_days,
                  i.total_ex_vat, i.vat_amount, i.total_incl_vat,
                  c.id, c.name, c.contact_type, c.cpr_cvr, c.email,
                  bp.period_start, bp.period_end, bp.frequency, i.invoice_number
           FROM invoice i JOIN customer c ON c.id = i.customer_id
           JOIN billing_period bp ON bp.id = i.billing_period_id
           WHERE i.id = %s""",
        (invoice_id,),
    ).fetchone()
    if head is None:
        return None
    rows = conn.execute(
        f"""SELECT line_no, {LINE_COLUMNS} FROM invoice_line WHERE invoice_id = %s
            ORDER BY line_no NULLS LAST, id""",
        (invoice_id,),
    ).fetchall()
    lines = [(row[0], line_from_row(row[1:])) for row in rows]
    return dict(zip(INVOICE_HEAD_COLUMNS, head, strict=True)), lines


def lines_of_runs(conn: Conn, runs: list[RunRef]) -> list[tuple[Any, ...]]:
    """(month, grid area, run id, version, metering point, charge type, contract, kWh, amount,
    VAT) of the runs' settlement lines, in a stable order."""
    return conn.execute(
        """SELECT bp.period_start, r.grid_area_code, r.id, r.version, l.metering_point_id,
                  l.charge_type, l.contract_id, l.total_kwh, l.total_amount, l.vat_amount
           FROM settlement_line l JOIN settlement_run r ON r.id = l.settlement_run_id
           JOIN billing_period bp ON bp.id = r.billing_period_id
           WHERE r.id = ANY(%s)
           ORDER BY bp.period_start, r.grid_area_code, l.metering_point_id, l.charge_type,
                    l.contract_id""",
        ([run.id for run in runs],),
    ).fetchall()
