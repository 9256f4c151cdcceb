"""`elflow load portfolio`: a whole portfolio in one transaction, against the real database as the
loader role. A generated portfolio of 10 000 customers from one JSON file; a broken one refused
with every reason and nothing written; re-loading changes nothing; source ids kept."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from deploy.cli import main
from schemas.reference.bounds import ReferenceDataError
from schemas.reference.portfolio import PortfolioRefused, parse_portfolio_json, source_uuid
from schemas.rsm012 import gsrn_check_digit
from storage.db import connect
from storage.importers import import_file
from storage.importers.portfolio import load_portfolio, read_portfolio

EXAMPLE = Path(__file__).parent.parent / "deploy" / "examples" / "portfolio"
REFERENCE = Path(__file__).parent / "fixtures" / "reference"
TABLES = (
    "grid_area",
    "product",
    "customer",
    "metering_point",
    "supply_period",
    "contract",
    "aconto_payment",
    "source_id",
)


def gsrn(number: int) -> str:
    body = f"5713131{number:010d}"
    return body + str(gsrn_check_digit(body))


def counts(db: str) -> dict[str, int]:
    with connect(db) as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in TABLES
        }


def generated(size: int) -> dict[str, list[dict[str, object]]]:
    """A portfolio of `size` customers, each with one metering point, supply period and
    contract; ids are source-system text, not UUIDs."""
    customers: list[dict[str, object]] = []
    points: list[dict[str, object]] = []
    supplies: list[dict[str, object]] = []
    contracts: list[dict[str, object]] = []
    for i in range(size):
        area = ("131", "740")[i % 2]
        customers.append(
            {"Id": f"C-{i}", "Name": f"Kunde {i}", "CprCvr": f"{i:08d}"[-8:],
             "ContactType": "Business", "Email": None, "Phone": None,
             "CreatedAt": "2025-01-01 00:00", "Status": "Active", "Address": f"Vej {i}"}
        )  # fmt: skip
        points.append(
            {"Gsrn": gsrn(i), "Type": "E17_Consumption", "SettlementMethod": "Flex",
             "ConnectionStatus": "Connected", "GridAreaCode": area,
             "GridOperatorGln": "5790001089030" if area == "131" else "5790000705689",
             "ActivatedAt": None, "DeactivatedAt": None}
        )  # fmt: skip
        supplies.append({"Id": f"S-{i}", "Gsrn": gsrn(i), "StartDate": "2026-01-01"})
        contracts.append(
            {"Id": f"K-{i}", "CustomerId": f"C-{i}", "Gsrn": gsrn(i),
             "ProductId": ("SPOT", "FAST")[i % 2], "BillingFrequency": "Monthly",
             "PaymentModel": "PostPayment", "PaymentTermDays": 14, "StartDate": "2026-01-01"}
        )  # fmt: skip
    return {
        "grid_areas": [
            {"Code": "131", "GridOperatorGln": "5790001089030", "GridOperatorName": "N1",
             "PriceArea": "DK1"},
            {"Code": "740", "GridOperatorGln": "5790000705689", "GridOperatorName": "Radius",
             "PriceArea": "DK2"},
        ],
        "products": [
            {"Id": "SPOT", "Name": "Spot", "EnergyModel": "Spot", "MarginOrePerKwh": 4.5,
             "SubscriptionKrPerMonth": 29, "IsActive": True},
            {"Id": "FAST", "Name": "Fast", "EnergyModel": "FixedPrice", "MarginOrePerKwh": 0,
             "SubscriptionKrPerMonth": 39, "IsActive": True, "FixedPriceOrePerKwh": 89.95},
        ],
        "customers": customers,
        "metering_points": points,
        "supply_periods": supplies,
        "contracts": contracts,
    }  # fmt: skip


def test_ten_thousand_customers_load_from_one_file_in_one_command(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    portfolio = generated(10_000)
    path = tmp_path / "portfolio.json"
    path.write_text(json.dumps(portfolio), encoding="utf-8")

    started = time.monotonic()
    assert main(["load", "portfolio", str(path)]) == 0
    first = time.monotonic() - started
    out = capsys.readouterr().out
    assert "10000 customers inserted, 0 updated, 0 unchanged" in out
    assert "10000 contracts inserted, 0 updated, 0 unchanged" in out
    loaded = counts(db)
    assert loaded["customer"] == loaded["metering_point"] == loaded["contract"] == 10_000
    assert loaded["source_id"] == 2 + 3 * 10_000  # products, customers, supply, contracts

    print(f"10 000 customers: first load {first:.1f} s")  # shown with -s
    with connect(db) as conn:
        row = conn.execute(
            "SELECT c.name, c.address, s.source_id FROM customer c"
            " JOIN source_id s ON s.kind = 'customer' AND s.id = c.id WHERE s.source_id = 'C-17'"
        ).fetchone()
        assert row == ("Kunde 17", "Vej 17", "C-17")
        owner = conn.execute(
            "SELECT s.source_id FROM contract k JOIN source_id s"
            " ON s.kind = 'customer' AND s.id = k.customer_id WHERE k.gsrn = %s",
            (gsrn(4711),),
        ).fetchone()
        assert owner == ("C-4711",)


def _broken(tmp_path: Path) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(EXAMPLE, folder)

    def append(name: str, line: str) -> None:
        with (folder / name).open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    wrong_check = gsrn(99)[:17] + str((int(gsrn(99)[17]) + 1) % 10)
    append("metering_points.csv", f"{gsrn(98)};E17_Consumption;Flex;Connected;999;5790001089030;;")
    append(
        "metering_points.csv", f"{wrong_check};E17_Consumption;Flex;Connected;131;5790001089030;;"
    )
    # overlaps L-1001-1 (2026-01-15, open-ended) of the same metering point
    append("supply_periods.csv", f"L-1001-2;{gsrn_of_example('K-1001')};2026-03-01;2026-06-01;")
    append("supply_periods.csv", f"L-9;{gsrn(97)};1. maj 2026;;")
    append("contracts.csv", f"A-9;K-404;{gsrn_of_example('K-1001')};SPOT-BASIS;Monthly;"
           "PostPayment;14;2027-01-01;")  # fmt: skip
    (folder / "kunder.csv").write_text("Id\nX\n", encoding="utf-8")
    return folder


def gsrn_of_example(customer: str) -> str:
    for line in (EXAMPLE / "contracts.csv").read_text(encoding="utf-8").splitlines()[1:]:
        cells = line.split(";")
        if cells[1] == customer:
            return cells[2]
    raise AssertionError(customer)


def test_a_broken_portfolio_is_refused_with_every_reason_and_nothing_written(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = counts(db)
    assert main(["load", "portfolio", str(_broken(tmp_path))]) == 2
    err = capsys.readouterr().err.splitlines()
    expected = [
        "kunder.csv: is not a portfolio file; the files are <kind>.csv or <kind>.json with kind"
        " one of grid_areas, pricelist, products, customers, metering_points, supply_periods, contracts,"
        " aconto_payments",
        "metering_points.csv row 4: GridAreaCode '999' is not a known grid area: not in"
        " grid_areas.csv nor stored",
        f"metering_points.csv row 5: Gsrn {gsrn(99)[:17]}{(int(gsrn(99)[17]) + 1) % 10} has a"
        f" wrong check digit: {(int(gsrn(99)[17]) + 1) % 10}, but the GS1 check digit of its"
        f" first 17 digits is {gsrn(99)[17]}",
        f"supply_periods.csv row 4: supply period from 2026-03-01 to 2026-06-01 of Gsrn"
        f" {gsrn_of_example('K-1001')} overlaps row 1 from 2026-01-15 (open-ended)",
        "supply_periods.csv row 5: StartDate is not a date (YYYY-MM-DD): '1. maj 2026'",
        "contracts.csv row 4: CustomerId 'K-404' is not a known customer: not in customers.csv"
        " nor stored",
        f"contracts.csv row 4: contract from 2027-01-01 (open-ended) of Gsrn"
        f" {gsrn_of_example('K-1001')} overlaps row 1 from 2026-01-15 (open-ended)",
        "elflow: portfolio refused, nothing written: 7 problems",
    ]
    assert err == expected
    assert counts(db) == before  # not even the good rows of the good files


def test_a_stored_period_counts_and_a_reload_is_idempotent(db: str, tmp_path: Path) -> None:
    with connect(job="loader", autocommit=True) as conn:
        first = load_portfolio(conn, EXAMPLE)
        assert first.lines()[1:4] == [
            "3 price list rows inserted, 0 updated, 0 unchanged, 1 skipped: 1 × a charge of grid"
            " operator 5790000705184, which has no grid area loaded (load its grid area first if"
            " we supply there)",
            "2 products inserted, 0 updated, 0 unchanged",
            "3 customers inserted, 0 updated, 0 unchanged",
        ]
        loaded = counts(db)
        again = load_portfolio(conn, EXAMPLE)
        assert all(" 0 updated" in line and line.startswith("0 ") for line in again.lines())
        assert counts(db) == loaded
        # Again, with one customer renamed: exactly that row is updated, nothing is duplicated.
        renamed = tmp_path / "renamed"
        shutil.copytree(EXAMPLE, renamed)
        customers = renamed / "customers.csv"
        customers.write_text(
            customers.read_text(encoding="utf-8").replace("Peter Holm", "Peter Holm-Berg"),
            encoding="utf-8",
        )
        assert load_portfolio(conn, renamed).lines()[3] == (
            "0 customers inserted, 1 updated, 2 unchanged"
        )
        assert counts(db) == loaded
        # A second portfolio whose new supply period overlaps a stored one.
        second = tmp_path / "second.json"
        point = gsrn_of_example("K-1002")
        second.write_text(
            json.dumps({"supply_periods": [{"Id": "L-2", "Gsrn": point, "StartDate": "2026-05-01",
                                            "EndDate": "2026-08-01"}]}),
            encoding="utf-8",
        )  # fmt: skip
        with pytest.raises(PortfolioRefused) as refused:
            load_portfolio(conn, second)
    assert refused.value.lines() == [
        f"second.json supply_periods row 1: supply period from 2026-05-01 to 2026-08-01 of Gsrn"
        f" {point} overlaps a stored one from 2026-02-01 (open-ended)"
    ]
    assert counts(db) == loaded
    with connect(db) as conn:
        name = conn.execute(
            "SELECT name FROM customer WHERE id = %s", (source_uuid("customer", "K-1002"),)
        ).fetchone()
    assert name == ("Bageriet Ved Åen ApS",)
    with connect(db) as conn:
        renamed_name = conn.execute(
            "SELECT name FROM customer WHERE id = %s", (source_uuid("customer", "K-1003"),)
        ).fetchone()
    assert renamed_name == ("Peter Holm-Berg",)


def test_the_printed_reasons_are_capped(db: str, tmp_path: Path) -> None:
    portfolio = generated(120)
    for customer in portfolio["customers"]:
        customer["CprCvr"] = "12"
    path = tmp_path / "p.json"
    path.write_text(json.dumps(portfolio), encoding="utf-8")
    with connect(job="loader", autocommit=True) as conn, pytest.raises(PortfolioRefused) as caught:
        load_portfolio(conn, path)
    # every customer, then every contract naming a refused customer
    assert len(caught.value.reasons) == 240
    lines = caught.value.lines()
    assert len(lines) == 51 and lines[-1] == "… and 190 more"
    assert lines[0] == (
        "p.json customers row 1: CprCvr must be an 8-digit CVR or a 10-digit CPR number"
    )
    assert caught.value.reasons[-1].message == (
        "CustomerId 'C-119' is the customer of p.json customers row 120, which is refused"
    )


def test_the_master_data_loader_uses_the_one_gsrn_check(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "metering_points.csv"
    good = gsrn(5)
    wrong = good[:17] + str((int(good[17]) + 5) % 10)
    bad.write_text(
        "Gsrn;Type;SettlementMethod;ConnectionStatus;GridAreaCode;GridOperatorGln\n"
        f"{wrong};E17_Consumption;Flex;Connected;131;5790001089030\n",
        encoding="utf-8",
    )
    with connect(job="loader", autocommit=True) as conn:
        import_file(conn, "grid_areas", REFERENCE / "grid_areas.csv")
        with pytest.raises(ReferenceDataError) as caught:
            import_file(conn, "metering_points", bad)
    assert str(caught.value) == (
        f"metering_points.csv row 1: Gsrn {wrong} has a wrong check digit: {wrong[17]}, but the"
        f" GS1 check digit of its first 17 digits is {good[17]}"
    )


def test_a_price_list_before_its_grid_areas_says_why_rows_are_skipped(db: str) -> None:
    with connect(job="loader", autocommit=True) as conn:
        line = import_file(conn, "pricelist", REFERENCE / "datahub_pricelist_2026.csv").line()
    assert "skipped" in line
    skipped = line.split(" skipped: ", 1)[1]
    assert skipped == (
        "1 × a charge of grid operator 5790001089030, which has no grid area loaded (load its"
        " grid area first if we supply there); 1 × a charge of grid operator 5790000705689, which"
        " has no grid area loaded (load its grid area first if we supply there)"
    )


def test_a_reload_keeps_the_end_a_process_set(db: str) -> None:
    """A move-out DataHub completed is newer than the portfolio file: loading the file again
    does not reopen the supply period or the contract."""
    supply, contract = source_uuid("supply_period", "L-1001-1"), source_uuid("contract", "A-1001")
    with connect(job="loader", autocommit=True) as conn:
        load_portfolio(conn, EXAMPLE)
    with connect(db, autocommit=True) as conn:
        request = conn.execute(
            "INSERT INTO process_request (id, type, gsrn, requested_at, status)"
            " VALUES (gen_random_uuid(), 'MoveOut', %s, now(), 'Completed') RETURNING id",
            (gsrn_of_example("K-1001"),),
        ).fetchone()[0]  # type: ignore[index]
        conn.execute(
            "UPDATE supply_period SET end_date = '2026-10-20', end_reason = 'MoveOut',"
            " ended_by_request = %s WHERE id = %s",
            (request, supply),
        )
        conn.execute(
            "UPDATE contract SET end_date = '2026-10-20', ended_by_request = %s WHERE id = %s",
            (request, contract),
        )
    with connect(job="loader", autocommit=True) as conn:
        again = load_portfolio(conn, EXAMPLE)
    assert again.lines()[5:7] == [
        "0 supply periods inserted, 0 updated, 3 unchanged",
        "0 contracts inserted, 0 updated, 3 unchanged",
    ]
    with connect(db) as conn:
        ends = conn.execute(
            "SELECT (SELECT end_date::text || ' ' || end_reason FROM supply_period WHERE id = %s),"
            " (SELECT end_date::text FROM contract WHERE id = %s)",
            (supply, contract),
        ).fetchone()
    assert ends == ("2026-10-20 MoveOut", "2026-10-20")


def test_instants_in_refusals_are_local_time_date_first() -> None:
    point = {"Gsrn": gsrn(1), "Type": "E17_Consumption", "SettlementMethod": "Flex",
             "ConnectionStatus": "Connected", "GridAreaCode": "131",
             "GridOperatorGln": "5790001089030", "ActivatedAt": "2026-03-29 03:00",
             "DeactivatedAt": "2026-03-29T00:30Z"}  # fmt: skip
    data = json.dumps({"metering_points": [point]}).encode()
    portfolio = parse_portfolio_json(data, "p.json")
    assert [str(e) for e in portfolio.errors] == [
        "p.json metering_points row 1: DeactivatedAt 2026-03-29 01:30 (+01:00) is not after"
        " ActivatedAt 2026-03-29 03:00 (+02:00)"
    ]


def test_mistakes_with_files_are_named(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert [str(e) for e in read_portfolio(empty).errors] == [
        "empty: has no portfolio file (<kind>.csv or .json; kinds: grid_areas, pricelist,"
        " products, customers, metering_points, supply_periods, contracts, aconto_payments)"
    ]
    twice = tmp_path / "twice"
    twice.mkdir()
    shutil.copy(EXAMPLE / "customers.csv", twice / "customers.csv")
    (twice / "customers.json").write_text("[]", encoding="utf-8")
    assert [str(e) for e in read_portfolio(twice).errors] == [
        "customers.json: customers.csv already holds the customers"
    ]
    assert [str(e) for e in read_portfolio(EXAMPLE / "customers.csv").errors] == [
        "customers.csv: a portfolio is one JSON file or a folder of <kind>.csv/.json files"
    ]
    missing = tmp_path / "nowhere.json"
    assert [str(e) for e in read_portfolio(missing).errors] == [
        "nowhere.json: cannot read file: No such file or directory"
    ]
    other = tmp_path / "other.json"
    other.write_text('{"kunder": []}', encoding="utf-8")
    assert [str(e) for e in read_portfolio(other).errors] == [
        "other.json: unknown section 'kunder'; the sections are grid_areas, pricelist, products,"
        " customers, metering_points, supply_periods, contracts, aconto_payments"
    ]
