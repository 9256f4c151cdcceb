"""DataHub's answers and notifications move process requests on: one transaction per batch.

Each record of a document is claimed once in processed_message_id (document mRID, record mRID);
a duplicate changes nothing. Each record is applied in its own savepoint: a record that cannot
apply (an unknown request, a transition the request's status does not allow, a stop of supply
for a point we do not supply) is rolled back alone and its document becomes a dead letter with
the reason; the batch goes on. Bytes that do not parse are dead letters with a parse code. The
document's inbound_message row is Processed, or DeadLettered with the first reason.

What a record does (schemas.process_documents describes the shapes):
- Confirm (A01): SentToDataHub → Acknowledged; a cancellation or correction then takes effect at
  once (EffectuationScheduled, Completed); an end of supply or move-out waits for its date.
- Reject (A02): SentToDataHub → Rejected, with DataHub's reason codes and texts.
- GenericNotification naming our request, or naming us as new supplier of a point with our
  request on that date: start of supply → EffectuationPending (confirming first if no
  confirmation came yet).
- GenericNotification E01 / D31 naming another supplier (or none) for a point we supply: we
  lose the customer → a ForcedEndOfSupply request started by DataHub, EffectuationPending.
- GenericNotification D31 naming us, with no request of ours: BRS-044 forced transfer to us → a
  SupplierSwitch started by DataHub (supply without contract until customer service adds one).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from schemas.calendar import local_date
from schemas.process_codes import (
    GAINS_SUPPLY,
    STOP_OF_SUPPLY_CODES,
    OutboundStatus,
    ProcessEventType,
    ProcessStatus,
    ProcessType,
)
from schemas.process_documents import AnswerDocument, AnswerRecord, InvalidAnswer, parse_answer
from schemas.settings import settings
from settlement import customer_data
from settlement import lifecycle as rules
from settlement import processes as run
from settlement.customer_data import CustomerItem, RecordRefused
from settlement.lifecycle import IllegalTransition
from settlement.masterdata import DEAD_LETTER_KEY, UnreadableItem, parse_or_park
from storage import metering_points as letters
from storage import processes as store
from storage.db import Conn

E = ProcessEventType
# uuid5 namespace of requests DataHub starts: the same notification record, the same request.
NOTIFIED_NAMESPACE = uuid.UUID("5b7f9f0e-2a0c-5f57-9d0e-8f1d2c3b4a51")


@dataclass(frozen=True, slots=True)
class AnswerItem:
    document: AnswerDocument
    record: AnswerRecord
    payload: bytes
    topic: str
    partition: int | None
    offset: int | None


@dataclass
class AnswerOutcome:
    applied: int = 0
    duplicates: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    new_dead_letters: list[tuple[str, str, bytes, str | None]] = field(default_factory=list)


def answer_items(
    value: bytes | None, topic: str, partition: int, offset: int
) -> list[tuple[str, AnswerItem | UnreadableItem]]:
    """One Kafka message → (routing key, item) per record, or one unreadable item (dead-lettered
    by settlement.masterdata.apply_batch like any unreadable message). Never raises."""
    document = parse_or_park(parse_answer, InvalidAnswer, value, topic, partition, offset)
    if isinstance(document, UnreadableItem):
        return [(DEAD_LETTER_KEY, document)]
    raw = value or b""
    return [
        (
            r.gsrn or r.original_request_id or DEAD_LETTER_KEY,
            AnswerItem(document, r, raw, topic, partition, offset),
        )
        for r in document.records
    ]


def apply_answers(conn: Conn, items: Sequence[AnswerItem | CustomerItem]) -> AnswerOutcome:
    """Apply a batch in one transaction (see the module docstring); RSM-028 customer data
    (settlement.customer_data) goes through the same claim, savepoint and dead letters."""
    outcome = AnswerOutcome()
    with conn.transaction():
        for item in items:
            doc, rec = item.document, item.record
            if not store.claim(conn, doc.message_id, rec.transaction_id):
                outcome.duplicates += 1
                continue
            try:
                with conn.transaction():
                    if isinstance(item, CustomerItem):
                        customer_data.apply_record(conn, item.document, item.record)
                    else:
                        _apply_record(conn, item.document, item.record)
            except (RecordRefused, IllegalTransition, psycopg.Error) as exc:
                if isinstance(exc, psycopg.OperationalError):
                    raise  # a lost connection: the flow retries the batch
                reason = {
                    RecordRefused: getattr(exc, "reason", ""),
                    IllegalTransition: "illegal_transition",
                }.get(type(exc), "database_rejected")
                where = f"{item.topic}[{item.partition}]@{item.offset}"
                detail = f"{where}: record {rec.transaction_id}: {exc}"
                _dead_letter(conn, reason, detail, item, outcome)
                continue
            store.record_inbound(conn, doc.message_id, doc.name, item.topic, "Processed", None)
            outcome.applied += 1
    return outcome


def _dead_letter(
    conn: Conn, reason: str, detail: str, item: AnswerItem | CustomerItem, outcome: AnswerOutcome
) -> None:
    message_id = item.document.message_id
    letter = letters.add_dead_letter(
        conn,
        message_id=message_id,
        topic=item.topic,
        reason_code=reason,
        detail=detail,
        payload=item.payload,
        partition=item.partition,
        offset=item.offset,
    )
    store.record_inbound(conn, message_id, item.document.name, item.topic, "DeadLettered", detail)
    if letter is None:
        outcome.duplicates += 1
        return
    outcome.dead_letters[reason] += 1
    outcome.new_dead_letters.append((reason, detail, item.payload, message_id))


def _ours(conn: Conn, rec: AnswerRecord) -> store.RequestRow:
    found = None
    if rec.original_request_id is not None:
        try:
            found = store.request(conn, uuid.UUID(rec.original_request_id))
        except ValueError:
            found = None
    if found is None:
        raise RecordRefused("unknown_request", f"no process request {rec.original_request_id}")
    store.lock_metering_point(conn, found.gsrn)
    locked = store.request(conn, found.id, lock=True)
    assert locked is not None
    return locked


def _apply_record(conn: Conn, doc: AnswerDocument, rec: AnswerRecord) -> None:
    at = doc.created
    if doc.kind == "confirm":
        req = _ours(conn, rec)
        if not _confirmed_by_notification(conn, req):
            req = run.record(conn, req, E.CONFIRMED, at, {"document": doc.message_id})
        store.set_correlation(conn, req.id, rec.transaction_id)
        store.set_outbound_status(conn, req.id, OutboundStatus.ACKNOWLEDGED_OK, answered_at=at)
        if rules.takes_effect_on_confirmation(ProcessType(req.type)):
            req = run.record(conn, req, E.EFFECTUATION_SCHEDULED, at, {"by": "confirmation"})
            run.complete(conn, req, at)
        return
    if doc.kind == "reject":
        req = _ours(conn, rec)
        reasons = [{"code": code, "text": text} for code, text in rec.reasons]
        run.record(conn, req, E.REJECTED, at, {"document": doc.message_id, "reasons": reasons})
        store.set_outbound_status(conn, req.id, OutboundStatus.ACKNOWLEDGED_ERROR, answered_at=at)
        return
    _notification(conn, doc, rec)


def _confirmed_by_notification(conn: Conn, req: store.RequestRow) -> bool:
    """Whether a start-of-supply notification that overtook the confirmation (answers of one
    request may arrive in either order) already recorded `Confirmed`: the confirmation then
    changes no status."""
    if req.status not in (ProcessStatus.EFFECTUATION_PENDING, ProcessStatus.COMPLETED):
        return False
    confirmed = [e for e in store.events(conn, req.id) if e.event_type == E.CONFIRMED]
    return any(e.payload.get("process") is not None for e in confirmed)


def _notification(conn: Conn, doc: AnswerDocument, rec: AnswerRecord) -> None:
    assert rec.gsrn is not None and rec.effective is not None
    ours = settings().supplier_gln
    payload: dict[str, Any] = {"document": doc.message_id, "process": doc.process_code}
    if rec.original_request_id is not None or rec.supplier_gln == ours:
        req = _our_gain(conn, rec)
        if req is not None:
            if req.status == ProcessStatus.SENT_TO_DATAHUB:
                req = run.record(conn, req, E.CONFIRMED, doc.created, payload)
            if req.status == ProcessStatus.ACKNOWLEDGED:
                run.record(conn, req, E.EFFECTUATION_SCHEDULED, doc.created, payload)
            return
        if doc.process_code != "D31":
            raise RecordRefused(
                "unknown_request", f"start of supply of {rec.gsrn} matches no request"
            )
        _notified(conn, doc, rec, ProcessType.SUPPLIER_SWITCH, payload)
        return
    if doc.process_code not in STOP_OF_SUPPLY_CODES:
        raise RecordRefused("unsupported_process", f"notification process {doc.process_code}")
    store.lock_metering_point(conn, rec.gsrn)
    if store.our_customer(conn, rec.gsrn, local_date(rec.effective)) is None:
        raise RecordRefused(
            "not_our_customer", f"stop of supply of {rec.gsrn}: we do not supply it then"
        )
    _notified(conn, doc, rec, ProcessType.FORCED_END_OF_SUPPLY, payload)


def _our_gain(conn: Conn, rec: AnswerRecord) -> store.RequestRow | None:
    """Our request a start-of-supply notification is about: named, or on that point and date."""
    if rec.original_request_id is not None:
        return _ours(conn, rec)
    assert rec.gsrn is not None and rec.effective is not None
    store.lock_metering_point(conn, rec.gsrn)
    day = local_date(rec.effective)
    for req in store.requests(conn, gsrn=rec.gsrn, open_only=True):
        on_day = req.effective_date is not None and local_date(req.effective_date) == day
        if on_day and ProcessType(req.type) in GAINS_SUPPLY:
            return store.request(conn, req.id, lock=True)
    return None


def _notified(
    conn: Conn,
    doc: AnswerDocument,
    rec: AnswerRecord,
    kind: ProcessType,
    payload: dict[str, Any],
) -> None:
    assert rec.gsrn is not None
    request_id = uuid.uuid5(NOTIFIED_NAMESPACE, f"{doc.message_id}\x1f{rec.transaction_id}")
    row = store.RequestRow(
        id=request_id,
        type=str(kind),
        gsrn=rec.gsrn,
        requested_at=doc.created,
        effective_date=rec.effective,
        status=str(ProcessStatus.EFFECTUATION_PENDING),
        data_hub_correlation_id=rec.transaction_id,
        initiator="DataHub",
    )
    store.insert_request(conn, row)
    payload = {**payload, "new_supplier": rec.supplier_gln}
    store.append_event(
        conn, request_id, E.NOTIFIED, doc.created, payload, ProcessStatus.EFFECTUATION_PENDING
    )
