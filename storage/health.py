"""What the flow's health endpoints and start-up gauges ask the database (SQL only).

`reachable` opens a fresh connection with a short timeout (a readiness probe must not hang on a
dead server); `newest_reading_start` finds the start of the newest reading without scanning
`metering_data` (a view over day blocks): the newest local date comes from `daily_summary`'s
date index, then only that day's blocks are read. It reads only what the ingest role may read.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg

from storage.db import Conn, Job, failure_line, url_for

_NEWEST_DATE = "SELECT max(date) FROM daily_summary"

# Every reading of local date D lies in a day block whose day_start is D's local midnight
# (`since`): one probe of metering_block_point_day_idx per metering point summarised on D, and
# only those blocks unpacked (block_readings, the same definition the metering_data view uses).
_NEWEST_READING = """
SELECT max(r."timestamp")
  FROM daily_summary s
  JOIN metering_block b
    ON b.metering_point_id = s.metering_point_id AND b.day_start = %(since)s
 CROSS JOIN LATERAL block_readings(b.day_start, b.resolution, b.wh, b.quality) r
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
    """The start of the newest reading of local date `day`; `since` is that day's local midnight
    as a UTC instant (calendar.local_midnight_utc), the day_start of its blocks."""
    row = conn.execute(_NEWEST_READING, {"day": day, "since": since}).fetchone()
    return row[0] if row else None
