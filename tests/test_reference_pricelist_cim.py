"""DataHub price-list document (D10) parser: the DataHub 3 samples and each refusal."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from schemas.codelists import DataHubChargeType, Resolution
from schemas.reference.pricelist_cim import ChargePricePoint, parse_price_list_document
from tests.test_reference import DATAHUB3, error_of, source, utc, write

# --------------------------------------------------------------------------------------------
# RequestChangeOfPriceList_MarketDocument


def test_charge_information_d18_sample() -> None:
    (item,) = parse_price_list_document(
        *source(DATAHUB3 / "ChargeInformationTariffHourlySample.xml")
    )
    assert item.document_id == "DocId00001"
    assert item.process_type == "D18"
    assert item.activity_id == "OperationId00001"
    assert item.owner_gln == "8100000000030"
    assert item.charge_type is DataHubChargeType.TARIFF
    assert item.charge_code == "TariffId01"
    assert item.name == "Charge Tariff Hourly Name"
    assert item.description == "Tariff description"
    assert item.resolution is Resolution.PT1H
    assert item.effective_date == utc(2022, 7, 31, 22)
    assert item.vat_payer == "D01"
    assert item.transparent_invoicing is False
    assert item.tax_indicator is False
    assert item.points == ()


def test_hourly_tariff_prices_d08_sample_positions_become_utc_hours() -> None:
    (item,) = parse_price_list_document(
        *source(DATAHUB3 / "ChargePriceSeriesTariffHourlySample.xml")
    )
    assert item.process_type == "D08"
    assert item.charge_code == "TestTariff"
    assert item.resolution is Resolution.PT1H
    assert item.tax_indicator is None
    assert len(item.points) == 24
    assert item.points[0] == ChargePricePoint(utc(2022, 12, 31, 23), Decimal("1.001"))
    assert item.points[9] == ChargePricePoint(utc(2023, 1, 1, 8), Decimal("10.010"))
    assert item.points[23] == ChargePricePoint(utc(2023, 1, 1, 22), Decimal("24.024"))
    assert item.price_intervals == ((utc(2022, 12, 31, 23), utc(2023, 1, 1, 23)),)


def test_monthly_subscription_d08_sample() -> None:
    (item,) = parse_price_list_document(
        *source(DATAHUB3 / "ChargePriceSeriesSubscriptionMonthlySample.xml")
    )
    assert item.charge_type is DataHubChargeType.SUBSCRIPTION
    assert item.resolution is Resolution.P1M
    assert item.points == (ChargePricePoint(utc(2022, 12, 31, 23), Decimal("199.95")),)


def _subscription_document(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (DATAHUB3 / "ChargePriceSeriesSubscriptionMonthlySample.xml").read_text("utf-8-sig")
    assert old in text
    return write(tmp_path, name, text.replace(old, new))


def test_monthly_positions_step_in_local_calendar_months_across_dst(tmp_path: Path) -> None:
    point = (
        "<cim:Point>\n<cim:position>{0}</cim:position>\n"
        "<cim:price.amount>{1}</cim:price.amount>\n</cim:Point>\n"
    )
    path = _subscription_document(
        tmp_path,
        "months.xml",
        "<cim:end>2023-01-31T23:00Z</cim:end>",
        "<cim:end>2023-04-30T22:00Z</cim:end>",
    )
    text = path.read_text("utf-8").replace(
        "</cim:Series_Period>",
        point.format(3, "210.00") + point.format(4, "210.00") + "</cim:Series_Period>",
    )
    path.write_text(text, "utf-8")
    (item,) = parse_price_list_document(*source(path))
    assert [p.start for p in item.points] == [
        utc(2022, 12, 31, 23),  # 1 Jan local
        utc(2023, 2, 28, 23),  # 1 Mar local (position 2 is absent)
        utc(2023, 3, 31, 22),  # 1 Apr local, summer time
    ]


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "<cim:price.amount>199.95</cim:price.amount>",
            "<cim:price.amount>1,99</cim:price.amount>",
            " row 1: price.amount of position 1 is not a number: '1,99'",
        ),
        (
            "<cim:position>1</cim:position>",
            "<cim:position>2</cim:position>",
            " row 1: Point position 2 lies outside the timeInterval",
        ),
        (
            "<cim:position>1</cim:position>",
            "<cim:position>0</cim:position>",
            " row 1: Point position is not a whole number from 1 to 10000: '0'",
        ),
        (
            "<cim:start>2022-12-31T23:00Z</cim:start>",
            "<cim:start>2023-01-14T23:00Z</cim:start>",
            " row 1: timeInterval start 2023-01-14T23:00:00+00:00 is not the start of a local "
            "month",
        ),
        (
            "<cim:type>D01</cim:type>",
            "<cim:type>D05</cim:type>",
            " row 1: type must be D01, D02 or D03: 'D05'",
        ),
        (
            "<cim:effectiveDate>2022-12-31T23:00:00Z</cim:effectiveDate>",
            "<cim:effectiveDate>2022-12-31T23:00:00</cim:effectiveDate>",
            " row 1: effectiveDate has no time zone: '2022-12-31T23:00:00'",
        ),
        (
            "<cim:process.processType>D08</cim:process.processType>",
            "<cim:process.processType>D17</cim:process.processType>",
            ": process.processType must be D18 or D08 (D17 links are not read): 'D17'",
        ),
        (
            "urn:ediel.org:structure:requestchangeofpricelist:0:1",
            "urn:example:other",
            ": root element is '{urn:example:other}RequestChangeOfPriceList_MarketDocument', "
            "not RequestChangeOfPriceList_MarketDocument",
        ),
        (
            "<cim:mRID>TestSub</cim:mRID>",
            "",
            " row 1: mRID is missing",
        ),
    ],
)
def test_price_list_document_errors_name_file_and_item(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    path = _subscription_document(tmp_path, "charges.xml", old, new)
    assert error_of(parse_price_list_document, path) == f"charges.xml{message}"


def test_price_list_document_with_a_dtd_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "evil.xml", '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    assert error_of(parse_price_list_document, path) == "evil.xml: XML with a DTD is not accepted"


def test_price_list_document_that_is_not_xml(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.xml", "<a><b></a>")
    assert error_of(parse_price_list_document, path).startswith(
        "broken.xml: not well-formed XML: mismatched tag"
    )
