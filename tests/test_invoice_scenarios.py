"""Golden invoicing scenarios: tests/scenarios_invoice/<name>/{given,then}/*.csv, run against the
real database. Each scenario's README.md computes the expected invoices by hand.

given/contracts.csv         customer;contract;gsrn;grid_area;billing_frequency;payment_model;
                            payment_term_days;start_date;end_date;supply_end_date
given/settlement_lines.csv  step;period;grid_area;version;gsrn;contract;charge_type;total_kwh;
                            total_amount   (one Completed run per step+period+grid_area+version;
                            VAT per line = 25 %, as the settlement run writes it)
given/aconto_settlements.csv (optional) step;period;grid_area;version;contract;actual_cost;
                            aconto_paid;new_aconto_amount   (tied to that run)
given/steps.csv             step;invoice_period;now;issue;skipped[;refused]   (after the step's runs
                            are written, `elflow invoice --period <invoice_period> [--issue]` at
                            `now`; refused=true: the period is not settled, nothing is written)
then/invoices.csv           invoice;customer;period;type;status;issued_at;due_date;corrects;
                            total_ex_vat;vat_amount;total_incl_vat
then/invoice_lines.csv      invoice;line_no;charge_type;aconto_kind;gsrn;description;quantity;
                            unit_price;amount

After the last step the runner also checks, for every invoice period of the scenario: invoicing
again changes nothing, and per customer Σ invoice lines (all documents, aconto lines left out) =
Σ of the latest runs' settlement lines rounded per line.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.calendar import BillingPeriod
from settlement.invoice_run import run_invoicing
from settlement.rules import round_ore
from settlement.settled_period import UnsettledPeriod
from storage.db import connect
from storage.invoices import latest_completed_runs
from tests.invoice_fixtures import (
    ContractRow,
    LineRow,
    ids,
    insert_aconto,
    insert_run,
    seed_contracts,
)

pytestmark = pytest.mark.services

SCENARIOS = Path(__file__).with_name("scenarios_invoice")


def _read(path: Path) -> list[dict[str, str]]:
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def _date(text: str) -> date | None:
    return date.fromisoformat(text) if text else None


def _contracts(folder: Path) -> list[ContractRow]:
    return [
        ContractRow(
            customer=r["customer"],
            contract=r["contract"],
            gsrn=r["gsrn"],
            grid_area=r["grid_area"],
            billing_frequency=r["billing_frequency"],
            payment_model=r["payment_model"],
            payment_term_days=int(r["payment_term_days"]),
            start_date=date.fromisoformat(r["start_date"]),
            end_date=_date(r["end_date"]),
            supply_end_date=_date(r.get("supply_end_date", "")),
        )
        for r in _read(folder / "given" / "contracts.csv")
    ]


def _run_key(row: dict[str, str]) -> tuple[str, str, str, int]:
    return (row["step"], row["period"], row["grid_area"], int(row["version"]))


def _apply_step(conn_url: str, folder: Path, step: str) -> None:
    runs: dict[tuple[str, str, str, int], list[LineRow]] = defaultdict(list)
    for row in _read(folder / "given" / "settlement_lines.csv"):
        if row["step"] == step:
            runs[_run_key(row)].append(
                LineRow(
                    row["gsrn"],
                    row["contract"],
                    row["charge_type"],
                    Decimal(row["total_kwh"]),
                    Decimal(row["total_amount"]),
                )
            )
    with connect(conn_url) as conn:
        run_ids = {}
        for key, lines in runs.items():
            run_ids[key] = insert_run(conn, BillingPeriod.parse(key[1]), key[2], key[3], lines)
        for row in _read(folder / "given" / "aconto_settlements.csv"):
            if row["step"] == step:
                insert_aconto(
                    conn,
                    run_ids[_run_key(row)],
                    BillingPeriod.parse(row["period"]),
                    row["contract"],
                    Decimal(row["actual_cost"]),
                    Decimal(row["aconto_paid"]),
                    Decimal(row["new_aconto_amount"]),
                )
        conn.commit()


def _stored(conn_url: str) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """Invoices and lines as CSV-like rows, invoices labelled by customer/period/type."""
    with connect(conn_url) as conn:
        heads = conn.execute(
            """SELECT i.id, i.customer_id, bp.period_start, bp.frequency, i.type, i.status,
                      i.issued_at, i.due_date, i.corrects_invoice_id, i.total_ex_vat,
                      i.vat_amount, i.total_incl_vat
               FROM invoice i JOIN billing_period bp ON bp.id = i.billing_period_id
               ORDER BY i.created_at""",
        ).fetchall()
        lines = conn.execute(
            """SELECT invoice_id, line_no, charge_type, aconto_kind, metering_point_id,
                      description, quantity, unit_price, amount
               FROM invoice_line ORDER BY invoice_id, line_no"""
        ).fetchall()
    return [
        {
            "id": str(h[0]),
            "customer": str(h[1]),
            "period": BillingPeriod(h[3], h[2]).label,
            "type": h[4],
            "status": h[5],
            "issued_at": "" if h[6] is None else h[6].astimezone(UTC).isoformat(),
            "due_date": "" if h[7] is None else h[7].isoformat(),
            "corrects": "" if h[8] is None else str(h[8]),
            "total_ex_vat": str(h[9]),
            "vat_amount": str(h[10]),
            "total_incl_vat": str(h[11]),
        }
        for h in heads
    ], [
        {
            "invoice": str(r[0]),
            "line_no": str(r[1]),
            "charge_type": r[2],
            "aconto_kind": r[3] or "",
            "gsrn": r[4] or "",
            "description": r[5],
            "quantity": str(r[6]),
            "unit_price": str(r[7]),
            "amount": str(r[8]),
        }
        for r in lines
    ]


def _check_invariants(url: str, periods: list[BillingPeriod]) -> None:
    with connect(url) as conn:
        for period in periods:
            report = run_invoicing(
                conn, period, datetime.fromisoformat("2027-03-01T12:00:00+00:00")
            )
            assert not (report.created or report.replaced or report.discarded), (
                f"re-invoicing {period.label} changed something: {report}"
            )
            runs = latest_completed_runs(conn, period)
            expected: dict[str, Decimal] = defaultdict(Decimal)
            for customer, amount in conn.execute(
                """SELECT c.customer_id, l.total_amount FROM settlement_line l
                   JOIN contract c ON c.id = l.contract_id
                   WHERE l.settlement_run_id = ANY(%s) AND c.billing_frequency = %s""",
                ([r.id for r in runs], str(period.frequency)),
            ):
                expected[str(customer)] += round_ore(amount)
            invoiced: dict[str, Decimal] = defaultdict(Decimal)
            for customer, amount in conn.execute(
                """SELECT i.customer_id, l.amount FROM invoice_line l
                   JOIN invoice i ON i.id = l.invoice_id
                   JOIN billing_period bp ON bp.id = i.billing_period_id
                   WHERE bp.period_start = %s AND bp.frequency = %s AND l.charge_type <> 'Aconto'""",
                (period.start, str(period.frequency)),
            ):
                invoiced[str(customer)] += amount
            assert dict(invoiced) == dict(expected), period.label


@pytest.mark.parametrize(
    "name", sorted(p.name for p in SCENARIOS.iterdir() if (p / "given").is_dir())
)
def test_invoice_scenario(db: str, name: str) -> None:
    folder = SCENARIOS / name
    with connect(db) as conn:
        seed_contracts(conn, _contracts(folder))
        conn.commit()

    periods: list[BillingPeriod] = []
    for step in _read(folder / "given" / "steps.csv"):
        _apply_step(db, folder, step["step"])
        period = BillingPeriod.parse(step["invoice_period"])
        if period not in periods:
            periods.append(period)
        now = datetime.fromisoformat(step["now"])
        issue = step["issue"].lower() == "true"
        with connect(db) as conn:
            if (step.get("refused") or "false").lower() == "true":
                with pytest.raises(UnsettledPeriod):
                    run_invoicing(conn, period, now, issue=issue)
                continue
            report = run_invoicing(conn, period, now, issue=issue)
        assert len(report.skipped) == int(step.get("skipped") or 0), report.skipped

    invoices, lines = _stored(db)
    expected_invoices = _read(folder / "then" / "invoices.csv")
    # Expected invoices are named by label; stored ones are matched on customer, period and type.
    by_key = {(i["customer"], i["period"], i["type"]): i for i in invoices}
    assert len(by_key) == len(invoices), "two stored invoices share customer, period and type"
    label_to_id: dict[str, str] = {}
    for row in expected_invoices:
        key = (str(ids(row["customer"])), row["period"], row["type"])
        assert key in by_key, (
            f"{row['invoice']}: no {row['type']} for {row['customer']} {row['period']}"
        )
        label_to_id[row["invoice"]] = by_key[key]["id"]
    assert len(expected_invoices) == len(invoices), [(i["type"], i["period"]) for i in invoices]

    for row in expected_invoices:
        got = by_key[(str(ids(row["customer"])), row["period"], row["type"])]
        want = {
            "status": row["status"],
            "issued_at": row["issued_at"]
            and datetime.fromisoformat(row["issued_at"]).astimezone(UTC).isoformat(),
            "due_date": row["due_date"],
            "corrects": row["corrects"] and label_to_id[row["corrects"]],
            "total_ex_vat": row["total_ex_vat"],
            "vat_amount": row["vat_amount"],
            "total_incl_vat": row["total_incl_vat"],
        }
        assert {k: got[k] for k in want} == want, row["invoice"]

    expected_lines = [
        {**row, "invoice": label_to_id[row["invoice"]]}
        for row in _read(folder / "then" / "invoice_lines.csv")
    ]
    order = {invoice_id: n for n, invoice_id in enumerate(label_to_id.values())}

    def sort_key(row: dict[str, str]) -> tuple[int, int]:
        return (order[row["invoice"]], int(row["line_no"]))

    assert sorted(lines, key=sort_key) == sorted(expected_lines, key=sort_key)

    _check_invariants(db, periods)
