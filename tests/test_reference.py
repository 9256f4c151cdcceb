"""Reference data parsers: good files from tests/fixtures, and every error path in one line.

Parsers take bytes and a name; `source(path)` gives both."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.codelists import (
    DataHubChargeType,
    PriceArea,
    Resolution,
)
from schemas.reference import ReferenceDataError
from schemas.reference.pricelist import parse_datahub_pricelist
from schemas.reference.spot import parse_day_ahead_prices, parse_elspot_prices

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
            "TimeUTC is not a date-time: '10/01/2026 00:00' (YYYY-MM-DD HH:MM[:SS], optionally"
            " followed by Z or an offset such as +01:00)",
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


def test_pricelist_zero_with_an_absurd_exponent_becomes_six_decimals(tmp_path: Path) -> None:
    path = write(tmp_path, "zero.json", f"[{_pricelist_record(Price1='0E-1000000')}]")
    (row,) = parse_datahub_pricelist(*source(path))
    assert str(row.prices[0]) == "0.000000"


def test_pricelist_zero_price_is_kept_not_replaced_by_price1(tmp_path: Path) -> None:
    path = write(tmp_path, "zero.json", f"[{_pricelist_record(Price2='0', Price3='null')}]")
    (row,) = parse_datahub_pricelist(*source(path))
    assert row.prices[:3] == (Decimal("0.072"), Decimal("0"), Decimal("0.072"))
