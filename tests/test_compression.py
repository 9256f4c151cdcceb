"""Compression of the readings' older chunks: metering_block, the day blocks behind the
metering_data view (storage.compression).

On the Apache edition (this machine) `elflow db migrate` sets nothing and says so. The tests
marked community need a Community-edition server: set ELFLOW_TEST_COMMUNITY_URL to a superuser
connection string of one (like ELFLOW_ADMIN_DATABASE_URL); without it they are skipped."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from flows.parse import message_items
from schemas.bands import DEFAULT_BANDS, band_table
from storage.compression import apply_compression_policy, current_policy_age
from storage.db import connect
from storage.readings import TransactionItem, write_batch
from tests.documents import GSRN_A, constant, rsm012

pytestmark = pytest.mark.services

COMMUNITY_URL = os.environ.get("ELFLOW_TEST_COMMUNITY_URL")
community = pytest.mark.skipif(
    not COMMUNITY_URL, reason="ELFLOW_TEST_COMMUNITY_URL names no Community-edition server"
)
TZ = "Europe/Copenhagen"
BANDS = list(band_table(DEFAULT_BANDS))


def test_the_apache_edition_gets_no_compression(db: str) -> None:
    with connect(db) as conn:
        line = apply_compression_policy(conn, 45)
        enabled = conn.execute(
            """SELECT compression_enabled FROM timescaledb_information.hypertables
               WHERE hypertable_name = 'metering_block'"""
        ).fetchone()
        age = current_policy_age(conn)
    assert line == "compression: not available on the Apache edition of TimescaleDB (nothing set)"
    assert enabled == (False,)
    assert age is None


@pytest.fixture
def community_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    from schemas.settings import settings
    from storage.scratch import scratch_database

    assert COMMUNITY_URL
    monkeypatch.setenv("ELFLOW_ADMIN_DATABASE_URL", COMMUNITY_URL)
    settings.cache_clear()
    try:
        with scratch_database("elflow_test_community") as url:
            monkeypatch.setenv("ELFLOW_DATABASE_URL", url)
            settings.cache_clear()
            yield url
    finally:
        settings.cache_clear()


@community
def test_migrate_sets_the_policy_once_and_changes_its_age(community_db: str) -> None:
    with connect(community_db) as conn:
        assert apply_compression_policy(conn, 45) == "compression: chunks older than 45 days"
        assert apply_compression_policy(conn, 45) == (
            "compression: chunks older than 45 days (unchanged)"
        )
        assert current_policy_age(conn) == timedelta(days=45)
        assert apply_compression_policy(conn, 10) == "compression: chunks older than 10 days"
        assert current_policy_age(conn) == timedelta(days=10)
        settings = conn.execute(
            """SELECT attname, segmentby_column_index, orderby_column_index, orderby_asc
               FROM timescaledb_information.compression_settings
               WHERE hypertable_name = 'metering_block' ORDER BY attname"""
        ).fetchall()
    assert settings == [
        ("created_at", None, 2, False),
        ("day_start", None, 1, True),
        ("metering_point_id", 1, None, None),
    ]


def _day(doc: str, created: datetime, value: str) -> list[TransactionItem]:
    start = datetime(2026, 1, 9, 23, tzinfo=UTC)  # 2026-01-10, a 24-hour local day
    payload = rsm012(
        doc,
        created,
        [(f"{doc}-t1", GSRN_A, "PT15M", start, start + timedelta(days=1), constant(96, value))],
    )
    return [
        i for _k, i in message_items(payload, "readings", 0, 0) if isinstance(i, TransactionItem)
    ]


@community
def test_a_correction_into_a_compressed_chunk_wins(community_db: str) -> None:
    with connect(community_db) as conn:
        apply_compression_policy(conn, 10)
        write_batch(
            conn, _day("D1", datetime(2026, 1, 11, 6, tzinfo=UTC), "0.250"), tz=TZ, bands=BANDS
        )
        conn.execute("SELECT compress_chunk(c) FROM show_chunks('metering_block') c")
        conn.commit()
        write_batch(
            conn, _day("D2", datetime(2026, 2, 1, 6, tzinfo=UTC), "0.300"), tz=TZ, bands=BANDS
        )
        total = conn.execute(
            """SELECT total_kwh FROM daily_summary
               WHERE metering_point_id = %s AND date = '2026-01-10'""",
            (GSRN_A,),
        ).fetchone()
        current = conn.execute(
            """SELECT sum(quantity_kwh) FROM (
                   SELECT DISTINCT ON ("timestamp") quantity_kwh FROM metering_data
                   WHERE metering_point_id = %s
                   ORDER BY "timestamp", created_at DESC) c""",
            (GSRN_A,),
        ).fetchone()
        compressed = conn.execute(
            "SELECT count(*) FROM timescaledb_information.chunks "
            "WHERE hypertable_name = 'metering_block' AND is_compressed"
        ).fetchone()
    assert total == (Decimal("28.800"),)
    assert current == (Decimal("28.800"),)
    assert compressed == (1,)
