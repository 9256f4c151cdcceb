"""RSM-028 customer characteristics (`CharacteristicsOfACustomerAtAnAP`, type E21) → typed records.

DataHub sends the supplier the customer of a metering point with or after a switch, a move-in or
a BRS-044 forced transfer (the latter without a CPR number; MARKET_PROCESSES.md §1, §5).

Confirmed by a source: the document name, type E21, that it carries the customer data of BRS-009
/ BRS-044. **elflow's assumption** (no public RSM-028 sample): the shape. It is CIM JSON like
DataHub's other documents to us, with the header of the RSM-001 sample and per
MktActivityRecord the fields of the RSM-027 sample (`rsm027-request-change-customer-
characteristics.xml`, the same customer data the other way): `mRID`, optionally
`originalTransactionIDReference_MktActivityRecord.mRID` (our request), `start_DateAndOrTime.
dateTime`, and a `MarketEvaluationPoint` object with `mRID` (GSRN),
`firstCustomer_MarketParticipant.mRID` (codingScheme ARR = CPR, 10 digits; VA = CVR, 8 digits;
absent for BRS-044), `firstCustomer_MarketParticipant.name` and `UsagePointLocation` (a list;
the one of type D01, else the first, gives address, `phone1.ituPhone` and
`electronicAddress.email1`). Other fields (second customer, protected name/address, electrical
heating) are read past.

Personal data never appears in a refusal's text: a bad CPR/CVR, name, e-mail or phone is named,
not shown. The CPR/CVR is kept out of the record's repr.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from schemas.printable import escape
from schemas.process_documents import FieldReader, InvalidAnswer
from schemas.rsm012 import is_valid_gsrn

DOCUMENT = "CharacteristicsOfACustomerAtAnAP_MarketDocument"
DOCUMENT_TYPE = "E21"
MAX_BYTES = 1_000_000
MAX_RECORDS = 1000
MAX_LOCATIONS = 10
_HEAD = re.compile(rb'\A(?:\xef\xbb\xbf)?\s*\{\s*"CharacteristicsOfACustomerAtAnAP_MarketDocument"')
_CODE = re.compile(r"[A-Z0-9]{2,4}", re.ASCII)
_GLN = re.compile(r"\d{13}", re.ASCII)
# CPR (ARR) and CVR (VA) numbers by coding scheme; the contact type the diagram's Customer has.
ID_NUMBERS = {"ARR": re.compile(r"\d{10}", re.ASCII), "VA": re.compile(r"\d{8}", re.ASCII)}
CONTACT_TYPES = {"ARR": "Private", "VA": "Business"}
# Longest text per field (the reference-data bounds of customers: README "Import bounds").
LIMITS = {"name": 200, "email": 254, "phone": 32, "address part": 200}


@dataclass(frozen=True)
class CustomerRecord:
    transaction_id: str
    original_request_id: str | None
    gsrn: str
    effective: datetime
    name: str
    id_scheme: Literal["ARR", "VA"] | None
    id_number: str | None = field(repr=False)  # CPR/CVR: personal, never logged
    email: str | None
    phone: str | None
    address: str | None

    @property
    def contact_type(self) -> str | None:
        return CONTACT_TYPES[self.id_scheme] if self.id_scheme else None


@dataclass(frozen=True)
class CustomerDocument:
    message_id: str
    name: str
    process_code: str
    created: datetime
    sender_gln: str
    records: tuple[CustomerRecord, ...]


def is_customer_document(raw: bytes | None) -> bool:
    """Whether a message is an RSM-028 document (its first JSON key names one), unparsed."""
    return raw is not None and _HEAD.match(raw[:300]) is not None


def parse_customer_document(raw: bytes) -> CustomerDocument:
    """Bytes → CustomerDocument, or InvalidAnswer(reason, detail) naming no personal data."""
    if len(raw) > MAX_BYTES:
        raise InvalidAnswer("too_large", f"{len(raw)} bytes, at most {MAX_BYTES}")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidAnswer("unparseable", escape(f"not UTF-8 JSON: {exc}", 200)) from None
    if not isinstance(data, dict) or list(data) != [DOCUMENT]:
        raise InvalidAnswer("wrong_document_type", f"expected one {DOCUMENT} object")
    body = data[DOCUMENT]
    if not isinstance(body, dict):
        raise InvalidAnswer("schema_violation", f"{DOCUMENT} is not an object")
    reader = _CustomerReader(body)
    message_id = reader.mrid(body.get("mRID"), "document mRID")
    try:
        return reader.customer_document(message_id)
    except InvalidAnswer as exc:
        exc.document_id = message_id
        raise


class _CustomerReader(FieldReader):
    def customer_document(self, message_id: str) -> CustomerDocument:
        body = self.body
        kind = self.text(body.get("type"), "document type", _CODE)
        if kind != DOCUMENT_TYPE:
            raise InvalidAnswer("wrong_document_type", f"type {kind}, not {DOCUMENT_TYPE}")
        process = self.text(body.get("process.processType"), "process type", _CODE)
        created = self.utc(body.get("createdDateTime"), "createdDateTime")
        sender = self.text(body.get("sender_MarketParticipant.mRID"), "sender", _GLN)
        records = body.get("MktActivityRecord")
        if isinstance(records, dict):
            records = [records]
        if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
            raise InvalidAnswer("schema_violation", f"1 to {MAX_RECORDS} MktActivityRecord needed")
        parsed = tuple(self.customer(r, n) for n, r in enumerate(records, start=1))
        return CustomerDocument(message_id, DOCUMENT, process, created, sender, parsed)

    def customer(self, node: object, n: int) -> CustomerRecord:
        if not isinstance(node, dict):
            raise InvalidAnswer("schema_violation", f"record {n} is not an object")
        transaction = self.mrid(node.get("mRID"), f"record {n} mRID")
        original = node.get("originalTransactionIDReference_MktActivityRecord.mRID")
        if original is not None:
            original = self.mrid(original, f"record {n} original transaction")
        effective = self.utc(node.get("start_DateAndOrTime.dateTime"), f"record {n} start")
        point = node.get("MarketEvaluationPoint")
        if not isinstance(point, dict):
            raise InvalidAnswer("schema_violation", f"record {n} has no MarketEvaluationPoint")
        gsrn = self.gsrn(point.get("mRID"), f"record {n} GSRN")
        scheme, number = self.id_number(point.get("firstCustomer_MarketParticipant.mRID"), n)
        name = self.personal(point.get("firstCustomer_MarketParticipant.name"), n, "name")
        if name is None:
            raise InvalidAnswer("schema_violation", f"record {n} has no customer name")
        location = self.location(point.get("UsagePointLocation"), n)
        phone = location.get("phone1")
        email = location.get("electronicAddress")
        return CustomerRecord(
            transaction_id=transaction,
            original_request_id=original,
            gsrn=gsrn,
            effective=effective,
            name=name,
            id_scheme=scheme,
            id_number=number,
            email=self.personal(email.get("email1") if isinstance(email, dict) else None,
                                n, "email"),
            phone=self.personal(phone.get("ituPhone") if isinstance(phone, dict) else None,
                                n, "phone"),
            address=self.address(location.get("mainAddress"), n),
        )  # fmt: skip

    def gsrn(self, node: object, what: str) -> str:
        value = self.value(node)
        if not isinstance(value, str) or not is_valid_gsrn(value):
            raise InvalidAnswer("bad_gsrn", f"{what} {escape(str(value), 40)}")
        return value

    def id_number(self, node: object, n: int) -> tuple[Literal["ARR", "VA"] | None, str | None]:
        """(coding scheme, number) of the customer, or (None, None) when absent (BRS-044)."""
        if node is None:
            return None, None
        scheme = node.get("codingScheme") if isinstance(node, dict) else None
        value = self.value(node)
        if scheme == "ARR" or scheme == "VA":
            if isinstance(value, str) and ID_NUMBERS[scheme].fullmatch(value):
                return scheme, value
            what = "CPR number (10 digits)" if scheme == "ARR" else "CVR number (8 digits)"
            raise InvalidAnswer("schema_violation", f"record {n} customer {what} is malformed")
        shown = escape(str(scheme), 10) if scheme is not None else "missing"
        raise InvalidAnswer(
            "schema_violation", f"record {n} customer id coding scheme {shown} is not ARR or VA"
        )

    def personal(self, node: object, n: int, what: str) -> str | None:
        """A personal text field, bounded and printable; refused without showing it."""
        value = self.value(node)
        if value is None:
            return None
        limit = LIMITS[what]
        if not isinstance(value, str) or not 1 <= len(value.strip()) <= limit:
            raise InvalidAnswer(
                "schema_violation", f"record {n} customer {what} is not 1-{limit} characters"
            )
        if not value.isprintable():
            raise InvalidAnswer(
                "schema_violation", f"record {n} customer {what} has control characters"
            )
        return value.strip()

    def location(self, node: object, n: int) -> dict[str, Any]:
        if node is None:
            return {}
        found = [node] if isinstance(node, dict) else node
        if not isinstance(found, list) or len(found) > MAX_LOCATIONS:
            raise InvalidAnswer(
                "schema_violation", f"record {n} UsagePointLocation: at most {MAX_LOCATIONS}"
            )
        if not all(isinstance(x, dict) for x in found):
            raise InvalidAnswer("schema_violation", f"record {n} UsagePointLocation not objects")
        first = [x for x in found if self.value(x.get("type")) == "D01"] + found
        return first[0] if first else {}

    def address(self, node: object, n: int) -> str | None:
        """The address on one line: street number, floor suite, postal code town, country."""
        if node is None:
            return None
        if not isinstance(node, dict):
            raise InvalidAnswer("schema_violation", f"record {n} mainAddress is not an object")
        street, town = node.get("streetDetail"), node.get("townDetail")
        street = street if isinstance(street, dict) else {}
        town = town if isinstance(town, dict) else {}

        def part(where: dict[str, Any], key: str) -> str:
            return self.personal(where.get(key), n, "address part") or ""

        lines = [
            " ".join(p for p in (part(street, "name"), part(street, "number")) if p),
            " ".join(
                p for p in (part(street, "floorIdentification"), part(street, "suiteNumber")) if p
            ),
            " ".join(p for p in (part(node, "postalCode"), part(town, "name")) if p),
            part(town, "country"),
        ]
        text = ", ".join(p for p in lines if p)
        return text or None
