"""Daily summaries per metering point per local date, derived from the current readings.

The current value of a (metering point, timestamp) is the version with the latest created_at
(ties broken by document and transaction id, so every run picks the same one). A summary row is
always recomputed whole from current readings, never adjusted by deltas: after any mix of
redelivery, corrections and out-of-order arrival it equals a recomputation from scratch.

daily_summary doubles as the settlement aggregate: slot_kwh carries the day's current
quantities per slot (quarter-hour or hour), so a period close reads one row per metering point
per day instead of every reading version. See README "Aggregates" for why this is elflow's own
table on both TimescaleDB editions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from storage.blocks import BLOCK_VERSIONS_SQL
from storage.db import Conn

_VERSIONS = BLOCK_VERSIONS_SQL.format(q="quality")

_TOUCHED_DDL = """
CREATE TEMP TABLE IF NOT EXISTS touched_day (
    gsrn text NOT NULL, day date NOT NULL, day_start timestamptz NOT NULL,
    day_end timestamptz NOT NULL, PRIMARY KEY (gsrn, day)
) ON COMMIT DELETE ROWS
"""

_CURRENT_DDL = """
CREATE TEMP TABLE IF NOT EXISTS current_reading (
    gsrn text NOT NULL, day date NOT NULL, day_start timestamptz NOT NULL,
    day_end timestamptz NOT NULL, ts timestamptz NOT NULL, offset_seconds integer NOT NULL,
    resolution text NOT NULL, quantity_kwh numeric(18, 3), quality text NOT NULL,
    day_versions integer NOT NULL
) ON COMMIT DELETE ROWS
"""

# Step 1: the current version of every reading of the touched days, materialised once, from
# the day blocks (metering_block; the metering_data view is the same rows). A LATERAL probe per
# day keeps the plan an index scan per (metering point, day) whatever the planner believes about
# fresh, unanalysed chunks. A block starts at its local midnight, so the blocks of a day are
# those starting in it. The window count runs before DISTINCT ON: it counts every version.
_SELECT_CURRENT = """
INSERT INTO current_reading
SELECT d.gsrn, d.day, d.day_start, d.day_end, c.ts,
       extract(epoch FROM c.ts - d.day_start)::int, c.resolution, c.quantity_kwh, c.quality,
       c.day_versions
FROM touched_day d
CROSS JOIN LATERAL (
    SELECT DISTINCT ON (r."timestamp")
           r."timestamp" AS ts, b.resolution, r.quantity_kwh, r.quality,
           count(*) OVER () AS day_versions
    FROM metering_block b
    CROSS JOIN LATERAL block_readings(b.day_start, b.resolution, b.wh, b.quality) r
    WHERE b.metering_point_id = d.gsrn AND b.day_start >= d.day_start
      AND b.day_start < d.day_end
    ORDER BY r."timestamp", b.created_at DESC, b.source_message_id DESC, b.transaction_id DESC
) c
"""

# Step 2: one summary row per touched day. %(tz)s: the local time zone; %(bands)s: text[24], the
# band of local hour h at index h + 1.
_RECOMPUTE = """
WITH per_day AS (
    SELECT c.gsrn, c.day, min(c.day_start) AS day_start, min(c.day_end) AS day_end,
           CASE WHEN count(DISTINCT c.resolution) = 1 THEN min(c.resolution) ELSE 'mixed' END
               AS resolution,
           coalesce(sum(c.quantity_kwh), 0) AS total_kwh,
           coalesce(sum(c.quantity_kwh) FILTER (WHERE b.band = 'peak'), 0) AS peak_kwh,
           coalesce(sum(c.quantity_kwh) FILTER (WHERE b.band = 'off_peak'), 0) AS off_peak_kwh,
           coalesce(sum(c.quantity_kwh) FILTER (WHERE b.band = 'super_peak'), 0) AS super_peak_kwh,
           count(*) AS points_received,
           count(c.quantity_kwh) AS quantities,
           count(*) FILTER (WHERE c.quality = 'A03') AS estimated_count,
           min(c.day_versions) AS versions
    FROM current_reading c
    CROSS JOIN LATERAL (
        SELECT (%(bands)s::text[])[extract(hour FROM c.ts AT TIME ZONE %(tz)s)::int + 1] AS band
    ) b
    GROUP BY c.gsrn, c.day
),
shaped AS (
    SELECT p.*,
           CASE WHEN p.resolution = 'PT1H' THEN 3600 ELSE 900 END AS step_seconds,
           (extract(epoch FROM p.day_end - p.day_start)
               / CASE WHEN p.resolution = 'PT1H' THEN 3600 ELSE 900 END)::int AS points_expected
    FROM per_day p
),
slots AS (
    SELECT s.gsrn, s.day, array_agg(c.quantity_kwh ORDER BY g.slot) AS slot_kwh
    FROM shaped s
    CROSS JOIN LATERAL generate_series(0, s.points_expected - 1) AS g(slot)
    LEFT JOIN current_reading c
      ON c.gsrn = s.gsrn AND c.day = s.day AND c.offset_seconds = g.slot * s.step_seconds
    GROUP BY s.gsrn, s.day
)
INSERT INTO daily_summary AS ds (
    metering_point_id, date, total_kwh, peak_kwh, off_peak_kwh, super_peak_kwh, resolution,
    points_received, points_expected, missing_count, estimated_count, slot_kwh, versions,
    updated_at)
SELECT s.gsrn, s.day, s.total_kwh, s.peak_kwh, s.off_peak_kwh, s.super_peak_kwh, s.resolution,
       s.points_received, s.points_expected, s.points_expected - s.quantities, s.estimated_count,
       sl.slot_kwh, s.versions, now()
FROM shaped s JOIN slots sl USING (gsrn, day)
ON CONFLICT (metering_point_id, date) DO UPDATE SET
    total_kwh = EXCLUDED.total_kwh, peak_kwh = EXCLUDED.peak_kwh,
    off_peak_kwh = EXCLUDED.off_peak_kwh, super_peak_kwh = EXCLUDED.super_peak_kwh,
    resolution = EXCLUDED.resolution, points_received = EXCLUDED.points_received,
    points_expected = EXCLUDED.points_expected, missing_count = EXCLUDED.missing_count,
    estimated_count = EXCLUDED.estimated_count, slot_kwh = EXCLUDED.slot_kwh,
    versions = EXCLUDED.versions, updated_at = EXCLUDED.updated_at
WHERE (ds.total_kwh, ds.peak_kwh, ds.off_peak_kwh, ds.super_peak_kwh, ds.resolution,
       ds.points_received, ds.points_expected, ds.missing_count, ds.estimated_count, ds.slot_kwh,
       ds.versions)
  IS DISTINCT FROM
      (EXCLUDED.total_kwh, EXCLUDED.peak_kwh, EXCLUDED.off_peak_kwh, EXCLUDED.super_peak_kwh,
       EXCLUDED.resolution, EXCLUDED.points_received, EXCLUDED.points_expected,
       EXCLUDED.missing_count, EXCLUDED.estimated_count, EXCLUDED.slot_kwh, EXCLUDED.versions)
"""


def recompute_days(
    conn: Conn, days: Iterable[tuple[str, date]], *, tz: str, bands: list[str]
) -> int:
    """Recompute the summaries of the given (metering point, local date) pairs; returns the
    number of summary rows that changed. Runs inside the caller's transaction."""
    zone = ZoneInfo(tz)
    conn.execute(_TOUCHED_DDL)
    with conn.cursor().copy("COPY touched_day (gsrn, day, day_start, day_end) FROM STDIN") as copy:
        for gsrn, day in sorted(set(days)):
            start = datetime.combine(day, time(0), zone)
            end = datetime.combine(day + timedelta(days=1), time(0), zone)
            copy.write_row((gsrn, day, start, end))
    return _recompute_touched(conn, tz, bands)


def refresh_period(
    conn: Conn, start: date, end: date, *, tz: str, bands: list[str], full: bool = False
) -> int:
    """Bring every summary of local dates [start, end) up to date from the raw readings.

    The Apache-edition equivalent of refresh_continuous_aggregate: one call, exact over the
    period. By default a day is recomputed when its summary is missing or was computed from a
    different number of reading versions than the hypertable now holds (exact because
    metering_data is append-only); `full` recomputes every day of the period. Returns the
    number of summary rows that changed.

    First one count each side: every day's reading count only grows (append-only), and a
    summary records the count it was computed from, so when the period's readings number
    exactly Σ versions of its summaries, every summary is current and no day is grouped."""
    if not full and _period_is_current(conn, start, end, tz):
        return 0
    conn.execute(_TOUCHED_DDL)
    conn.execute(
        f"""INSERT INTO touched_day (gsrn, day, day_start, day_end)
            SELECT c.gsrn, c.day, c.day::timestamp AT TIME ZONE %(tz)s,
                   (c.day + 1)::timestamp AT TIME ZONE %(tz)s
            FROM (SELECT metering_point_id AS gsrn,
                         (day_start AT TIME ZONE %(tz)s)::date AS day,
                         sum({_VERSIONS}) AS versions
                  FROM metering_block
                  WHERE day_start >= (%(start)s::timestamp AT TIME ZONE %(tz)s)
                    AND day_start < (%(end)s::timestamp AT TIME ZONE %(tz)s)
                  GROUP BY 1, 2) AS c
            LEFT JOIN daily_summary ds ON ds.metering_point_id = c.gsrn AND ds.date = c.day
            {"" if full else "WHERE ds.versions IS DISTINCT FROM c.versions"}
            ON CONFLICT DO NOTHING""",
        {"tz": tz, "start": start, "end": end},
    )
    return _recompute_touched(conn, tz, bands)


def _period_is_current(conn: Conn, start: date, end: date, tz: str) -> bool:
    row = conn.execute(
        f"""SELECT (SELECT coalesce(sum({_VERSIONS}), 0) FROM metering_block
                   WHERE day_start >= (%(start)s::timestamp AT TIME ZONE %(tz)s)
                     AND day_start < (%(end)s::timestamp AT TIME ZONE %(tz)s))
                = (SELECT coalesce(sum(versions), 0) FROM daily_summary
                   WHERE date >= %(start)s AND date < %(end)s)""",
        {"tz": tz, "start": start, "end": end},
    ).fetchone()
    return bool(row and row[0])


def _recompute_touched(conn: Conn, tz: str, bands: list[str]) -> int:
    conn.execute(_CURRENT_DDL)
    # touched_day stays unanalysed on purpose: with statistics the planner prefers a hash join
    # that scans the whole hypertable; the nested loop over the index touches only those days.
    conn.execute(_SELECT_CURRENT)
    # current_reading is analysed so the aggregation below gets hash joins, not nested loops.
    conn.execute("ANALYZE current_reading")
    changed = conn.execute(_RECOMPUTE, {"tz": tz, "bands": bands}).rowcount
    conn.execute("TRUNCATE current_reading, touched_day")
    return changed


# ------------------------------------------------------------------ fresh days, summed in Python
# The common case of live ingest: a (metering point, day) that has no readings yet and gets
# exactly one transaction in this batch. Its current readings are exactly that transaction's,
# so the summary follows from them without reading anything back. Every other case goes through
# recompute_days. Both produce identical rows (tests check fresh-path rows against
# refresh_period).

_STEP_SECONDS = {"PT15M": 900, "PT1H": 3600}
_ZERO = Decimal("0.000")


@dataclass(frozen=True, slots=True)
class DayRow:
    gsrn: str
    day: date
    total_kwh: Decimal
    peak_kwh: Decimal
    off_peak_kwh: Decimal
    super_peak_kwh: Decimal
    resolution: str
    points_received: int
    points_expected: int
    missing_count: int
    estimated_count: int
    slot_kwh: list[Decimal | None]
    versions: int


def summarize_fresh_day(
    gsrn: str,
    day: date,
    resolution: str,
    readings: Sequence[tuple[datetime, Decimal | None, str]],
    zone: ZoneInfo,
    bands: Sequence[str],
) -> DayRow:
    """The summary of a day whose current readings are exactly `readings` (one transaction's,
    already restricted to this local day)."""
    local_start = datetime.combine(day, time(0), zone)
    local_end = datetime.combine(day + timedelta(days=1), time(0), zone)
    # Aware datetimes sharing a tzinfo subtract as wall clocks; do the arithmetic in UTC.
    start, end = local_start.astimezone(UTC), local_end.astimezone(UTC)
    step = _STEP_SECONDS[resolution]
    expected = int((end - start).total_seconds()) // step
    slots: list[Decimal | None] = [None] * expected
    sums = {"peak": _ZERO, "off_peak": _ZERO, "super_peak": _ZERO}
    total = _ZERO
    quantities = 0
    estimated = 0
    start_offset = local_start.utcoffset()
    single_offset = start_offset == local_end.utcoffset() and start_offset is not None
    for ts, quantity, quality in readings:
        slot = int((ts - start).total_seconds()) // step
        slots[slot] = quantity
        if quality == "A03":
            estimated += 1
        if quantity is None:
            continue
        quantities += 1
        total += quantity
        # One UTC offset all day (every day but the two DST days): local hour by arithmetic.
        local = (
            ts + start_offset if single_offset and start_offset is not None else ts.astimezone(zone)
        )
        band = bands[local.hour]
        if band in sums:
            sums[band] += quantity
    return DayRow(
        gsrn=gsrn,
        day=day,
        total_kwh=total,
        peak_kwh=sums["peak"],
        off_peak_kwh=sums["off_peak"],
        super_peak_kwh=sums["super_peak"],
        resolution=resolution,
        points_received=len(readings),
        points_expected=expected,
        missing_count=expected - quantities,
        estimated_count=estimated,
        slot_kwh=slots,
        versions=len(readings),
    )


def existing_days(conn: Conn, days: Iterable[tuple[str, date]]) -> set[tuple[str, date]]:
    """Which of these (metering point, day) pairs already have a summary (hence readings)."""
    pairs = sorted(set(days))
    if not pairs:
        return set()
    rows = conn.execute(
        """SELECT ds.metering_point_id, ds.date FROM daily_summary ds
           JOIN unnest(%s::text[], %s::date[]) AS t(gsrn, day)
             ON ds.metering_point_id = t.gsrn AND ds.date = t.day""",
        ([p[0] for p in pairs], [p[1] for p in pairs]),
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def write_day_rows(conn: Conn, rows: Sequence[DayRow]) -> set[tuple[str, date]]:
    """Insert summaries of fresh days; returns the days that turned out not to be fresh (another
    writer, e.g. a dead-letter replay beside the flow, committed a summary for them meanwhile)
    and must be recomputed from the readings instead."""
    if not rows:
        return set()
    conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS fresh_summary (LIKE daily_summary INCLUDING DEFAULTS)
           ON COMMIT DELETE ROWS"""
    )
    with conn.cursor().copy(
        """COPY fresh_summary (metering_point_id, date, total_kwh, peak_kwh, off_peak_kwh,
               super_peak_kwh, resolution, points_received, points_expected, missing_count,
               estimated_count, slot_kwh, versions) FROM STDIN"""
    ) as copy:
        for r in rows:
            copy.write_row(
                (
                    r.gsrn,
                    r.day,
                    r.total_kwh,
                    r.peak_kwh,
                    r.off_peak_kwh,
                    r.super_peak_kwh,
                    r.resolution,
                    r.points_received,
                    r.points_expected,
                    r.missing_count,
                    r.estimated_count,
                    r.slot_kwh,
                    r.versions,
                )
            )
    inserted = conn.execute(
        """INSERT INTO daily_summary SELECT * FROM fresh_summary
           ON CONFLICT (metering_point_id, date) DO NOTHING
           RETURNING metering_point_id, date"""
    ).fetchall()
    conn.execute("TRUNCATE fresh_summary")
    return {(r.gsrn, r.day) for r in rows} - {(g, d) for g, d in inserted}
