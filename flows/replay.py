"""Replay dead letters through the current parser: what now parses is written exactly as the
flow would have written it, and the dead letter is marked resolved in the same transaction."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from flows.parse import document_items
from schemas.bands import band_table
from schemas.printable import escape
from schemas.rsm012 import InvalidDocument, parse_document
from schemas.settings import Settings
from storage.db import Conn
from storage.deadletters import (
    DeadLetter,
    list_dead_letters,
    mark_resolved,
    record_replay_failure,
)
from storage.readings import write_batch


@dataclass(frozen=True)
class ReplayOutcome:
    id: uuid.UUID
    resolved: bool
    message: str


def replay_dead_letters(
    conn: Conn, cfg: Settings, *, ids: list[str] | None = None
) -> list[ReplayOutcome]:
    outcomes = []
    bands = list(band_table(cfg.bands))
    # The master-data topic's dead letters are not RSM-012: settlement.masterdata.replay has them.
    letters = list_dead_letters(conn, ids=ids, limit=100_000, not_queue=cfg.masterdata_topic)
    for letter in letters:
        try:
            document = parse_document(letter.raw_payload)
        except InvalidDocument as exc:
            with conn.transaction():
                record_replay_failure(conn, letter.id, exc.reason, exc.detail)
            outcomes.append(
                ReplayOutcome(letter.id, False, escape(f"{exc.reason}: {exc.detail}", 500))
            )
            continue
        items = document_items(
            document, letter.queue_name, letter.kafka_partition or 0, letter.kafka_offset or 0
        )
        with conn.transaction():
            result = write_batch(conn, items, tz=cfg.timezone, bands=bands)
            mark_resolved(conn, letter.id, f"replayed: {result.readings_written} readings written")
        outcomes.append(
            ReplayOutcome(
                letter.id,
                True,
                escape(
                    f"document {document.mrid}: {result.transactions_written} transactions, "
                    f"{result.readings_written} readings written, "
                    f"{result.duplicates} already present"
                ),
            )
        )
    return outcomes


def format_dead_letter(letter: DeadLetter) -> list[str]:
    """The two lines `elflow deadletters list` prints for a dead letter. Everything that came
    from a payload is escaped (schemas.printable), so no byte of it reaches the terminal raw."""
    state = "resolved" if letter.resolved else "open"
    where = escape(f"{letter.queue_name}[{letter.kafka_partition}]@{letter.kafka_offset}", 200)
    reason = escape(letter.reason_code, 40)
    return [
        f"{letter.id}  {letter.failed_at:%Y-%m-%d %H:%M:%S}  {state:8}  {reason:26}  {where}",
        f"    {escape(letter.error_reason, 1000)}",
    ]
