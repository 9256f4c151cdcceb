"""The period-close report as text for the terminal (`report_text`) and as files a spreadsheet
opens (`elflow close --out DIR`, `write_close_files`).

Two tables, each as CSV and as Parquet, written through settlement.exports.write_file (atomic,
0600, never through a symlink, overwritten only with --force):

- `close-<period>-customers.{csv,parquet}`: one row per customer (every customer once);
- `close-<period>-grid-areas.{csv,parquet}`: one row per grid area and month.

CSV is written the way Danish spreadsheets read it without an import dialog: UTF-8 with a byte
order mark, `;` between fields, a decimal comma and no thousands separator; dates ISO
(`2026-10-31`), times local (`2026-11-01 10:00`). GSRNs only appear inside text, so no
spreadsheet turns an 18-digit number into a rounded one. Parquet keeps the exact types:
amounts and kWh as decimals (never floats), dates as dates.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from schemas.calendar import BillingPeriod, format_local, format_month, to_local
from settlement.close_report import (
    INVOICED,
    NOT_INVOICED,
    NOT_ISSUED,
    SHOWN,
    SHOWN_INVOICED,
    STATUS_ORDER,
    AreaClose,
    CloseReport,
    CustomerClose,
)
from settlement.exports import export_directory, write_file

Column = tuple[str, str, Callable[[Any], Any]]

MONEY = "decimal(20,6)"
INVOICE_MONEY = "decimal(14,2)"
KWH = "decimal(18,3)"


def _local(moment: datetime | None) -> str | None:
    return None if moment is None else to_local(moment).strftime("%Y-%m-%d %H:%M")


CUSTOMER_COLUMNS: tuple[Column, ...] = (
    ("customer_id", "string", lambda c: str(c.customer_id)),
    ("customer_name", "string", lambda c: c.name),
    ("contact_type", "string", lambda c: c.contact_type),
    ("status", "string", lambda c: c.status),
    ("reason", "string", lambda c: c.reason),
    ("metering_points", "string", lambda c: c.metering_points),
    ("billing", "string", lambda c: c.billing),
    ("invoice_numbers", "string", lambda c: ", ".join(c.invoice_numbers)),
    ("invoice_types", "string", lambda c: ", ".join(c.invoice_types)),
    ("total_ex_vat", INVOICE_MONEY, lambda c: c.total_ex_vat),
    ("vat_amount", INVOICE_MONEY, lambda c: c.vat_amount),
    ("total_incl_vat", INVOICE_MONEY, lambda c: c.total_incl_vat),
    ("aconto_paid_incl_vat", MONEY, lambda c: c.aconto_paid),
    ("aconto_actual_cost_incl_vat", MONEY, lambda c: c.aconto_actual_cost),
    ("aconto_difference", MONEY, lambda c: c.aconto_difference),
    ("new_aconto_amount", MONEY, lambda c: c.new_aconto_amount),
)


def _left_out(area: AreaClose) -> str:
    run = area.completed
    return "" if run is None else " | ".join(f"{g}: {r}" for g, r in run.left_out)


def _failures(area: AreaClose) -> str:
    return " | ".join(
        f"version {r.version} started {_local(r.executed_at)}: {r.error or 'no reason kept'}"
        for r in area.failed
    )


AREA_COLUMNS: tuple[Column, ...] = (
    ("month", "date", lambda a: a.month),
    ("billing_frequency", "string", lambda a: a.frequency),
    ("grid_area", "string", lambda a: a.grid_area),
    ("supplied", "bool", lambda a: a.supplied),
    ("status", "string", lambda a: a.status),
    ("version", "int32", lambda a: a.completed.version if a.completed else None),
    (
        "completed_at_local",
        "string",
        lambda a: _local(a.completed.finished_at if a.completed else None),
    ),
    ("metering_points_settled", "int32", lambda a: a.completed.settled if a.completed else None),
    (
        "metering_points_left_out",
        "int32",
        lambda a: len(a.completed.left_out) if a.completed else None,
    ),
    ("left_out", "string", _left_out),
    ("failed_runs", "int32", lambda a: len(a.failed)),
    ("failures", "string", _failures),
    ("energy_kwh", KWH, lambda a: a.energy_kwh if a.completed else None),
    ("amount_ex_vat", MONEY, lambda a: a.amount if a.completed else None),
    ("vat", MONEY, lambda a: a.vat if a.completed else None),
)


def csv_text(value: Any) -> str:
    """One CSV field as a Danish spreadsheet reads it (module docstring)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f").replace(".", ",")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def csv_bytes(columns: Sequence[Column], rows: Sequence[Any]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow([name for name, _kind, _get in columns])
    for row in rows:
        writer.writerow([csv_text(get(row)) for _name, _kind, get in columns])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def parquet_bytes(columns: Sequence[Column], rows: Sequence[Any]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    def arrow_type(kind: str) -> Any:
        if kind.startswith("decimal("):
            precision, scale = kind[len("decimal(") : -1].split(",")
            return pa.decimal128(int(precision), int(scale))
        return {"string": pa.string(), "date": pa.date32(), "bool": pa.bool_()}.get(
            kind, pa.int32()
        )

    schema = pa.schema([(name, arrow_type(kind)) for name, kind, _get in columns])
    arrays = [
        pa.array([get(row) for row in rows], type=arrow_type(kind)) for _name, kind, get in columns
    ]
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(arrays, schema=schema), buffer)
    return buffer.getvalue()


def write_close_files(report: CloseReport, directory: Path, *, force: bool = False) -> list[Path]:
    """The four files of the report in `directory` (created if its parent exists)."""
    target = export_directory(directory)
    label = report.period.label
    tables: tuple[tuple[str, Sequence[Column], Sequence[CustomerClose] | Sequence[AreaClose]], ...]
    tables = (
        ("customers", CUSTOMER_COLUMNS, report.customers),
        ("grid-areas", AREA_COLUMNS, report.areas),
    )
    written = []
    for name, columns, rows in tables:
        stem = f"close-{label}-{name}"
        written.append(write_file(target / f"{stem}.csv", csv_bytes(columns, rows), force=force))
        written.append(
            write_file(target / f"{stem}.parquet", parquet_bytes(columns, rows), force=force)
        )
    return written


# ------------------------------------------------------------------------------------ text
def report_text(report: CloseReport) -> str:
    """The report for a terminal: runs, invoices by type, customers by status, aconto."""
    return "\n".join(_text(report))


def _text(report: CloseReport) -> list[str]:
    period = report.period
    out = [f"Period close {period.label} ({period.in_words})", "", "Settlement runs"]
    for area in report.areas:
        out.extend(_area_text(period, area))
    out += ["", "Invoices"]
    out.append(
        f"  {'type':<16}{'invoices':>9}{'ex VAT DKK':>16}{'VAT DKK':>14}{'incl VAT DKK':>16}"
    )
    for t in report.invoice_types:
        out.append(
            f"  {t.type:<16}{t.invoices:>9}{t.total_ex_vat:>16}{t.vat_amount:>14}"
            f"{t.total_incl_vat:>16}"
        )
    if not report.invoice_types:
        out.append("  none yet")
    else:
        ex, vat, incl = (
            sum((getattr(t, name) for t in report.invoice_types), Decimal("0.00"))
            for name in ("total_ex_vat", "vat_amount", "total_incl_vat")
        )
        count = sum(t.invoices for t in report.invoice_types)
        out.append(f"  {'total':<16}{count:>9}{ex:>16}{vat:>14}{incl:>16}")
    out += ["", f"Customers: {len(report.customers)}, each once"]
    by_status: dict[str, list[CustomerClose]] = defaultdict(list)
    for customer in report.customers:
        by_status[customer.status].append(customer)
    for status in STATUS_ORDER:
        if by_status.get(status):
            out.append(f"  {status:<18}{len(by_status[status]):>6}")
    hints = {
        NOT_ISSUED: f" (Drafts: `elflow invoice --period {period.label} --issue` issues them)",
        NOT_INVOICED: f" (`elflow invoice --period {period.label}` builds their invoices)",
    }
    for status in STATUS_ORDER:
        rows = by_status.get(status, [])
        shown = SHOWN_INVOICED if status in (INVOICED, NOT_ISSUED) else SHOWN
        if rows:
            out.append(f"  {status}{hints.get(status, '')}:")
            out += [f"    {c.name} ({c.customer_id}): {_why(c)}" for c in rows[:shown]]
            if len(rows) > shown:
                out.append(f"    … and {len(rows) - shown} more (see the customers file)")
    out += ["", *_aconto_text(report.customers)]
    return out


def _why(customer: CustomerClose) -> str:
    """A customer's line: the invoices (numbers, net total) when there are any, and the reason."""
    parts = []
    if customer.total_incl_vat is not None:
        numbers = ", ".join(customer.invoice_numbers) or "no number yet"
        parts.append(f"{numbers}, {customer.total_incl_vat} DKK incl. VAT")
    if customer.reason:
        parts.append(customer.reason)
    return "; ".join(parts)


def _area_text(period: BillingPeriod, area: AreaClose) -> list[str]:
    when = format_month(area.month) if area.frequency == "Monthly" else period.label
    head = f"  grid area {area.grid_area}, {when}: "
    out = []
    run = area.completed
    if run is None:
        out.append(head + ("no completed run" if area.supplied else "nothing supplied, no run"))
    else:
        finished = format_local(run.finished_at, words=True) if run.finished_at else "?"
        settled = "" if run.settled is None else f"{run.settled} metering points settled, "
        nobody = " (settled nobody)" if run.settled == 0 else ""
        out.append(
            f"{head}version {run.version} Completed {finished}; {settled}"
            f"{len(run.left_out)} left out{nobody}; lines {area.amount} DKK excl. VAT, VAT"
            f" {area.vat}, {area.energy_kwh} kWh"
        )
        out += [f"    left out {gsrn}: {reason}" for gsrn, reason in run.left_out[:SHOWN]]
        if len(run.left_out) > SHOWN:
            out.append(f"    … and {len(run.left_out) - SHOWN} more (see the grid areas file)")
    for failed in area.failed:
        out.append(
            f"    failed: version {failed.version} started "
            f"{format_local(failed.executed_at, words=True)}: {failed.error or 'no reason kept'}"
        )
    return out


def _aconto_text(customers: Iterable[CustomerClose]) -> list[str]:
    rows = [c for c in customers if c.aconto_difference is not None]
    if not rows:
        return ["Aconto: no aconto settlement in the latest runs"]
    owe = [c.aconto_difference for c in rows if c.aconto_difference and c.aconto_difference > 0]
    owed = [c.aconto_difference for c in rows if c.aconto_difference and c.aconto_difference < 0]
    paid = sum((c.aconto_paid or Decimal(0) for c in rows), Decimal(0))
    actual = sum((c.aconto_actual_cost or Decimal(0) for c in rows), Decimal(0))
    new = sum((c.new_aconto_amount or Decimal(0) for c in rows), Decimal(0))
    return [
        f"Aconto ({_customers(len(rows))}, incl. VAT): paid {paid:.2f}, actual cost {actual:.2f},"
        f" difference {actual - paid:.2f}",
        f"  {_customers(len(owe))} owe {sum(owe, Decimal(0)):.2f}; {len(owed)} are owed"
        f" {-sum(owed, Decimal(0)):.2f}; next aconto {new:.2f} in total",
    ]


def _customers(count: int) -> str:
    return f"{count} customer" + ("" if count == 1 else "s")
