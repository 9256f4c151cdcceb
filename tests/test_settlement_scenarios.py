"""Golden settlement scenarios: tests/scenarios/<name>/{given,when.json,then} (see each README).

Each scenario loads its given files through the real loaders (reference import, ingest write
path) into a fresh database, settles the period of when.json, and compares the run's lines
with then/settlement_lines.csv (and then/left_out.csv, then/aconto_settlements.csv if present).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from schemas.calendar import BillingPeriod, local_midnight_utc
from settlement.rules import vat_amount
from settlement.run import settle
from storage.db import connect
from tests.settlement_support import SCENARIOS, load_given, read_rows

pytestmark = pytest.mark.services

# Scenarios whose when.json names one grid area; h (metering-point history, two grid areas and
# an invoice) has its own runner, tests/test_scenario_metering_point_history.py.
NAMES = sorted(
    p.name
    for p in SCENARIOS.iterdir()
    if (p / "when.json").exists() and "grid_area" in json.loads((p / "when.json").read_text())
)


@pytest.mark.parametrize("name", NAMES)
def test_scenario(name: str, db: str) -> None:
    folder = SCENARIOS / name
    when = json.loads((folder / "when.json").read_text())
    with connect(db, autocommit=True) as conn:
        load_given(conn, folder / "given")
    period = BillingPeriod.parse(when["period"])
    [report] = settle(
        period,
        when["grid_area"],
        url=db,
        now=local_midnight_utc(period.end) + timedelta(days=1),
        progress=lambda _line: None,
    )
    assert report.status == "Completed"

    with connect(db) as conn:
        lines = conn.execute(
            """SELECT metering_point_id, charge_type, total_kwh, total_amount, vat_amount
               FROM settlement_line WHERE settlement_run_id = %s""",
            (report.run_id,),
        ).fetchall()
        aconto = conn.execute(
            """SELECT contract_id::text, actual_cost, aconto_paid, difference, new_aconto_amount
               FROM aconto_settlement WHERE settlement_run_id = %s ORDER BY 1""",
            (report.run_id,),
        ).fetchall()
        run = conn.execute(
            "SELECT status, version, summary FROM settlement_run WHERE id = %s", (report.run_id,)
        ).fetchone()

    expected = Counter(
        (r["gsrn"], r["charge_type"], Decimal(r["total_kwh"]), Decimal(r["total_amount"]))
        for r in read_rows(folder / "then" / "settlement_lines.csv")
    )
    actual = Counter((g, c, k, a) for g, c, k, a, _ in lines)
    assert actual == expected
    for _, _, _, amount, vat in lines:
        assert vat == vat_amount(amount)

    assert run is not None and run[0] == "Completed" and run[1] == 1
    summary = run[2]
    left_out_file = folder / "then" / "left_out.csv"
    expected_left = (
        {(r["gsrn"], r["reason"]) for r in read_rows(left_out_file)}
        if left_out_file.exists()
        else set()
    )
    assert {(x["gsrn"], x["reason"]) for x in summary["left_out"]} == expected_left
    assert summary["settled_metering_points"] == len({g for g, *_ in lines})

    aconto_file = folder / "then" / "aconto_settlements.csv"
    expected_aconto = (
        [
            tuple([r["contract_id"], *(Decimal(r[k]) for k in list(r)[1:])])
            for r in read_rows(aconto_file)
        ]
        if aconto_file.exists()
        else []
    )
    assert [tuple(row) for row in aconto] == expected_aconto


def test_every_scenario_has_a_readme_and_expectations() -> None:
    for name in NAMES:
        folder: Path = SCENARIOS / name
        assert (folder / "README.md").exists(), name
        assert (folder / "then" / "settlement_lines.csv").exists(), name
