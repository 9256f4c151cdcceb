"""The ingest write path against the real TimescaleDB: dedup, corrections, summaries, dead
letters and their replay (no Kafka here; the flow tests cover that)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from flows.feed import FeedSpec, generate_feed
from flows.parse import Item, message_items
from flows.replay import replay_dead_letters
from schemas.bands import DEFAULT_BANDS, band_table
from schemas.settings import settings
from storage.db import connect
from storage.readings import BatchResult, DeadLetterItem, write_batch
from storage.summaries import refresh_period
from tests.documents import GSRN_A, GSRN_B, constant, rsm012
from tests.oracle import database_current, database_state, database_summaries, expected_from

pytestmark = pytest.mark.services

TZ = "Europe/Copenhagen"
BANDS = list(band_table(DEFAULT_BANDS))
# 2026-10-12 is an ordinary local day: 22:00Z on the 11th to 22:00Z on the 12th (CEST).
DAY_START = datetime(2026, 10, 11, 22, tzinfo=UTC)
DAY_END = datetime(2026, 10, 12, 22, tzinfo=UTC)


def _items(*values: bytes, partition: int = 0, first_offset: int = 0) -> list[Item]:
    items: list[Item] = []
    for offset, value in enumerate(values, start=first_offset):
        items.extend(item for _key, item in message_items(value, "readings", partition, offset))
    return items


def _write(url: str, items: list[Item]) -> BatchResult:
    with connect(url) as conn:
        return write_batch(conn, items, tz=TZ, bands=BANDS)


def _day_doc(doc: str, created_hour: int, value: str, gsrn: str = GSRN_A) -> bytes:
    return rsm012(
        doc,
        datetime(2026, 10, 13, created_hour, tzinfo=UTC),
        [(f"{doc}-t1", gsrn, "PT15M", DAY_START, DAY_END, constant(96, value))],
    )


def test_a_redelivered_document_has_no_effect(db: str) -> None:
    doc = _day_doc("D1", 6, "0.250")
    first = _write(db, _items(doc))
    with connect(db) as conn:
        before = database_state(conn)
    second = _write(db, _items(doc, doc, first_offset=1))
    with connect(db) as conn:
        after = database_state(conn)
        processed = conn.execute(
            "SELECT message_id, transaction_id FROM processed_message_id"
        ).fetchall()
        inbound = conn.execute("SELECT data_hub_message_id, status FROM inbound_message").fetchall()
    assert (first.readings_written, first.duplicates) == (96, 0)
    assert (second.readings_written, second.duplicates) == (0, 2)
    assert before == after
    assert processed == [("D1", "D1-t1")]
    assert inbound == [("D1", "Processed")]


def test_the_latest_created_version_wins_and_older_versions_stay_queryable(db: str) -> None:
    original = _day_doc("D1", 6, "0.250")
    correction = _day_doc("D2", 9, "0.500")
    late_older = _day_doc("D0", 3, "9.000")  # created before both, arrives last
    _write(db, _items(original))
    result = _write(db, _items(correction, first_offset=1))
    _write(db, _items(late_older, first_offset=2))
    with connect(db) as conn:
        current = database_current(conn)
        versions = conn.execute(
            """SELECT source_message_id, count(*) FROM metering_data
               WHERE metering_point_id = %s GROUP BY 1 ORDER BY 1""",
            (GSRN_A,),
        ).fetchall()
        summary = conn.execute(
            "SELECT total_kwh, missing_count FROM daily_summary WHERE metering_point_id = %s",
            (GSRN_A,),
        ).fetchone()
    assert result.corrections == 1
    assert set(current.values()) == {Decimal("0.500")}
    assert versions == [("D0", 96), ("D1", 96), ("D2", 96)]
    assert summary == (Decimal("48.000"), 0)


def test_readings_are_kept_before_the_metering_point_master_data_exists(db: str) -> None:
    _write(db, _items(_day_doc("D1", 6, "0.100", gsrn=GSRN_B)))
    with connect(db) as conn:
        known = conn.execute("SELECT count(*) FROM metering_point").fetchone()
        stored = conn.execute(
            "SELECT count(*) FROM metering_data WHERE metering_point_id = %s", (GSRN_B,)
        ).fetchone()
    assert known == (0,)
    assert stored == (96,)


def test_summary_bands_follow_local_hours(db: str) -> None:
    # Quarter q of the day gets q/1000 kWh, so every band sum is distinct and checkable.
    values = [f"{q / 1000:.3f}" for q in range(96)]
    doc = rsm012(
        "D1",
        datetime(2026, 10, 13, 6, tzinfo=UTC),
        [("t1", GSRN_A, "PT15M", DAY_START, DAY_END, values)],
    )
    _write(db, _items(doc))

    def band_sum(hours: range) -> Decimal:
        return sum((Decimal(values[q]) for q in range(96) if q // 4 in hours), Decimal("0.000"))

    with connect(db) as conn:
        row = conn.execute(
            """SELECT total_kwh, off_peak_kwh, peak_kwh, super_peak_kwh, points_expected,
                      slot_kwh[1], slot_kwh[96]
               FROM daily_summary WHERE metering_point_id = %s AND date = '2026-10-12'""",
            (GSRN_A,),
        ).fetchone()
    assert row == (
        band_sum(range(24)),
        band_sum(range(6)),
        band_sum(range(6, 17)) + band_sum(range(21, 24)),
        band_sum(range(17, 21)),
        96,
        Decimal("0.000"),
        Decimal("0.095"),
    )


@pytest.mark.parametrize(
    ("local_day", "quarters", "hours"),
    [(date(2026, 3, 29), 92, 23), (date(2026, 10, 25), 100, 25), (date(2026, 10, 12), 96, 24)],
)
def test_dst_days_have_their_own_number_of_slots(
    db: str, local_day: date, quarters: int, hours: int
) -> None:
    from schemas.calendar import day_bounds_utc

    start, end = day_bounds_utc(local_day)
    q_doc = rsm012(
        "Q",
        start + timedelta(days=2),
        [("q", GSRN_A, "PT15M", start, end, constant(quarters, "0.250"))],
    )
    h_doc = rsm012(
        "H",
        start + timedelta(days=2),
        [("h", GSRN_B, "PT1H", start, end, constant(hours, "1.000"))],
    )
    _write(db, _items(q_doc, h_doc))
    with connect(db) as conn:
        rows = conn.execute(
            """SELECT metering_point_id, date, points_expected, points_received, missing_count,
                      total_kwh, cardinality(slot_kwh)
               FROM daily_summary ORDER BY 1"""
        ).fetchall()
    assert rows == [
        (GSRN_A, local_day, quarters, quarters, 0, Decimal("0.250") * quarters, quarters),
        (GSRN_B, local_day, hours, hours, 0, Decimal("1.000") * hours, hours),
    ]


def test_missing_quantities_are_null_never_zero_and_make_the_day_incomplete(db: str) -> None:
    values: list[str | None] = constant(96, "0.250")
    values[10] = None
    doc = rsm012(
        "D1",
        datetime(2026, 10, 13, 6, tzinfo=UTC),
        [("t1", GSRN_A, "PT15M", DAY_START, DAY_END, values[:90])],  # last 6 quarters absent
    )
    _write(db, _items(doc))
    with connect(db) as conn:
        missing = conn.execute(
            'SELECT quantity_kwh, quality FROM metering_data WHERE "timestamp" = %s',
            (DAY_START + timedelta(minutes=150),),
        ).fetchone()
        summary = conn.execute(
            "SELECT points_received, points_expected, missing_count, slot_kwh[11], slot_kwh[96] "
            "FROM daily_summary"
        ).fetchone()
    assert missing == (None, "A02")
    assert summary == (90, 96, 7, None, None)


def test_bad_input_is_dead_lettered_with_reason_and_offset_once(db: str) -> None:
    bad = _day_doc("D9", 6, "0.2501")  # four decimals
    result = _write(db, _items(b"\xff\xfenot json", bad, partition=1, first_offset=40))
    again = _write(db, _items(b"\xff\xfenot json", bad, partition=1, first_offset=40))
    redelivered = _write(db, _items(bad, partition=0, first_offset=99))
    with connect(db) as conn:
        rows = conn.execute(
            """SELECT reason_code, kafka_partition, kafka_offset, raw_payload, resolved,
                      original_message_id
               FROM dead_letter_message ORDER BY kafka_offset"""
        ).fetchall()
        inbound = conn.execute("SELECT data_hub_message_id, status FROM inbound_message").fetchall()
    assert dict(result.dead_letters) == {"unparseable": 1, "too_many_decimals": 1}
    assert sum(again.dead_letters.values()) == 0
    assert sum(redelivered.dead_letters.values()) == 0
    assert rows == [
        ("unparseable", 1, 40, b"\xff\xfenot json", False, None),
        ("too_many_decimals", 1, 41, bad, False, "D9"),
    ]
    assert inbound == [("D9", "DeadLettered")]


def test_replay_writes_what_now_parses_and_leaves_the_rest_open(db: str) -> None:
    good = _day_doc("D1", 6, "0.250")
    # A dead letter whose payload is valid for today's parser (as after a parser fix).
    parked = DeadLetterItem("schema_violation", "old parser bug", good, "D1", "readings", 0, 7)
    _write(db, [parked, *_items(b"garbage", first_offset=8)])
    with connect(db) as conn:
        outcomes = replay_dead_letters(conn, settings())
        again = replay_dead_letters(conn, settings())
        stored = conn.execute("SELECT count(*) FROM metering_data").fetchone()
        states = conn.execute(
            "SELECT reason_code, resolved FROM dead_letter_message ORDER BY kafka_offset"
        ).fetchall()
        inbound = conn.execute("SELECT status FROM inbound_message").fetchall()
    assert [o.resolved for o in outcomes] == [True, False]
    assert [o.resolved for o in again] == [False]  # only the still-broken one is open
    assert stored == (96,)
    assert states == [("schema_violation", True), ("unparseable", False)]
    assert inbound == [("Processed",)]


def test_summaries_equal_a_recomputation_after_redelivery_corrections_and_disorder(db: str) -> None:
    spec = FeedSpec(
        metering_points=12,
        days=4,
        start=date(2026, 10, 23),  # spans the 25-hour day
        seed=3,
        correction_rate=0.4,
        duplicate_rate=0.3,
        malformed_rate=0.1,
        missing_rate=0.01,
    )
    messages = [m.value for m in generate_feed(spec)]
    shuffled = list(messages)
    random.Random(5).shuffle(shuffled)
    items = _items(*shuffled)
    # Uneven batches, some redelivered whole, as Kafka replays after a crash would.
    rng = random.Random(9)
    position = 0
    while position < len(items):
        size = rng.randint(1, 40)
        batch = items[position : position + size]
        _write(db, batch)
        if rng.random() < 0.3:
            _write(db, batch)
        position += size
    expected = expected_from(messages)
    with connect(db) as conn:
        summaries = database_summaries(conn)
        current = database_current(conn)
        before = database_state(conn)
        changed = refresh_period(conn, date(2026, 10, 22), date(2026, 10, 28), tz=TZ, bands=BANDS)
        conn.commit()
        after = database_state(conn)
    assert summaries == expected.summaries()
    assert current == {key: r.quantity for key, r in expected.current.items()}
    assert changed == 0
    assert before == after


def test_refresh_recomputes_exactly_the_days_whose_readings_changed_behind_its_back(
    db: str,
) -> None:
    _write(db, _items(_day_doc("D1", 6, "0.250"), _day_doc("D2", 6, "0.100", gsrn=GSRN_B)))
    with connect(db) as conn:
        # A newer version inserted directly (not through write_batch): the summary is now stale.
        conn.execute(
            """INSERT INTO metering_data (metering_point_id, "timestamp", resolution, quantity_kwh,
                   quality, source_message_id, transaction_id, created_at)
               VALUES (%s, %s, 'PT15M', 1.250, 'A04', 'manual', 'manual', '2026-10-14Z')""",
            (GSRN_A, DAY_START),
        )
        conn.commit()
        stale = database_summaries(conn)
        changed = refresh_period(conn, date(2026, 10, 1), date(2026, 11, 1), tz=TZ, bands=BANDS)
        conn.commit()
        fixed = database_summaries(conn)
        unchanged = refresh_period(
            conn, date(2026, 10, 1), date(2026, 11, 1), tz=TZ, bands=BANDS, full=True
        )
        conn.commit()
    key = (GSRN_A, date(2026, 10, 12))
    assert stale[key].total_kwh == Decimal("24.000")
    assert changed == 1
    assert fixed[key].total_kwh == Decimal("25.000")
    assert fixed[(GSRN_B, date(2026, 10, 12))] == stale[(GSRN_B, date(2026, 10, 12))]
    assert unchanged == 0


def test_deadletters_cli_lists_and_replays(db: str) -> None:
    import os
    import subprocess
    import sys

    _write(db, _items(b"garbage", _day_doc("D7", 6, "0.2501"), first_offset=3))
    env = {**os.environ, "ELFLOW_DATABASE_URL": db}

    def elflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "deploy.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    listed = elflow("deadletters", "list")
    replayed = elflow("deadletters", "replay")
    assert listed.returncode == 0
    assert "unparseable" in listed.stdout and "too_many_decimals" in listed.stdout
    assert "readings[0]@4: series D7-t1 position 1" in listed.stdout
    assert replayed.returncode == 1  # both still fail with today's parser
    assert "replayed 2: 0 resolved, 2 still failing" in replayed.stdout


def test_two_writers_of_the_same_fresh_day_still_give_an_exact_summary(db: str) -> None:
    import threading
    import time

    # The flow and a dead-letter replay may write the same metering point's new day at once:
    # both see no summary yet. The second must not overwrite the first's summary.
    first = _items(_day_doc("A", 6, "0.250"))
    second = _items(_day_doc("B", 9, "0.500"), first_offset=1)
    # Another metering point's day first, so the month's chunk exists: creating a chunk takes a
    # lock that would serialise the two writers before they ever reach the summaries.
    _write(db, _items(_day_doc("P", 6, "0.100", gsrn=GSRN_B), first_offset=9))
    with connect(db) as one, connect(db) as two:
        with one.transaction():
            write_batch(one, first, tz=TZ, bands=BANDS)
            writer = threading.Thread(
                target=write_batch, args=(two, second), kwargs={"tz": TZ, "bands": BANDS}
            )
            writer.start()
            time.sleep(1.0)
            blocked = writer.is_alive()  # waiting for the first writer's summary row
        writer.join(timeout=30)
        summary = one.execute(
            "SELECT total_kwh, versions FROM daily_summary WHERE metering_point_id = %s",
            (GSRN_A,),
        ).fetchone()
        one.commit()
        changed = refresh_period(
            one, date(2026, 10, 1), date(2026, 11, 1), tz=TZ, bands=BANDS, full=True
        )
    assert blocked
    assert summary == (Decimal("48.000"), 192)  # B (created later) wins, both versions counted
    assert changed == 0
