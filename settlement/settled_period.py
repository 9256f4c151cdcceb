"""Is a period settled? `elflow invoice` and `elflow export lines` refuse a period in which a grid
area with supplied metering points has no completed settlement run (issue 13).

A grid area counts for a month when a metering point we supply on some day of that month is in
it (its current area or one of its history: the same areas `elflow settle` runs). A quarter needs
a completed run per month and area, or one of the whole quarter.
"""

from __future__ import annotations

from datetime import date

from schemas.calendar import BillingPeriod
from schemas.errors import ElflowError
from storage import invoices as store
from storage import settlement_runs as runs
from storage.db import Conn
from storage.period_close import period_runs


class UnsettledPeriod(ElflowError):
    """A period with a supplied grid area and no completed settlement run (one line)."""


def unsettled(conn: Conn, period: BillingPeriod) -> dict[date, list[str]]:
    """Per month of the period, the supplied grid areas without a completed run."""
    completed = {
        (month, run.grid_area_code)
        for run in store.latest_completed_runs(conn, period)
        for month in run.months
    }
    missing: dict[date, list[str]] = {}
    for month in period.months:
        month_period = BillingPeriod.month_of(month)
        areas = runs.supplied_grid_areas(conn, month_period.start, month_period.end)
        gaps = [area for area in areas if (month, area) not in completed]
        if gaps:
            missing[month] = gaps
    return missing


def require_settled(conn: Conn, period: BillingPeriod) -> None:
    """Raise UnsettledPeriod naming the local period, the grid areas without a run and, where a
    run of one failed, the last failure (its version and error)."""
    missing = unsettled(conn, period)
    if not missing:
        return
    failed = {
        (run.month, run.grid_area): f"version {run.version} failed: {run.error or 'no reason kept'}"
        for run in period_runs(conn, period)
        if run.status == "Failed"  # in time order: the last failure of each area wins
    }
    if len(period.months) == 1:
        ((month, areas),) = missing.items()
        where = _areas(month, areas, failed)
    else:
        where = "; ".join(
            f"{month:%Y-%m} {_areas(month, areas, failed)}" for month, areas in missing.items()
        )
    raise UnsettledPeriod(
        f"period {period.label} ({period.in_words}) is not settled: no completed settlement"
        f" run for {where}; run `elflow settle --period {period.label}` first"
    )


def _areas(month: date, areas: list[str], failed: dict[tuple[date, str | None], str]) -> str:
    named = [
        f"{area} ({failed[(month, area)]})" if (month, area) in failed else area for area in areas
    ]
    return ("grid area " if len(areas) == 1 else "grid areas ") + ", ".join(named)
