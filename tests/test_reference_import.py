"""Reference data import: one transaction per file, idempotent upserts, one-line errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from deploy.cli import main
from schemas.reference import ReferenceDataError
from storage.db import connect
from storage.importers import import_file

pytestmark = pytest.mark.services

FIXTURES = Path(__file__).parent / "fixtures"
REFERENCE = FIXTURES / "reference"
DATAHUB3 = FIXTURES / "datahub3"

MASTER = (
    ("grid_areas", "grid_areas.csv"),
    ("customers", "customers.json"),
    ("products", "products.csv"),
    ("metering_points", "metering_points.csv"),
    ("supply_periods", "supply_periods.csv"),
    ("contracts", "contracts.csv"),
    ("aconto_payments", "aconto_payments.json"),
)
PRICES = (
    ("pricelist", "datahub_pricelist_2026.json"),
    ("pricelist", "datahub_pricelist_2026.csv"),
    ("spot", "day_ahead_prices_dk1_2026-10-01.json"),
    ("spot", "day_ahead_prices_dk2_2026-10-25_dst.csv"),
    ("elspot", "elspot_prices_dk_2025-03-30.csv"),
)


def counts(db: str) -> dict[str, int]:
    tables = [
        "grid_area",
        "customer",
        "product",
        "metering_point",
        "supply_period",
        "contract",
        "aconto_payment",
        "billing_period",
        "grid_tariff",
        "tariff_rate",
        "subscription",
        "electricity_tax",
        "spot_price",
    ]
    with connect(db) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables}  # type: ignore[index]


def load_all(db: str) -> list[str]:
    with connect(db, autocommit=True) as conn:
        return [import_file(conn, kind, REFERENCE / name).line() for kind, name in MASTER + PRICES]


def test_fixtures_import_and_a_second_import_changes_nothing(db: str) -> None:
    first = load_all(db)
    assert first[0] == "grid_areas.csv: grid_areas: 2 inserted, 0 updated, 0 unchanged"
    after_first = counts(db)
    assert after_first["grid_tariff"] == 5  # 2 Energinet (no grid area) + CD ×2 + DT_C_01
    assert after_first["tariff_rate"] == 5 * 24
    assert after_first["electricity_tax"] == 2
    assert after_first["subscription"] == 1
    assert after_first["billing_period"] == 2
    second = load_all(db)
    assert counts(db) == after_first
    for line in second:
        assert " 0 inserted, 0 updated," in line, line


def test_price_list_maps_energinet_and_grid_company_rows(db: str) -> None:
    load_all(db)
    with connect(db) as conn:
        tariffs = conn.execute(
            """SELECT tariff_type, grid_area_code, charge_code FROM grid_tariff
               ORDER BY 1, 2, valid_from"""
        ).fetchall()
        taxes = conn.execute(
            "SELECT rate_per_kwh FROM electricity_tax ORDER BY valid_from"
        ).fetchall()
        hour18 = conn.execute(
            """SELECT r.price_per_kwh FROM tariff_rate r JOIN grid_tariff g ON g.id = r.grid_tariff_id
               WHERE g.charge_code = 'DT_C_01' AND r.hour_number = 18"""
        ).fetchone()
    assert tariffs == [
        ("GridTariff", "131", "CD"),
        ("GridTariff", "131", "CD"),
        ("GridTariff", "740", "DT_C_01"),
        ("SystemTariff", None, "41000"),
        ("TransmissionTariff", None, "40000"),
    ]
    assert [t[0] for t in taxes] == [Decimal("0.727"), Decimal("0.008")]
    assert hour18 == (Decimal("1.359"),)


def test_a_bad_row_writes_nothing_of_the_file_and_names_file_and_row(
    db: str, tmp_path: Path
) -> None:
    with connect(db, autocommit=True) as conn:
        import_file(conn, "grid_areas", REFERENCE / "grid_areas.csv")
        bad = tmp_path / "metering_points.csv"
        bad.write_text(
            (REFERENCE / "metering_points.csv").read_text(encoding="utf-8")
            + "571313199900000015;E17_Consumption;Flex;Connected;999;5790001089030;;\n",
            encoding="utf-8",
        )
        with pytest.raises(ReferenceDataError) as caught:
            import_file(conn, "metering_points", bad)
        assert str(caught.value) == (
            "metering_points.csv row 4: GridAreaCode 999 is not a known grid area; "
            "load grid_areas first"
        )
    assert counts(db)["metering_point"] == 0


def test_cli_load_prints_one_summary_line_and_errors_exit_2(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", "grid_areas", str(REFERENCE / "grid_areas.csv")]) == 0
    assert capsys.readouterr().out == (
        "grid_areas.csv: grid_areas: 2 inserted, 0 updated, 0 unchanged\n"
    )
    bad = tmp_path / "products.csv"
    bad.write_text("Id,Name\nnot-a-uuid,x\n", encoding="utf-8")
    assert main(["load", "products", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("elflow: products.csv row 1: ") and "\n" not in err


def test_aconto_payment_of_an_unknown_contract_is_refused(db: str) -> None:
    with connect(db, autocommit=True) as conn, pytest.raises(ReferenceDataError) as caught:
        import_file(conn, "aconto_payments", REFERENCE / "aconto_payments.json")
    assert str(caught.value).startswith("aconto_payments.json row 1: ContractId ")
    assert counts(db)["billing_period"] == 0


def test_d08_hourly_prices_of_a_known_charge_become_a_tariff_version(
    db: str, tmp_path: Path
) -> None:
    with connect(db, autocommit=True) as conn:
        areas = tmp_path / "grid_areas.csv"
        areas.write_text(
            "Code;GridOperatorGln;GridOperatorName;PriceArea\n900;8100000000030;Test;DK1\n",
            encoding="utf-8",
        )
        import_file(conn, "grid_areas", areas)
        price_list = tmp_path / "pricelist.csv"
        price_list.write_text(
            "ChargeOwner;GLN_Number;ChargeType;ChargeTypeCode;Note;Description;ValidFrom;"
            "ValidTo;VATClass;Price1;TransparentInvoicing;TaxIndicator;ResolutionDuration\n"
            "Test;8100000000030;D03;TestTariff;Nettarif;Nettarif;2022-01-01T00:00:00;;D02;"
            "0,5;1;0;PT1H\n",
            encoding="utf-8",
        )
        import_file(conn, "pricelist", price_list)
        xml = DATAHUB3 / "ChargePriceSeriesTariffHourlySample.xml"
        assert import_file(conn, "pricelist-xml", xml).inserted == 1
        assert import_file(conn, "pricelist-xml", xml).unchanged == 1
        info = import_file(
            conn, "pricelist-xml", DATAHUB3 / "ChargeInformationTariffHourlySample.xml"
        )
        assert info.skipped == 1
        version = conn.execute(
            """SELECT g.valid_from AT TIME ZONE 'Europe/Copenhagen',
                      g.valid_to AT TIME ZONE 'Europe/Copenhagen', array_agg(r.price_per_kwh ORDER BY r.hour_number)
               FROM grid_tariff g JOIN tariff_rate r ON r.grid_tariff_id = g.id
               WHERE g.note LIKE 'D08%%' GROUP BY g.id"""
        ).fetchone()
    assert version is not None
    assert (version[0].isoformat(), version[1].isoformat()) == (
        "2023-01-01T00:00:00",
        "2023-01-02T00:00:00",
    )
    assert version[2][0] == Decimal("1.001") and version[2][23] == Decimal("24.024")
