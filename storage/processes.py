"""SQL of the customer lifecycle: process requests, their events, the outbound outbox, and the
supply periods and contracts the processes create and end.

No rule is decided here (settlement.lifecycle decides); every function runs inside the caller's
transaction. A request's status is written only by `append_event`, with the status the caller
folded from the events (the table's status is a projection, rebuilt by `rebuild_statuses`).

Just over 400 lines on purpose: every table the lifecycle writes, in one SQL module.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from psycopg.types.json import Jsonb

from storage.db import Conn

# uuid5 namespace of the rows a request creates (supply period, contract): idempotent writes.
ROW_NAMESPACE = uuid.UUID("0d9b8f43-7c55-5d0b-a0a4-3a4f6f2c1e11")


@dataclass(frozen=True)
class RequestRow:
    id: uuid.UUID
    type: str
    gsrn: str
    requested_at: datetime
    effective_date: datetime | None
    status: str
    data_hub_correlation_id: str | None
    customer_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    billing_frequency: str | None = None
    payment_model: str | None = None
    payment_term_days: int | None = None
    target_request_id: uuid.UUID | None = None
    initiator: str = "Elflow"


REQUEST_COLUMNS = (
    "id, type, gsrn, requested_at, effective_date, status, data_hub_correlation_id, customer_id, "
    "product_id, billing_frequency, payment_model, payment_term_days, target_request_id, initiator"
)


@dataclass(frozen=True)
class EventRow:
    id: uuid.UUID
    request_id: uuid.UUID
    occurred_at: datetime
    event_type: str
    payload: dict[str, Any]


def insert_request(conn: Conn, row: RequestRow) -> None:
    conn.execute(
        f"INSERT INTO process_request ({REQUEST_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})",
        tuple(row.__dict__.values()),
    )


def append_event(
    conn: Conn,
    request_id: uuid.UUID,
    event_type: str,
    occurred_at: datetime,
    payload: dict[str, Any],
    status_after: str,
) -> uuid.UUID:
    """One immutable event and the request's status after it (folded by the caller)."""
    event_id = uuid.uuid4()
    conn.execute(
        """INSERT INTO process_event (id, process_request_id, occurred_at, event_type, payload)
           VALUES (%s, %s, %s, %s, %s)""",
        (event_id, request_id, occurred_at, event_type, json.dumps(payload, sort_keys=True)),
    )
    conn.execute("UPDATE process_request SET status = %s WHERE id = %s", (status_after, request_id))
    return event_id


def set_correlation(conn: Conn, request_id: uuid.UUID, correlation: str) -> None:
    conn.execute(
        """UPDATE process_request SET data_hub_correlation_id = %s
           WHERE id = %s AND data_hub_correlation_id IS NULL""",
        (correlation, request_id),
    )


def request(conn: Conn, request_id: uuid.UUID, *, lock: bool = False) -> RequestRow | None:
    row = conn.execute(
        f"SELECT {REQUEST_COLUMNS} FROM process_request WHERE id = %s"
        + (" FOR UPDATE" if lock else ""),
        (request_id,),
    ).fetchone()
    return None if row is None else RequestRow(*row)


def requests(conn: Conn, *, gsrn: str | None = None, open_only: bool = False) -> list[RequestRow]:
    rows = conn.execute(
        f"""SELECT {REQUEST_COLUMNS} FROM process_request
            WHERE (%(gsrn)s::text IS NULL OR gsrn = %(gsrn)s)
              AND (NOT %(open)s OR status NOT IN ('Rejected', 'Completed', 'Cancelled'))
            ORDER BY requested_at, id""",
        {"gsrn": gsrn, "open": open_only},
    ).fetchall()
    return [RequestRow(*r) for r in rows]


def events(conn: Conn, request_id: uuid.UUID | None = None) -> list[EventRow]:
    """Events in the order they were appended (of one request, or of all)."""
    rows = conn.execute(
        """SELECT id, process_request_id, occurred_at, event_type, payload FROM process_event
           WHERE %(id)s::uuid IS NULL OR process_request_id = %(id)s
           ORDER BY process_request_id, seq""",
        {"id": request_id},
    ).fetchall()
    return [EventRow(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]


def lock_metering_point(conn: Conn, gsrn: str) -> None:
    """Serialise lifecycle writers of one metering point (start, answers, advance)."""
    conn.execute("SELECT pg_advisory_xact_lock(7231012, hashtext(%s))", (gsrn,))


# --- what the rules need to know of a metering point ------------------------------------------


def point_master_data(
    conn: Conn, gsrn: str, at: datetime
) -> tuple[str | None, str | None, bool, str | None]:
    """(DataHub type code, connection status, supplier known, supplier GLN) at `at`: from the
    master-data version valid then, else from the class diagram's metering_point row (a point
    loaded from a file: supplier unknown), else all unknown."""
    row = conn.execute(
        """SELECT type, connection_status, supplier_gln FROM metering_point_version
           WHERE gsrn = %(g)s AND valid_from <= %(at)s ORDER BY valid_from DESC LIMIT 1""",
        {"g": gsrn, "at": at},
    ).fetchone()
    if row is not None:
        return row[0], row[1], True, row[2]
    current = conn.execute(
        "SELECT type, connection_status FROM metering_point WHERE gsrn = %s", (gsrn,)
    ).fetchone()
    if current is None:
        return None, None, False, None
    return str(current[0]).split("_")[0], current[1], False, None


def our_customer(conn: Conn, gsrn: str, day: date) -> uuid.UUID | None:
    """The customer of our contract on the point on local `day`, when we supply it then."""
    row = conn.execute(
        """SELECT c.customer_id FROM contract c
           JOIN supply_period s ON s.gsrn = c.gsrn AND s.start_date <= %(d)s
                AND (s.end_date IS NULL OR s.end_date > %(d)s)
           WHERE c.gsrn = %(g)s AND c.start_date <= %(d)s AND (c.end_date IS NULL OR c.end_date > %(d)s)
           ORDER BY c.start_date DESC LIMIT 1""",
        {"g": gsrn, "d": day},
    ).fetchone()
    return None if row is None else row[0]


def customer_identity(conn: Conn, customer_id: uuid.UUID) -> tuple[str, str] | None:
    """(CPR/CVR, name) of a customer."""
    row = conn.execute(
        "SELECT cpr_cvr, name FROM customer WHERE id = %s", (customer_id,)
    ).fetchone()
    return None if row is None else (row[0], row[1])


def product_exists(conn: Conn, product_id: uuid.UUID) -> bool:
    return conn.execute("SELECT 1 FROM product WHERE id = %s", (product_id,)).fetchone() is not None


def reading_seen(conn: Conn, gsrn: str, start: datetime, end: datetime) -> bool:
    """Whether any reading of the point in [start, end) has arrived."""
    row = conn.execute("SELECT lifecycle_reading_seen(%s, %s, %s)", (gsrn, start, end)).fetchone()
    return row is not None and row[0] is True


def master_data_seen(conn: Conn, gsrn: str, at: datetime, supplier_gln: str) -> bool:
    """Whether RSM-022 master data of the point effective at `at` naming `supplier_gln` as its
    energy supplier has arrived."""
    row = conn.execute(
        "SELECT lifecycle_master_data_seen(%s, %s, %s)", (gsrn, at, supplier_gln)
    ).fetchone()
    return row is not None and row[0] is True


# --- the outbox ----------------------------------------------------------------------------------


def enqueue(
    conn: Conn,
    *,
    request_id: uuid.UUID,
    process_type: str,
    gsrn: str,
    document_mrid: str,
    document: dict[str, Any],
) -> None:
    conn.execute(
        """INSERT INTO outbound_request (id, process_type, gsrn, status, process_request_id,
               document_mrid, document, correlation_id)
           VALUES (%s, %s, %s, 'Queued', %s, %s, %s, %s)""",
        (
            uuid.uuid4(),
            process_type,
            gsrn,
            request_id,
            document_mrid,
            Jsonb(document),
            str(request_id),
        ),
    )


def queued(conn: Conn, limit: int) -> list[tuple[uuid.UUID, str, str, dict[str, Any]]]:
    """(request id, gsrn, document mRID, document) of queued outbound requests, oldest first,
    with the request and outbound rows locked until the caller's transaction ends (rows another
    transaction holds, e.g. a cancellation, are skipped this time)."""
    rows = conn.execute(
        """SELECT o.process_request_id, o.gsrn, o.document_mrid, o.document
           FROM outbound_request o JOIN process_request p ON p.id = o.process_request_id
           WHERE o.status = 'Queued' ORDER BY o.seq LIMIT %s
           FOR UPDATE OF p, o SKIP LOCKED""",
        (limit,),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def mark_sent(conn: Conn, request_id: uuid.UUID, at: datetime) -> bool:
    """Queued → Sent; False when it was not Queued any more (already marked, or withdrawn)."""
    cur = conn.execute(
        """UPDATE outbound_request SET status = 'Sent', sent_at = %s
           WHERE process_request_id = %s AND status = 'Queued'""",
        (at, request_id),
    )
    return cur.rowcount == 1


def set_outbound_status(
    conn: Conn, request_id: uuid.UUID, status: str, *, answered_at: datetime | None = None
) -> None:
    conn.execute(
        """UPDATE outbound_request SET status = %s, answered_at = COALESCE(%s, answered_at)
           WHERE process_request_id = %s""",
        (status, answered_at, request_id),
    )


def overdue(conn: Conn, sent_before: datetime) -> list[uuid.UUID]:
    rows = conn.execute(
        """SELECT process_request_id FROM outbound_request
           WHERE status = 'Sent' AND sent_at <= %s ORDER BY seq""",
        (sent_before,),
    ).fetchall()
    return [r[0] for r in rows]


def outbound_rows(conn: Conn) -> list[tuple[Any, ...]]:
    """(request id, status, sent_at, answered_at, document mRID) of every outbound request."""
    return conn.execute(
        """SELECT process_request_id, status, sent_at, answered_at, document_mrid
           FROM outbound_request ORDER BY seq"""
    ).fetchall()


# --- supply follows the processes --------------------------------------------------------------


def row_id(request_id: uuid.UUID, what: str) -> uuid.UUID:
    return uuid.uuid5(ROW_NAMESPACE, f"{request_id}\x1f{what}")


def start_supply(conn: Conn, req: RequestRow, start: date) -> None:
    """The supply period and (when customer and product are known) the contract of a request."""
    conn.execute(
        """INSERT INTO supply_period (id, gsrn, start_date, process_request_id)
           VALUES (%s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
        (row_id(req.id, "supply"), req.gsrn, start, req.id),
    )
    if req.customer_id is None or req.product_id is None:
        return
    conn.execute(
        """INSERT INTO contract (id, customer_id, gsrn, product_id, billing_frequency,
               payment_model, payment_term_days, start_date, process_request_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING""",
        (
            row_id(req.id, "contract"),
            req.customer_id,
            req.gsrn,
            req.product_id,
            req.billing_frequency or "Monthly",
            req.payment_model or "PostPayment",
            req.payment_term_days if req.payment_term_days is not None else 14,
            start,
            req.id,
        ),
    )


def end_supply(
    conn: Conn, gsrn: str, end: date, reason: str, request_id: uuid.UUID
) -> tuple[int, int]:
    """End the supply period and contracts running on local `end` (exclusive) of the point,
    noting `request_id` as what ended them; returns (supply periods, contracts) ended."""
    periods = conn.execute(
        """UPDATE supply_period SET end_date = %(d)s, end_reason = %(r)s, ended_by_request = %(q)s
           WHERE gsrn = %(g)s AND start_date < %(d)s AND (end_date IS NULL OR end_date > %(d)s)""",
        {"g": gsrn, "d": end, "r": reason, "q": request_id},
    ).rowcount
    contracts = conn.execute(
        """UPDATE contract SET end_date = %(d)s, ended_by_request = %(q)s
           WHERE gsrn = %(g)s AND start_date < %(d)s AND (end_date IS NULL OR end_date > %(d)s)""",
        {"g": gsrn, "d": end, "q": request_id},
    ).rowcount
    return periods, contracts


def supply_periods(
    conn: Conn, gsrn: str
) -> list[tuple[date, date | None, str | None, uuid.UUID | None, uuid.UUID | None]]:
    """(start, end, end reason, the request that created it, the request that ended it) of the
    point's supply periods."""
    rows = conn.execute(
        """SELECT start_date, end_date, end_reason, process_request_id, ended_by_request
           FROM supply_period WHERE gsrn = %s ORDER BY start_date, id""",
        (gsrn,),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def reverse_supply(conn: Conn, target: uuid.UUID) -> tuple[int, int]:
    """Make the supply period and contract a request created empty (end = start): they stay
    for the settlement lines that reference them, and supply no day."""
    periods = conn.execute(
        """UPDATE supply_period SET end_date = start_date, end_reason = NULL
           WHERE process_request_id = %s""",
        (target,),
    ).rowcount
    contracts = conn.execute(
        "UPDATE contract SET end_date = start_date WHERE process_request_id = %s", (target,)
    ).rowcount
    return periods, contracts


def rebuild_statuses(conn: Conn, statuses: Sequence[tuple[uuid.UUID, str]]) -> int:
    """Write folded statuses back; returns how many differed from the table."""
    changed = 0
    for request_id, status in statuses:
        changed += conn.execute(
            "UPDATE process_request SET status = %s WHERE id = %s AND status <> %s",
            (status, request_id, status),
        ).rowcount
    return changed


# --- inbound answers: claims and message status ---------------------------------------------------


def claim(conn: Conn, message_id: str, transaction_id: str) -> bool:
    """Claim a (document, record) once; False when it was applied before (a duplicate)."""
    row = conn.execute(
        """INSERT INTO processed_message_id (message_id, transaction_id) VALUES (%s, %s)
           ON CONFLICT DO NOTHING RETURNING 1""",
        (message_id, transaction_id),
    ).fetchone()
    return row is not None


def record_inbound(
    conn: Conn, message_id: str, message_type: str, topic: str, status: str, detail: str | None
) -> None:
    """inbound_message of a lifecycle document; a later record's dead letter wins."""
    conn.execute(
        """INSERT INTO inbound_message (id, data_hub_message_id, message_type, queue_name, status,
               error_details)
           VALUES (%s, %s, %s, %s, %s, %s)
           ON CONFLICT (data_hub_message_id) DO UPDATE SET status = EXCLUDED.status,
               error_details = EXCLUDED.error_details
           WHERE inbound_message.queue_name = EXCLUDED.queue_name
             AND inbound_message.status <> 'DeadLettered'""",
        (uuid.uuid4(), message_id, message_type, topic, status, detail),
    )


# --- RSM-028 customer characteristics -------------------------------------------------------------


def apply_customer_characteristics(
    conn: Conn, customer_id: uuid.UUID, fields: dict[str, str | None], at: datetime
) -> str:
    """Create or update a customer from DataHub's customer data (`fields`: cpr_cvr, contact_type,
    name, email, phone, address) through the one function the flow's role may call; returns
    'created', 'updated', 'older' or 'other_cpr_cvr' (see migration 0014)."""
    row = conn.execute(
        "SELECT lifecycle_customer_characteristics(%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            customer_id,
            fields.get("cpr_cvr"),
            fields.get("contact_type"),
            fields["name"],
            fields.get("email"),
            fields.get("phone"),
            fields.get("address"),
            at,
        ),
    ).fetchone()
    assert row is not None
    return str(row[0])


def set_customer(conn: Conn, request_id: uuid.UUID, customer_id: uuid.UUID) -> None:
    """Name the customer of a request DataHub started (it had none)."""
    conn.execute(
        "UPDATE process_request SET customer_id = %s WHERE id = %s AND customer_id IS NULL",
        (customer_id, request_id),
    )
