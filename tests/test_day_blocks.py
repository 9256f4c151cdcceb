"""Readings stored as day blocks (storage.blocks, migration 0031): the blocks the writer builds,
the metering_data view over them, inserts through the view, and the migration of existing rows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from schemas.bands import DEFAULT_BANDS, band_table
from storage.blocks import BLOCK_VERSIONS_SQL, build_block, day_slices
from storage.db import connect
from storage.migrate import available_migrations, migrate
from storage.readings import write_batch
from storage.reports import reading_versions
from storage.summaries import _period_is_current
from tests.documents import GSRN_A, GSRN_B, constant, rsm012
from tests.test_ingest_writer import _items

TZ = "Europe/Copenhagen"
BANDS = list(band_table(DEFAULT_BANDS))
# Local 2026-03-29 (spring forward): 23:00Z on the 28th to 22:00Z on the 29th, 92 quarters.
SPRING = datetime(2026, 3, 28, 23, tzinfo=UTC)
# Local 2026-10-25 (fall back): 22:00Z on the 24th to 23:00Z on the 25th, 100 quarters.
AUTUMN = datetime(2026, 10, 24, 22, tzinfo=UTC)
Q = timedelta(minutes=15)
H = timedelta(hours=1)


def _readings(
    start: datetime, step: timedelta, n: int
) -> list[tuple[datetime, Decimal | None, str]]:
    out: list[tuple[datetime, Decimal | None, str]] = []
    for i in range(n):
        if i % 7 == 3:
            out.append((start + i * step, None, "A02"))
        else:
            out.append(
                (start + i * step, Decimal(i) / 1000 + Decimal("0.5"), "A03" if i % 5 else "A04")
            )
    return out


@pytest.mark.parametrize(
    ("start", "step", "slots"), [(SPRING, Q, 92), (AUTUMN, Q, 100), (AUTUMN, H, 25)]
)
def test_a_dst_day_is_one_block_of_its_slot_count(
    start: datetime, step: timedelta, slots: int
) -> None:
    readings = _readings(start, step, slots + 4)  # runs 4 slots into the next day
    cut = list(day_slices(readings, TZ))
    assert [(d, s, len(r)) for d, s, r in cut] == [
        ((start + 3 * H).date(), start, slots),
        ((start + 3 * H).date() + timedelta(days=1), start + slots * step, 4),
    ]
    wh, quality = build_block(start, "PT1H" if step == H else "PT15M", cut[0][2])
    assert len(wh) == len(quality) == slots
    for (_ts, kwh, code), w, q in zip(cut[0][2], wh, quality, strict=True):
        assert (w, q) == (None if kwh is None else int(kwh * 1000), code[-1])


def test_a_partial_day_leaves_the_other_slots_absent() -> None:
    readings = [(SPRING + 3 * Q, Decimal("1.234"), "A04"), (SPRING + 5 * Q, None, "A02")]
    assert build_block(SPRING, "PT15M", readings) == (
        [None, None, None, 1234, None, None],
        "---4-2",
    )


def test_a_quantity_finer_than_a_wh_is_refused() -> None:
    with pytest.raises(ValueError, match="whole number of Wh"):
        build_block(SPRING, "PT15M", [(SPRING, Decimal("0.0005"), "A04")])


def _view(url: str) -> list[tuple[object, ...]]:
    with connect(url) as conn:
        return conn.execute(
            """SELECT metering_point_id, "timestamp", resolution, quantity_kwh, quality,
                      source_message_id, transaction_id, created_at
               FROM metering_data ORDER BY 1, 2, 6, 7"""
        ).fetchall()


def test_the_writer_stores_one_block_per_transaction_and_day_and_the_view_shows_each_reading(
    db: str,
) -> None:
    created = datetime(2026, 10, 27, 6, tzinfo=UTC)
    span = 100 + 96 + 10  # the autumn day, the next day, 10 quarters of the one after
    first = rsm012(
        "B1",
        created,
        [
            ("B1-t1", GSRN_A, "PT15M", AUTUMN, AUTUMN + span * Q, constant(span, "0.125")),
            ("B1-t2", GSRN_B, "PT1H", AUTUMN, AUTUMN + 25 * H, constant(25, "2.000")),
        ],
    )
    # a correction of 4 quarters of the second day, one day later
    second_start = AUTUMN + 110 * Q
    second = rsm012(
        "B2",
        created + timedelta(days=1),
        [("B2-t1", GSRN_A, "PT15M", second_start, second_start + 4 * Q, constant(4, "0.300"))],
    )
    with connect(db) as conn:
        write_batch(conn, _items(first), tz=TZ, bands=BANDS)
        result = write_batch(conn, _items(second, first, first_offset=1), tz=TZ, bands=BANDS)
        blocks = conn.execute(
            """SELECT metering_point_id, transaction_id, day_start, cardinality(wh), quality
               FROM metering_block ORDER BY 1, 2, 3"""
        ).fetchall()
        current = conn.execute(
            """SELECT "timestamp", quantity_kwh FROM (
                   SELECT DISTINCT ON ("timestamp") "timestamp", quantity_kwh FROM metering_data
                   WHERE metering_point_id = %s
                   ORDER BY "timestamp", created_at DESC, source_message_id DESC,
                            transaction_id DESC) c
               WHERE "timestamp" >= %s AND "timestamp" < %s""",
            (GSRN_A, AUTUMN + 109 * Q, AUTUMN + 115 * Q),
        ).fetchall()
        summary = conn.execute(
            "SELECT total_kwh, versions FROM daily_summary WHERE metering_point_id = %s AND date = %s",
            (GSRN_A, date(2026, 10, 26)),
        ).fetchone()
        # ingest kept every summary current: the two counts of a refresh agree
        current_counts = _period_is_current(conn, date(2026, 10, 1), date(2026, 11, 1), TZ)
    assert (result.duplicates, result.corrections, result.readings_written) == (2, 1, 4)
    day2 = AUTUMN + 100 * Q
    assert blocks == [
        (GSRN_A, "B1-t1", AUTUMN, 100, "4" * 100),
        (GSRN_A, "B1-t1", day2, 96, "4" * 96),
        (GSRN_A, "B1-t1", day2 + 96 * Q, 10, "4" * 10),
        (GSRN_A, "B2-t1", day2, 14, "-" * 10 + "4444"),
        (GSRN_B, "B1-t2", AUTUMN, 25, "4" * 25),
    ]
    assert len(_view(db)) == span + 25 + 4
    assert current == [(AUTUMN + 109 * Q, Decimal("0.125"))] + [
        (AUTUMN + i * Q, Decimal("0.300")) for i in range(110, 114)
    ] + [(AUTUMN + 114 * Q, Decimal("0.125"))]
    assert summary == (Decimal("0.125") * 92 + Decimal("0.300") * 4, 100)
    assert current_counts


_ROWS = [
    # point, time, resolution, kWh, quality, document, transaction, created
    (GSRN_A, SPRING + 0 * Q, "PT15M", "0.001", "A04", "M1", "T1", 1),
    (GSRN_A, SPRING + 1 * Q, "PT15M", None, "A02", "M1", "T1", 1),
    (GSRN_A, SPRING + 91 * Q, "PT15M", "9.999", "A03", "M1", "T1", 1),
    (GSRN_A, SPRING + 92 * Q, "PT15M", "1.000", "A04", "M1", "T1", 1),  # the next local day
    (GSRN_A, SPRING + 1 * Q, "PT15M", "0.002", "A06", "M2", "T2", 2),  # a correction
    (GSRN_B, AUTUMN + 24 * H, "PT1H", "123456789.123", "A05", "M3", "T3", 3),
]


def _insert_rows(url: str) -> None:
    with connect(url) as conn:
        for point, ts, res, kwh, quality, doc, txn, created in _ROWS:
            conn.execute(
                """INSERT INTO metering_data (metering_point_id, "timestamp", resolution,
                       quantity_kwh, quality, source_message_id, transaction_id, created_at,
                       received_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (point, ts, res, kwh, quality, doc, txn, SPRING + created * H, AUTUMN),
            )


def _expected() -> list[tuple[object, ...]]:
    rows = [
        (p, ts, res, None if kwh is None else Decimal(kwh), q, doc, txn, SPRING + c * H)
        for p, ts, res, kwh, q, doc, txn, c in _ROWS
    ]
    return sorted(rows, key=lambda r: (r[0], r[1], r[5], r[6]))


def test_rows_inserted_into_the_view_read_back_unchanged(db: str) -> None:
    _insert_rows(db)
    assert _view(db) == _expected()
    with connect(db) as conn:
        blocks = conn.execute("SELECT count(*) FROM metering_block").fetchone()
        versions = reading_versions(conn)
        # The per-day counts refresh_period compares with the summaries' versions.
        per_day = conn.execute(
            f"""SELECT (day_start AT TIME ZONE %s)::date, sum({BLOCK_VERSIONS_SQL.format(q="quality")})
                FROM metering_block GROUP BY 1 ORDER BY 1""",
            (TZ,),
        ).fetchall()
    assert blocks == (4,)  # T1 spans two local days
    assert versions == len(_ROWS)
    assert per_day == [(date(2026, 3, 29), 4), (date(2026, 3, 30), 1), (date(2026, 10, 25), 1)]


def test_the_migration_turns_existing_rows_into_blocks(empty_db: str) -> None:
    before = [m for m in available_migrations() if m.version < 31]
    with connect(empty_db) as conn:
        migrate(conn, before)
    _insert_rows(empty_db)  # into the table as it was
    with connect(empty_db, autocommit=True) as conn:
        assert conn.execute(
            "SELECT relkind FROM pg_class WHERE relname = 'metering_data'"
        ).fetchone() == ("r",)
        migrate(conn)
        kind = conn.execute(
            "SELECT relkind FROM pg_class WHERE relname = 'metering_data'"
        ).fetchone()
        blocks = conn.execute("SELECT count(*) FROM metering_block").fetchone()
    assert kind == ("v",)
    assert blocks == (4,)
    assert _view(empty_db) == _expected()
