"""Billing periods as stored: one billing_period row per [start, end) and frequency."""

from __future__ import annotations

import uuid
from datetime import date

from storage.db import Conn


def billing_period_id(conn: Conn, start: date, end: date, frequency: str) -> uuid.UUID:
    """The billing_period row of [start, end) and frequency, created if missing."""
    conn.execute(
        """INSERT INTO billing_period (id, period_start, period_end, frequency)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (period_start, period_end, frequency) DO NOTHING""",
        (uuid.uuid4(), start, end, frequency),
    )
    row = conn.execute(
        """SELECT id FROM billing_period
           WHERE period_start = %s AND period_end = %s AND frequency = %s""",
        (start, end, frequency),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]
