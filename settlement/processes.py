"""Running the customer lifecycle: start a process, record what happens to it, let supply follow.

- `start` validates up front (settlement.lifecycle.rejections) and writes the request, its
  `Requested` event and its outbound document (the outbox) in one transaction; the relay
  (flows.process_relay) publishes the document and records `SentToDataHub`.
- `cancel` withdraws a request that has not left yet (Pending → Cancelled), else starts the
  CancelSwitch / CancelEndOfSupply process that asks DataHub.
- `record` appends one event after checking the transition; `complete` applies the process's
  effect on supply periods and contracts in the same transaction.
- `advance` is the clock: answers overdue become TimedOut, requests whose effective date has come
  (and, when we gain supply, whose master data for that date and first reading arrived)
  complete.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from schemas.calendar import day_bounds_utc, local_date
from schemas.codelists import BillingFrequency, PaymentModel
from schemas.errors import ElflowError
from schemas.process_codes import (
    DATAHUB,
    GAINS_SUPPLY,
    SENT_BY_US,
    TARGETS,
    OutboundStatus,
    ProcessEventType,
    ProcessStatus,
    ProcessType,
)
from schemas.process_documents import request_document
from schemas.settings import Settings, settings
from settlement import lifecycle as rules
from storage import processes as store
from storage.db import Conn

log = logging.getLogger(__name__)

E = ProcessEventType


class ProcessRefused(ElflowError):
    """A process that cannot start (one line with DataHub's reason code)."""


@dataclass(frozen=True)
class StartRequest:
    type: ProcessType
    gsrn: str
    effective: datetime | None = None
    customer_id: uuid.UUID | None = None
    product_id: uuid.UUID | None = None
    billing_frequency: BillingFrequency = BillingFrequency.MONTHLY
    payment_model: PaymentModel = PaymentModel.POST_PAYMENT
    payment_term_days: int = 14
    target: uuid.UUID | None = None


def _other(row: store.RequestRow) -> rules.OtherRequest:
    return rules.OtherRequest(
        row.id, ProcessType(row.type), ProcessStatus(row.status), row.effective_date
    )


def point_facts(
    conn: Conn, gsrn: str, at: datetime, *, exclude: uuid.UUID | None = None
) -> rules.PointFacts:
    kind, status, supplier_known, supplier = store.point_master_data(conn, gsrn, at)
    return rules.PointFacts(
        gsrn=gsrn,
        type=kind,
        connection_status=status,
        supplier_known=supplier_known,
        supplier_gln=supplier,
        our_customer=store.our_customer(conn, gsrn, local_date(at)),
        others=tuple(_other(r) for r in store.requests(conn, gsrn=gsrn) if r.id != exclude),
    )


def start(
    conn: Conn, req: StartRequest, *, now: datetime | None = None, cfg: Settings | None = None
) -> uuid.UUID:
    """Validate and write request + Requested event + outbound document in one transaction."""
    cfg = cfg or settings()
    now = now or datetime.now(UTC)
    request_id = uuid.uuid4()
    with conn.transaction():
        target = store.request(conn, req.target) if req.target else None
        if req.target is not None and target is None:
            raise ProcessRefused(f"no process request {req.target}")
        gsrn = target.gsrn if target is not None else req.gsrn
        store.lock_metering_point(conn, gsrn)
        if target is not None:
            target = store.request(conn, target.id, lock=True)
        effective = req.effective if target is None else target.effective_date
        facts = point_facts(conn, gsrn, effective or now)
        new = rules.NewRequest(
            req.type, gsrn, now, effective, req.customer_id, _other(target) if target else None
        )
        problems = rules.rejections(new, facts, cfg.supplier_gln)
        problems += _missing_parties(conn, req)
        if problems:
            first = problems[0]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise ProcessRefused(
                f"{req.type} for {gsrn} refused: {first.code} {first.detail}{more}"
            )
        row = store.RequestRow(
            id=request_id,
            type=str(req.type),
            gsrn=gsrn,
            requested_at=now,
            effective_date=effective,
            status=str(ProcessStatus.PENDING),
            data_hub_correlation_id=None,
            customer_id=req.customer_id,
            product_id=req.product_id,
            billing_frequency=str(req.billing_frequency) if req.type in GAINS_SUPPLY else None,
            payment_model=str(req.payment_model) if req.type in GAINS_SUPPLY else None,
            payment_term_days=req.payment_term_days if req.type in GAINS_SUPPLY else None,
            target_request_id=target.id if target else None,
            initiator="Elflow",
        )
        store.insert_request(conn, row)
        payload = {
            "effective": effective.isoformat() if effective else None,
            "customer_id": str(req.customer_id) if req.customer_id else None,
            "product_id": str(req.product_id) if req.product_id else None,
            "target": str(target.id) if target else None,
        }
        store.append_event(conn, request_id, E.REQUESTED, now, payload, ProcessStatus.PENDING)
        _enqueue(conn, row, now, cfg)
    log.info("started %s %s for %s", req.type, request_id, gsrn)
    return request_id


def _missing_parties(conn: Conn, req: StartRequest) -> list[rules.Rejection]:
    if req.type not in GAINS_SUPPLY:
        return []
    if req.customer_id is None or store.customer_identity(conn, req.customer_id) is None:
        return [rules.Rejection("D64", f"customer {req.customer_id} is not known to elflow")]
    if req.product_id is None or not store.product_exists(conn, req.product_id):
        return [rules.Rejection("D64", f"product {req.product_id} is not known to elflow")]
    return []


def _enqueue(conn: Conn, row: store.RequestRow, now: datetime, cfg: Settings) -> None:
    kind = ProcessType(row.type)
    if kind not in SENT_BY_US:
        return
    identity = store.customer_identity(conn, row.customer_id) if row.customer_id else None
    document_mrid = str(store.row_id(row.id, "document"))
    document = request_document(
        document_id=document_mrid,
        request_id=str(row.id),
        process_code=DATAHUB[kind].process_code,
        created=now,
        sender_gln=cfg.supplier_gln,
        receiver_gln=cfg.datahub_gln,
        balance_responsible_gln=cfg.balance_responsible_gln,
        gsrn=row.gsrn,
        effective=row.effective_date if kind not in TARGETS else None,
        customer_id_number=identity[0] if identity else None,
        customer_name=identity[1] if identity else None,
        original_request_id=str(row.target_request_id) if row.target_request_id else None,
    )
    store.enqueue(
        conn,
        request_id=row.id,
        process_type=row.type,
        gsrn=row.gsrn,
        document_mrid=document_mrid,
        document=document,
    )


# The process that cancels a request of each type through DataHub.
CANCELLED_BY = {
    ProcessType.SUPPLIER_SWITCH: ProcessType.CANCEL_SWITCH,
    ProcessType.SHORT_NOTICE_SWITCH: ProcessType.CANCEL_SWITCH,
    ProcessType.END_OF_SUPPLY: ProcessType.CANCEL_END_OF_SUPPLY,
}


def cancel(conn: Conn, request_id: uuid.UUID, *, now: datetime | None = None) -> uuid.UUID:
    """Cancel a switch or end of supply: locally while it has not left, else through DataHub
    (returns the id of the cancellation request, or of the request itself when withdrawn)."""
    now = now or datetime.now(UTC)
    with conn.transaction():
        target = store.request(conn, request_id)
        if target is None:
            raise ProcessRefused(f"no process request {request_id}")
        store.lock_metering_point(conn, target.gsrn)
        target = store.request(conn, request_id, lock=True)
        assert target is not None
        kind = ProcessType(target.type)
        if target.status == ProcessStatus.PENDING:
            record(conn, target, E.CANCELLED, now, {"by": "elflow", "before": "sent"})
            store.set_outbound_status(conn, target.id, OutboundStatus.WITHDRAWN)
            return target.id
    cancel_type = CANCELLED_BY.get(kind)
    if cancel_type is None:
        raise ProcessRefused(f"{kind} {request_id} cannot be cancelled")
    return start(conn, StartRequest(cancel_type, target.gsrn, target=request_id), now=now)


def record(
    conn: Conn,
    req: store.RequestRow,
    event: ProcessEventType,
    at: datetime,
    payload: dict[str, Any],
) -> store.RequestRow:
    """Append one event (refused with IllegalTransition if the status does not allow it)."""
    before = ProcessStatus(req.status)
    after = rules.next_status(req.id, before, event)
    store.append_event(conn, req.id, event, at, payload, after)
    return store.RequestRow(**{**req.__dict__, "status": str(after)})


def complete(conn: Conn, req: store.RequestRow, at: datetime) -> store.RequestRow:
    """Completed, with the process's effect on supply and contracts (same transaction)."""
    kind = ProcessType(req.type)
    effect = rules.effect(kind, req.effective_date, req.target_request_id)
    payload: dict[str, Any] = {}
    if isinstance(effect, rules.StartSupply):
        store.start_supply(conn, req, effect.start_date)
        payload = {"supply_from": str(effect.start_date), "contract": req.customer_id is not None}
    elif isinstance(effect, rules.EndSupply):
        periods, contracts = store.end_supply(
            conn, req.gsrn, effect.end_date, effect.end_reason, req.id
        )
        payload = {"supply_to": str(effect.end_date), "periods": periods, "contracts": contracts}
    elif isinstance(effect, rules.Reverse):
        periods, contracts = store.reverse_supply(conn, effect.target)
        payload = {"reversed": str(effect.target), "periods": periods, "contracts": contracts}
    elif isinstance(effect, rules.CancelTarget):
        target = store.request(conn, effect.target, lock=True)
        if target is not None:
            record(conn, target, E.CANCELLED, at, {"by": str(req.id)})
        payload = {"cancelled": str(effect.target)}
    return record(conn, req, E.COMPLETED, at, payload)


@dataclass(frozen=True)
class AdvanceReport:
    timed_out: int
    completed: int


def advance(
    conn: Conn, *, now: datetime | None = None, cfg: Settings | None = None
) -> AdvanceReport:
    """Overdue answers → TimedOut; due requests → Completed (one transaction)."""
    cfg = cfg or settings()
    now = now or datetime.now(UTC)
    timeout = timedelta(hours=cfg.process_answer_timeout_hours)
    timed_out = completed = 0
    with conn.transaction():
        for request_id in store.overdue(conn, now - timeout):
            req = store.request(conn, request_id, lock=True)
            if req is None or req.status != ProcessStatus.SENT_TO_DATAHUB:
                continue
            record(
                conn,
                req,
                E.ANSWER_OVERDUE,
                now,
                {"timeout_hours": cfg.process_answer_timeout_hours},
            )
            store.set_outbound_status(conn, req.id, OutboundStatus.TIMED_OUT)
            timed_out += 1
        for req in store.requests(conn, open_only=True):
            if req.status not in (ProcessStatus.ACKNOWLEDGED, ProcessStatus.EFFECTUATION_PENDING):
                continue
            kind = ProcessType(req.type)
            if kind in TARGETS:
                continue
            first = master_data = False
            if req.effective_date is not None and kind in GAINS_SUPPLY:
                start, end = day_bounds_utc(local_date(req.effective_date))
                first = store.reading_seen(conn, req.gsrn, start, end)
                master_data = store.master_data_seen(
                    conn, req.gsrn, req.effective_date, cfg.supplier_gln
                )
            if not rules.due(kind, req.effective_date, now, first, master_data):
                continue
            store.lock_metering_point(conn, req.gsrn)
            if req.status == ProcessStatus.ACKNOWLEDGED:
                req = record(conn, req, E.EFFECTUATION_SCHEDULED, now, {"by": "effective date"})
            complete(conn, req, now)
            completed += 1
    return AdvanceReport(timed_out, completed)


def rebuild(conn: Conn) -> int:
    """Fold every request's events again and write the statuses; returns how many differed."""
    by_request: dict[uuid.UUID, list[ProcessEventType]] = {}
    with conn.transaction():
        for event in store.events(conn):
            by_request.setdefault(event.request_id, []).append(ProcessEventType(event.event_type))
        folded = [(rid, str(rules.fold(rid, kinds))) for rid, kinds in by_request.items()]
        return store.rebuild_statuses(conn, folded)
