"""`elflow bench store`: bytes per reading of today's metering_data beside two slimmer layouts.

The same generated readings (PT15M, one DataHub transaction per metering point and day, ids
shaped like DataHub's 36-character mRIDs) are written into

- the day blocks as migrated (`metering_block`, migration 0031: one row per transaction and
  local day, an int8[] of Wh, one quality character per slot, the text ids and times once per
  row; `metering_data` is a view over it);
- the row layout before 0031 (one row per reading: text ids on every row, numeric quantity,
  text quality), the "before" figure;
- compact rows: one row per reading with the GSRN as bigint, the quantity in integer Wh, the
  quality as a small code and a 4-byte key of a transaction table that holds the message id,
  transaction id, created and received time once per transaction;
- day blocks keyed into the transaction table: as migrated, but a 4-byte key instead of the ids
  (what a further step would save).

Each candidate is a hypertable with monthly chunks and only the (metering point, time) index.
Bytes = heap + indexes + TOAST of every chunk (hypertable_size), divided by the readings; the
transaction table (with its primary key and its unique (message, transaction) index) is
reported beside it. Prints figures, asserts nothing; runs in a scratch database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from storage.db import Conn, connect
from storage.scratch import scratch_database

_TRANSACTIONS = """
CREATE TABLE bench_txn AS
SELECT (row_number() OVER (ORDER BY i, d))::int4 AS id, i AS point, d AS day,
       gen_random_uuid()::text AS message_id, gen_random_uuid()::text AS transaction_id,
       d + interval '26 hours' AS created_at, now() AS received_at
FROM generate_series(1, %(points)s) i
CROSS JOIN generate_series(%(start)s::timestamptz, %(last_day)s::timestamptz, interval '1 day') d
"""

# Quantities 0.000–1.999 kWh varying by point and slot; every 50th slot estimated (A03).
_BEFORE = """
INSERT INTO bench_before (metering_point_id, "timestamp", resolution, quantity_kwh, quality,
                          source_message_id, transaction_id, created_at, received_at)
SELECT '5713131' || lpad(t.point::text, 11, '0'), t.day + k * interval '15 minutes', 'PT15M',
       ((t.point * 37 + k) %% 2000) / 1000.0, CASE WHEN k %% 50 = 0 THEN 'A03' ELSE 'A04' END,
       t.message_id, t.transaction_id, t.created_at, t.received_at
FROM bench_txn t CROSS JOIN generate_series(0, 95) k
WHERE t.point BETWEEN %(first)s AND %(last)s
"""

_MIGRATED = """
INSERT INTO metering_block (metering_point_id, day_start, resolution, wh, quality,
                            source_message_id, transaction_id, created_at, received_at)
SELECT '5713131' || lpad(t.point::text, 11, '0'), t.day, 'PT15M',
       array_agg((t.point * 37 + k) %% 2000 ORDER BY k),
       string_agg(CASE WHEN k %% 50 = 0 THEN '3' ELSE '4' END, '' ORDER BY k),
       t.message_id, t.transaction_id, t.created_at, t.received_at
FROM bench_txn t CROSS JOIN generate_series(0, 95) k
WHERE t.point BETWEEN %(first)s AND %(last)s
GROUP BY t.id, t.day, t.point, t.message_id, t.transaction_id, t.created_at, t.received_at
"""

_LAYOUTS = """
CREATE TABLE bench_before (
    metering_point_id text NOT NULL CHECK (metering_point_id ~ '^[0-9]{18}$'),
    "timestamp" timestamptz NOT NULL, resolution text NOT NULL,
    quantity_kwh numeric(18, 3) CHECK (quantity_kwh >= 0), quality text NOT NULL,
    source_message_id text NOT NULL, transaction_id text NOT NULL,
    created_at timestamptz NOT NULL, received_at timestamptz NOT NULL DEFAULT now());
SELECT create_hypertable('bench_before', by_range('timestamp', INTERVAL '1 month'),
                         create_default_indexes => false);
CREATE INDEX ON bench_before (metering_point_id, "timestamp", created_at DESC);
ALTER TABLE bench_txn ADD PRIMARY KEY (id);
CREATE UNIQUE INDEX ON bench_txn (message_id, transaction_id);
CREATE TABLE bench_row (
    "timestamp" timestamptz NOT NULL, metering_point bigint NOT NULL, quantity_wh bigint,
    txn int4 NOT NULL, quality int2 NOT NULL);
SELECT create_hypertable('bench_row', by_range('timestamp', INTERVAL '1 month'),
                         create_default_indexes => false);
CREATE INDEX ON bench_row (metering_point, "timestamp");
CREATE TABLE bench_block (
    start_ts timestamptz NOT NULL, metering_point bigint NOT NULL, txn int4 NOT NULL,
    quantity_wh int8[] NOT NULL, quality bytea NOT NULL);
SELECT create_hypertable('bench_block', by_range('start_ts', INTERVAL '1 month'),
                         create_default_indexes => false);
CREATE INDEX ON bench_block (metering_point, start_ts)
"""

_ROWS = """
INSERT INTO bench_row ("timestamp", metering_point, quantity_wh, txn, quality)
SELECT t.day + k * interval '15 minutes', 571313100000000000::bigint + t.point,
       (t.point * 37 + k) %% 2000, t.id, CASE WHEN k %% 50 = 0 THEN 3 ELSE 4 END
FROM bench_txn t CROSS JOIN generate_series(0, 95) k
WHERE t.point BETWEEN %(first)s AND %(last)s
"""

_BLOCKS = """
INSERT INTO bench_block (start_ts, metering_point, txn, quantity_wh, quality)
SELECT t.day, 571313100000000000::bigint + t.point, t.id,
       array_agg((t.point * 37 + k) %% 2000 ORDER BY k),
       string_agg(CASE WHEN k %% 50 = 0 THEN '\\x03' ELSE '\\x04' END::bytea, ''::bytea ORDER BY k)
FROM bench_txn t CROSS JOIN generate_series(0, 95) k
WHERE t.point BETWEEN %(first)s AND %(last)s
GROUP BY t.id, t.day, t.point
"""


@dataclass
class StoreFigures:
    readings: int
    transactions: int
    bytes_before: int
    bytes_migrated: int
    bytes_rows: int
    bytes_blocks: int
    bytes_transactions: int
    seconds: float
    # (one metering point's readings, every reading) read back and summed: ms per layout
    read_ms: dict[str, tuple[float, float]]


def bench_store(points: int, days: int, start: date) -> StoreFigures:
    started = time.perf_counter()
    first_day = datetime.combine(start, datetime.min.time(), UTC)
    params = {"points": points, "start": first_day, "last_day": first_day + timedelta(days - 1)}
    with scratch_database("elflow_bench") as url, connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        conn.execute(_TRANSACTIONS, params)
        for statement in _LAYOUTS.split(";\n"):
            conn.execute(statement)
        step = 200
        for first in range(1, points + 1, step):
            span = {"first": first, "last": min(points, first + step - 1)}
            for insert in (_BEFORE, _MIGRATED, _ROWS, _BLOCKS):
                conn.execute(insert, span)
        conn.execute("VACUUM ANALYZE")
        readings = _one(conn, "SELECT count(*) FROM bench_before")
        read_ms = {
            name: (_ms(conn, sql + where, {"point": points // 2}), _ms(conn, sql, {}))
            for name, (sql, where) in _READS.items()
        }
        return StoreFigures(
            readings=readings,
            transactions=_one(conn, "SELECT count(*) FROM bench_txn"),
            bytes_before=_one(conn, "SELECT hypertable_size('bench_before')"),
            bytes_migrated=_one(conn, "SELECT hypertable_size('metering_block')"),
            bytes_rows=_one(conn, "SELECT hypertable_size('bench_row')"),
            bytes_blocks=_one(conn, "SELECT hypertable_size('bench_block')"),
            bytes_transactions=_one(conn, "SELECT pg_total_relation_size('bench_txn')"),
            seconds=time.perf_counter() - started,
            read_ms=read_ms,
        )


# Each layout's readings summed: all of them, and (with the WHERE part) one metering point's.
_READS = {
    "before": (
        "SELECT count(*), sum(quantity_kwh) FROM bench_before",
        " WHERE metering_point_id = '5713131' || lpad(%(point)s::text, 11, '0')",
    ),
    "migrated": (
        "SELECT count(*), sum(quantity_kwh) FROM metering_data",
        " WHERE metering_point_id = '5713131' || lpad(%(point)s::text, 11, '0')",
    ),
    "rows": (
        "SELECT count(*), sum(quantity_wh) FROM bench_row",
        " WHERE metering_point = 571313100000000000::bigint + %(point)s",
    ),
    "blocks": (
        "SELECT count(*), sum(q) FROM bench_block, unnest(quantity_wh) q",
        " WHERE metering_point = 571313100000000000::bigint + %(point)s",
    ),
}


def _ms(conn: Conn, sql: str, params: dict[str, int]) -> float:
    """The second of two runs (the first warms the cache and the plan)."""
    conn.execute(sql, params).fetchall()
    started = time.perf_counter()
    conn.execute(sql, params).fetchall()
    return (time.perf_counter() - started) * 1000


def _one(conn: Conn, sql: str) -> int:
    row = conn.execute(sql).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def print_store(points: int, days: int, figures: StoreFigures) -> None:
    n = max(1, figures.readings)
    per_txn = figures.bytes_transactions / n
    print(
        f"bench store: {figures.readings} readings ({points} PT15M metering points × {days} "
        f"days, {figures.transactions} transactions), {figures.seconds:.0f} s"
    )
    print(f"  rows as before 0031:                  {figures.bytes_before / n:7.1f} bytes/reading")
    print(
        f"  day blocks as migrated (0031):        {figures.bytes_migrated / n:7.1f} bytes/reading"
    )
    print(
        f"  compact rows (bigint GSRN, Wh, key):  {figures.bytes_rows / n:7.1f} bytes/reading "
        f"+ {per_txn:.1f} for the transaction table = {(figures.bytes_rows / n + per_txn):.1f}"
    )
    print(
        f"  day blocks with a transaction key:    {figures.bytes_blocks / n:7.1f} bytes/reading "
        f"+ {per_txn:.1f} for the transaction table = {(figures.bytes_blocks / n + per_txn):.1f}"
    )
    print(
        "  read and sum, one metering point / every reading (ms): "
        + ", ".join(
            f"{name} {one:.1f} / {every:.0f}" for name, (one, every) in figures.read_ms.items()
        )
    )
