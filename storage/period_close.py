"""What the period-close report reads (settlement.close_report): the runs of a period with their
failures, every customer with their contracts, supplied days and settled amounts, and the
period's invoices. Read-only SQL; the report decides and words it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from schemas.calendar import BillingPeriod
from storage.db import Conn


@dataclass(frozen=True)
class RunRow:
    """One settlement run of the period (any status)."""

    id: uuid.UUID
    # The first day of the run's billing period (a month, or the whole quarter's first day).
    month: date
    frequency: str
    grid_area: str | None
    version: int
    status: str
    executed_at: datetime
    finished_at: datetime | None
    error: str | None
    settled: int | None
    # (GSRN, reason in words) from the run's summary.
    left_out: tuple[tuple[str, str], ...]


def period_runs(conn: Conn, period: BillingPeriod) -> list[RunRow]:
    """Every run of the period's months (and of the period itself, for a quarter), by billing
    period, grid area and time started."""
    rows = conn.execute(
        """SELECT r.id, bp.period_start, bp.frequency, r.grid_area_code, r.version, r.status,
                  r.executed_at, r.finished_at, r.error_details,
                  (r.summary ->> 'settled_metering_points')::int,
                  coalesce((SELECT array_agg(x ->> 'gsrn' ORDER BY x ->> 'gsrn')
                            FROM jsonb_array_elements(r.summary -> 'left_out') x), '{}'),
                  coalesce((SELECT array_agg(x ->> 'reason' ORDER BY x ->> 'gsrn')
                            FROM jsonb_array_elements(r.summary -> 'left_out') x), '{}')
           FROM settlement_run r JOIN billing_period bp ON bp.id = r.billing_period_id
           WHERE (bp.frequency = 'Monthly' AND bp.period_start = ANY(%(months)s))
              OR (bp.frequency = %(frequency)s AND bp.period_start = %(start)s)
           ORDER BY bp.period_start, bp.frequency, r.grid_area_code, r.executed_at, r.id""",
        {"months": list(period.months), "frequency": str(period.frequency), "start": period.start},
    ).fetchall()
    return [
        RunRow(
            id=row[0],
            month=row[1],
            frequency=row[2],
            grid_area=row[3],
            version=row[4],
            status=row[5],
            executed_at=row[6],
            finished_at=row[7],
            error=row[8],
            settled=row[9],
            left_out=tuple(zip(row[10], row[11], strict=True)),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class CustomerRow:
    id: uuid.UUID
    name: str
    contact_type: str


def period_customers(conn: Conn, period: BillingPeriod) -> list[CustomerRow]:
    """The customers a close names: every Active customer, and any other one with a contract
    overlapping the period or an invoice of it. By name, then id."""
    rows = conn.execute(
        """SELECT c.id, c.name, c.contact_type FROM customer c
           WHERE c.status = 'Active'
              OR EXISTS (SELECT 1 FROM contract k WHERE k.customer_id = c.id
                         AND k.start_date < %(end)s
                         AND coalesce(k.end_date, 'infinity') > %(start)s)
              OR EXISTS (SELECT 1 FROM invoice i JOIN billing_period bp
                         ON bp.id = i.billing_period_id
                         WHERE i.customer_id = c.id AND bp.frequency = %(frequency)s
                           AND bp.period_start = %(start)s)
           ORDER BY c.name, c.id""",
        {"start": period.start, "end": period.end, "frequency": str(period.frequency)},
    ).fetchall()
    return [CustomerRow(*row) for row in rows]


@dataclass(frozen=True)
class ContractRow:
    """A contract overlapping the period, with the days of the period we supply it."""

    id: uuid.UUID
    customer_id: uuid.UUID
    gsrn: str
    grid_area: str
    billing_frequency: str
    payment_model: str
    start_date: date
    end_date: date | None
    # Days of the period inside both the contract and one of our supply periods (supply
    # periods of a metering point do not overlap).
    supplied_days: int


def period_contracts(conn: Conn, period: BillingPeriod) -> list[ContractRow]:
    """Every contract (any billing frequency) overlapping the period."""
    rows = conn.execute(
        """SELECT k.id, k.customer_id, k.gsrn, mp.grid_area_code, k.billing_frequency,
                  k.payment_model, k.start_date, k.end_date,
                  (SELECT coalesce(sum(GREATEST(0,
                       LEAST(coalesce(sp.end_date, 'infinity'), coalesce(k.end_date, 'infinity'),
                             %(end)s::date)
                       - GREATEST(sp.start_date, k.start_date, %(start)s::date))), 0)::int
                   FROM supply_period sp
                   WHERE sp.gsrn = k.gsrn AND sp.start_date < %(end)s
                     AND coalesce(sp.end_date, 'infinity') > %(start)s)
           FROM contract k JOIN metering_point mp ON mp.gsrn = k.gsrn
           WHERE k.start_date < %(end)s AND coalesce(k.end_date, 'infinity') > %(start)s
           ORDER BY k.customer_id, k.gsrn, k.start_date, k.id""",
        {"start": period.start, "end": period.end},
    ).fetchall()
    return [ContractRow(*row) for row in rows]


@dataclass(frozen=True)
class Settled:
    """A contract's settlement lines in the runs: count, Σ amount, Σ VAT (excl./of VAT)."""

    lines: int
    amount: Decimal
    vat: Decimal


def settled_per_contract(conn: Conn, run_ids: list[uuid.UUID]) -> dict[uuid.UUID, Settled]:
    rows = conn.execute(
        """SELECT contract_id, count(*), sum(total_amount), sum(vat_amount)
           FROM settlement_line WHERE settlement_run_id = ANY(%s) AND contract_id IS NOT NULL
           GROUP BY contract_id""",
        (run_ids,),
    ).fetchall()
    return {row[0]: Settled(int(row[1]), row[2], row[3]) for row in rows}


@dataclass(frozen=True)
class InvoiceRow:
    id: uuid.UUID
    customer_id: uuid.UUID
    type: str
    status: str
    number: str | None
    total_ex_vat: Decimal
    vat_amount: Decimal
    total_incl_vat: Decimal


def period_invoices(conn: Conn, period: BillingPeriod) -> list[InvoiceRow]:
    """The invoices filed under the period (its own billing period), Cancelled ones left out,
    in the order they were created."""
    rows = conn.execute(
        """SELECT i.id, i.customer_id, i.type, i.status, i.invoice_number, i.total_ex_vat,
                  i.vat_amount, i.total_incl_vat
           FROM invoice i JOIN billing_period bp ON bp.id = i.billing_period_id
           WHERE bp.frequency = %s AND bp.period_start = %s AND i.status <> 'Cancelled'
           ORDER BY i.created_at, i.id""",
        (str(period.frequency), period.start),
    ).fetchall()
    return [InvoiceRow(*row) for row in rows]
