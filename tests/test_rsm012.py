"""RSM-012 parsing: DataHub's own samples, the conventions for absent values, every reject."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.rsm012 import (
    REASONS,
    InvalidDocument,
    Quality,
    document_readings,
    gsrn_check_digit,
    is_valid_gsrn,
    parse_document,
)

SAMPLES = Path(__file__).parent / "fixtures" / "datahub3"
JSON_SAMPLE = (SAMPLES / "ValidMeteredDataForMeteringPoint.json").read_bytes()
XML_SAMPLE = (SAMPLES / "ValidMeteredDataForMeteringPoint.xml").read_bytes()
BOM = b"\xef\xbb\xbf"
GSRN = "571313000000002000"
SAMPLE_START = datetime(2024, 6, 28, 22, tzinfo=UTC)
VALID_POINT = '{"position":{"value":1},"quantity":1.5}'


def cim_json(
    points: str = VALID_POINT,
    *,
    resolution: str = "PT1H",
    start: str = "2026-01-14T23:00Z",
    end: str = "2026-01-15T23:00Z",
    gsrn: str = GSRN,
    document_type: str = "E66",
    root: str = "NotifyValidatedMeasureData_MarketDocument",
    created: str = "2026-01-16T06:00:00Z",
    metering_point_type: str = "E17",
    unit: str = "KWH",
) -> bytes:
    """A small CIM JSON document shaped like DataHub's, with one field to vary at a time."""
    return (
        f'{{"{root}":{{"mRID":"doc-1","businessSector.type":{{"value":"23"}},'
        f'"createdDateTime":"{created}","process.processType":{{"value":"E23"}},'
        '"receiver_MarketParticipant.mRID":{"codingScheme":"A10","value":"5790001234560"},'
        '"receiver_MarketParticipant.marketRole.type":{"value":"DDQ"},'
        '"sender_MarketParticipant.mRID":{"codingScheme":"A10","value":"5790001330552"},'
        '"sender_MarketParticipant.marketRole.type":{"value":"DGL"},'
        f'"type":{{"value":"{document_type}"}},"Series":[{{"mRID":"tx-1",'
        f'"marketEvaluationPoint.mRID":{{"codingScheme":"A10","value":"{gsrn}"}},'
        f'"marketEvaluationPoint.type":{{"value":"{metering_point_type}"}},'
        f'"quantity_Measure_Unit.name":{{"value":"{unit}"}},'
        f'"Period":{{"resolution":"{resolution}","timeInterval":{{'
        f'"start":{{"value":"{start}"}},"end":{{"value":"{end}"}}}},"Point":[{points}]}}}}]}}}}'
    ).encode()


def reason_of(raw: bytes) -> str:
    with pytest.raises(InvalidDocument) as caught:
        parse_document(raw)
    assert caught.value.reason in REASONS
    return caught.value.reason


def test_json_sample_header_is_read() -> None:
    doc = parse_document(JSON_SAMPLE)

    assert doc.mrid == "111131835"
    assert doc.type == "E66"
    assert doc.process_type == "E23"
    assert doc.business_sector == "23"
    assert doc.created == datetime(2024, 7, 30, 7, 30, 54, tzinfo=UTC)
    assert doc.created.utcoffset() == timedelta(0)
    assert (doc.sender_gln, doc.sender_role) == ("5790001330552", "MDR")
    assert (doc.receiver_gln, doc.receiver_role) == ("5790000432752", "DGL")
    [series] = doc.series
    assert series.mrid == "4413675032_5080574373"
    assert series.gsrn == GSRN
    assert series.metering_point_type == "E18"
    assert series.original_transaction_id == "C1875000"
    assert series.resolution == "PT1H"
    assert (series.start, series.end) == (SAMPLE_START, SAMPLE_START + timedelta(hours=24))


def test_json_sample_readings_keep_absent_quality_and_absent_quantity_apart() -> None:
    readings = document_readings(parse_document(JSON_SAMPLE))

    assert [r.ts for r in readings] == [SAMPLE_START + timedelta(hours=h) for h in range(6)]
    assert [r.quantity for r in readings] == [
        Decimal(242),
        Decimal(242),
        Decimal(222),
        Decimal(202),
        Decimal(191),
        None,
    ]
    assert [r.quality for r in readings] == ["A03", "A04", "A04", "A04", "A05", "A02"]
    assert {(r.gsrn, r.resolution, r.transaction_id, r.document_id) for r in readings} == {
        (GSRN, "PT1H", "4413675032_5080574373", "111131835")
    }
    assert {r.created for r in readings} == {datetime(2024, 7, 30, 7, 30, 54, tzinfo=UTC)}


def test_xml_sample_reads_like_the_json_sample_except_its_own_points() -> None:
    from_json = parse_document(JSON_SAMPLE)
    from_xml = parse_document(XML_SAMPLE)

    assert from_xml.model_dump(exclude={"series"}) == from_json.model_dump(exclude={"series"})
    assert from_xml.series[0].model_dump(exclude={"points"}) == from_json.series[0].model_dump(
        exclude={"points"}
    )
    json_readings = document_readings(from_json)
    xml_readings = document_readings(from_xml)
    assert [r.ts for r in xml_readings] == [r.ts for r in json_readings]
    # The upstream XML sample carries 56 kWh, quality A03, at all six positions.
    assert [(r.quantity, r.quality) for r in xml_readings] == [(Decimal(56), "A03")] * 6


def test_points_absent_from_the_series_are_not_invented() -> None:
    doc = parse_document(JSON_SAMPLE)

    assert (doc.series[0].end - doc.series[0].start) // timedelta(hours=1) == 24
    assert len(document_readings(doc)) == 6


@pytest.mark.parametrize("sample", [JSON_SAMPLE, XML_SAMPLE], ids=["json", "xml"])
def test_bom_and_leading_whitespace_are_tolerated(sample: bytes) -> None:
    assert sample.startswith(BOM)
    bare = sample[len(BOM) :]

    expected = parse_document(sample)
    assert parse_document(bare) == expected
    assert parse_document(b" \r\n\t" + bare) == expected
    assert parse_document(BOM + b"\n  " + bare) == expected


def test_quantities_are_exact_decimals_never_floats() -> None:
    points = (
        '{"position":{"value":1},"quantity":0.1},'
        '{"position":{"value":2},"quantity":123456789012.345},'
        '{"position":{"value":3},"quantity":7},'
        '{"position":{"value":4},"quantity":1.230}'
    )
    quantities = [p.quantity for p in parse_document(cim_json(points)).series[0].points]

    assert all(type(q) is Decimal for q in quantities)
    assert quantities == [
        Decimal("0.1"),
        Decimal("123456789012.345"),
        Decimal(7),
        Decimal("1.23"),
    ]
    assert [str(q) for q in quantities] == ["0.100", "123456789012.345", "7.000", "1.230"]


def test_point_without_quantity_is_missing_not_zero() -> None:
    points = '{"position":{"value":1}},{"position":{"value":2},"quantity":0}'
    [missing, zero] = parse_document(cim_json(points)).series[0].points

    assert (missing.quantity, missing.quality) == (None, Quality.MISSING)
    assert (zero.quantity, zero.quality) == (Decimal(0), Quality.MEASURED)


def test_negative_zero_is_stored_as_zero() -> None:
    [point] = (
        parse_document(cim_json('{"position":{"value":1},"quantity":-0.000}')).series[0].points
    )

    assert point.quantity == 0
    assert not point.quantity.is_signed()


def test_points_are_ordered_by_position_and_stamped_by_slot() -> None:
    points = '{"position":{"value":5},"quantity":2},{"position":{"value":1},"quantity":1}'
    doc = parse_document(cim_json(points, resolution="PT15M"))
    readings = document_readings(doc)

    start = datetime(2026, 1, 14, 23, tzinfo=UTC)
    assert [(r.ts, r.quantity) for r in readings] == [
        (start, Decimal(1)),
        (start + timedelta(hours=1), Decimal(2)),
    ]


def test_times_with_seconds_are_accepted() -> None:
    doc = parse_document(cim_json(start="2026-01-14T23:00:00Z", end="2026-01-15T23:00:00Z"))

    assert doc.series[0].start == datetime(2026, 1, 14, 23, tzinfo=UTC)


def test_dst_day_of_quarter_hours_accepts_position_92_but_not_93() -> None:
    spring = {"resolution": "PT15M", "start": "2026-03-28T23:00Z", "end": "2026-03-29T22:00Z"}
    last = '{"position":{"value":92},"quantity":1}'
    beyond = '{"position":{"value":93},"quantity":1}'

    assert parse_document(cim_json(last, **spring)).series[0].points[0].position == 92
    assert reason_of(cim_json(beyond, **spring)) == "position_outside_interval"


def test_sample_gsrn_has_a_valid_gs1_check_digit() -> None:
    assert gsrn_check_digit(GSRN[:17]) == 0
    assert is_valid_gsrn(GSRN)
    assert not is_valid_gsrn("571313000000002001")
    assert not is_valid_gsrn("58131300000000200" + str(gsrn_check_digit("58131300000000200")))


MALFORMED_JSON = {
    "unparseable: truncated": (JSON_SAMPLE[:200], "unparseable"),
    "unparseable: empty": (b"", "unparseable"),
    "unparseable: BOM only": (BOM + b"  ", "unparseable"),
    "unparseable: not utf-8": (b"\xff\xfe{}", "unparseable"),
    "unparseable: NaN": (cim_json('{"position":{"value":1},"quantity":NaN}'), "unparseable"),
    "wrong type E31": (cim_json(document_type="E31"), "wrong_document_type"),
    "wrong root": (
        cim_json(root="NotifyAggregatedMeasureData_MarketDocument"),
        "wrong_document_type",
    ),
    "top level array": (b"[]", "schema_violation"),
    "local time": (cim_json(start="2026-01-15T00:00+01:00"), "schema_violation"),
    "no created": (cim_json(created=""), "schema_violation"),
    "impossible date": (cim_json(created="2026-02-30T06:00:00Z"), "schema_violation"),
    "end before start": (cim_json(end="2026-01-14T22:00Z"), "schema_violation"),
    "part of a step": (cim_json(end="2026-01-15T23:30Z"), "schema_violation"),
    "start off the grid": (
        cim_json(resolution="PT15M", start="2026-01-14T23:05Z", end="2026-01-15T23:05Z"),
        "schema_violation",
    ),
    "quality A01": (
        cim_json('{"position":{"value":1},"quality":{"value":"A01"},"quantity":1}'),
        "schema_violation",
    ),
    "position twice": (cim_json(VALID_POINT + "," + VALID_POINT), "schema_violation"),
    "fractional position": (
        cim_json('{"position":{"value":1.5},"quantity":1}'),
        "schema_violation",
    ),
    "quantity as object": (
        cim_json('{"position":{"value":1},"quantity":{"value":[1]}}'),
        "schema_violation",
    ),
    "quantity beyond Decimal(18,3)": (
        cim_json('{"position":{"value":1},"quantity":1000000000000000}'),
        "schema_violation",
    ),
    "no points": (cim_json(""), "schema_violation"),
    "unit MWH": (cim_json(unit="MWH"), "schema_violation"),
    "metering point type X1": (cim_json(metering_point_type="X1"), "schema_violation"),
    "gsrn 17 digits": (cim_json(gsrn=GSRN[:17]), "bad_gsrn"),
    "gsrn check digit": (cim_json(gsrn="571313000000002001"), "bad_gsrn"),
    "gsrn not Danish": (
        cim_json(gsrn="59131300000000200" + str(gsrn_check_digit("59131300000000200"))),
        "bad_gsrn",
    ),
    "gsrn letters": (cim_json(gsrn="57131300000000200A"), "bad_gsrn"),
    "resolution PT30M": (cim_json(resolution="PT30M"), "unknown_resolution"),
    "resolution P1D": (cim_json(resolution="P1D"), "unknown_resolution"),
    "position 0": (cim_json('{"position":{"value":0},"quantity":1}'), "position_outside_interval"),
    "position 25 of 24 hours": (
        cim_json('{"position":{"value":25},"quantity":1}'),
        "position_outside_interval",
    ),
    "4 decimals": (
        cim_json('{"position":{"value":1},"quantity":1.2345}'),
        "too_many_decimals",
    ),
    "negative": (cim_json('{"position":{"value":1},"quantity":-1.5}'), "negative_quantity"),
}


@pytest.mark.parametrize(("raw", "reason"), list(MALFORMED_JSON.values()), ids=list(MALFORMED_JSON))
def test_malformed_json_is_rejected_with_its_reason(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason


MALFORMED_XML = {
    "truncated": (XML_SAMPLE[:400], "unparseable"),
    "DTD": (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
        "dtd_not_allowed",
    ),
    "other root": (
        XML_SAMPLE.replace(b"NotifyValidatedMeasureData_", b"NotifyAggregatedMeasureData_"),
        "wrong_document_type",
    ),
    "type E31": (XML_SAMPLE.replace(b">E66<", b">E31<"), "wrong_document_type"),
    "other namespace": (
        XML_SAMPLE.replace(b'xmlns:cim="urn:ediel.org:measure:', b'xmlns:cim="urn:other:'),
        "schema_violation",
    ),
    "quality A01": (XML_SAMPLE.replace(b">A03<", b">A01<", 1), "schema_violation"),
    "gsrn check digit": (XML_SAMPLE.replace(GSRN.encode(), b"571313000000002001"), "bad_gsrn"),
    "resolution PT5M": (XML_SAMPLE.replace(b">PT1H<", b">PT5M<"), "unknown_resolution"),
    "position 25": (
        XML_SAMPLE.replace(b"<cim:position>6<", b"<cim:position>25<"),
        "position_outside_interval",
    ),
    "4 decimals": (
        XML_SAMPLE.replace(b"<cim:quantity>56<", b"<cim:quantity>56.0001<", 1),
        "too_many_decimals",
    ),
    "exponent": (
        XML_SAMPLE.replace(b"<cim:quantity>56<", b"<cim:quantity>5.6E1<", 1),
        "schema_violation",
    ),
    "negative": (
        XML_SAMPLE.replace(b"<cim:quantity>56<", b"<cim:quantity>-56<", 1),
        "negative_quantity",
    ),
}


@pytest.mark.parametrize(("raw", "reason"), list(MALFORMED_XML.values()), ids=list(MALFORMED_XML))
def test_malformed_xml_is_rejected_with_its_reason(raw: bytes, reason: str) -> None:
    assert reason_of(raw) == reason


def test_rejection_names_document_series_and_position() -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse_document(cim_json('{"position":{"value":3},"quantity":1.2345}'))

    assert caught.value.document_id == "doc-1"
    assert "tx-1" in caught.value.detail
    assert "position 3" in caught.value.detail
    assert "\n" not in caught.value.detail


def test_unparseable_document_has_no_document_id() -> None:
    with pytest.raises(InvalidDocument) as caught:
        parse_document(b"{")

    assert caught.value.document_id is None


def test_rejection_survives_pickling_with_its_attributes() -> None:
    error = InvalidDocument("bad_gsrn", "series tx-1: '1' is not a GSRN", "doc-1")
    copy = pickle.loads(pickle.dumps(error))

    assert (copy.reason, copy.detail, copy.document_id) == ("bad_gsrn", error.detail, "doc-1")


def test_reason_codes_are_the_documented_set() -> None:
    assert {
        "unparseable",
        "wrong_document_type",
        "schema_violation",
        "bad_gsrn",
        "unknown_resolution",
        "position_outside_interval",
        "too_many_decimals",
        "negative_quantity",
        "bad_identifier",
        "time_out_of_range",
        "created_in_future",
        "conflicting_series",
        "dtd_not_allowed",
    } == REASONS
