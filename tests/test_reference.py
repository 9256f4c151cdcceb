"""Reference data parsers: good files from tests/fixtures, and every error path in one line.

Parsers take bytes and a name; `source(path)` gives both."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.codelists import (
    BillingFrequency,
    ConnectionStatus,
    CustomerStatus,
    DataHubChargeType,
    EndReason,
    EnergyModel,
    MeteringPointType,
    PaymentModel,
    PriceArea,
    Resolution,
    SettlementMethod,
)
from schemas.reference import ReferenceDataError
from schemas.reference.masterdata import MASTER_DATA_KINDS, parse_master_data
from schemas.reference.pricelist import parse_datahub_pricelist
from schemas.reference.pricelist_cim import ChargePricePoint, parse_price_list_document
from schemas.reference.spot import parse_day_ahead_prices, parse_elspot_prices
from storage.importers import read_file

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "reference"
DATAHUB3 = FIXTURES / "datahub3"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def source(path: Path) -> tuple[bytes, str]:
    return path.read_bytes(), path.name


def error_of(parse: object, path: Path) -> str:
    with pytest.raises(ReferenceDataError) as caught:
        parse(*source(path))  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message
    return message


# --------------------------------------------------------------------------------------------
# Day-ahead prices


def test_day_ahead_json_gives_quarter_hour_prices_in_dkk_per_kwh() -> None:
    rows = parse_day_ahead_prices(*source(REFERENCE / "day_ahead_prices_dk1_2026-10-01.json"))
    assert len(rows) == 8
    first = rows[0]
    assert first.price_area is PriceArea.DK1
    assert first.start == utc(2026, 9, 30, 22, 0)
    assert first.resolution == "PT15M"
    assert first.end == utc(2026, 9, 30, 22, 15)
    # 709.909118 DKK/MWh, read from the JSON text without float
    assert first.price_dkk_per_kwh == Decimal("0.709909118")
    assert str(first.price_dkk_per_kwh) == "0.709909118"
    assert rows[-1].start == utc(2026, 9, 30, 23, 45)


def test_day_ahead_csv_with_bom_decimal_comma_and_repeated_local_hour_on_dst_day() -> None:
    rows = parse_day_ahead_prices(*source(REFERENCE / "day_ahead_prices_dk2_2026-10-25_dst.csv"))
    assert len(rows) == 12
    assert all(row.price_area is PriceArea.DK2 for row in rows)
    # TimeDK 02:00 appears twice: first in summer time (00:00Z), then in winter time (01:00Z)
    assert rows[2].start == utc(2026, 10, 25, 0, 0)
    assert rows[6].start == utc(2026, 10, 25, 1, 0)
    assert rows[2].price_dkk_per_kwh == Decimal("0.598700012")
    assert rows[6].price_dkk_per_kwh == Decimal("0.575299988")
    assert len({row.start for row in rows}) == 12


def test_day_ahead_local_time_that_disagrees_with_utc_names_the_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "dst.csv",
        "TimeUTC;TimeDK;PriceArea;DayAheadPriceEUR;DayAheadPriceDKK\n"
        "2026-10-25 00:45;2026-10-25 02:45;DK1;80,1;597,8\n"
        "2026-10-25 01:00;2026-10-25 03:00;DK1;80,1;597,8\n",
    )
    assert error_of(parse_day_ahead_prices, path) == (
        "dst.csv row 2: TimeDK 2026-10-25T03:00:00 does not match TimeUTC 2026-10-25T01:00Z "
        "(expected 2026-10-25T02:00:00 in Europe/Copenhagen)"
    )


def test_day_ahead_bad_number_names_file_row_and_value(tmp_path: Path) -> None:
    lines = ["TimeUTC,TimeDK,PriceArea,DayAheadPriceEUR,DayAheadPriceDKK"]
    for quarter in range(17):
        price = "abc" if quarter == 16 else "612.5"
        hour, minute = divmod(quarter * 15, 60)
        lines.append(
            f"2026-01-10T{hour:02}:{minute:02}:00,2026-01-10T{hour + 1:02}:{minute:02}:00,"
            f"DK1,82.1,{price}"
        )
    path = write(tmp_path, "spot.csv", "\n".join(lines) + "\n")
    assert error_of(parse_day_ahead_prices, path) == (
        "spot.csv row 17: DayAheadPriceDKK is not a number: 'abc'"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (
            '{"TimeUTC": "2026-01-10T00:05:00", "TimeDK": "2026-01-10T01:05:00", '
            '"PriceArea": "DK1", "DayAheadPriceDKK": 1}',
            "TimeUTC 2026-01-10T00:05:00+00:00 is not on a PT15M boundary",
        ),
        (
            '{"TimeUTC": "2026-01-10T00:00:00", "TimeDK": "2026-01-10T01:00:00", '
            '"PriceArea": "SE3", "DayAheadPriceDKK": 1}',
            "PriceArea must be DK1 or DK2 (filter the download to Danish areas): 'SE3'",
        ),
        (
            '{"TimeUTC": "10/01/2026 00:00", "TimeDK": "2026-01-10T01:00:00", '
            '"PriceArea": "DK1", "DayAheadPriceDKK": 1}',
            "TimeUTC is not a date-time: '10/01/2026 00:00'",
        ),
        (
            '{"TimeUTC": "2026-01-10T00:00:00", "TimeDK": "2026-01-10T01:00:00", '
            '"PriceArea": "DK1"}',
            "DayAheadPriceDKK is missing",
        ),
    ],
)
def test_day_ahead_json_record_errors_name_the_record(
    tmp_path: Path, line: str, message: str
) -> None:
    good = (
        '{"TimeUTC": "2026-01-09T23:00:00", "TimeDK": "2026-01-10T00:00:00", '
        '"PriceArea": "DK1", "DayAheadPriceDKK": 1}'
    )
    path = write(tmp_path, "dap.json", f'{{"records": [{good}, {line}]}}')
    assert error_of(parse_day_ahead_prices, path) == f"dap.json row 2: {message}"


def test_day_ahead_duplicate_interval_is_an_error(tmp_path: Path) -> None:
    record = (
        '{"TimeUTC": "2026-01-09T23:00:00", "TimeDK": "2026-01-10T00:00:00", '
        '"PriceArea": "DK1", "DayAheadPriceDKK": 1.5}'
    )
    path = write(tmp_path, "dup.json", f"[{record}, {record}]")
    assert error_of(parse_day_ahead_prices, path) == (
        "dup.json row 2: duplicate PriceArea and TimeUTC (same as row 1)"
    )


def test_comma_csv_does_not_accept_a_decimal_comma(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "comma.csv",
        "TimeUTC,TimeDK,PriceArea,DayAheadPriceEUR,DayAheadPriceDKK\n"
        '2026-01-09T23:00:00,2026-01-10T00:00:00,DK1,80.1,"597,8"\n',
    )
    assert error_of(parse_day_ahead_prices, path) == (
        "comma.csv row 1: DayAheadPriceDKK is not a number: '597,8'"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "x.csv: file is empty"),
        (
            "TimeUTC TimeDK\n1 2\n",
            "x.csv: cannot find the CSV delimiter (';' or ',') in the header",
        ),
        ("a;b;a\n1;2;3\n", "x.csv: header names column 'a' twice"),
        ("a;b\n1;2;3\n", "x.csv row 1: has 3 fields but the header has 2"),
        (
            '{"records": [1}',
            "x.csv: not valid JSON: Expecting ',' delimiter: line 1 column 15 (char 14)",
        ),
        ('{"rows": []}', 'x.csv: JSON object has no "records" list'),
        ("[1]", "x.csv row 1: record is not a JSON object"),
        (
            '[{"TimeUTC": "2026-01-10T00:00:00", "TimeDK": "2026-01-10T01:00:00", '
            '"PriceArea": "DK1", "DayAheadPriceDKK": NaN}]',
            "x.csv row 1: DayAheadPriceDKK is not a finite number: 'NaN'",
        ),
    ],
)
def test_malformed_files_are_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    assert error_of(parse_day_ahead_prices, write(tmp_path, "x.csv", content)) == message


def test_non_utf8_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes("Note;Price1\nVærdi;1\n".encode("latin-1"))
    assert error_of(parse_datahub_pricelist, path) == (
        "latin1.csv: not UTF-8 text (bad byte at offset 13)"
    )


# --------------------------------------------------------------------------------------------
# Elspotprices (legacy hourly)


def test_elspot_csv_gives_hourly_prices_across_the_spring_dst_change() -> None:
    rows = parse_elspot_prices(*source(REFERENCE / "elspot_prices_dk_2025-03-30.csv"))
    assert [row.resolution for row in rows] == [Resolution.PT1H] * 5
    # 01:00Z is local 03:00: the local hour 02 does not exist that day
    assert rows[2].start == utc(2025, 3, 30, 1)
    assert rows[2].price_dkk_per_kwh == Decimal("0.487239990")
    assert rows[3].price_dkk_per_kwh == Decimal("0.480959991")  # EUR price empty: not needed
    assert rows[4].price_area is PriceArea.DK2
    assert rows[0].end == utc(2025, 3, 30, 0)


def test_elspot_null_dkk_price_names_the_row(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "elspot.json",
        '{"records": [{"HourUTC": "2025-03-29T23:00:00", "HourDK": "2025-03-30T00:00:00", '
        '"PriceArea": "DK1", "SpotPriceDKK": null, "SpotPriceEUR": 69.95}]}',
    )
    assert error_of(parse_elspot_prices, path) == "elspot.json row 1: SpotPriceDKK is empty"


# --------------------------------------------------------------------------------------------
# DatahubPricelist


def test_pricelist_json_converts_local_validity_to_utc_and_fills_prices_from_price1() -> None:
    rows = parse_datahub_pricelist(*source(REFERENCE / "datahub_pricelist_2026.json"))
    assert len(rows) == 6
    tax_2025, tax_2026, system, transmission, winter, summer = rows

    assert tax_2025.charge_type_code == "EA-001"
    assert tax_2025.valid_from == utc(2024, 12, 31, 23)
    assert tax_2025.valid_to == utc(2025, 12, 31, 23)
    assert tax_2025.prices == (Decimal("0.727"),) * 24
    assert tax_2025.tax_indicator is True

    assert tax_2026.valid_from == utc(2025, 12, 31, 23)
    assert tax_2026.valid_to is None
    assert tax_2026.prices == (Decimal("0.008"),) * 24
    assert tax_2026.gln == "5790000432752"
    assert tax_2026.charge_type is DataHubChargeType.TARIFF
    assert tax_2026.resolution is Resolution.PT1H

    assert system.charge_type_code == "41000"
    assert system.prices[23] == Decimal("0.072")
    assert system.tax_indicator is False
    assert transmission.note == "Transmissions nettarif"
    assert transmission.prices[0] == Decimal("0.043")

    assert winter.charge_owner == "N1 A/S - 131"
    assert winter.transparent_invoicing is True
    assert winter.prices[0] == winter.prices[5] == Decimal("0.1083")  # lavlast 00–06
    assert winter.prices[6] == winter.prices[16] == Decimal("0.3250")  # højlast 06–17
    assert winter.prices[17] == winter.prices[20] == Decimal("0.9751")  # spidslast 17–21
    assert winter.prices[21] == winter.prices[23] == Decimal("0.3250")  # højlast 21–24
    # ValidFrom 2026-04-01 local is in summer time: midnight is 22:00Z the day before
    assert summer.valid_from == utc(2026, 3, 31, 22)
    assert winter.valid_to == summer.valid_from


def test_pricelist_csv_with_semicolons_and_decimal_commas() -> None:
    subscription, radius, tax = parse_datahub_pricelist(
        *source(REFERENCE / "datahub_pricelist_2026.csv")
    )
    assert subscription.charge_type is DataHubChargeType.SUBSCRIPTION
    assert subscription.resolution is Resolution.P1M
    assert subscription.prices[0] == Decimal("33.358333")
    assert subscription.description == "Netabonnement C, pr. måned"
    assert radius.prices[17] == Decimal("1.3590")
    assert radius.valid_to == utc(2026, 3, 31, 22)
    assert tax.tax_indicator is True
    assert tax.prices == (Decimal("0.008"),) * 24


def _pricelist_record(**overrides: str) -> str:
    fields = {
        "ChargeOwner": '"Energinet"',
        "GLN_Number": '"5790000432752"',
        "ChargeType": '"D03"',
        "ChargeTypeCode": '"41000"',
        "ValidFrom": '"2026-01-01T00:00:00"',
        "Price1": "0.072",
        "TaxIndicator": "0",
        "ResolutionDuration": '"PT1H"',
    }
    fields.update(overrides)
    return "{" + ", ".join(f'"{key}": {value}' for key, value in fields.items()) + "}"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"Price1": "null"}, "Price1 is empty"),
        ({"Price7": '"x"'}, "Price7 is not a number: 'x'"),
        ({"ValidFrom": '"2026-03-29T02:30:00"'}, "ValidFrom: 2026-03-29T02:30:00 does not exist"),
        ({"ValidTo": '"2025-06-01T00:00:00"'}, "ValidTo is not after ValidFrom"),
        ({"ChargeType": '"D04"'}, "ChargeType must be one of D01, D02, D03: 'D04'"),
        ({"GLN_Number": '"579000043275"'}, "GLN_Number must be 13 digits: '579000043275'"),
        ({"TaxIndicator": '"maybe"'}, "TaxIndicator is not true/false: 'maybe'"),
        ({"ResolutionDuration": '"PT15M"'}, "ResolutionDuration must be PT1H, P1D or P1M"),
    ],
)
def test_pricelist_errors_name_the_record(
    tmp_path: Path, overrides: dict[str, str], message: str
) -> None:
    path = write(tmp_path, "pricelist.json", f"[{_pricelist_record(**overrides)}]")
    assert error_of(parse_datahub_pricelist, path).startswith(f"pricelist.json row 1: {message}")


def test_pricelist_zero_price_is_kept_not_replaced_by_price1(tmp_path: Path) -> None:
    path = write(tmp_path, "zero.json", f"[{_pricelist_record(Price2='0', Price3='null')}]")
    (row,) = parse_datahub_pricelist(*source(path))
    assert row.prices[:3] == (Decimal("0.072"), Decimal("0"), Decimal("0.072"))


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


# --------------------------------------------------------------------------------------------
# Master data


def test_products() -> None:
    spot, green, fixed, mixed = parse_master_data("products", *source(REFERENCE / "products.csv"))
    assert spot.id == uuid.UUID("7b1f4c2e-58a3-4d6e-9c1a-2f6e8d0b3a11")
    assert spot.energy_model is EnergyModel.SPOT
    assert spot.margin_ore_per_kwh == Decimal("4.50")
    assert spot.supplement_ore_per_kwh is None
    assert spot.binding_period_months is None
    assert green.name == "Grøn Spot"
    assert green.supplement_ore_per_kwh == Decimal("1.25")
    assert fixed.fixed_price_ore_per_kwh == Decimal("89.95")
    assert fixed.spot_share is None
    assert mixed.spot_share == Decimal("0.5")
    assert mixed.is_active is False


def test_customers() -> None:
    person, company = parse_master_data("customers", *source(REFERENCE / "customers.json"))
    assert person.cpr_cvr == "0101901234"
    assert person.created_at == utc(2025, 11, 3, 9, 15)
    assert person.status is CustomerStatus.ACTIVE
    assert company.email is None
    # a time without zone is Danish local time (03:30 CEST on the spring DST day)
    assert company.created_at == utc(2026, 3, 29, 1, 30)


def test_contracts_have_local_dates_with_exclusive_end() -> None:
    open_ended, ended = parse_master_data("contracts", *source(REFERENCE / "contracts.csv"))
    assert open_ended.billing_frequency is BillingFrequency.QUARTERLY
    assert open_ended.payment_model is PaymentModel.ACONTO
    assert open_ended.start_date == date(2026, 1, 15)
    assert open_ended.start_utc == utc(2026, 1, 14, 23)
    assert open_ended.end_date is None
    assert open_ended.end_utc is None
    assert ended.end_utc == utc(2026, 1, 31, 23)
    assert ended.payment_term_days == 8


def test_supply_periods() -> None:
    ongoing, moved, switched = parse_master_data(
        "supply_periods", *source(REFERENCE / "supply_periods.csv")
    )
    assert ongoing.end_date is None and ongoing.end_reason is None
    assert moved.end_reason is EndReason.MOVE_OUT
    assert switched.start_utc == utc(2024, 6, 30, 22)
    assert switched.end_utc == utc(2025, 6, 30, 22)


def test_metering_points() -> None:
    consumption, disconnected, production = parse_master_data(
        "metering_points", *source(REFERENCE / "metering_points.csv")
    )
    assert consumption.gsrn == "571313113100000017"
    assert consumption.type is MeteringPointType.E17_CONSUMPTION
    assert consumption.settlement_method is SettlementMethod.FLEX
    assert consumption.activated_at == utc(2019, 5, 1)
    assert disconnected.connection_status is ConnectionStatus.DISCONNECTED
    assert disconnected.activated_at == utc(2020, 1, 31, 23)
    assert disconnected.deactivated_at == utc(2026, 1, 31, 23)
    assert production.type is MeteringPointType.E18_PRODUCTION
    assert production.activated_at is None


def test_grid_areas() -> None:
    n1, radius = parse_master_data("grid_areas", *source(REFERENCE / "grid_areas.csv"))
    assert (n1.code, n1.price_area) == ("131", PriceArea.DK1)
    assert (radius.grid_operator_gln, radius.price_area) == ("5790000705689", PriceArea.DK2)


def test_aconto_payments() -> None:
    first, second = parse_master_data(
        "aconto_payments", *source(REFERENCE / "aconto_payments.json")
    )
    assert first.amount == Decimal("1850.00")
    assert first.billing_period_end == date(2026, 4, 1)
    assert second.amount == Decimal("2140.00")
    assert second.paid_at == utc(2026, 4, 2, 8, 30)


def test_every_master_data_kind_has_a_fixture() -> None:
    names = {
        "products": "products.csv",
        "customers": "customers.json",
        "contracts": "contracts.csv",
        "supply_periods": "supply_periods.csv",
        "metering_points": "metering_points.csv",
        "grid_areas": "grid_areas.csv",
        "aconto_payments": "aconto_payments.json",
    }
    assert set(MASTER_DATA_KINDS) == set(names)
    for kind, name in names.items():
        assert parse_master_data(kind, *source(REFERENCE / name))


def test_unknown_master_data_kind() -> None:
    with pytest.raises(ValueError, match="unknown master data kind 'tariffs'"):
        parse_master_data("tariffs", *source(REFERENCE / "products.csv"))


def _replace_in_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = (REFERENCE / name).read_text("utf-8")
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1), "utf-8")
    return path


@pytest.mark.parametrize(
    ("kind", "name", "old", "new", "message"),
    [
        (
            "products",
            "products.csv",
            ",Spot,4.50,,",
            ",Flat,4.50,,",
            "row 1: EnergyModel must be one of Spot, FixedPrice, Mixed: 'Flat'",
        ),
        (
            "products",
            "products.csv",
            "7b1f4c2e-58a3",
            "7b1f4c2e-58aX",
            "row 1: Id is not a UUID: '7b1f4c2e-58aX-4d6e-9c1a-2f6e8d0b3a11'",
        ),
        (
            "products",
            "products.csv",
            ",12,true,89.95,",
            ",12,true,,",
            "row 3: FixedPriceOrePerKwh is empty",
        ),
        (
            "products",
            "products.csv",
            ",95.00,0.5",
            ",95.00,1.5",
            "row 4: SpotShare must be between 0 and 1: 1.5",
        ),
        (
            "products",
            "products.csv",
            "29.00,,true,,",
            "29.00,,true,,0.5",
            "row 1: SpotShare only applies to Mixed products, not Spot",
        ),
        (
            "products",
            "products.csv",
            ",true,,\n0c9e",
            ",ja,,\n0c9e",
            "row 1: IsActive is not true/false: 'ja'",
        ),
        (
            "customers",
            "customers.json",
            '"Active"',
            '"Deleted"',
            "row 1: Status must be one of Active, Inactive, Archived: 'Deleted'",
        ),
        (
            "customers",
            "customers.json",
            '"12345678"',
            '"1234567"',
            "row 2: CprCvr must be an 8-digit CVR or a 10-digit CPR number",
        ),
        (
            "contracts",
            "contracts.csv",
            ";2026-01-15;",
            ";2026-13-15;",
            "row 1: StartDate is not a date: '2026-13-15'",
        ),
        (
            "contracts",
            "contracts.csv",
            ";2025-04-01;2026-02-01",
            ";2025-04-01;2025-04-01",
            "row 2: EndDate 2025-04-01 is not after StartDate 2025-04-01",
        ),
        (
            "contracts",
            "contracts.csv",
            ";Quarterly;",
            ";Yearly;",
            "row 1: BillingFrequency must be one of Monthly, Quarterly: 'Yearly'",
        ),
        (
            "contracts",
            "contracts.csv",
            ";Aconto;",
            ";Prepaid;",
            "row 1: PaymentModel must be one of Aconto, PostPayment: 'Prepaid'",
        ),
        (
            "contracts",
            "contracts.csv",
            ";2026-01-15;",
            ";2026-01-15T12:00:00;",
            "row 1: StartDate must be a date (local midnight): '2026-01-15T12:00:00'",
        ),
        (
            "supply_periods",
            "supply_periods.csv",
            ",MoveOut",
            ",Eviction",
            "row 2: EndReason must be one of SupplierSwitch, MoveOut, NonPayment: 'Eviction'",
        ),
        (
            "supply_periods",
            "supply_periods.csv",
            "2026-01-15,,",
            "2026-01-15,,MoveOut",
            "row 1: EndReason is given but EndDate is empty",
        ),
        (
            "supply_periods",
            "supply_periods.csv",
            "d4e5f6a7-b8c9-4012-9def-012345678904",
            "c3d4e5f6-a7b8-4901-8cde-f01234567803",
            "row 2: duplicate Id (same as row 1)",
        ),
        (
            "metering_points",
            "metering_points.csv",
            "571313113100000017",
            "57131311310000001",
            "row 1: Gsrn must be 18 digits: '57131311310000001'",
        ),
        (
            "metering_points",
            "metering_points.csv",
            ";Flex;Connected;",
            ";Flex;Live;",
            "row 1: ConnectionStatus must be one of Connected, Disconnected, ClosedDown: 'Live'",
        ),
        (
            "metering_points",
            "metering_points.csv",
            ";E17_Consumption;Flex;",
            ";E20_Exchange;Flex;",
            "row 1: Type must be one of E17_Consumption, E18_Production: 'E20_Exchange'",
        ),
        (
            "metering_points",
            "metering_points.csv",
            ";NonProfiled;",
            ";Profiled;",
            "row 2: SettlementMethod must be one of Flex, NonProfiled: 'Profiled'",
        ),
        (
            "grid_areas",
            "grid_areas.csv",
            ",DK2",
            ",SE4",
            "row 2: PriceArea must be one of DK1, DK2: 'SE4'",
        ),
        (
            "aconto_payments",
            "aconto_payments.json",
            '"2140.00"',
            '"2140.005"',
            "row 2: Amount has more than 2 decimals: 2140.005",
        ),
        (
            "aconto_payments",
            "aconto_payments.json",
            '"BillingPeriodEnd": "2026-04-01"',
            '"BillingPeriodEnd": "2026-01-15"',
            "row 1: BillingPeriodEnd 2026-01-15 is not after BillingPeriodStart 2026-01-15",
        ),
    ],
)
def test_master_data_errors_name_file_and_row(
    tmp_path: Path, kind: str, name: str, old: str, new: str, message: str
) -> None:
    path = _replace_in_copy(tmp_path, name, old, new)
    with pytest.raises(ReferenceDataError) as caught:
        parse_master_data(kind, *source(path))
    assert str(caught.value) == f"{name} {message}"
    assert (caught.value.source, caught.value.row) == (name, int(message.split()[1][:-1]))


def test_error_attributes_and_file_level_message(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    with pytest.raises(ReferenceDataError) as caught:
        read_file(missing)
    assert caught.value.row is None
    assert str(caught.value) == "nope.csv: cannot read file: No such file or directory"


def test_header_only_file_gives_no_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "areas.csv", "Code,GridOperatorGln,GridOperatorName,PriceArea\n")
    assert parse_master_data("grid_areas", *source(path)) == []
