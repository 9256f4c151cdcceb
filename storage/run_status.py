"""The latest settlement run of each billing period and grid area (migration 0043), read through
`grafana.settlement_run_status()` as elflow_grafana. SQL only; `elflow exporter` serves it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from storage.db import Conn


@dataclass(frozen=True)
class LatestRun:
    period_start: date
    period_end: date
    frequency: str  # 'Monthly' | 'Quarterly'
    grid_area: str | None  # a run of the whole period (no grid area): None
    version: int
    status: str  # 'Running' | 'Completed' | 'Failed'
    executed_at: datetime
    finished_at: datetime | None


def latest_runs(conn: Conn) -> list[LatestRun]:
    rows = conn.execute(
        """SELECT period_start, period_end, frequency, grid_area, version, status, executed_at,
                  finished_at
           FROM grafana.settlement_run_status() ORDER BY period_start, frequency, grid_area"""
    ).fetchall()
    return [LatestRun(*row) for row in rows]
