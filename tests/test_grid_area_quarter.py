"""The 15-minute grid-area totals (migration 0035) against a direct computation.

A feed with corrections, redeliveries, PT15M and PT1H meters and the 25-hour day goes through
the real broker and a real Bytewax process into the real TimescaleDB; master data arrives
partly before and partly after the readings, and one metering point moves to another grid area.
grid_area_quarter must then equal, quarter by quarter, what the current readings give when each
hourly reading is spread over its four quarters, and readings_received_minute must count every
version stored. The migration's backfill and the writer column (concurrent writers never wait
for each other) are checked on their own.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from flows.feed import DEFAULT_GRID_AREAS, FeedSpec, generate_feed, grid_area_for
from flows.parse import message_items
from flows.publisher import publish
from flows.runner import start_flow
from schemas.bands import DEFAULT_BANDS, band_table
from schemas.calendar import day_bounds_utc, expected_slots, local_date
from schemas.rsm012 import Reading
from storage.db import Conn, connect, with_user
from storage.migrate import available_migrations, migrate
from storage.readings import TransactionItem, write_batch
from storage.summaries import refresh_period
from tests.conftest import scratch_database, use_flow_topic
from tests.oracle import expected_from

pytestmark = pytest.mark.services

TZ = "Europe/Copenhagen"
BANDS = list(band_table(DEFAULT_BANDS))
QUARTER = timedelta(minutes=15)
Totals = dict[tuple[str, datetime], tuple[Decimal, int, int]]

SPEC = FeedSpec(
    metering_points=40,
    days=3,
    start=date(2026, 10, 24),  # the 25-hour day is the second
    seed=5,
    hourly_share=0.25,
    correction_rate=0.3,
    duplicate_rate=0.05,
    missing_rate=0.01,
    malformed_rate=0.0,
)
MESSAGES = [(m.key, m.value) for m in generate_feed(SPEC)]
GSRNS = sorted({r.gsrn for r in expected_from(v for _k, v in MESSAGES).current.values()})


def expected_totals(current: Iterable[Reading], area_of: dict[str, str]) -> Totals:
    """(grid area, quarter start) → (kWh, metering points with a quantity, slots without one
    starting in the quarter), from the current readings of the days that have any."""
    slots: dict[tuple[str, date], dict[datetime, Reading]] = defaultdict(dict)
    for reading in current:
        if reading.gsrn in area_of:
            slots[(reading.gsrn, local_date(reading.ts, TZ))][reading.ts] = reading
    kwh: dict[tuple[str, datetime], Decimal] = defaultdict(Decimal)
    points: dict[tuple[str, datetime], int] = defaultdict(int)
    missing: dict[tuple[str, datetime], int] = defaultdict(int)
    for (gsrn, day), readings in slots.items():
        resolution = next(iter(readings.values())).resolution
        step = QUARTER * (4 if resolution == "PT1H" else 1)
        start = day_bounds_utc(day, TZ)[0]
        area = area_of[gsrn]
        for n in range(expected_slots(day, resolution, TZ)):
            ts = start + n * step
            quantity = readings[ts].quantity if ts in readings else None
            if quantity is None:
                missing[(area, ts)] += 1
                continue
            parts = 4 if resolution == "PT1H" else 1
            for part in range(parts):
                kwh[(area, ts + part * QUARTER)] += quantity / parts
                points[(area, ts + part * QUARTER)] += 1
    keys = set(kwh) | set(missing)
    return {k: (kwh.get(k, Decimal(0)), points.get(k, 0), missing.get(k, 0)) for k in keys}


def stored_totals(conn: Conn) -> Totals:
    rows = conn.execute(
        """SELECT grid_area_code, quarter_start, sum(kwh), sum(points), sum(missing)
           FROM grid_area_quarter GROUP BY 1, 2
           HAVING sum(kwh) <> 0 OR sum(points) <> 0 OR sum(missing) <> 0"""
    ).fetchall()
    return {(r[0], r[1]): (r[2], int(r[3]), int(r[4])) for r in rows}


def add_master_data(url: str, area_of: dict[str, str], *, areas: bool = True) -> None:
    """As production writes it: the loader's role."""
    with connect(with_user(url, "elflow_loader")) as conn, conn.transaction():
        if areas:
            for code in DEFAULT_GRID_AREAS:
                conn.execute(
                    "INSERT INTO grid_area VALUES (%s, %s, %s, 'DK1')",
                    (code, f"5790000000{code}", f"Net {code}"),
                )
        for gsrn, area in sorted(area_of.items()):
            conn.execute(
                """INSERT INTO metering_point (gsrn, type, settlement_method, connection_status,
                       grid_area_code, grid_operator_gln)
                   VALUES (%s, 'E17_Consumption', 'Flex', 'Connected', %s, %s)""",
                (gsrn, area, f"5790000000{area}"),
            )


def test_the_totals_follow_a_feed_with_corrections_and_late_master_data(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    area_of = {g: grid_area_for(int(g[7:17])) for g in GSRNS}
    early = dict(list(area_of.items())[::2])
    late = {g: a for g, a in area_of.items() if g not in early}
    add_master_data(db, early)

    cfg = use_flow_topic(monkeypatch, db, tmp_path / "recovery", "gridagg")
    topic = cfg.readings_topic
    publish(cfg, topic, MESSAGES, partitions=2)
    (flow,) = start_flow(cfg, processes=1, until_end=True, log_dir=tmp_path)
    assert flow.wait(timeout=300) == 0

    current = expected_from(v for _k, v in MESSAGES).current.values()
    resolutions = {r.resolution for r in current}
    assert resolutions == {"PT15M", "PT1H"}
    with connect(db) as conn:
        corrections = conn.execute(
            "SELECT count(*) FROM daily_summary WHERE versions > points_received"
        ).fetchone()
        assert corrections is not None and corrections[0] > 0  # the feed corrected days
        assert stored_totals(conn) == expected_totals(current, early)
        # The writer also counted every version it stored, per quality (migration 0037).
        received = conn.execute(
            """SELECT quality, sum(readings) FROM readings_received_minute GROUP BY 1
               EXCEPT ALL SELECT quality, count(*) FROM metering_data GROUP BY 1"""
        ).fetchall()
        assert received == []

    add_master_data(db, late, areas=False)  # master data after the readings
    moved = GSRNS[0]
    area_of[moved] = next(a for a in DEFAULT_GRID_AREAS if a != area_of[moved])
    with connect(db) as conn, conn.transaction():
        conn.execute(
            "UPDATE metering_point SET grid_area_code = %s WHERE gsrn = %s",
            (area_of[moved], moved),
        )
        conn.execute("UPDATE metering_point SET connection_status = 'Disconnected'")
    with connect(db) as conn:
        totals = stored_totals(conn)
    assert totals == expected_totals(current, area_of)
    # The 25-hour day: 100 quarters of every grid area with PT15M and PT1H meters alike.
    day = SPEC.start + timedelta(days=1)
    start, end = day_bounds_utc(day, TZ)
    quarters = {ts for (_area, ts) in totals if start <= ts < end}
    assert len(quarters) == 100


def _items(messages: list[tuple[bytes, bytes]]) -> list[TransactionItem]:
    items: list[TransactionItem] = []
    for offset, (_key, value) in enumerate(messages):
        items.extend(
            i for _k, i in message_items(value, "t", 0, offset) if isinstance(i, TransactionItem)
        )
    return items


def test_the_migrations_backfill_what_is_already_there() -> None:
    """A database from before 0035: readings and their summaries are there (written as the
    writer of that time did, without the received counts); migrating fills both tables."""
    area_of = {g: grid_area_for(int(g[7:17])) for g in GSRNS}
    before = [m for m in available_migrations() if m.version < 35]
    with scratch_database(migrated=False) as url:
        with connect(url) as conn:
            migrate(conn, before)
        add_master_data(url, area_of)
        items = _items(MESSAGES[:200])
        with connect(url) as conn, conn.transaction():
            with conn.cursor().copy(
                """COPY metering_data (metering_point_id, "timestamp", resolution, quantity_kwh,
                       quality, source_message_id, transaction_id, created_at) FROM STDIN"""
            ) as copy:
                for i in items:
                    for ts, quantity, quality in i.readings:
                        row = (i.gsrn, ts, i.resolution, quantity, quality)
                        copy.write_row((*row, i.document_id, i.transaction_id, i.created))
            refresh_period(
                conn, SPEC.start, SPEC.start + timedelta(days=SPEC.days), tz=TZ, bands=BANDS
            )
        with connect(url) as conn:
            migrate(conn)
            assert stored_totals(conn) == expected_totals(
                expected_from(v for _k, v in MESSAGES[:200]).current.values(), area_of
            )
            received = conn.execute("SELECT sum(readings) FROM readings_received_minute").fetchone()
            assert received == (sum(len(i.readings) for i in items),)


def test_concurrent_writers_use_their_own_rows(db: str) -> None:
    """Two open transactions writing the same grid area's quarters: the second neither waits
    for the first nor shares its rows (lock_timeout would fail it if it did wait)."""
    gsrn = GSRNS[0]
    add_master_data(db, {gsrn: "344", GSRNS[1]: "344"})
    day = date(2026, 10, 24)
    items = _items(MESSAGES)
    first = [i for i in items if i.gsrn == gsrn][:1]
    second = [i for i in items if i.gsrn == GSRNS[1]][:1]
    with connect(db) as a, connect(db) as b:
        write_batch(a, first, tz=TZ, bands=BANDS)  # its own committed transaction
        a.execute(  # a second one, left open: it holds its writer number and rows
            "UPDATE daily_summary SET slot_kwh[1] = slot_kwh[1] + 1 WHERE metering_point_id = %s",
            (gsrn,),
        )
        b.execute("SET lock_timeout = '10s'")
        b.commit()
        try:
            write_batch(b, second, tz=TZ, bands=BANDS)
        except psycopg.errors.LockNotAvailable:  # pragma: no cover - the failure this test is for
            pytest.fail("the second writer waited for the first")
        writers = b.execute(
            "SELECT DISTINCT writer FROM grid_area_quarter WHERE quarter_start >= %s",
            (day_bounds_utc(day, TZ)[0],),
        ).fetchall()
        a.commit()
        assert sorted(w for (w,) in writers) == [0, 1]
