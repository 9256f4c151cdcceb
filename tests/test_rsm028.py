"""RSM-028 customer characteristics: parsing (elflow's assumed shape) and hostile variants, whose
refusals name the problem and never the personal data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from schemas.process_documents import InvalidAnswer
from schemas.rsm028 import is_customer_document, parse_customer_document
from tests.process_docs import POINTS, customer_data

CPR = "0212756369"
DOC = "CharacteristicsOfACustomerAtAnAP_MarketDocument"


def test_a_customer_document_reads_into_a_record() -> None:
    raw = customer_data(POINTS[0], date(2026, 10, 15), mrid="c-1")
    assert is_customer_document(raw) and not is_customer_document(b'{"Other": {}}')
    document = parse_customer_document(raw)
    assert (document.message_id, document.process_code) == ("c-1", "E03")
    [record] = document.records
    assert record.gsrn == POINTS[0]
    assert record.effective == datetime(2026, 10, 14, 22, tzinfo=UTC)
    assert (record.name, record.id_scheme, record.id_number) == ("Jan Hansen", "ARR", CPR)
    assert record.contact_type == "Private"
    assert (record.email, record.phone) == ("jan@example.dk", "25361498")
    assert record.address == "Vestergade 16, 2 10, 5500 Middelfart, DK"  # the D01 location
    assert CPR not in repr(record)


def test_cvr_is_a_business_and_brs_044_sends_no_number() -> None:
    cvr = parse_customer_document(
        customer_data(POINTS[0], date(2026, 10, 15), number="12345678", scheme="VA")
    ).records[0]
    assert (cvr.id_scheme, cvr.contact_type) == ("VA", "Business")
    forced = parse_customer_document(
        customer_data(POINTS[0], date(2026, 10, 15), number=None, process="D31")
    ).records[0]
    assert (forced.id_number, forced.contact_type) == (None, None)


def _edit(path: list[str], value: object) -> bytes:
    data: dict[str, Any] = json.loads(customer_data(POINTS[0], date(2026, 10, 15)))
    node: Any = data[DOC]
    for key in path[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is _DROP:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return json.dumps(data).encode()


_DROP = object()
MEP = ["MktActivityRecord", "0", "MarketEvaluationPoint"]
ID = "firstCustomer_MarketParticipant.mRID"

HOSTILE: list[tuple[str, bytes, str, str]] = [
    ("not JSON", b'{"CharacteristicsOfACustomerAtAnAP_MarketDocument": {', "unparseable", ""),
    ("latin-1", customer_data(POINTS[0], date(2026, 10, 15), name="S-ren")
     .replace(b"S-ren", b"S\xf8ren"), "unparseable", ""),
    ("two roots", b'{"CharacteristicsOfACustomerAtAnAP_MarketDocument": {}, "x": 1}',
     "wrong_document_type", ""),
    ("type E44", _edit(["type"], {"value": "E44"}), "wrong_document_type", "E44"),
    ("no records", _edit(["MktActivityRecord"], []), "schema_violation", "MktActivityRecord"),
    ("bad GSRN", _edit([*MEP, "mRID"], {"value": "571313180400000019"}), "bad_gsrn", "GSRN"),
    ("CPR of 9 digits", _edit([*MEP, ID], {"codingScheme": "ARR", "value": CPR[:9]}),
     "schema_violation", "CPR number (10 digits) is malformed"),
    ("CPR with a letter", _edit([*MEP, ID], {"codingScheme": "ARR", "value": "02127563X9"}),
     "schema_violation", "CPR number"),
    ("CVR of 10 digits", _edit([*MEP, ID], {"codingScheme": "VA", "value": CPR}),
     "schema_violation", "CVR number (8 digits)"),
    ("unknown scheme", _edit([*MEP, ID], {"codingScheme": "XX", "value": CPR}),
     "schema_violation", "coding scheme XX"),
    ("no name", _edit([*MEP, "firstCustomer_MarketParticipant.name"], _DROP),
     "schema_violation", "no customer name"),
    ("empty name", _edit([*MEP, "firstCustomer_MarketParticipant.name"], "  "),
     "schema_violation", "name is not 1-200"),
    ("name of 201", _edit([*MEP, "firstCustomer_MarketParticipant.name"], "J" * 201),
     "schema_violation", "name is not 1-200"),
    ("name with a newline", _edit([*MEP, "firstCustomer_MarketParticipant.name"], "Jan\nHansen"),
     "schema_violation", "name has control characters"),
    ("name with NUL", _edit([*MEP, "firstCustomer_MarketParticipant.name"], "Jan\x00"),
     "schema_violation", "control characters"),
    ("name a number", _edit([*MEP, "firstCustomer_MarketParticipant.name"], 42),
     "schema_violation", "name"),
    ("lone surrogate", _edit([*MEP, "firstCustomer_MarketParticipant.name"], "Jan \ud800"),
     "schema_violation", "control characters"),
    ("e-mail of 300", _edit([*MEP, "UsagePointLocation", "1", "electronicAddress"],
                            {"email1": "a" * 290 + "@example.dk"}), "schema_violation", "email"),
    ("11 locations", _edit([*MEP, "UsagePointLocation"], [{}] * 11), "schema_violation",
     "at most 10"),
    ("address not an object", _edit([*MEP, "UsagePointLocation", "1", "mainAddress"], "x"),
     "schema_violation", "mainAddress"),
    ("start not UTC", _edit(["MktActivityRecord", "0", "start_DateAndOrTime.dateTime"],
                            "2026-10-15T00:00:00+02:00"), "schema_violation", "start"),
    ("huge", b" " * 1_000_001, "too_large", ""),
]  # fmt: skip


@pytest.mark.parametrize(("case", "raw", "reason", "text"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_customer_documents_are_refused_without_personal_data(
    case: str, raw: bytes, reason: str, text: str
) -> None:
    with pytest.raises(InvalidAnswer) as caught:
        parse_customer_document(raw)
    assert caught.value.reason == reason, case
    assert text in caught.value.detail
    for secret in (CPR, CPR[:9], "02127563X9", "Jan", "Hansen", "example.dk"):
        assert secret not in caught.value.detail, case
    assert "\n" not in caught.value.detail
