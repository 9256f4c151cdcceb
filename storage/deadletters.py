"""dead_letter_message: what the ingest flow could not accept, for review and replay."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from storage.db import Conn


@dataclass(frozen=True)
class DeadLetter:
    id: uuid.UUID
    original_message_id: str | None
    queue_name: str
    reason_code: str
    error_reason: str
    raw_payload: bytes
    failed_at: datetime
    resolved: bool
    kafka_partition: int | None
    kafka_offset: int | None


_COLUMNS = (
    "id, original_message_id, queue_name, reason_code, error_reason, raw_payload, failed_at, "
    "resolved, kafka_partition, kafka_offset"
)


def list_dead_letters(
    conn: Conn,
    *,
    include_resolved: bool = False,
    limit: int = 100,
    ids: list[str] | None = None,
    not_queue: str | None = None,
) -> list[DeadLetter]:
    """Dead letters, oldest first; `not_queue` leaves out those of one topic."""
    clauses = []
    params: list[object] = []
    if not include_resolved:
        clauses.append("NOT resolved")
    if not_queue is not None:
        clauses.append("queue_name <> %s")
        params.append(not_queue)
    if ids:
        clauses.append("id = ANY(%s::uuid[])")
        params.append(ids)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM dead_letter_message {where} ORDER BY failed_at, queue_name, kafka_partition, kafka_offset, id LIMIT %s",
        params,
    ).fetchall()
    return [
        DeadLetter(
            id=row[0],
            original_message_id=row[1],
            queue_name=row[2],
            reason_code=row[3],
            error_reason=row[4],
            raw_payload=bytes(row[5]),
            failed_at=row[6],
            resolved=row[7],
            kafka_partition=row[8],
            kafka_offset=row[9],
        )
        for row in rows
    ]


def mark_resolved(conn: Conn, dead_letter_id: uuid.UUID, note: str) -> None:
    conn.execute(
        """UPDATE dead_letter_message
           SET resolved = true, resolved_at = now(), error_reason = error_reason || ' | ' || %s
           WHERE id = %s""",
        (note, dead_letter_id),
    )
    conn.execute(
        """UPDATE inbound_message SET status = 'Processed', error_details = NULL
           WHERE data_hub_message_id = (SELECT original_message_id FROM dead_letter_message WHERE id = %s)
             AND status = 'DeadLettered'""",
        (dead_letter_id,),
    )


def record_replay_failure(
    conn: Conn, dead_letter_id: uuid.UUID, reason_code: str, detail: str
) -> None:
    conn.execute(
        "UPDATE dead_letter_message SET reason_code = %s, error_reason = %s WHERE id = %s",
        (reason_code, detail, dead_letter_id),
    )
