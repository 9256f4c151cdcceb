"""Native compression of the readings' older chunks (metering_block, the day blocks behind the
metering_data view), where the TimescaleDB edition has it.

The Community (Timescale License) edition compresses a chunk column-wise; segmented by metering
point and ordered by time (newest version first within a slot), a point's month becomes a few
compressed batches. Corrections still work: TimescaleDB accepts inserts and COPY into compressed
chunks (they land uncompressed beside them and the policy recompresses them), and every reader
sees them. The Apache edition has no compression, so there this does nothing and says so.
`elflow db migrate` calls `apply_compression_policy` after the migrations; the age is
ELFLOW_COMPRESS_AFTER_DAYS.
"""

from __future__ import annotations

from datetime import timedelta

from storage.db import Conn
from storage.edition import timescaledb_edition

TABLE = "metering_block"
SEGMENT_BY = "metering_point_id"
ORDER_BY = "day_start ASC, created_at DESC"


def compression_settings_sql() -> str:
    return (
        f"ALTER TABLE {TABLE} SET (timescaledb.compress, "
        f"timescaledb.compress_segmentby = '{SEGMENT_BY}', "
        f"timescaledb.compress_orderby = '{ORDER_BY}')"
    )


def current_policy_age(conn: Conn) -> timedelta | None:
    """compress_after of metering_data's compression policy, None when there is none."""
    row = conn.execute(
        """SELECT (config ->> 'compress_after')::interval
           FROM timescaledb_information.jobs
           WHERE proc_name = 'policy_compression' AND hypertable_name = %s""",
        (TABLE,),
    ).fetchone()
    return row[0] if row else None


def apply_compression_policy(conn: Conn, compress_after_days: int) -> str:
    """Enable compression and a policy compressing chunks older than the age (changing the age
    of an existing policy); returns one line saying what it did. Idempotent."""
    if timescaledb_edition(conn) != "community":
        return "compression: not available on the Apache edition of TimescaleDB (nothing set)"
    age = timedelta(days=compress_after_days)
    with conn.transaction():
        enabled = conn.execute(
            """SELECT compression_enabled FROM timescaledb_information.hypertables
               WHERE hypertable_name = %s""",
            (TABLE,),
        ).fetchone()
        if not (enabled and enabled[0]):
            conn.execute(compression_settings_sql())
        current = current_policy_age(conn)
        if current == age:
            return f"compression: chunks older than {compress_after_days} days (unchanged)"
        if current is not None:
            conn.execute("SELECT remove_compression_policy(%s)", (TABLE,))
        conn.execute(
            "SELECT add_compression_policy(%s, compress_after => %s)",
            (TABLE, age),
        )
    return f"compression: chunks older than {compress_after_days} days"
