"""Invoicing against the real database: idempotency, issued invoices left alone, which runs count,
the guards of migration 0004, and the CLI with its JSON and Parquet exports."""

from __future__ import annotations

import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from deploy.cli import main
from schemas.calendar import BillingPeriod, to_local
from schemas.codelists import ChargeType
from settlement.invoice_run import run_invoicing
from settlement.rules import round_ore
from settlement.settled_period import UnsettledPeriod
from storage.db import connect
from tests.invoice_fixtures import (
    ContractRow,
    LineRow,
    actual_cost_incl_vat,
    ids,
    insert_aconto,
    insert_run,
    seed_contracts,
)

pytestmark = pytest.mark.services

OCTOBER = BillingPeriod.parse("2026-10")
NOW = datetime(2026, 11, 5, 8, tzinfo=UTC)
LATER = datetime(2026, 12, 3, 9, tzinfo=UTC)


def _gsrn(n: int) -> str:
    return f"5713131{n:011d}"


def _portfolio(rng: random.Random, customers: int) -> list[ContractRow]:
    rows = []
    for c in range(customers):
        for m in range(rng.randint(1, 2)):
            n = c * 10 + m
            rows.append(
                ContractRow(
                    customer=f"C{c}",
                    contract=f"K{n}",
                    gsrn=_gsrn(n),
                    grid_area=rng.choice(["344", "740"]),
                    billing_frequency="Monthly",
                    payment_model=rng.choice(["PostPayment", "Aconto"]),
                    payment_term_days=rng.choice([8, 14, 30]),
                    start_date=OCTOBER.start.replace(year=2025),
                )
            )
    return rows


def _random_lines(rng: random.Random, contracts: list[ContractRow], area: str) -> list[LineRow]:
    lines = []
    for contract in contracts:
        if contract.grid_area != area:
            continue
        kwh = Decimal(rng.randint(0, 900_000)) / 1000
        for charge in ChargeType:
            subscription = charge in (
                ChargeType.GRID_SUBSCRIPTION,
                ChargeType.SUPPLIER_SUBSCRIPTION,
            )
            amount = Decimal(rng.randint(0, 60_000_000)) / 1_000_000
            lines.append(
                LineRow(
                    contract.gsrn,
                    contract.contract,
                    str(charge),
                    Decimal(0) if subscription else kwh,
                    amount,
                )
            )
    return lines


def _write_runs(
    url: str, rng: random.Random, contracts: list[ContractRow], version: int
) -> dict[str, list[LineRow]]:
    written = {}
    with connect(url) as conn:
        for area in ("344", "740"):
            lines = _random_lines(rng, contracts, area)
            run = insert_run(conn, OCTOBER, area, version, lines)
            for contract in contracts:
                if contract.grid_area == area and contract.payment_model == "Aconto":
                    actual = actual_cost_incl_vat(lines, contract.contract)
                    paid = Decimal(rng.randint(0, 200_000)) / 100
                    insert_aconto(
                        conn,
                        run,
                        OCTOBER,
                        contract.contract,
                        actual,
                        paid,
                        Decimal(rng.randint(0, 2000)),
                    )
            written[area] = lines
        conn.commit()
    return written


def _snapshot(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with connect(url) as conn:
        invoices = conn.execute("SELECT * FROM invoice ORDER BY id").fetchall()
        lines = conn.execute("SELECT * FROM invoice_line ORDER BY id").fetchall()
    return invoices, lines


def _invoiced_per_customer(url: str) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    with connect(url) as conn:
        for customer, amount in conn.execute(
            """SELECT i.customer_id, l.amount FROM invoice_line l JOIN invoice i ON i.id = l.invoice_id
               WHERE l.charge_type <> 'Aconto'"""
        ):
            totals[str(customer)] += amount
    return dict(totals)


def _settled_per_customer(
    contracts: list[ContractRow], runs: dict[str, list[LineRow]]
) -> dict[str, Decimal]:
    customer_of = {c.contract: str(ids(c.customer)) for c in contracts}
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for lines in runs.values():
        for line in lines:
            totals[customer_of[line.contract]] += round_ore(line.total_amount)
    return dict(totals)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_reinvoicing_unchanged_runs_creates_nothing_and_sums_match(db: str, seed: int) -> None:
    rng = random.Random(seed)
    contracts = _portfolio(rng, customers=12)
    with connect(db) as conn:
        seed_contracts(conn, contracts)
        conn.commit()
    runs = _write_runs(db, rng, contracts, version=1)

    with connect(db) as conn:
        first = run_invoicing(conn, OCTOBER, NOW)
    assert not first.skipped
    assert len(first.created) == 12  # one invoice per customer
    assert _invoiced_per_customer(db) == _settled_per_customer(contracts, runs)
    before = _snapshot(db)

    with connect(db) as conn:
        again = run_invoicing(conn, OCTOBER, LATER)
    assert (again.created, again.replaced, again.discarded, again.unchanged) == ([], [], [], 12)
    assert _snapshot(db) == before


@pytest.mark.parametrize("seed", [4, 5])
def test_issued_invoices_are_untouched_by_a_rerun_and_notes_carry_the_change(
    db: str, seed: int
) -> None:
    rng = random.Random(seed)
    contracts = _portfolio(rng, customers=8)
    with connect(db) as conn:
        seed_contracts(conn, contracts)
        conn.commit()
    _write_runs(db, rng, contracts, version=1)
    with connect(db) as conn:
        issued = run_invoicing(conn, OCTOBER, NOW, issue=True)
    assert len(issued.issued) == 8
    original = _snapshot(db)

    runs_v2 = _write_runs(db, rng, contracts, version=2)
    with connect(db) as conn:
        report = run_invoicing(conn, OCTOBER, LATER)
    invoices, lines = _snapshot(db)
    assert set(original[0]) <= set(invoices) and set(original[1]) <= set(lines)
    with connect(db) as conn:
        notes = conn.execute(
            "SELECT type, status, corrects_invoice_id FROM invoice WHERE corrects_invoice_id IS NOT NULL"
        ).fetchall()
    assert len(notes) == len(report.created) > 0
    assert {n[0] for n in notes} <= {"CreditNote", "DebitNote"} and {n[1] for n in notes} == {
        "Draft"
    }
    # Σ over the original and its note = the new run, per customer.
    assert _invoiced_per_customer(db) == _settled_per_customer(contracts, runs_v2)

    with connect(db) as conn:
        assert run_invoicing(conn, OCTOBER, LATER).created == []


def _one_customer(url: str, payment_model: str = "PostPayment") -> ContractRow:
    contract = ContractRow(
        "C1", "K1", _gsrn(1), "344", "Monthly", payment_model, 14, OCTOBER.start.replace(year=2025)
    )
    with connect(url) as conn:
        seed_contracts(conn, [contract])
        conn.commit()
    return contract


def _energy(amount: str) -> list[LineRow]:
    return [LineRow(_gsrn(1), "K1", "Energy", Decimal("100.000"), Decimal(amount))]


def test_only_the_highest_completed_version_counts(db: str) -> None:
    _one_customer(db)
    with connect(db) as conn:
        insert_run(conn, OCTOBER, "344", 1, _energy("100"))
        insert_run(conn, OCTOBER, "344", 2, _energy("200"))
        insert_run(conn, OCTOBER, "344", 3, _energy("300"), status="Failed")
        insert_run(conn, OCTOBER, "344", 4, _energy("400"), status="Running")
        conn.commit()
        run_invoicing(conn, OCTOBER, NOW)
        assert conn.execute("SELECT total_ex_vat FROM invoice").fetchone() == (Decimal("200.00"),)


def test_a_draft_follows_a_new_run_in_place(db: str) -> None:
    _one_customer(db)
    with connect(db) as conn:
        insert_run(conn, OCTOBER, "344", 1, _energy("100"))
        conn.commit()
        created = run_invoicing(conn, OCTOBER, NOW).created
        insert_run(conn, OCTOBER, "344", 2, _energy("150"))
        conn.commit()
        report = run_invoicing(conn, OCTOBER, LATER)
        assert report.replaced == created and report.created == []
        assert conn.execute("SELECT id, type, total_ex_vat FROM invoice").fetchall() == [
            (created[0], "Standard", Decimal("150.00"))
        ]


def test_a_period_with_a_supplied_grid_area_without_a_completed_run_is_refused(db: str) -> None:
    contracts = [
        ContractRow("C1", "K1", _gsrn(1), "344", "Monthly", "PostPayment", 14, OCTOBER.start),
        ContractRow("C2", "K2", _gsrn(2), "740", "Monthly", "PostPayment", 14, OCTOBER.start),
    ]
    with connect(db) as conn:
        seed_contracts(conn, contracts)
        insert_run(conn, OCTOBER, "344", 1, _energy("100"))
        insert_run(
            conn,
            OCTOBER,
            "740",
            1,
            [LineRow(_gsrn(2), "K2", "Energy", Decimal(1), Decimal(1))],
            status="Running",
        )
        insert_run(conn, OCTOBER, "740", 2, [], status="Failed")
        conn.commit()
        with pytest.raises(UnsettledPeriod) as refused:
            run_invoicing(conn, OCTOBER, NOW, issue=True)
        assert str(refused.value) == (
            "period 2026-10 (1 to 31 October 2026) is not settled: no completed settlement"
            " run for grid area 740 (version 2 failed: no reason kept); run `elflow settle"
            " --period 2026-10` first"
        )
        assert conn.execute("SELECT count(*) FROM invoice").fetchone() == (0,)
        # Once 740 has a completed run, both customers are invoiced.
        insert_run(
            conn, OCTOBER, "740", 3, [LineRow(_gsrn(2), "K2", "Energy", Decimal(1), Decimal(1))]
        )
        conn.commit()
        assert len(run_invoicing(conn, OCTOBER, NOW).created) == 2


def test_a_quarter_names_each_month_and_grid_area_without_a_run(db: str) -> None:
    q4 = BillingPeriod.parse("2026-Q4")
    contracts = [
        ContractRow("C1", "K1", _gsrn(1), "344", "Quarterly", "PostPayment", 30, OCTOBER.start),
        ContractRow("C2", "K2", _gsrn(2), "740", "Monthly", "PostPayment", 14, OCTOBER.start),
    ]
    with connect(db) as conn:
        seed_contracts(conn, contracts)
        for area in ("344", "740"):
            insert_run(conn, OCTOBER, area, 1, [])
        insert_run(conn, BillingPeriod.parse("2026-11"), "344", 1, [])
        conn.commit()
        with pytest.raises(UnsettledPeriod) as refused:
            run_invoicing(conn, q4, NOW)
    assert str(refused.value) == (
        "period 2026-Q4 (1 October to 31 December 2026) is not settled: no completed settlement run"
        " for 2026-11 grid area 740; 2026-12 grid areas 344, 740; run `elflow settle --period"
        " 2026-Q4` first"
    )


def test_the_database_refuses_to_change_an_issued_invoice(db: str) -> None:
    _one_customer(db)
    with connect(db) as conn:
        insert_run(conn, OCTOBER, "344", 1, _energy("100"))
        conn.commit()
        (invoice_id,) = run_invoicing(conn, OCTOBER, NOW, issue=True).issued
        for statement in (
            "UPDATE invoice SET total_ex_vat = 1, vat_amount = 0, total_incl_vat = 1 WHERE id = %s",
            "UPDATE invoice SET status = 'Draft' WHERE id = %s",
            "DELETE FROM invoice_line WHERE invoice_id = %s",
            "DELETE FROM invoice WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
                conn.execute(statement, (invoice_id,))
        conn.execute("UPDATE invoice SET status = 'Sent' WHERE id = %s", (invoice_id,))
        conn.commit()


# ----------------------------------------------------------------------------------------- CLI
def _cli(*argv: str) -> int:
    """Run an `elflow` subcommand in this process."""
    return main(list(argv))


def _reject_float(text: str) -> Any:
    raise AssertionError(f"a float in the JSON export: {text}")


def test_invoice_cli_issues_and_exports_json_with_string_amounts(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _one_customer(db, payment_model="Aconto")
    lines = [
        *_energy("301.215"),
        LineRow(_gsrn(1), "K1", "SupplierSubscription", Decimal(0), Decimal("29.000004")),
    ]
    with connect(db) as conn:
        run = insert_run(conn, OCTOBER, "344", 1, lines)
        insert_aconto(
            conn, run, OCTOBER, "K1", actual_cost_incl_vat(lines, "K1"), Decimal(500), Decimal(400)
        )
        conn.commit()

    assert _cli("invoice", "--period", "2026-10", "--issue", "--export-dir", str(tmp_path)) == 0
    (path,) = tmp_path.glob("*.json")
    document = json.loads(path.read_text("utf-8"), parse_float=_reject_float)
    assert path.stem == document["invoice"]["id"]
    assert (
        document["invoice"]["type"] == "AcontoCombined"
        and document["invoice"]["status"] == "Issued"
    )
    issued = to_local(datetime.fromisoformat(document["invoice"]["issued_at"]))
    assert document["invoice"]["due_date"] == (issued.date() + timedelta(days=14)).isoformat()
    # The number of the series of the issue's local year, also in the command's output.
    number = f"EF-{issued.year}-000001"
    assert document["invoice"]["number"] == number
    assert f"issued invoice numbers {number}\n" in capsys.readouterr().out
    assert document["customer"] == {
        "id": str(ids("C1")),
        "name": "Kunde C1",
        "contact_type": "Private",
        "cvr": None,
        "email": "c1@example.dk",
    }
    assert document["period"] == {
        "label": "2026-10",
        "frequency": "Monthly",
        "start": "2026-10-01",
        "end": "2026-11-01",
    }
    assert [
        (line["charge_type"], line["aconto_kind"], line["amount"]) for line in document["lines"]
    ] == [
        ("Energy", None, "301.22"),
        ("SupplierSubscription", None, "29.00"),
        ("Aconto", "Paid", "-400.00"),
        ("Aconto", "Next", "320.00"),
    ]
    # 301.22 + 29.00 − 400.00 + 320.00 = 250.22; VAT 62.555 → 62.56.
    assert document["totals"] == {
        "total_ex_vat": "250.22",
        "vat_amount": "62.56",
        "total_incl_vat": "312.78",
    }


def test_export_lines_writes_decimal_parquet_of_the_latest_runs(db: str, tmp_path: Path) -> None:
    rng = random.Random(7)
    contracts = _portfolio(rng, customers=5)
    with connect(db) as conn:
        seed_contracts(conn, contracts)
        conn.commit()
    _write_runs(db, rng, contracts, version=1)
    latest = _write_runs(db, rng, contracts, version=2)
    out = tmp_path / "lines.parquet"

    assert _cli("export", "lines", "--period", "2026-10", "--out", str(out)) == 0

    table = pq.read_table(out)
    assert table.schema.field("total_kwh").type == pa.decimal128(18, 3)
    assert table.schema.field("total_amount").type == pa.decimal128(20, 6)
    assert table.schema.field("vat_amount").type == pa.decimal128(20, 6)
    rows = [line for lines in latest.values() for line in lines]
    assert table.num_rows == len(rows)
    assert set(table.column("run_version").to_pylist()) == {2}
    assert sum(table.column("total_amount").to_pylist(), Decimal(0)) == sum(
        (line.total_amount for line in rows), Decimal(0)
    )
    assert sum(table.column("total_kwh").to_pylist(), Decimal(0)) == sum(
        (line.total_kwh for line in rows), Decimal(0)
    )


def test_export_lines_of_a_period_nobody_is_supplied_in_writes_an_empty_typed_file(
    db: str, tmp_path: Path
) -> None:
    out = tmp_path / "empty.parquet"
    assert _cli("export", "lines", "--period", "2026-Q4", "--out", str(out)) == 0
    table = pq.read_table(out)
    assert table.num_rows == 0 and table.schema.field("total_amount").type == pa.decimal128(20, 6)


@pytest.mark.parametrize(
    "argv",
    [
        ("invoice", "--period", "2026-11", "--issue"),
        ("export", "lines", "--period", "2026-11", "--out", "{out}"),
    ],
)
def test_invoice_and_export_refuse_an_unsettled_period_in_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: tuple[str, ...]
) -> None:
    _one_customer(db)  # supplied in 344 from October 2025 on; October settled, November not
    with connect(db) as conn:
        insert_run(conn, OCTOBER, "344", 1, _energy("100"))
        conn.commit()
    out = tmp_path / "lines.parquet"
    assert _cli(*(arg.format(out=out) for arg in argv)) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "elflow: period 2026-11 (1 to 30 November 2026) is not settled: no completed"
        " settlement run for grid area 344; run `elflow settle --period 2026-11` first"
    ]
    assert not out.exists()
    with connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM invoice").fetchone() == (0,)


def test_a_quarter_run_is_preferred_over_the_months_runs_of_its_grid_area(db: str) -> None:
    q4 = BillingPeriod.parse("2026-Q4")
    contract = ContractRow(
        "C1", "K1", _gsrn(1), "344", "Quarterly", "PostPayment", 30, OCTOBER.start
    )
    with connect(db) as conn:
        seed_contracts(conn, [contract])
        for month in q4.months:
            insert_run(conn, BillingPeriod.month_of(month), "344", 1, _energy("100"))
        insert_run(conn, q4, "344", 1, _energy("250"))
        conn.commit()
        run_invoicing(conn, q4, NOW)
        assert conn.execute("SELECT total_ex_vat FROM invoice").fetchall() == [(Decimal("250.00"),)]
