"""settlement_run bookkeeping: locks, versions, status, the grid areas to settle, totals. SQL only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from storage.db import Conn

# Advisory lock class of settlement runs: (class, hash of period and grid area).
RUN_LOCK_CLASS = 7_231_100
# Serialises summary refreshes of the same period across processes (no deadlocks).
REFRESH_LOCK_CLASS = 7_231_101


def lock_key(period_start: date, period_end: date, grid_area: str) -> tuple[int, str]:
    return RUN_LOCK_CLASS, f"{period_start}/{period_end}/{grid_area}"


def try_lock_run(conn: Conn, period_start: date, period_end: date, grid_area: str) -> bool:
    cls, text = lock_key(period_start, period_end, grid_area)
    row = conn.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", (cls, text)).fetchone()
    return bool(row and row[0])


def lock_run(conn: Conn, period_start: date, period_end: date, grid_area: str) -> None:
    cls, text = lock_key(period_start, period_end, grid_area)
    conn.execute("SELECT pg_advisory_lock(%s, hashtext(%s))", (cls, text))


def unlock_run(conn: Conn, period_start: date, period_end: date, grid_area: str) -> None:
    cls, text = lock_key(period_start, period_end, grid_area)
    conn.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", (cls, text))


def lock_refresh(conn: Conn, period_start: date, period_end: date) -> None:
    """Transaction-level lock around a summary refresh of the period."""
    conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
        (REFRESH_LOCK_CLASS, f"{period_start}/{period_end}"),
    )


def price_area_of(conn: Conn, grid_area: str) -> str | None:
    row = conn.execute("SELECT price_area FROM grid_area WHERE code = %s", (grid_area,)).fetchone()
    return None if row is None else str(row[0])


def supplied_grid_areas(conn: Conn, start: date, end: date) -> list[str]:
    """Grid areas with a metering point we supply on some day of [start, end): its current
    grid area and every grid area of its history (a run with nothing to settle is harmless)."""
    rows = conn.execute(
        """SELECT DISTINCT a.code FROM supply_period sp
           CROSS JOIN LATERAL (
               SELECT mp.grid_area_code FROM metering_point mp WHERE mp.gsrn = sp.gsrn
               UNION
               SELECT v.grid_area_code FROM metering_point_version v
               WHERE v.gsrn = sp.gsrn AND v.grid_area_code IS NOT NULL
                 -- a day either side covers any time zone's offset
                 AND v.valid_from < %(end)s::date + 1
                 AND (v.valid_to IS NULL OR v.valid_to > %(start)s::date - 1)
           ) a(code)
           WHERE sp.start_date < %(end)s AND coalesce(sp.end_date, 'infinity') > %(start)s
           ORDER BY 1""",
        {"start": start, "end": end},
    ).fetchall()
    return [str(r[0]) for r in rows]


def mark_abandoned(conn: Conn, billing_period_id: uuid.UUID, grid_area: str) -> int:
    """Runs still 'Running' for this period and area: the caller holds the run lock, so no live
    process owns them (they were killed)."""
    return conn.execute(
        """UPDATE settlement_run SET status = 'Failed', finished_at = now(),
               error_details = 'abandoned: the process running it ended without finishing'
           WHERE billing_period_id = %s AND grid_area_code = %s AND status = 'Running'""",
        (billing_period_id, grid_area),
    ).rowcount


def insert_run(conn: Conn, billing_period_id: uuid.UUID, grid_area: str) -> tuple[uuid.UUID, int]:
    """A new 'Running' run for the period and grid area: version = the highest version of its
    runs that did not fail + 1 (a Failed run does not use up its number; migration 0041)."""
    run_id = uuid.uuid4()
    row = conn.execute(
        """INSERT INTO settlement_run (id, billing_period_id, version, status, grid_area_code)
           SELECT %(id)s, %(bp)s, coalesce(max(version) FILTER (WHERE status <> 'Failed'), 0) + 1,
                  'Running', %(area)s
           FROM settlement_run WHERE billing_period_id = %(bp)s AND grid_area_code = %(area)s
           RETURNING version""",
        {"id": run_id, "bp": billing_period_id, "area": grid_area},
    ).fetchone()
    assert row is not None
    return run_id, int(row[0])


def complete_run(conn: Conn, run_id: uuid.UUID, summary_json: str) -> None:
    conn.execute(
        """UPDATE settlement_run SET status = 'Completed', finished_at = now(),
               summary = %s::jsonb WHERE id = %s""",
        (summary_json, run_id),
    )


def fail_run(conn: Conn, run_id: uuid.UUID, error: str) -> None:
    conn.execute(
        """UPDATE settlement_run SET status = 'Failed', finished_at = now(), error_details = %s
           WHERE id = %s""",
        (error, run_id),
    )


@dataclass(frozen=True)
class ChargeTotal:
    charge_type: str
    lines: int
    kwh: Decimal
    amount: Decimal
    vat: Decimal


_CHARGE_ORDER = (
    "Energy",
    "GridTariff",
    "SystemTariff",
    "TransmissionTariff",
    "ElectricityTax",
    "GridSubscription",
    "SupplierSubscription",
)


def charge_totals(conn: Conn, run_id: uuid.UUID) -> list[ChargeTotal]:
    rows = conn.execute(
        """SELECT charge_type, count(*), sum(total_kwh), sum(total_amount), sum(vat_amount)
           FROM settlement_line WHERE settlement_run_id = %s GROUP BY charge_type""",
        (run_id,),
    ).fetchall()
    found = {r[0]: ChargeTotal(r[0], int(r[1]), r[2], r[3], r[4]) for r in rows}
    return [found[c] for c in _CHARGE_ORDER if c in found]


@dataclass(frozen=True)
class MethodChange:
    """A settlement-method change of a metering point settled in a run (local date)."""

    gsrn: str
    day: date
    before: str | None
    after: str | None


def settlement_method_changes(
    conn: Conn, grid_area: str, start: date, end: date, tz: str
) -> list[MethodChange]:
    """Settlement-method changes effective in [start, end) (local dates) of the metering points
    in `grid_area` at the change, from their history."""
    rows = conn.execute(
        """SELECT gsrn, (valid_from AT TIME ZONE %(tz)s)::date, before, settlement_method
           FROM (SELECT gsrn, valid_from, grid_area_code, settlement_method,
                        lag(settlement_method) OVER w AS before, row_number() OVER w AS n
                 FROM metering_point_version WINDOW w AS (PARTITION BY gsrn ORDER BY valid_from)
                ) v
           WHERE n > 1 AND before IS DISTINCT FROM settlement_method
             AND grid_area_code = %(area)s
             AND valid_from >= (%(start)s::date::timestamp AT TIME ZONE %(tz)s)
             AND valid_from < (%(end)s::date::timestamp AT TIME ZONE %(tz)s)
           ORDER BY gsrn, valid_from""",
        {"area": grid_area, "start": start, "end": end, "tz": tz},
    ).fetchall()
    return [MethodChange(str(r[0]), r[1], r[2], r[3]) for r in rows]
