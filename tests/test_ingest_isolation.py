"""A message the database refuses fails only itself: the sink writes the batch again message by
message and dead-letters the culprit with its exact bytes (read back from the real broker);
only a lost connection is retried."""

from __future__ import annotations

import base64
import dataclasses
import random
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from flows.parse import Item, message_items
from flows.publisher import publish
from flows.sink import DATABASE_REJECTED, DatabaseWriter, classify_failure, dead_letter_copy
from schemas.settings import settings
from storage.db import connect
from storage.readings import DeadLetterItem, TransactionItem
from tests.documents import GSRN_A, GSRN_B, constant, rsm012

pytestmark = pytest.mark.services

DAY = datetime(2026, 10, 4, 22, tzinfo=UTC)
CREATED = datetime(2026, 10, 6, 3, tzinfo=UTC)
# 10 000 incompressible characters: more than a btree index row can hold (SQLSTATE 54000).
HUGE_KEY = base64.b64encode(random.Random(1).randbytes(7500)).decode()


def _doc(name: str, gsrn: str) -> bytes:
    return rsm012(
        name,
        CREATED,
        [(f"{name}-t1", gsrn, "PT1H", DAY, DAY + timedelta(days=1), constant(24, "1.5"))],
    )


def test_a_batch_with_a_message_the_database_refuses_stores_the_rest(
    db: str, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ELFLOW_READINGS_TOPIC", topic)
    settings.cache_clear()
    cfg = settings()
    raws = [_doc("ok-1", GSRN_A), _doc("culprit", GSRN_B), _doc("ok-2", GSRN_B)]
    publish(cfg, topic, [(b"k", raw) for raw in raws], partitions=1)
    items: list[Item] = []
    for offset, raw in enumerate(raws):
        for _key, item in message_items(raw, topic, 0, offset):
            if isinstance(item, TransactionItem) and item.document_id == "culprit":
                # psycopg files 54000 under OperationalError although the connection is fine.
                item = dataclasses.replace(item, transaction_id=HUGE_KEY)
            items.append(item)

    writer = DatabaseWriter(cfg)
    result = writer.write(items)
    writer.close()

    assert result.transactions_written == 2
    assert result.dead_letters == {DATABASE_REJECTED: 1}
    ((dead,),) = [writer.isolated]
    assert dead.payload == raws[1]  # the exact bytes, fetched back from the broker
    with connect(db) as conn:
        stored = conn.execute(
            "SELECT DISTINCT source_message_id FROM metering_data ORDER BY 1"
        ).fetchall()
        letter = conn.execute(
            "SELECT reason_code, error_reason, raw_payload, kafka_offset FROM dead_letter_message"
        ).fetchone()
    assert stored == [("ok-1",), ("ok-2",)]
    assert letter is not None
    assert letter[0] == DATABASE_REJECTED and bytes(letter[2]) == raws[1] and letter[3] == 1
    assert "54000" in letter[1] and f"{topic}[0]@1" in letter[1]


def test_an_index_row_too_large_is_a_rejection_and_a_killed_session_a_lost_connection(
    db: str,
) -> None:
    with connect(db) as conn:
        try:
            with conn.transaction():
                conn.execute(
                    "INSERT INTO processed_message_id (message_id) VALUES (%s)", (HUGE_KEY,)
                )
        except psycopg.Error as exc:
            assert classify_failure(exc, conn) == "rejected"
        else:
            pytest.fail("the database accepted a 10 000-character key")
        with connect(db, autocommit=True) as killer:
            pid = conn.info.backend_pid
            killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        try:
            conn.execute("SELECT 1")
        except psycopg.Error as exc:
            assert classify_failure(exc, conn) == "connection"
        else:
            pytest.fail("a terminated session still answered")


def test_a_dead_letter_copy_never_exceeds_the_limit_and_says_it_was_cut() -> None:
    item = DeadLetterItem(
        reason_code="bad_identifier",
        detail="t[0]@1: " + "d" * 5000,
        payload=b"p" * 50_000,
        document_id=None,
        topic="t",
        partition=0,
        offset=1,
    )
    value, headers = dead_letter_copy(item, 10_000)
    named = dict(headers)
    assert len(value) + sum(len(v or b"") for _k, v in headers) <= 10_000
    assert isinstance(named["truncated"], bytes) and b"of 50000 bytes" in named["truncated"]
    small, small_headers = dead_letter_copy(dataclasses.replace(item, payload=b"p" * 10), 10_000)
    assert small == b"p" * 10 and "truncated" not in dict(small_headers)
