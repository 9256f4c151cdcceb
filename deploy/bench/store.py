"""`elflow bench store`: bytes per reading of today's metering_data beside two slimmer layouts.

The same generated readings (PT15M, one DataHub transaction per metering point and day, ids
shaped like DataHub's 36-character mRIDs) are written into

- `metering_data` as migrated (text ids on every row, numeric quantity, text quality);
- compact rows: one row per reading with the GSRN as bigint, the quantity in integer Wh, the
  quality as a small code and a 4-byte key of a transaction table that holds the message id,
  transaction id, created and received time once per transaction;
- day blocks: one row per transaction and day, quantities as an int8[] of Wh (NULL = missing)
  and one quality byte per slot, with the same transaction table.

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
_TODAY = """
INSERT INTO metering_data (metering_point_id, "timestamp", resolution, quantity_kwh, quality,
                           source_message_id, transaction_id, created_at, received_at)
SELECT '5713131' || lpad(t.point::text, 11, '0'), t.day + k * interval '15 minutes', 'PT15M',
       ((t.point * 37 + k) %% 2000) / 1000.0, CASE WHEN k %% 50 = 0 THEN 'A03' ELSE 'A04' END,
       t.message_id, t.transaction_id, t.created_at, t.received_at
FROM bench_txn t CROSS JOIN generate_series(0, 95) k
WHERE t.point BETWEEN %(first)s AND %(last)s
"""

_LAYOUTS = """
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
    bytes_today: int
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
            for insert in (_TODAY, _ROWS, _BLOCKS):
                conn.execute(insert, span)
        conn.execute("VACUUM ANALYZE")
        readings = _one(conn, "SELECT count(*) FROM metering_data")
        read_ms = {
            name: (_ms(conn, sql + where, {"point": points // 2}), _ms(conn, sql, {}))
            for name, (sql, where) in _READS.items()
        }
        return StoreFigures(
            readings=readings,
            transactions=_one(conn, "SELECT count(*) FROM bench_txn"),
            bytes_today=_one(conn, "SELECT hypertable_size('metering_data')"),
            bytes_rows=_one(conn, "SELECT hypertable_size('bench_row')"),
            bytes_blocks=_one(conn, "SELECT hypertable_size('bench_block')"),
            bytes_transactions=_one(conn, "SELECT pg_total_relation_size('bench_txn')"),
            seconds=time.perf_counter() - started,
            read_ms=read_ms,
        )


# Each layout's readings summed: all of them, and (with the WHERE part) one metering point's.
_READS = {
    "today": (
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
    print(f"  metering_data as migrated:            {figures.bytes_today / n:7.1f} bytes/reading")
    print(
        f"  compact rows (bigint GSRN, Wh, key):  {figures.bytes_rows / n:7.1f} bytes/reading "
        f"+ {per_txn:.1f} for the transaction table = {(figures.bytes_rows / n + per_txn):.1f}"
    )
    print(
        f"  day blocks (int8[] Wh, quality bytes): {figures.bytes_blocks / n:6.1f} bytes/reading "
        f"+ {per_txn:.1f} for the transaction table = {(figures.bytes_blocks / n + per_txn):.1f}"
    )
    print(
        "  read and sum, one metering point / every reading (ms): "
        + ", ".join(
            f"{name} {one:.1f} / {every:.0f}" for name, (one, every) in figures.read_ms.items()
        )
    )
