"""SQL of the DataHub connector (role elflow_datahub): too-large documents as dead letters, and
DataHub's synchronous answer to a request on its outbound_request row."""

from __future__ import annotations

import uuid
from datetime import datetime

from storage.db import Conn


def store_too_large(
    conn: Conn, *, queue_name: str, message_id: str, detail: str, payload: bytes
) -> bool:
    """A peeked document too large for the broker, kept whole; False when the same bytes were
    stored before (a crash between storing and dequeuing peeks them again)."""
    cur = conn.execute(
        """INSERT INTO dead_letter_message (id, original_message_id, queue_name, error_reason,
                                            raw_payload, reason_code)
           VALUES (%s, %s, %s, %s, %s, 'too_large')
           ON CONFLICT DO NOTHING""",
        (uuid.uuid4(), message_id, queue_name, detail, payload),
    )
    return cur.rowcount == 1


def outbound_answer(conn: Conn, request_id: uuid.UUID) -> tuple[str, int | None] | None:
    """(outbound status, DataHub's HTTP answer or None) of a request, its rows locked; None when
    there is no outbound request for it."""
    conn.execute("SELECT 1 FROM process_request WHERE id = %s FOR UPDATE", (request_id,))
    row = conn.execute(
        """SELECT status, datahub_http_status FROM outbound_request
           WHERE process_request_id = %s FOR UPDATE""",
        (request_id,),
    ).fetchone()
    return None if row is None else (str(row[0]), row[1])


def record_answer(
    conn: Conn,
    request_id: uuid.UUID,
    *,
    http_status: int,
    at: datetime,
    error: tuple[str, str] | None = None,
    status: str | None = None,
) -> None:
    """DataHub's answer on the outbound request; `status` also changes its status."""
    code, message = error if error else (None, None)
    conn.execute(
        """UPDATE outbound_request
              SET datahub_http_status = %s, datahub_error_code = %s, datahub_error_message = %s,
                  datahub_answered_at = %s, status = COALESCE(%s, status),
                  answered_at = CASE WHEN %s::text IS NULL THEN answered_at ELSE %s END
            WHERE process_request_id = %s""",
        (http_status, code, message, at, status, status, at, request_id),
    )
