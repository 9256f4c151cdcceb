"""Master-data parsers: the fixtures of every kind, and each refusal in one line with the row."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.codelists import (
    BillingFrequency,
    ConnectionStatus,
    CustomerStatus,
    EndReason,
    EnergyModel,
    MeteringPointType,
    PaymentModel,
    PriceArea,
    SettlementMethod,
)
from schemas.reference import ReferenceDataError
from schemas.reference.masterdata import MASTER_DATA_KINDS, parse_master_data
from storage.importers import read_file
from tests.test_reference import REFERENCE, source, utc, write

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
    assert consumption.gsrn == "571313113100000019"
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
            "571313113100000019",
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
