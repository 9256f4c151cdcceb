"""The period-close report (`elflow close`) against the real database: the period-close e2e
fixture (scenario a) grown by a few customers in every situation a clerk meets, imported with the
real importers, settled and invoiced by the real runs. Nothing here is inserted by hand."""

from __future__ import annotations

import csv
import shutil
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from deploy.cli import main
from schemas.calendar import BillingPeriod
from schemas.rsm012 import gsrn_check_digit
from settlement.close_output import report_text, write_close_files
from settlement.close_report import (
    INVOICED,
    LEFT_OUT,
    NO_SUPPLY,
    NOT_INVOICED,
    NOT_ISSUED,
    QUARTERLY,
    CloseReport,
    build_close_report,
)
from settlement.invoice_run import run_invoicing
from settlement.run import SettlementError, settle
from storage.db import connect
from tests.settlement_support import SCENARIOS, load_given, read_rows

pytestmark = pytest.mark.services

PLAIN = SCENARIOS / "a_plain_month_pt15m_spot" / "given"
OCTOBER = BillingPeriod.parse("2026-10")
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
PRODUCT = "7b1f4c2e-58a3-4d6e-9c1a-2f6e8d0b3a11"
KAREN = "c0000000-0000-4000-8000-000000000001"
KAREN_GSRN = read_rows(PLAIN / "contracts.csv")[0]["Gsrn"]


def gsrn(n: int) -> str:
    body = f"57131310000000{n:03d}"
    return body + str(gsrn_check_digit(body))


# name, customer id, billing frequency, GSRN (None: no contract), supplied, readings
EXTRA = (
    ("Fie Hansen", "c0000000-0000-4000-8000-000000000003", "Monthly", gsrn(30), True, "all"),
    ("Kvartal ApS", "c0000000-0000-4000-8000-000000000004", "Quarterly", gsrn(40), True, "all"),
    ("Lars Mangler", "c0000000-0000-4000-8000-000000000005", "Monthly", gsrn(50), True, "gap"),
    ("Ole Uden", "c0000000-0000-4000-8000-000000000006", "Monthly", gsrn(60), False, "all"),
)
# A customer record kept for history: not Active, no contract, no invoice → not in the report.
ARCHIVED = ("Gammel Kunde", "c0000000-0000-4000-8000-000000000009")
# The quarter-hour Lars Mangler's meter did not deliver: 10:00Z = 11:00 local on 30 October.
GAP = "2026-10-30T10:00:00Z"


def _append(path: Path, rows: list[list[str]], delimiter: str = ";") -> None:
    with path.open("a", encoding="utf-8", newline="") as handle:
        csv.writer(handle, delimiter=delimiter, lineterminator="\n").writerows(rows)


def portfolio(tmp_path: Path) -> Path:
    """Scenario a (Karen Jensen, aconto; Bageriet ApS without a contract) plus EXTRA."""
    given = tmp_path / "given"
    shutil.copytree(PLAIN, given)
    readings = read_rows(PLAIN / "readings.csv")
    created = "2026-01-05T10:00:00"
    _append(
        given / "customers.csv",
        [[cid, name, "0101901234", "Private", "", "", created, "Active"] for name, cid, *_ in EXTRA]
        + [[ARCHIVED[1], ARCHIVED[0], "0101901234", "Private", "", "", created, "Archived"]],
    )
    for n, (_name, cid, frequency, point, supplied, kind) in enumerate(EXTRA, start=1):
        gln = "5790000000344"
        _append(
            given / "metering_points.csv",
            [[point, "E17_Consumption", "Flex", "Connected", "344", gln, created, ""]],
        )
        contract = f"ca000000-0000-4000-8000-0000000001{n:02d}"
        _append(
            given / "contracts.csv",
            [[contract, cid, point, PRODUCT, frequency, "PostPayment", "14", "2026-10-29", ""]],
        )
        if supplied:
            supply = f"5e000000-0000-4000-8000-0000000001{n:02d}"
            _append(given / "supply_periods.csv", [[supply, point, "2026-10-29", "", ""]])
        rows = []
        for row in readings:
            missing = kind == "gap" and row["timestamp_utc"] == GAP
            rows.append(
                [
                    point,
                    row["timestamp_utc"],
                    row["resolution"],
                    "" if missing else row["quantity_kwh"],
                    "A02" if missing else row["quality"],
                    f"{row['document_id']}-{point}",
                    f"{row['transaction_id']}-{point}",
                    row["created_utc"],
                ]
            )
        _append(given / "readings.csv", rows)
    return given


def _load(db: str, given: Path) -> None:
    with connect(db, autocommit=True) as conn:
        load_given(conn, given)


def _report(db: str) -> CloseReport:
    with connect(db) as conn:
        return build_close_report(conn, OCTOBER)


def _by_name(report: CloseReport) -> dict[str, tuple[str, str]]:
    return {c.name: (c.status, c.reason) for c in report.customers}


def test_every_customer_once_through_settle_invoice_and_issue(db: str, tmp_path: Path) -> None:
    _load(db, portfolio(tmp_path))
    settle(OCTOBER, url=db, now=NOW, progress=lambda _m: None)
    settled = _report(db)
    with connect(db) as conn:
        run_invoicing(conn, OCTOBER, NOW)
    drafted = _report(db)
    with connect(db) as conn:
        run_invoicing(conn, OCTOBER, NOW, issue=True)
    issued = _report(db)

    with connect(db) as conn:
        expected_ids = {
            str(row[0])
            for row in conn.execute(
                """SELECT id FROM customer WHERE status = 'Active'
                   OR id IN (SELECT customer_id FROM contract)"""
            ).fetchall()
        }
        invoices = conn.execute(
            """SELECT customer_id, type, invoice_number, total_ex_vat, vat_amount, total_incl_vat
               FROM invoice WHERE status <> 'Cancelled' ORDER BY created_at"""
        ).fetchall()
        aconto = conn.execute(
            "SELECT actual_cost, aconto_paid, difference, new_aconto_amount FROM aconto_settlement"
        ).fetchall()

    for report in (settled, drafted, issued):
        ids = [str(c.customer_id) for c in report.customers]
        assert Counter(ids).most_common(1)[0][1] == 1  # nobody twice
        assert set(ids) == expected_ids  # nobody missing
        assert ARCHIVED[0] not in _by_name(report)

    lars = "1 quarter-hour missing on 30 October 2026"
    assert {n: s for n, (s, _r) in _by_name(settled).items()} == {
        "Karen Jensen": NOT_INVOICED,
        "Bageriet ApS": NO_SUPPLY,
        "Fie Hansen": NOT_INVOICED,
        "Kvartal ApS": QUARTERLY,
        "Lars Mangler": LEFT_OUT,
        "Ole Uden": NO_SUPPLY,
    }
    assert _by_name(settled)["Lars Mangler"][1] == f"{gsrn(50)} left out: {lars}"
    assert _by_name(settled)["Kvartal ApS"][1] == "billed quarterly: invoiced with 2026-Q4"
    assert _by_name(settled)["Bageriet ApS"][1] == "no supply in the period (no contract)"
    assert _by_name(settled)["Ole Uden"][1] == (
        "no supply in the period (a contract, but no supply period)"
    )
    assert _by_name(drafted)["Karen Jensen"][0] == NOT_ISSUED
    assert _by_name(drafted)["Fie Hansen"][0] == NOT_ISSUED
    assert _by_name(issued)["Karen Jensen"] == (INVOICED, "")
    assert _by_name(issued)["Fie Hansen"] == (INVOICED, "")
    assert _by_name(issued)["Lars Mangler"][0] == LEFT_OUT

    # The customers' totals and numbers are the invoice rows', and so are the per-type totals.
    rows = {str(c.customer_id): c for c in issued.customers}
    assert len(invoices) == 2
    for customer_id, kind, number, ex_vat, vat, incl in invoices:
        row = rows[str(customer_id)]
        assert row.invoice_numbers == (number,) and number
        assert row.invoice_types == (kind,)
        assert (row.total_ex_vat, row.vat_amount, row.total_incl_vat) == (ex_vat, vat, incl)
    assert {(t.type, t.invoices, t.total_incl_vat) for t in issued.invoice_types} == {
        (kind, 1, incl) for _c, kind, _n, _e, _v, incl in invoices
    }
    assert sum(c.total_incl_vat or 0 for c in issued.customers) == sum(r[5] for r in invoices)

    [(actual, paid, difference, new)] = aconto
    karen = rows[KAREN]
    assert (karen.aconto_actual_cost, karen.aconto_paid) == (actual, paid)
    assert (karen.aconto_difference, karen.new_aconto_amount) == (difference, new)
    assert karen.aconto_paid == Decimal("150.00")

    [area] = issued.areas
    assert (area.grid_area, area.status, area.completed and area.completed.version) == (
        "344",
        "Completed",
        1,
    )
    assert area.completed is not None and area.completed.settled == 3
    assert area.completed.left_out == ((gsrn(50), lars),)

    text = report_text(issued)
    assert "Period close 2026-10 (1 to 31 October 2026)" in text
    assert f"    left out {gsrn(50)}: {lars}" in text
    assert "Customers: 6, each once" in text


def test_files_open_in_a_spreadsheet_and_hold_the_same_figures(db: str, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    _load(db, portfolio(tmp_path))
    settle(OCTOBER, url=db, now=NOW, progress=lambda _m: None)
    with connect(db) as conn:
        run_invoicing(conn, OCTOBER, NOW, issue=True)
    report = _report(db)
    out = tmp_path / "close"
    written = write_close_files(report, out)
    assert sorted(p.name for p in written) == [
        "close-2026-10-customers.csv",
        "close-2026-10-customers.parquet",
        "close-2026-10-grid-areas.csv",
        "close-2026-10-grid-areas.parquet",
    ]

    raw = (out / "close-2026-10-customers.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: spreadsheets read ø and æ right
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert len(rows) == len(report.customers) == 6
    by_id = {str(c.customer_id): c for c in report.customers}
    for row in rows:
        customer = by_id[row["customer_id"]]
        assert row["status"] == customer.status
        incl = row["total_incl_vat"]
        assert (Decimal(incl.replace(",", ".")) if incl else None) == customer.total_incl_vat
    karen = next(r for r in rows if r["customer_id"] == KAREN)
    assert "," in karen["total_incl_vat"] and "." not in karen["total_incl_vat"]
    assert karen["metering_points"] == f"{KAREN_GSRN} settled"

    table = pq.read_table(out / "close-2026-10-customers.parquet")
    assert table.schema.field("total_incl_vat").type == pa.decimal128(14, 2)
    assert table.schema.field("aconto_difference").type == pa.decimal128(20, 6)
    assert sorted(table.column("customer_id").to_pylist()) == sorted(by_id)
    parquet_total = sum(v for v in table.column("total_incl_vat").to_pylist() if v is not None)
    assert parquet_total == sum(t.total_incl_vat for t in report.invoice_types)

    areas = pq.read_table(out / "close-2026-10-grid-areas.parquet").to_pylist()
    assert [(a["grid_area"], a["status"], a["version"]) for a in areas] == [("344", "Completed", 1)]
    assert areas[0]["metering_points_left_out"] == 1
    assert areas[0]["amount_ex_vat"] == report.areas[0].amount

    with pytest.raises(Exception, match="exists; use --force"):
        write_close_files(report, out)
    assert len(write_close_files(report, out, force=True)) == 4


def test_cli_prints_the_report_and_writes_the_files(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _load(db, portfolio(tmp_path))
    settle(OCTOBER, url=db, now=NOW, progress=lambda _m: None)
    out = tmp_path / "report"
    assert main(["close", "--period", "2026-10", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "grid area 344, October 2026: version 1 Completed" in printed
    assert f"wrote {out / 'close-2026-10-customers.csv'}" in printed
    assert "not yet invoiced (`elflow invoice --period 2026-10` builds their invoices):" in printed
    # `elflow invoice` points at the report for the customers it did not invoice.
    assert main(["invoice", "--period", "2026-10"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "every customer, invoiced or why not: elflow close --period 2026-10"
    )


def test_a_never_settled_period_exits_non_zero_with_one_line(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _load(db, portfolio(tmp_path))
    assert main(["close", "--period", "2026-10", "--out", str(tmp_path / "x")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.splitlines() == [
        "elflow: period 2026-10 (1 to 31 October 2026) is not settled: no completed settlement"
        " run for grid area 344; run `elflow settle --period 2026-10` first"
    ]
    assert not (tmp_path / "x").exists()


def test_a_failed_run_exits_non_zero_naming_its_error_and_invoice_refuses_too(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = portfolio(tmp_path)
    spot = (given / "spot.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (given / "spot.csv").write_text(
        "".join(line for line in spot if not line.startswith("2026-10-30 12:15")),
        encoding="utf-8",
    )
    _load(db, given)
    with pytest.raises(SettlementError):
        settle(OCTOBER, url=db, now=NOW, progress=lambda _m: None)
    failure = (
        "elflow: period 2026-10 (1 to 31 October 2026) is not settled: no completed settlement"
        " run for grid area 344 (version 1 failed: no spot price for DK1 on 30 October 2026"
        " 13:15 (local)); run `elflow settle --period 2026-10` first"
    )
    for argv in (["close"], ["invoice"], ["export", "lines", "--out", str(tmp_path / "l.pq")]):
        assert main([*argv, "--period", "2026-10"]) == 2
        captured = capsys.readouterr()
        assert captured.err.splitlines() == [failure]
    with connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM invoice").fetchone() == (0,)


def test_a_failed_rerun_is_listed_with_its_error_beside_the_completed_version(
    db: str, tmp_path: Path
) -> None:
    _load(db, portfolio(tmp_path))
    settle(OCTOBER, url=db, now=NOW, progress=lambda _m: None)
    with connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM electricity_tax")
    with pytest.raises(SettlementError):
        settle(OCTOBER, url=db, now=NOW, progress=lambda _m: None)
    [area] = _report(db).areas
    assert area.status == "Completed"
    assert area.completed is not None and area.completed.version == 1
    # The failed attempt tried version 2 and keeps its record, but version 1 stays in force.
    assert [(r.version, r.status, r.error) for r in area.failed] == [
        (2, "Failed", "no electricity tax rate on 29 October 2026 00:00 (local)")
    ]
    text = report_text(_report(db))
    assert "    failed: version 2 started " in text
    assert text.count("no electricity tax rate on 29 October 2026 00:00 (local)") == 1
