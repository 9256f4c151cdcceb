"""The ingest write path: one database transaction per batch, idempotent under redelivery.

A batch holds parsed transactions (one DataHub Series each) and dead letters. In one
transaction it

1. claims each (document mRID, Series mRID) in processed_message_id; a pair already there is a
   duplicate and is dropped whole, so Kafka redelivery and replays after a crash change nothing;
2. appends the readings of the claimed transactions with binary COPY, one day block per
   transaction and local day (storage.blocks; every version is kept and read through the
   metering_data view; the current value is derived, so nothing is updated in place);
3. records each document in inbound_message and each dead letter in dead_letter_message
   (keyed by topic/partition/offset, so a replayed dead letter is stored once);
4. recomputes the daily summaries of the (metering point, local day) pairs it touched.

Either all of that commits or none of it does.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

from schemas.calendar import local_date, local_midnight_utc
from schemas.calendar import zone as calendar_zone
from storage.blocks import BLOCK_COLUMNS, BLOCK_TYPES, Reading, build_block, day_slices, slot_of
from storage.db import Conn
from storage.received import record_received
from storage.summaries import existing_days, recompute_days, summarize_fresh_day, write_day_rows


@dataclass(frozen=True, slots=True)
class TransactionItem:
    """One DataHub transaction (Series) of one document, with where it came from."""

    document_id: str
    document_type: str
    created: datetime
    transaction_id: str
    gsrn: str
    resolution: str
    # (slot start UTC, quantity or None when missing, CIM quality code)
    readings: tuple[tuple[datetime, Decimal | None, str], ...]
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class DeadLetterItem:
    """Input that could not be accepted, with the reason and the exact bytes."""

    reason_code: str
    detail: str
    payload: bytes
    document_id: str | None
    topic: str
    partition: int | None
    offset: int | None


@dataclass
class BatchResult:
    transactions_written: int = 0
    readings_written: int = 0
    duplicates: int = 0
    corrections: int = 0
    documents: int = 0
    summaries_changed: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    newest_reading: datetime | None = None


_CLAIM_DDL = """
CREATE TEMP TABLE IF NOT EXISTS incoming_block (
    message_id text NOT NULL, transaction_id text NOT NULL, gsrn text NOT NULL,
    day_start timestamptz NOT NULL, first_slot integer NOT NULL
) ON COMMIT DELETE ROWS
"""


def write_batch(
    conn: Conn,
    items: Sequence[TransactionItem | DeadLetterItem],
    *,
    tz: str,
    bands: list[str],
) -> BatchResult:
    """Apply a batch in one transaction (see the module docstring); returns what it did."""
    result = BatchResult()
    transactions = _unique_transactions([i for i in items if isinstance(i, TransactionItem)])
    dead = [i for i in items if isinstance(i, DeadLetterItem)]
    result.duplicates = sum(isinstance(i, TransactionItem) for i in items) - len(transactions)
    with conn.transaction():
        claimed = _claim(conn, transactions, result, tz) if transactions else []
        if claimed:
            slices = _slices(claimed, tz)
            _append_readings(conn, slices, result)
            record_received(conn, (r[2] for item in claimed for r in item.readings))
            result.transactions_written = len(claimed)
            result.summaries_changed = _update_summaries(conn, slices, tz, bands)
        _record_documents(conn, claimed, result)
        if dead:
            _record_dead_letters(conn, dead, result)
    return result


def _unique_transactions(items: list[TransactionItem]) -> list[TransactionItem]:
    seen: dict[tuple[str, str], TransactionItem] = {}
    for item in items:
        seen.setdefault((item.document_id, item.transaction_id), item)
    return list(seen.values())


def _claim(
    conn: Conn, items: list[TransactionItem], result: BatchResult, tz: str
) -> list[TransactionItem]:
    """Insert the (document, transaction) ids; return the items that were not there before."""
    conn.execute(_CLAIM_DDL)
    with conn.cursor().copy(
        "COPY incoming_block (message_id, transaction_id, gsrn, day_start, first_slot) FROM STDIN"
    ) as copy:
        for item in items:
            if item.readings:
                first = item.readings[0][0]
                start = local_midnight_utc(local_date(first, tz), tz)
                slot = slot_of(first, start, item.resolution)
            else:
                start, slot = item.created, -1
            copy.write_row((item.document_id, item.transaction_id, item.gsrn, start, slot))
    # A correction: a new transaction for slots that already hold another transaction's value
    # (its first slot is present in another transaction's block of that day).
    corrections = conn.execute(
        """SELECT count(*) FROM incoming_block i
           WHERE NOT EXISTS (SELECT 1 FROM processed_message_id p
                             WHERE p.message_id = i.message_id AND p.transaction_id = i.transaction_id)
             AND EXISTS (SELECT 1 FROM metering_block b
                         WHERE b.metering_point_id = i.gsrn AND b.day_start = i.day_start
                           AND substr(b.quality, i.first_slot + 1, 1) BETWEEN '2' AND '6'
                           AND b.transaction_id <> i.transaction_id)"""
    ).fetchone()
    rows = conn.execute(
        """INSERT INTO processed_message_id (message_id, transaction_id)
           SELECT message_id, transaction_id FROM incoming_block ORDER BY 1, 2
           ON CONFLICT DO NOTHING
           RETURNING message_id, transaction_id"""
    ).fetchall()
    conn.execute("DELETE FROM incoming_block")
    fresh = {(r[0], r[1]) for r in rows}
    claimed = [i for i in items if (i.document_id, i.transaction_id) in fresh]
    result.duplicates += len(items) - len(claimed)
    result.corrections = int(corrections[0]) if corrections else 0
    return claimed


Slice = tuple[TransactionItem, date, datetime, Sequence[Reading]]


def _slices(items: list[TransactionItem], tz: str) -> list[Slice]:
    """Each transaction cut at local midnights: one day block each."""
    return [
        (item, day, start, readings)
        for item in items
        for day, start, readings in day_slices(item.readings, tz)
    ]


def _append_readings(conn: Conn, slices: list[Slice], result: BatchResult) -> None:
    # Binary COPY of one block per transaction and local day (storage.blocks).
    received = datetime.now(UTC)
    newest: datetime | None = None
    count = 0
    with conn.cursor().copy(
        f"COPY metering_block ({BLOCK_COLUMNS}) FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(BLOCK_TYPES)
        for item, _day, start, readings in slices:
            wh, quality = build_block(start, item.resolution, readings)
            copy.write_row(
                (
                    item.gsrn,
                    start,
                    item.resolution,
                    wh,
                    quality,
                    item.document_id,
                    item.transaction_id,
                    item.created,
                    received,
                )
            )
            count += len(readings)
            last = readings[-1][0]
            newest = last if newest is None or last > newest else newest
    result.transactions_written = len({(s[0].document_id, s[0].transaction_id) for s in slices})
    result.readings_written = count
    result.newest_reading = newest


def _update_summaries(conn: Conn, slices: list[Slice], tz: str, bands: list[str]) -> int:
    """Summaries of every touched day: fresh days summed here, the rest recomputed in SQL."""
    zone = calendar_zone(tz)
    pieces: dict[tuple[str, date], list[tuple[TransactionItem, Sequence[Reading]]]] = {}
    for item, day, _start, readings in slices:
        pieces.setdefault((item.gsrn, day), []).append((item, readings))
    known = existing_days(conn, pieces)
    fresh = []
    recompute = []
    for key, parts in pieces.items():
        if len(parts) == 1 and key not in known:
            item, readings = parts[0]
            fresh.append(
                summarize_fresh_day(key[0], key[1], item.resolution, readings, zone, bands)
            )
        else:
            recompute.append(key)
    taken = write_day_rows(conn, fresh)
    recompute.extend(taken)
    changed = len(fresh) - len(taken)
    if recompute:
        changed += recompute_days(conn, recompute, tz=tz, bands=bands)
    return changed


def _record_documents(conn: Conn, claimed: list[TransactionItem], result: BatchResult) -> None:
    documents = sorted({(i.document_id, i.document_type, i.topic) for i in claimed})
    result.documents = len(documents)
    if documents:
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO inbound_message (id, data_hub_message_id, message_type, queue_name, status)
                   VALUES (%s, %s, %s, %s, 'Processed')
                   ON CONFLICT (data_hub_message_id) DO NOTHING""",
                [(uuid.uuid4(), doc, doc_type, topic) for doc, doc_type, topic in documents],
            )


def _record_dead_letters(conn: Conn, dead: list[DeadLetterItem], result: BatchResult) -> None:
    with conn.cursor() as cur:
        for item in sorted(dead, key=lambda d: (d.topic, d.partition or 0, d.offset or 0)):
            cur.execute(
                """INSERT INTO dead_letter_message (id, original_message_id, queue_name, error_reason,
                       raw_payload, reason_code, kafka_partition, kafka_offset)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                   -- Same offset (a replay) or same bytes (a redelivery): already stored.
                   ON CONFLICT DO NOTHING
                   RETURNING id""",
                (
                    uuid.uuid4(),
                    item.document_id,
                    item.topic,
                    item.detail,
                    item.payload,
                    item.reason_code,
                    item.partition,
                    item.offset,
                ),
            )
            if cur.fetchone() is None:
                continue
            result.dead_letters[item.reason_code] += 1
            if item.document_id:
                cur.execute(
                    """INSERT INTO inbound_message (id, data_hub_message_id, message_type, queue_name,
                           status, error_details)
                       VALUES (%s, %s, 'E66', %s, 'DeadLettered', %s)
                       ON CONFLICT (data_hub_message_id) DO NOTHING""",
                    (uuid.uuid4(), item.document_id, item.topic, item.detail),
                )
