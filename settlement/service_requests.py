"""Ask the grid access provider for a service (BRS-039): disconnect, reconnect, close down, meter
check, settlement-method change.

A service request is a lifecycle process request of type RequestService, so it reuses the whole
lifecycle machinery: `request` validates up front and writes the request, its `Requested` event
and its outbound document (schemas.process_documents.service_request_document) in one
transaction; flows.process_relay publishes it (Queued → Sent, SentToDataHub); the grid access
provider's confirm / reject on the master-data topic (settlement.process_answers) makes it
Completed / Rejected (outbound AcknowledgedOk / AcknowledgedError, the reject's reason codes in
the event); settlement.processes.advance makes an unanswered one TimedOut.

Refused up front (one line with DataHub's reason code): a GSRN we do not supply on the effective
day, or today when that is past (E16: we are not the point's supplier), a closed-down point (D16), a disconnect of a
Disconnected point or a reconnect of a Connected one (D16).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from schemas.calendar import local_midnight_utc
from schemas.process_codes import (
    DATAHUB,
    SERVICE_TYPES,
    ProcessEventType,
    ProcessStatus,
    ProcessType,
)
from schemas.process_documents import Envelope, service_request_document
from schemas.settings import Settings, settings
from settlement.processes import ProcessRefused, point_facts
from storage import processes as store
from storage.db import Conn

log = logging.getLogger(__name__)

KIND = ProcessType.REQUEST_SERVICE
# The connection status a service cannot be asked from (it is already what the service makes).
_ALREADY = {"disconnect": "Disconnected", "reconnect": "Connected"}


@dataclass(frozen=True)
class ServiceRequest:
    gsrn: str
    service: str  # a key of schemas.process_codes.SERVICE_TYPES
    effective: date  # local day


def refusal(service: str, our_customer: bool, status: str | None) -> tuple[str, str] | None:
    """(reason code, detail) when the request must not be sent, else None."""
    if not our_customer:
        return "E16", "we do not supply the metering point on that day"
    if status == "ClosedDown":
        return "D16", "the metering point is closed down"
    if _ALREADY.get(service) == status:
        return "D16", f"the metering point is already {status}"
    return None


def request(
    conn: Conn, req: ServiceRequest, *, now: datetime | None = None, cfg: Settings | None = None
) -> uuid.UUID:
    """Validate and write request + Requested event + outbound document in one transaction."""
    cfg = cfg or settings()
    now = now or datetime.now(UTC)
    code = SERVICE_TYPES.get(req.service)
    if code is None:
        raise ProcessRefused(f"unknown service {req.service!r}: one of {', '.join(SERVICE_TYPES)}")
    effective = local_midnight_utc(req.effective)
    request_id = uuid.uuid4()
    with conn.transaction():
        store.lock_metering_point(conn, req.gsrn)
        facts = point_facts(conn, req.gsrn, max(effective, now))
        refused = refusal(req.service, facts.our_customer is not None, facts.connection_status)
        if refused is not None:
            raise ProcessRefused(
                f"{req.service} of {req.gsrn} from {req.effective} refused: "
                f"{refused[0]} {refused[1]}"
            )
        row = store.RequestRow(
            id=request_id,
            type=str(KIND),
            gsrn=req.gsrn,
            requested_at=now,
            effective_date=effective,
            status=str(ProcessStatus.PENDING),
            data_hub_correlation_id=None,
        )
        store.insert_request(conn, row)
        payload = {"service": req.service, "code": code, "effective": effective.isoformat()}
        store.append_event(
            conn, request_id, ProcessEventType.REQUESTED, now, payload, ProcessStatus.PENDING
        )
        document_mrid = str(store.row_id(request_id, "document"))
        envelope = Envelope(
            document_mrid,
            str(request_id),
            DATAHUB[KIND].process_code,
            now,
            cfg.supplier_gln,
            cfg.datahub_gln,
        )
        document = service_request_document(
            envelope, gsrn=req.gsrn, service_code=code, effective=effective
        )
        store.enqueue(
            conn,
            request_id=request_id,
            process_type=str(KIND),
            gsrn=req.gsrn,
            document_mrid=document_mrid,
            document=document,
        )
    log.info("service request %s %s for %s queued", req.service, request_id, req.gsrn)
    return request_id
