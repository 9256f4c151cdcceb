"""RSM-028 customer characteristics: whose customer the data is, and the customer row it writes.

A record is applied (by `settlement.process_answers.apply_answers`, so with the same claim,
savepoint and dead-letter handling as DataHub's answers) to:

1. the request it names (`originalTransactionIDReference`), which must be one of ours on that
   metering point that gains supply; else
2. our open or completed switch / move-in of that point on the record's local date; else
3. our customer of that point on that date (customer data changed later, BRS-015).

The customer is the request's (or the contract's); a request DataHub started (BRS-044 forced
transfer to us) has none, so the record creates one (id derived from the request) and names it
on the request. DataHub's data replaces name, e-mail, phone and address, and fills a CPR/CVR we
did not have; a CPR/CVR other than our customer's changes nothing and is a dead letter
(`customer_mismatch`); a record that matches nothing is `unknown_request`. A document older than
the one last applied to the customer changes nothing. No personal data is logged or put in a
dead letter's text (the payload itself is kept, as for every dead letter).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from schemas.calendar import local_date
from schemas.process_codes import FINAL_STATUSES, GAINS_SUPPLY, ProcessStatus, ProcessType
from schemas.process_documents import InvalidAnswer
from schemas.rsm028 import CustomerDocument, CustomerRecord, parse_customer_document
from settlement.masterdata import DEAD_LETTER_KEY, UnreadableItem, parse_or_park
from storage import processes as store
from storage.db import Conn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CustomerItem:
    document: CustomerDocument
    record: CustomerRecord
    payload: bytes
    topic: str
    partition: int | None
    offset: int | None


class RecordRefused(Exception):
    """A record of a lifecycle document that cannot apply (here and in
    settlement.process_answers): a reason code and one line without personal data."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def customer_items(
    value: bytes | None, topic: str, partition: int, offset: int
) -> list[tuple[str, CustomerItem | UnreadableItem]]:
    """One Kafka message → (GSRN, item) per record, or one unreadable item. Never raises."""
    where = (topic, partition, offset)
    document = parse_or_park(parse_customer_document, InvalidAnswer, value, *where)
    if isinstance(document, UnreadableItem):
        return [(DEAD_LETTER_KEY, document)]
    return [
        (r.gsrn, CustomerItem(document, r, value or b"", topic, partition, offset))
        for r in document.records
    ]


def apply_record(conn: Conn, doc: CustomerDocument, rec: CustomerRecord) -> str:
    """Apply one record inside the caller's transaction; returns the customer row's outcome."""
    store.lock_metering_point(conn, rec.gsrn)
    day = local_date(rec.effective)
    req = _request(conn, rec)
    customer = req.customer_id if req is not None else store.our_customer(conn, rec.gsrn, day)
    if req is None and customer is None:
        raise RecordRefused(
            "unknown_request",
            f"customer data of {rec.gsrn} on {day} matches no request or supply of ours",
        )
    if customer is None:
        assert req is not None
        customer = store.row_id(req.id, "customer")
    fields = {
        "cpr_cvr": rec.id_number,
        "contact_type": rec.contact_type,
        "name": rec.name,
        "email": rec.email,
        "phone": rec.phone,
        "address": rec.address,
    }
    outcome = store.apply_customer_characteristics(conn, customer, fields, doc.created)
    if outcome == "other_cpr_cvr":
        raise RecordRefused(
            "customer_mismatch",
            f"customer data of {rec.gsrn} on {day} names another CPR/CVR than our customer "
            f"{customer}",
        )
    if req is not None:
        store.set_customer(conn, req.id, customer)
    log.info("customer data of %s on %s: customer %s %s", rec.gsrn, day, customer, outcome)
    return outcome


def _request(conn: Conn, rec: CustomerRecord) -> store.RequestRow | None:
    """The request the record is about (see the module docstring), locked."""
    if rec.original_request_id is not None:
        try:
            found = store.request(conn, uuid.UUID(rec.original_request_id), lock=True)
        except ValueError:
            found = None
        if found is None or found.gsrn != rec.gsrn:
            raise RecordRefused(
                "unknown_request",
                f"customer data of {rec.gsrn} names no request of ours on that point "
                f"({rec.original_request_id})",
            )
        if ProcessType(found.type) not in GAINS_SUPPLY:
            raise RecordRefused(
                "unknown_request", f"customer data names {found.type} {found.id}, not a gain"
            )
        return found
    day = local_date(rec.effective)
    for req in store.requests(conn, gsrn=rec.gsrn):
        live = req.status not in FINAL_STATUSES or req.status == ProcessStatus.COMPLETED
        on_day = req.effective_date is not None and local_date(req.effective_date) == day
        if live and on_day and ProcessType(req.type) in GAINS_SUPPLY:
            return store.request(conn, req.id, lock=True)
    return None
