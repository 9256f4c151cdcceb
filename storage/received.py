"""Reading versions received per minute and quality (migration 0037), counted by the ingest
writer in its batch transaction: what Grafana's "Readings received" panel reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from storage.db import Conn


def record_received(conn: Conn, qualities: Iterable[str]) -> None:
    """Add one reading version per quality code given, in the minute the transaction began."""
    counts = sorted(Counter(qualities).items())
    if not counts:
        return
    conn.execute(
        """INSERT INTO readings_received_minute AS r (received_minute, quality, writer, readings)
           SELECT date_bin('1 minute', now(), timestamptz '2000-01-01 00:00:00+00'), t.quality,
                  w.writer, t.n
           FROM unnest(%s::text[], %s::bigint[]) AS t (quality, n)
           CROSS JOIN (SELECT grid_area_quarter_writer() AS writer) w
           ORDER BY t.quality
           ON CONFLICT (received_minute, quality, writer)
           DO UPDATE SET readings = r.readings + EXCLUDED.readings""",
        ([q for q, _n in counts], [n for _q, n in counts]),
    )
