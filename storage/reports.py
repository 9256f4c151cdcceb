"""Read-only queries behind the terminal reports (the demo's tables, operators' summaries)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from storage.blocks import BLOCK_VERSIONS_SQL
from storage.db import Conn


@dataclass(frozen=True)
class DayTotals:
    """All metering points' summaries of one local day."""

    day: date
    metering_points: int
    total_kwh: Decimal
    off_peak_kwh: Decimal
    peak_kwh: Decimal
    super_peak_kwh: Decimal
    quantities_received: int
    quantities_expected: int
    incomplete_metering_points: int


def daily_totals(conn: Conn, start: date, end: date) -> list[DayTotals]:
    """Per local day in [start, end): sums of daily_summary over all metering points."""
    rows = conn.execute(
        """SELECT date, count(*), sum(total_kwh), sum(off_peak_kwh), sum(peak_kwh),
                  sum(super_peak_kwh), sum(points_expected - missing_count), sum(points_expected),
                  count(*) FILTER (WHERE missing_count > 0)
           FROM daily_summary WHERE date >= %s AND date < %s
           GROUP BY date ORDER BY date""",
        (start, end),
    ).fetchall()
    return [DayTotals(*row) for row in rows]


def reading_versions(conn: Conn) -> int:
    """Rows of the metering_data view (every version of every reading), counted on the blocks."""
    row = conn.execute(
        f"SELECT coalesce(sum({BLOCK_VERSIONS_SQL.format(q='quality')}), 0) FROM metering_block"
    ).fetchone()
    return int(row[0]) if row else 0


def open_dead_letters_by_reason(conn: Conn) -> dict[str, int]:
    rows = conn.execute(
        "SELECT reason_code, count(*) FROM dead_letter_message WHERE NOT resolved GROUP BY 1"
    ).fetchall()
    return {str(reason): int(count) for reason, count in rows}


@dataclass(frozen=True)
class InvoiceTypeTotals:
    type: str
    invoices: int
    total_ex_vat: Decimal
    vat_amount: Decimal
    total_incl_vat: Decimal


def invoice_totals_by_type(conn: Conn, start: date, end: date) -> list[InvoiceTypeTotals]:
    """Invoices of the billing period [start, end) per type, with their totals."""
    rows = conn.execute(
        """SELECT i.type, count(*), sum(i.total_ex_vat), sum(i.vat_amount), sum(i.total_incl_vat)
           FROM invoice i JOIN billing_period b ON b.id = i.billing_period_id
           WHERE b.period_start = %s AND b.period_end = %s
           GROUP BY i.type ORDER BY i.type""",
        (start, end),
    ).fetchall()
    return [InvoiceTypeTotals(*row) for row in rows]
