"""RSM-022 master data: DataHub's real samples in CIM XML, CIM JSON and ebIX, and hostile input."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from schemas.rsm022 import MAX_BYTES, InvalidMasterData, parse_document

FIXTURES = Path(__file__).parent / "fixtures" / "market"
CIM_XML = (FIXTURES / "rsm022-cim-accounting-point-characteristics.xml").read_bytes()
CIM_JSON = (FIXTURES / "rsm022-cim-accounting-point-characteristics.json").read_bytes()
EBIX = (FIXTURES / "rsm022-ebix-notify-master-data-consumption.xml").read_bytes()
# The CIM sample's GSRN fails the GS1 check digit; a valid one is put in its place.
SAMPLE_GSRN = b"579999993331812345"
VALID_GSRN = "571313135100020644"


def _valid(raw: bytes) -> bytes:
    return raw.replace(SAMPLE_GSRN, VALID_GSRN.encode())


def test_the_cim_xml_sample_gives_the_connect_notification_it_carries() -> None:
    doc = parse_document(_valid(CIM_XML))
    assert (doc.mrid, doc.type, doc.process_type, doc.source_format) == (
        "25365897",
        "E07",
        "D15",
        "cim-xml",
    )
    assert doc.sender_gln == "5790001330552" and doc.receiver_gln == "5799999933318"
    (record,) = doc.records
    assert record.transaction_id == "2536982547"
    assert record.original_transaction_id == "25369847"
    assert record.effective == datetime(2021, 12, 17, 23, tzinfo=UTC)
    assert record.gsrn == VALID_GSRN
    assert (record.metering_point_type, record.settlement_method, record.metering_method) == (
        "E17",
        "E02",
        "D01",
    )
    assert (record.connection_state, record.resolution, record.grid_area) == ("E23", "PT1H", "031")
    assert record.grid_operator_gln == "5790001333421"
    assert record.production_obligation is False
    assert record.supplier_gln == "5799999933318"
    assert record.supply_start == datetime(2019, 2, 11, 23, tzinfo=UTC)
    assert record.meter_id == "29746"


def test_cim_json_and_cim_xml_of_the_same_document_give_the_same_records() -> None:
    from_xml = parse_document(_valid(CIM_XML))
    from_json = parse_document(_valid(CIM_JSON))
    assert from_json.source_format == "cim-json"
    assert from_json.model_copy(update={"source_format": "cim-xml"}) == from_xml


def test_the_ebix_sample_in_its_soap_envelope_gives_the_master_data_update() -> None:
    doc = parse_document(EBIX)
    assert (doc.mrid, doc.process_type, doc.source_format) == (
        "7d0a8d5f8d284b19badc2b08d3122671",
        "E32",
        "ebix",
    )
    (record,) = doc.records
    assert record.gsrn == "571313135100020644"
    assert record.effective == datetime(2021, 5, 3, 22, tzinfo=UTC)
    assert (record.metering_point_type, record.settlement_method, record.connection_state) == (
        "E17",
        "D01",
        "D03",
    )
    assert (record.grid_area, record.resolution, record.supplier_gln) == (
        "351",
        "PT1H",
        "8200000007111",
    )
    assert record.supply_start == datetime(2021, 5, 2, 22, tzinfo=UTC)


def test_the_unchanged_cim_sample_is_refused_for_its_check_digit() -> None:
    with pytest.raises(InvalidMasterData) as caught:
        parse_document(CIM_XML)
    assert caught.value.reason == "bad_gsrn"
    assert caught.value.document_id == "25365897"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "unparseable"),
        (b"<a", "unparseable"),
        (b'<!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>', "unparseable"),
        (b"{not json", "unparseable"),
        (b"[]", "schema_violation"),
        (b'{"NotifyValidatedMeasureData_MarketDocument": {}}', "wrong_document_type"),
        (b"<NotifyValidatedMeasureData_MarketDocument/>", "wrong_document_type"),
        (b" " * (MAX_BYTES + 1), "too_large"),
        (b"[" * 100_000, "unparseable"),
    ],
)
def test_hostile_or_foreign_bytes_are_refused_with_a_parse_code(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidMasterData) as caught:
        parse_document(raw)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (b"<cim:type>E07</cim:type>", b"<cim:type>E66</cim:type>", "wrong_document_type"),
        (b">D15</cim:process", b">E20</cim:process", "unsupported_process"),
        (b">E23</cim:connectionState>", b">X99</cim:connectionState>", "schema_violation"),
        (b">2021-12-17T23:00:00Z<", b">2021-12-17 23:00<", "schema_violation"),
        (b">031</cim:meteringGridArea", b">31</cim:meteringGridArea", "schema_violation"),
        (
            b">false</cim:productionObligation>",
            b">maybe</cim:productionObligation>",
            "schema_violation",
        ),
        (b"<cim:mRID>2536982547</cim:mRID>", b"", "schema_violation"),
        (b">5799999933318</cim:energySupplier", b">57999</cim:energySupplier", "schema_violation"),
        (
            b'urn:ediel.org:structure:accountingpointcharacteristics:0:1"',
            b'urn:other"',
            "schema_violation",
        ),
        (b"<cim:meter.mRID>29746", b"<cim:meter.mRID>" + b"9" * 300, "too_large"),
    ],
)
def test_a_bad_field_names_the_document_and_its_reason(old: bytes, new: bytes, reason: str) -> None:
    raw = _valid(CIM_XML)
    assert old in raw
    with pytest.raises(InvalidMasterData) as caught:
        parse_document(raw.replace(old, new, 1))
    assert caught.value.reason == reason
    if reason != "schema_violation" or b"urn:other" not in new:
        assert caught.value.document_id == "25365897"


def test_two_records_of_one_document_are_both_read() -> None:
    raw = _valid(CIM_XML).decode("utf-8-sig")
    start = raw.index("<cim:MktActivityRecord>")
    end = raw.index("</cim:MktActivityRecord>") + len("</cim:MktActivityRecord>")
    second = raw[start:end].replace("2536982547", "2536982548")
    doc = parse_document((raw[:end] + second + raw[end:]).encode())
    assert [r.transaction_id for r in doc.records] == ["2536982547", "2536982548"]
    with pytest.raises(InvalidMasterData, match="appears twice"):
        parse_document((raw[:end] + raw[start:end] + raw[end:]).encode())
