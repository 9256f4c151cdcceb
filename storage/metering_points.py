"""SQL of the metering-point history: events, projection, pending records, outbox, current view.

No rule is decided here (settlement.metering_point_state decides); these functions read and
write rows inside the caller's transaction. Dedup and message status reuse the ingest tables:
processed_message_id (document mRID, record mRID), inbound_message, dead_letter_message.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from schemas.rsm022 import MasterDataChange
from storage.db import Conn

# uuid5 namespace of event ids: the same (document, record) always gives the same id.
EVENT_NAMESPACE = uuid.UUID("4f0c6a52-4b0e-5d0e-9a59-6d7e1c0a2b22")


def event_id(change: MasterDataChange) -> uuid.UUID:
    return uuid.uuid5(EVENT_NAMESPACE, f"{change.message_id}\x1f{change.record.transaction_id}")


@dataclass(frozen=True)
class VersionRow:
    gsrn: str
    valid_from: datetime
    valid_to: datetime | None
    type: str
    parent_gsrn: str | None
    grid_area_code: str | None
    price_area: str | None
    grid_operator_gln: str | None
    resolution: str | None
    settlement_method: str | None
    metering_method: str | None
    connection_status: str
    production_obligation: bool | None
    supplier_gln: str | None
    supply_start: datetime | None
    net_settlement_group: str | None
    meter_id: str | None
    event_id: uuid.UUID


VERSION_COLUMNS = (
    "gsrn, valid_from, valid_to, type, parent_gsrn, grid_area_code, price_area, grid_operator_gln, "
    "resolution, settlement_method, metering_method, connection_status, production_obligation, "
    "supplier_gln, supply_start, net_settlement_group, meter_id, event_id"
)


@dataclass(frozen=True)
class Pending:
    change: MasterDataChange
    reason_code: str
    detail: str
    dead_letter_id: uuid.UUID | None


def lock_metering_point(conn: Conn, gsrn: str) -> None:
    """Serialise writers of one metering point (the flow's sink partitions, a replay)."""
    conn.execute("SELECT pg_advisory_xact_lock(7231010, hashtext(%s))", (gsrn,))


def seen_keys(conn: Conn, keys: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """The (document, record) keys already applied (processed_message_id) or waiting."""
    wanted = list(keys)
    if not wanted:
        return set()
    rows = conn.execute(
        """SELECT message_id, transaction_id FROM processed_message_id
           WHERE (message_id, transaction_id) IN (SELECT * FROM unnest(%(m)s::text[], %(t)s::text[]))
           UNION
           SELECT message_id, transaction_id FROM metering_point_pending
           WHERE (message_id, transaction_id) IN (SELECT * FROM unnest(%(m)s::text[], %(t)s::text[]))""",
        {"m": [k[0] for k in wanted], "t": [k[1] for k in wanted]},
    ).fetchall()
    return {(r[0], r[1]) for r in rows}


def history(conn: Conn, gsrn: str) -> list[MasterDataChange]:
    rows = conn.execute(
        "SELECT change FROM metering_point_event WHERE gsrn = %s ORDER BY effective_at, id",
        (gsrn,),
    ).fetchall()
    return [MasterDataChange.model_validate(r[0]) for r in rows]


def all_gsrns(conn: Conn) -> list[str]:
    return [r[0] for r in conn.execute("SELECT DISTINCT gsrn FROM metering_point_event ORDER BY 1")]


def pending(conn: Conn, gsrn: str | None = None) -> list[Pending]:
    rows = conn.execute(
        """SELECT change, reason_code, detail, dead_letter_id FROM metering_point_pending
           WHERE %(gsrn)s::text IS NULL OR gsrn = %(gsrn)s
           ORDER BY gsrn, effective_at, message_id, transaction_id""",
        {"gsrn": gsrn},
    ).fetchall()
    return [Pending(MasterDataChange.model_validate(r[0]), r[1], r[2], r[3]) for r in rows]


def pending_gsrns(conn: Conn) -> list[str]:
    return [
        r[0] for r in conn.execute("SELECT DISTINCT gsrn FROM metering_point_pending ORDER BY 1")
    ]


def append_events(conn: Conn, changes: Sequence[MasterDataChange]) -> None:
    """Append applied records (immutable) and claim them in processed_message_id."""
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO metering_point_event (id, gsrn, message_id, transaction_id, process_type,
                   effective_at, document_created_at, change)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (
                    event_id(c),
                    c.record.gsrn,
                    c.message_id,
                    c.record.transaction_id,
                    c.process_type,
                    c.record.effective,
                    c.created,
                    Jsonb(c.model_dump(mode="json")),
                )
                for c in changes
            ],
        )
        cur.executemany(
            "INSERT INTO processed_message_id (message_id, transaction_id) VALUES (%s, %s)",
            [c.key for c in changes],
        )


def add_outbox(conn: Conn, events: Sequence[tuple[uuid.UUID, str, str, dict[str, Any]]]) -> None:
    """(event id, gsrn, event type, payload) in the order they are to be published."""
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO metering_point_outbox (event_id, gsrn, event_type, payload)
               VALUES (%s, %s, %s, %s)""",
            [(eid, gsrn, kind, Jsonb(payload)) for eid, gsrn, kind, payload in events],
        )


def price_areas(conn: Conn, codes: Iterable[str]) -> dict[str, tuple[str, str]]:
    """grid area → (price area, grid operator GLN) for the grid areas elflow knows."""
    rows = conn.execute(
        "SELECT code, price_area, grid_operator_gln FROM grid_area WHERE code = ANY(%s)",
        (sorted(set(codes)),),
    ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def replace_versions(conn: Conn, gsrn: str, rows: Sequence[VersionRow]) -> None:
    conn.execute("DELETE FROM metering_point_version WHERE gsrn = %s", (gsrn,))
    insert_versions(conn, rows)


def insert_versions(conn: Conn, rows: Sequence[VersionRow]) -> None:
    with conn.cursor().copy(f"COPY metering_point_version ({VERSION_COLUMNS}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(tuple(row.__dict__.values()))


def versions(conn: Conn, gsrn: str | None = None) -> list[VersionRow]:
    rows = conn.execute(
        f"""SELECT {VERSION_COLUMNS} FROM metering_point_version
            WHERE %(gsrn)s::text IS NULL OR gsrn = %(gsrn)s ORDER BY gsrn, valid_from""",
        {"gsrn": gsrn},
    ).fetchall()
    return [VersionRow(*r) for r in rows]


_CLASS_DIAGRAM_TYPES = {"E17": "E17_Consumption", "E18": "E18_Production"}


def upsert_current(
    conn: Conn, row: VersionRow, activated_at: datetime | None, deactivated_at: datetime | None
) -> bool:
    """The class diagram's metering_point row from the latest version: accounting points (E17,
    E18) in a grid area elflow knows only. Returns whether a row was written."""
    kind = _CLASS_DIAGRAM_TYPES.get(row.type)
    if kind is None or row.grid_area_code is None:
        return False
    written = conn.execute(
        """INSERT INTO metering_point (gsrn, type, settlement_method, connection_status,
               grid_area_code, grid_operator_gln, activated_at, deactivated_at)
           SELECT %s, %s, %s, %s, g.code, g.grid_operator_gln, %s, %s FROM grid_area g WHERE g.code = %s
           ON CONFLICT (gsrn) DO UPDATE SET type = EXCLUDED.type,
               settlement_method = EXCLUDED.settlement_method,
               connection_status = EXCLUDED.connection_status,
               grid_area_code = EXCLUDED.grid_area_code,
               grid_operator_gln = EXCLUDED.grid_operator_gln,
               activated_at = EXCLUDED.activated_at, deactivated_at = EXCLUDED.deactivated_at
           RETURNING gsrn""",
        (
            row.gsrn,
            kind,
            row.settlement_method,
            row.connection_status,
            activated_at,
            deactivated_at,
            row.grid_area_code,
        ),
    ).fetchone()
    return written is not None


# --- message status, dead letters and pending records ---------------------------------------


def record_document(
    conn: Conn, message_id: str, topic: str, status: str, detail: str | None = None
) -> None:
    """inbound_message of a master-data document; DeadLettered can later become Processed."""
    conn.execute(
        """INSERT INTO inbound_message (id, data_hub_message_id, message_type, queue_name, status,
               error_details)
           VALUES (%s, %s, 'E07', %s, %s, %s)
           ON CONFLICT (data_hub_message_id) DO UPDATE SET status = EXCLUDED.status,
               error_details = EXCLUDED.error_details
           WHERE inbound_message.message_type = 'E07'""",
        (uuid.uuid4(), message_id, topic, status, detail),
    )


def add_dead_letter(
    conn: Conn,
    *,
    message_id: str | None,
    topic: str,
    reason_code: str,
    detail: str,
    payload: bytes,
    partition: int | None,
    offset: int | None,
) -> uuid.UUID | None:
    """A dead letter; the same bytes or the same Kafka offset again are stored once (None)."""
    row = conn.execute(
        """INSERT INTO dead_letter_message (id, original_message_id, queue_name, error_reason,
               raw_payload, reason_code, kafka_partition, kafka_offset)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT DO NOTHING RETURNING id""",
        (uuid.uuid4(), message_id, topic, detail, payload, reason_code, partition, offset),
    ).fetchone()
    return None if row is None else row[0]


def reopen_dead_letter(
    conn: Conn, topic: str, payload: bytes, reason_code: str, detail: str
) -> uuid.UUID | None:
    """The dead letter already stored for these bytes, open again with the latest reason."""
    row = conn.execute(
        """UPDATE dead_letter_message SET resolved = false, resolved_at = NULL,
               reason_code = %s, error_reason = %s
           WHERE queue_name = %s AND sha256(raw_payload) = sha256(%s::bytea) RETURNING id""",
        (reason_code, detail, topic, payload),
    ).fetchone()
    return None if row is None else row[0]


def park(
    conn: Conn, change: MasterDataChange, code: str, detail: str, dead_letter: uuid.UUID | None
) -> bool:
    """Keep a record that cannot be applied yet; False if it was already waiting."""
    row = conn.execute(
        """INSERT INTO metering_point_pending (message_id, transaction_id, gsrn, effective_at,
               change, reason_code, detail, dead_letter_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
           ON CONFLICT DO NOTHING RETURNING 1""",
        (
            change.message_id,
            change.record.transaction_id,
            change.record.gsrn,
            change.record.effective,
            Jsonb(change.model_dump(mode="json")),
            code,
            detail,
            dead_letter,
        ),
    ).fetchone()
    return row is not None


def update_pending_reason(conn: Conn, key: tuple[str, str], code: str, detail: str) -> None:
    conn.execute(
        """UPDATE metering_point_pending SET reason_code = %s, detail = %s
           WHERE message_id = %s AND transaction_id = %s""",
        (code, detail, *key),
    )


def unpark(conn: Conn, keys: Sequence[tuple[str, str]], topic: str) -> None:
    """Pending records now applied: gone from pending; a document with none left waiting has
    its dead letter resolved and its status Processed."""
    if not keys:
        return
    rows = conn.execute(
        """DELETE FROM metering_point_pending
           WHERE (message_id, transaction_id) IN (SELECT * FROM unnest(%s::text[], %s::text[]))
           RETURNING message_id, dead_letter_id""",
        ([k[0] for k in keys], [k[1] for k in keys]),
    ).fetchall()
    for message_id, letter in sorted({(r[0], r[1]) for r in rows}, key=str):
        still = conn.execute(
            "SELECT 1 FROM metering_point_pending WHERE message_id = %s LIMIT 1", (message_id,)
        ).fetchone()
        if still is not None:
            continue
        if letter is not None:
            conn.execute(
                """UPDATE dead_letter_message SET resolved = true, resolved_at = now(),
                       error_reason = error_reason || ' | applied once an earlier document arrived'
                   WHERE id = %s AND NOT resolved""",
                (letter,),
            )
        record_document(conn, message_id, topic, "Processed")


def resolve_dead_letter(conn: Conn, letter: uuid.UUID, note: str) -> None:
    conn.execute(
        """UPDATE dead_letter_message SET resolved = true, resolved_at = now(),
               error_reason = error_reason || ' | ' || %s
           WHERE id = %s AND NOT resolved""",
        (note, letter),
    )


def open_dead_letters(
    conn: Conn, topic: str
) -> list[tuple[uuid.UUID, bytes, int | None, int | None]]:
    """Unresolved dead letters of the master-data topic that no pending record explains (the
    ones that failed to parse): id, bytes, partition, offset."""
    rows = conn.execute(
        """SELECT d.id, d.raw_payload, d.kafka_partition, d.kafka_offset FROM dead_letter_message d
           WHERE d.queue_name = %s AND NOT d.resolved
             AND NOT EXISTS (SELECT 1 FROM metering_point_pending p WHERE p.dead_letter_id = d.id)
           ORDER BY d.failed_at, d.id""",
        (topic,),
    ).fetchall()
    return [(r[0], bytes(r[1]), r[2], r[3]) for r in rows]


# --- outbox ---------------------------------------------------------------------------------


def unpublished(conn: Conn, limit: int) -> list[tuple[int, uuid.UUID, str, str, dict[str, Any]]]:
    rows = conn.execute(
        """SELECT seq, event_id, gsrn, event_type, payload FROM metering_point_outbox
           WHERE published_at IS NULL ORDER BY seq LIMIT %s""",
        (limit,),
    ).fetchall()
    return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]


def mark_published(conn: Conn, event_ids: Sequence[uuid.UUID]) -> int:
    cur = conn.execute(
        """UPDATE metering_point_outbox SET published_at = now()
           WHERE event_id = ANY(%s) AND published_at IS NULL""",
        (list(event_ids),),
    )
    return cur.rowcount


# --- reading for people ---------------------------------------------------------------------


def event_rows(conn: Conn, gsrn: str) -> list[tuple[Any, ...]]:
    """(effective_at, process_type, message_id, transaction_id, applied_at) of a point."""
    return conn.execute(
        """SELECT effective_at, process_type, message_id, transaction_id, applied_at
           FROM metering_point_event WHERE gsrn = %s ORDER BY effective_at, applied_at""",
        (gsrn,),
    ).fetchall()


def latest_versions(conn: Conn, grid_area: str | None) -> list[VersionRow]:
    rows = conn.execute(
        f"""SELECT * FROM (SELECT DISTINCT ON (gsrn) {VERSION_COLUMNS} FROM metering_point_version
                           ORDER BY gsrn, valid_from DESC) latest
            WHERE %(area)s::text IS NULL OR grid_area_code = %(area)s ORDER BY gsrn""",
        {"area": grid_area},
    ).fetchall()
    return [VersionRow(*r) for r in rows]
