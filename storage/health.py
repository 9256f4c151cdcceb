"""What the flow's health endpoints and start-up gauges ask the database (SQL only).

`reachable` opens a fresh connection with a short timeout (a readiness probe must not hang on a
dead server); `newest_reading_start` finds the start of the newest reading without scanning
`metering_data`: the newest local date comes from `daily_summary`'s date index, then one
backward index probe per metering point of that date. It reads only what the ingest role may
read, and only through `metering_data` and `daily_summary`, so it keeps working when
`metering_data` becomes a view.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

from storage.db import Conn, Job, failure_line, url_for

_NEWEST_DATE = "SELECT max(date) FROM daily_summary"

# Every reading of local date D starts at or after D's local midnight (`since`), so each
# metering point of D costs one backward probe of metering_data_point_time_idx in one chunk.
_NEWEST_READING = """
SELECT max(newest.ts)
  FROM daily_summary s
 CROSS JOIN LATERAL (
       SELECT m."timestamp" AS ts
         FROM metering_data m
        WHERE m.metering_point_id = s.metering_point_id AND m."timestamp" >= %(since)s
        ORDER BY m."timestamp" DESC
        LIMIT 1) AS newest
 WHERE s.date = %(day)s
"""


def reachable(job: Job, timeout_seconds: int) -> str | None:
    """None when `job`'s database answers `SELECT 1` within about `timeout_seconds`, else one
    line saying why (no password in it)."""
    url = url_for(job)
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=max(1, timeout_seconds)) as c:
            c.execute(f"SET statement_timeout = {max(1, timeout_seconds) * 1000}")
            c.execute("SELECT 1")
    except psycopg.Error as exc:
        return failure_line("unreachable", exc, url)
    return None


def newest_reading_date(conn: Conn) -> date | None:
    """The newest local date that has a daily summary (None: no reading yet)."""
    row = conn.execute(_NEWEST_DATE).fetchone()
    return row[0] if row else None


def newest_reading_start(conn: Conn, day: date, since: datetime) -> datetime | None:
    """The start of the newest reading of local date `day`; `since` is that day's first UTC
    instant (calendar.local_midnight_utc), which bounds each index probe to one day."""
    row = conn.execute(_NEWEST_READING, {"day": day, "since": since}).fetchone()
    return row[0] if row else None
