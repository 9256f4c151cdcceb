"""Lifecycle documents: our RSM-001 request out (CIM JSON), DataHub's answers in.

Out: `request_document` builds the RSM-001 `RequestChangeOfSupplier_MarketDocument` (type 392)
in the shape of Energinet's public sample (tests/fixtures/datahub3/market): one MktActivityRecord
whose mRID is our request's id, so every answer names it back. For cancellations and corrections
the record carries `originalTransactionIDReference_MktActivityRecord.mRID` = the target request
(elflow's assumption; no public sample).

In (CIM JSON, one document per Kafka message); the shapes are elflow's assumption where no public
sample exists (all of them, MARKET_PROCESSES.md §5):
- `ConfirmRequest…_MarketDocument` / `RejectRequest…_MarketDocument` (RSM-001 414, RSM-005,
  RSM-009): `reason.code` A01 / A02 on the document; per record
  `originalTransactionIDReference_MktActivityRecord.mRID` (our request) and, on a rejection,
  `Reason: [{"code": {"value": "E16"}, "text": "…"}]`.
- `GenericNotification_MarketDocument` (RSM-004, type E44): `process.processType` E01 (stop of
  supply to the old supplier), D31 (BRS-044 forced change of supplier), E03/E65/D30 (start of
  supply); per record the GSRN, `start_DateAndOrTime.dateTime`, optionally our request's id and
  `marketEvaluationPoint.energySupplier_MarketParticipant.mRID` (the new supplier).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from schemas.printable import escape
from schemas.process_codes import (
    REQUEST_DOCUMENT,
    REQUEST_DOCUMENT_TYPE,
    SERVICE_DOCUMENT,
    SERVICE_DOCUMENT_TYPE,
)
from schemas.rsm012 import is_valid_gsrn, is_valid_mrid

NOTIFICATION = "GenericNotification_MarketDocument"
_ANSWER = re.compile(r"(Confirm|Reject)Request[A-Za-z]{1,60}_MarketDocument")
_CODE = re.compile(r"[A-Z0-9]{2,4}", re.ASCII)
_GLN = re.compile(r"\d{13}", re.ASCII)
MAX_RECORDS = 1000


def _coded(value: str, scheme: str = "A10") -> dict[str, str]:
    return {"codingScheme": scheme, "value": value}


def request_document(
    *,
    document_id: str,
    request_id: str,
    process_code: str,
    created: datetime,
    sender_gln: str,
    receiver_gln: str,
    balance_responsible_gln: str,
    gsrn: str,
    effective: datetime | None,
    customer_id_number: str | None = None,
    customer_name: str | None = None,
    original_request_id: str | None = None,
) -> dict[str, Any]:
    """The RSM-001 request as a JSON-ready dict (times in UTC, `…Z`)."""
    record: dict[str, Any] = {
        "mRID": request_id,
        "marketEvaluationPoint.balanceResponsibleParty_MarketParticipant.mRID": _coded(
            balance_responsible_gln
        ),
        "marketEvaluationPoint.energySupplier_MarketParticipant.mRID": _coded(sender_gln),
        "marketEvaluationPoint.mRID": _coded(gsrn),
    }
    if customer_id_number:
        # CPR (10 digits) is scheme ARR as in the sample; a CVR (8 digits) is VA.
        scheme = "ARR" if len(customer_id_number) == 10 else "VA"
        record["marketEvaluationPoint.customer_MarketParticipant.mRID"] = _coded(
            customer_id_number, scheme
        )
    if customer_name:
        record["marketEvaluationPoint.customer_MarketParticipant.name"] = customer_name
    if effective is not None:
        record["start_DateAndOrTime.dateTime"] = _utc_text(effective)
    if original_request_id:
        record["originalTransactionIDReference_MktActivityRecord.mRID"] = original_request_id
    header = (document_id, process_code, created, sender_gln, receiver_gln)
    return _market_document(REQUEST_DOCUMENT, REQUEST_DOCUMENT_TYPE, header, record)


def _market_document(
    name: str, type_code: str, header: tuple[str, str, datetime, str, str], record: dict[str, Any]
) -> dict[str, Any]:
    """One document with one record, from us (DDQ) to DataHub (DDZ); header = (document mRID,
    process code, created, sender GLN, receiver GLN)."""
    document_id, process_code, created, sender_gln, receiver_gln = header
    return {
        name: {
            "mRID": document_id,
            "businessSector.type": {"value": "23"},
            "createdDateTime": _utc_text(created),
            "process.processType": {"value": process_code},
            "receiver_MarketParticipant.mRID": _coded(receiver_gln),
            "receiver_MarketParticipant.marketRole.type": {"value": "DDZ"},
            "sender_MarketParticipant.mRID": _coded(sender_gln),
            "sender_MarketParticipant.marketRole.type": {"value": "DDQ"},
            "type": {"value": type_code},
            "MktActivityRecord": [record],
        }
    }


@dataclass(frozen=True)
class Envelope:
    """Who sends which document about which of our requests, and when."""

    document_id: str
    request_id: str
    process_code: str
    created: datetime
    sender_gln: str
    receiver_gln: str


def service_request_document(
    envelope: Envelope, *, gsrn: str, service_code: str, effective: datetime
) -> dict[str, Any]:
    """BRS-039 "Request Service" (CL document type D03, process D22) as a JSON-ready dict.

    Confirmed by a source: the document type D03, the process code D22 and the service request
    type codes (MARKET_PROCESSES.md §1-2). elflow's assumption (RSM-020 has no public sample):
    the document name `RequestService_MarketDocument`, the RSM-001-like header (addressed to
    DataHub, DDZ, which forwards it to the grid access provider), one MktActivityRecord whose
    mRID is our request's id (answers name it back) and the fields
    `serviceRequest.type` and `start_DateAndOrTime.dateTime` (local midnight in UTC)."""
    e = envelope
    record: dict[str, Any] = {
        "mRID": e.request_id,
        "marketEvaluationPoint.mRID": _coded(gsrn),
        "serviceRequest.type": {"value": service_code},
        "start_DateAndOrTime.dateTime": _utc_text(effective),
    }
    header = (e.document_id, e.process_code, e.created, e.sender_gln, e.receiver_gln)
    return _market_document(SERVICE_DOCUMENT, SERVICE_DOCUMENT_TYPE, header, record)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- answers in ----------------------------------------------------------------------------------


class InvalidAnswer(Exception):
    """A lifecycle message that cannot be used: a stable reason code and one escaped line."""

    def __init__(self, reason: str, detail: str, document_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.document_id = document_id


AnswerKind = Literal["confirm", "reject", "notification"]


@dataclass(frozen=True)
class AnswerRecord:
    transaction_id: str
    original_request_id: str | None
    gsrn: str | None
    effective: datetime | None
    supplier_gln: str | None
    reasons: tuple[tuple[str, str], ...]  # (code, text) of a rejection


@dataclass(frozen=True)
class AnswerDocument:
    kind: AnswerKind
    name: str
    message_id: str
    process_code: str
    created: datetime
    sender_gln: str
    records: tuple[AnswerRecord, ...]


_LIFECYCLE_HEAD = re.compile(
    rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"(?:(?:Confirm|Reject)Request[A-Za-z]{1,60}|GenericNotification)'
    rb'_MarketDocument"'
)


def is_lifecycle_document(raw: bytes | None) -> bool:
    """Whether a message on the master-data topic is a lifecycle answer or notification (its
    first JSON key names one), without parsing it."""
    return raw is not None and _LIFECYCLE_HEAD.match(raw[:300]) is not None


def parse_answer(raw: bytes) -> AnswerDocument:
    """Bytes → AnswerDocument, or InvalidAnswer(reason, detail)."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidAnswer("unparseable", escape(f"not UTF-8 JSON: {exc}", 200)) from None
    if not isinstance(data, dict) or len(data) != 1:
        raise InvalidAnswer("wrong_document_type", "expected one *_MarketDocument object")
    name, body = next(iter(data.items()))
    kind = _kind(name)
    if not isinstance(body, dict):
        raise InvalidAnswer("schema_violation", f"{escape(name, 80)} is not an object")
    reader = FieldReader(body)
    message_id = reader.mrid(body.get("mRID"), "document mRID")
    try:
        return reader.document(kind, name, message_id)
    except InvalidAnswer as exc:
        exc.document_id = message_id
        raise


def _kind(name: str) -> AnswerKind:
    if name == NOTIFICATION:
        return "notification"
    match = _ANSWER.fullmatch(name)
    if match is None:
        raise InvalidAnswer(
            "wrong_document_type", f"{escape(name, 80)} is not a lifecycle answer or notification"
        )
    return "confirm" if match[1] == "Confirm" else "reject"


class FieldReader:
    """Reads the fields of a lifecycle CIM JSON document (also schemas.rsm028); refuses with
    InvalidAnswer."""

    def __init__(self, body: dict[str, Any]) -> None:
        self.body = body

    @staticmethod
    def value(node: object) -> object:
        return node.get("value") if isinstance(node, dict) else node

    def text(self, node: object, what: str, pattern: re.Pattern[str]) -> str:
        value = self.value(node)
        if not isinstance(value, str) or pattern.fullmatch(value) is None:
            shown = escape(str(value), 40) if value is not None else "missing"
            raise InvalidAnswer("schema_violation", f"{what} is {shown}")
        return value

    def mrid(self, node: object, what: str) -> str:
        value = self.value(node)
        if not is_valid_mrid(value):
            shown = escape(str(value), 40) if value is not None else "missing"
            raise InvalidAnswer("bad_identifier", f"{what} {shown} is not 1-64 printable ASCII")
        assert isinstance(value, str)
        return value

    def utc(self, node: object, what: str) -> datetime:
        value = self.value(node)
        moment = None
        if isinstance(value, str) and value.endswith("Z") and len(value) <= 30:
            try:
                moment = datetime.fromisoformat(value[:-1] + "+00:00")
            except ValueError:
                moment = None
        if moment is None:
            shown = escape(str(value), 40) if value is not None else "missing"
            raise InvalidAnswer("schema_violation", f"{what} {shown} is not a UTC time …Z")
        return moment.astimezone(UTC)

    def document(self, kind: AnswerKind, name: str, message_id: str) -> AnswerDocument:
        body = self.body
        process = self.text(body.get("process.processType"), "process type", _CODE)
        created = self.utc(body.get("createdDateTime"), "createdDateTime")
        sender = self.text(body.get("sender_MarketParticipant.mRID"), "sender", _GLN)
        if kind != "notification":
            reason = self.text(body.get("reason.code"), "reason.code", _CODE)
            if reason != ("A01" if kind == "confirm" else "A02"):
                raise InvalidAnswer("schema_violation", f"{name} with reason.code {reason}")
        records = body.get("MktActivityRecord")
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
            raise InvalidAnswer("schema_violation", f"1 to {MAX_RECORDS} MktActivityRecord needed")
        parsed = tuple(self.record(r, n, kind) for n, r in enumerate(records, start=1))
        return AnswerDocument(kind, name, message_id, process, created, sender, parsed)

    def record(self, node: object, n: int, kind: AnswerKind) -> AnswerRecord:
        if not isinstance(node, dict):
            raise InvalidAnswer("schema_violation", f"record {n} is not an object")
        transaction = self.mrid(node.get("mRID"), f"record {n} mRID")
        original_node = node.get("originalTransactionIDReference_MktActivityRecord.mRID")
        original = None
        if original_node is not None:
            original = self.mrid(original_node, f"record {n} original transaction")
        elif kind != "notification":
            raise InvalidAnswer("schema_violation", f"record {n} names no original transaction")
        gsrn = None
        if (gsrn_node := node.get("marketEvaluationPoint.mRID")) is not None:
            value = self.value(gsrn_node)
            if not isinstance(value, str) or not is_valid_gsrn(value):
                raise InvalidAnswer("bad_gsrn", f"record {n} GSRN {escape(str(value), 40)}")
            gsrn = value
        elif kind == "notification":
            raise InvalidAnswer("schema_violation", f"record {n} has no marketEvaluationPoint")
        effective = None
        if (start := node.get("start_DateAndOrTime.dateTime")) is not None:
            effective = self.utc(start, f"record {n} start")
        elif kind == "notification":
            raise InvalidAnswer("schema_violation", f"record {n} has no start date")
        supplier = None
        supplier_node = node.get("marketEvaluationPoint.energySupplier_MarketParticipant.mRID")
        if supplier_node is not None:
            supplier = self.text(supplier_node, f"record {n} energy supplier", _GLN)
        return AnswerRecord(transaction, original, gsrn, effective, supplier, self.reasons(node, n))

    def reasons(self, node: dict[str, Any], n: int) -> tuple[tuple[str, str], ...]:
        found = node.get("Reason") or []
        if not isinstance(found, list):
            raise InvalidAnswer("schema_violation", f"record {n} Reason is not a list")
        reasons = []
        for item in found[:20]:
            if not isinstance(item, dict):
                raise InvalidAnswer("schema_violation", f"record {n} Reason is not an object")
            code = self.text(item.get("code"), f"record {n} reason code", _CODE)
            text = item.get("text")
            reasons.append((code, escape(text, 200) if isinstance(text, str) else ""))
        return tuple(reasons)


# --- DataHub's side, for the demo and the golden scenario -----------------------------------------


def answer_document(
    envelope: Envelope,
    *,
    accept: bool,
    reasons: tuple[tuple[str, str], ...] = (),
    document: str = "ChangeOfSupplier",
) -> dict[str, Any]:
    """DataHub's confirm (A01) or reject (A02, with reason codes and texts) of our request
    `envelope.request_id`, in the shape `parse_answer` reads (sender = DataHub)."""
    name = f"{'Confirm' if accept else 'Reject'}Request{document}_MarketDocument"
    record: dict[str, Any] = {
        "mRID": f"dh-{envelope.request_id}",
        "originalTransactionIDReference_MktActivityRecord.mRID": envelope.request_id,
    }
    if reasons:
        record["Reason"] = [{"code": {"value": c}, "text": t} for c, t in reasons]
    answer = _from_datahub(name, "414", envelope, record)
    answer[name]["reason.code"] = {"value": "A01" if accept else "A02"}
    return answer


def notification_document(
    envelope: Envelope, *, gsrn: str, effective: datetime, new_supplier_gln: str | None
) -> dict[str, Any]:
    """An RSM-004 GenericNotification (E44): start of supply (our request in
    `envelope.request_id`, or "" for none) or stop of supply (E01) from `effective`."""
    record: dict[str, Any] = {
        "mRID": f"dh-{envelope.document_id}",
        "marketEvaluationPoint.mRID": _coded(gsrn),
        "start_DateAndOrTime.dateTime": _utc_text(effective),
    }
    if new_supplier_gln:
        record["marketEvaluationPoint.energySupplier_MarketParticipant.mRID"] = _coded(
            new_supplier_gln
        )
    if envelope.request_id:
        record["originalTransactionIDReference_MktActivityRecord.mRID"] = envelope.request_id
    return _from_datahub(NOTIFICATION, "E44", envelope, record)


def _from_datahub(
    name: str, type_code: str, envelope: Envelope, record: dict[str, Any]
) -> dict[str, Any]:
    e = envelope
    header = (e.document_id, e.process_code, e.created, e.sender_gln, e.receiver_gln)
    document = _market_document(name, type_code, header, record)
    document[name]["sender_MarketParticipant.marketRole.type"] = {"value": "DDZ"}
    document[name]["receiver_MarketParticipant.marketRole.type"] = {"value": "DDQ"}
    return document
