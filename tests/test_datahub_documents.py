"""Routing a peeked DataHub document and reading DataHub's synchronous errors (no services)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from schemas.datahub import RequestError, outbound_name, parse_error, route_document
from tests.process_docs import answer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize(
    ("path", "route", "mrid"),
    [
        ("datahub3/ValidMeteredDataForMeteringPoint.json", "readings", "111131835"),
        ("datahub3/ValidMeteredDataForMeteringPoint.xml", "readings", "111131835"),
        ("market/rsm022-cim-accounting-point-characteristics.json", "masterdata", "25365897"),
        ("market/rsm022-cim-accounting-point-characteristics.xml", "masterdata", None),
    ],
)
def test_real_documents_are_routed_by_their_type(path: str, route: str, mrid: str | None) -> None:
    routing = route_document((FIXTURES / path).read_bytes())
    assert routing.route == route
    if mrid is not None:
        assert routing.mrid == mrid
    else:
        assert routing.mrid  # the XML sample's own document mRID, whatever it is


def test_lifecycle_answers_go_to_the_master_data_topic() -> None:
    routing = route_document(answer(uuid.uuid4(), accept=False, mrid="ans-1"))
    assert (routing.name, routing.route, routing.mrid) == (
        "RejectRequestChangeOfSupplier_MarketDocument",
        "masterdata",
        "ans-1",
    )


@pytest.mark.parametrize("body", [b"", b"\x00\xff garbage", b'{"Other": 1}', b"<a><b/></a>"])
def test_unreadable_documents_go_to_the_readings_flow_which_dead_letters_them(body: bytes) -> None:
    routing = route_document(body)
    assert routing.route == "readings"
    assert routing.mrid is None


def test_error_bodies() -> None:
    json_body = b'{"Error":{"Code":"00101","Message":"Message id is not unique","Target":""}}'
    assert parse_error(json_body) == RequestError("00101", "Message id is not unique")
    xml_body = b"<Error><Code>00002</Code><Message>Sender mismatch</Message></Error>"
    assert parse_error(xml_body) == RequestError("00002", "Sender mismatch")
    unreadable = parse_error(b"\x1b[31mboom")
    assert unreadable.code == "unreadable"
    assert "\x1b" not in unreadable.message


def test_outbound_name() -> None:
    assert (
        outbound_name(b'{"RequestService_MarketDocument": {}}') == "RequestService_MarketDocument"
    )
    assert outbound_name(b"[]") is None
