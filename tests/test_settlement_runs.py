"""Settlement runs against the real database: versions, failures, dry runs, locks, errors."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from deploy.cli import main
from schemas.calendar import BillingPeriod, local_midnight_utc
from settlement.run import SettlementError, settle
from storage import settlement_runs as run_store
from storage.db import connect
from tests.settlement_support import SCENARIOS, load_given

pytestmark = pytest.mark.services

PLAIN = SCENARIOS / "a_plain_month_pt15m_spot" / "given"
OCTOBER = BillingPeriod.parse("2026-10")
AFTER = local_midnight_utc(OCTOBER.end) + timedelta(days=1)


def quiet(_line: str) -> None:
    pass


def load(db: str, given: Path = PLAIN) -> None:
    with connect(db, autocommit=True) as conn:
        load_given(conn, given)


def lines_of(db: str, run_id: object) -> list[tuple[object, ...]]:
    with connect(db) as conn:
        return conn.execute(
            """SELECT metering_point_id, charge_type, contract_id, total_kwh, total_amount,
                      vat_amount
               FROM settlement_line WHERE settlement_run_id = %s ORDER BY 1, 2, 3""",
            (run_id,),
        ).fetchall()


def runs_of(db: str) -> list[tuple[object, ...]]:
    with connect(db) as conn:
        return conn.execute(
            "SELECT version, status, error_details FROM settlement_run ORDER BY executed_at, version"
        ).fetchall()


def test_rerun_with_unchanged_data_is_version_2_with_identical_lines(db: str) -> None:
    load(db)
    [first] = settle(OCTOBER, "344", url=db, now=AFTER, progress=quiet)
    [second] = settle(OCTOBER, "344", url=db, now=AFTER, progress=quiet)
    assert (first.version, second.version) == (1, 2)
    assert first.run_id != second.run_id
    assert lines_of(db, first.run_id) == lines_of(db, second.run_id)
    assert len(lines_of(db, first.run_id)) == 7
    assert [(v, s) for v, s, _ in runs_of(db)] == [(1, "Completed"), (2, "Completed")]
    with connect(db) as conn:
        acontos = conn.execute(
            "SELECT settlement_run_id, difference FROM aconto_settlement ORDER BY 2"
        ).fetchall()
    assert {r[0] for r in acontos} == {first.run_id, second.run_id}
    assert acontos[0][1] == acontos[1][1]


def test_missing_spot_price_fails_the_run_without_lines_then_a_rerun_completes(
    db: str, tmp_path: Path
) -> None:
    given = tmp_path / "given"
    given.mkdir()
    for file in PLAIN.iterdir():
        text = file.read_text(encoding="utf-8")
        if file.name == "spot.csv":
            # Drop the quarter-hour 2026-10-30 12:15Z.
            text = "".join(
                line
                for line in text.splitlines(keepends=True)
                if not line.startswith("2026-10-30 12:15")
            )
        (given / file.name).write_text(text, encoding="utf-8")
    load(db, given)
    with pytest.raises(SettlementError) as caught:
        settle(OCTOBER, "344", url=db, now=AFTER, progress=quiet)
    message = str(caught.value)
    assert "\n" not in message
    # The clerk reads local dates: 12:15Z on 30 October 2026 is 13:15 Danish winter time.
    assert message.endswith("no spot price for DK1 on 30 October 2026 13:15 (local)")
    [(version, status, error)] = runs_of(db)
    assert (version, status) == (1, "Failed")
    assert error == "no spot price for DK1 on 30 October 2026 13:15 (local)"
    with connect(db) as conn:
        count = conn.execute("SELECT count(*) FROM settlement_line").fetchone()
        assert count == (0,)
    load(db)  # the complete price file
    [report] = settle(OCTOBER, "344", url=db, now=AFTER, progress=quiet)
    # The failed run keeps its record; its version is tried again, not used up.
    assert report.version == 1 and report.status == "Completed"
    assert len(lines_of(db, report.run_id)) == 7
    assert [(v, s) for v, s, _ in runs_of(db)] == [(1, "Failed"), (1, "Completed")]
    [after] = settle(OCTOBER, "344", url=db, now=AFTER, progress=quiet)
    assert after.version == 2


def test_missing_tariff_names_grid_area_and_instant(db: str) -> None:
    load(db)
    with connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM grid_tariff WHERE tariff_type = 'GridTariff'")
    with pytest.raises(
        SettlementError,
        match=r"no GridTariff for grid area 344 on 29 October 2026 00:00 \(local\)$",
    ):
        settle(OCTOBER, "344", url=db, now=AFTER, progress=quiet)


def test_a_killed_run_is_marked_abandoned_by_the_next_run(db: str) -> None:
    load(db)
    with connect(db, autocommit=True) as conn:
        from storage.periods import billing_period_id

        period_id = billing_period_id(conn, OCTOBER.start, OCTOBER.end, "Monthly")
        run_store.insert_run(conn, period_id, "344")  # a run whose process died: Running, no lines
    [report] = settle(OCTOBER, "344", url=db, now=AFTER, progress=quiet)
    assert report.version == 1
    runs = runs_of(db)
    assert [(v, s) for v, s, _ in runs] == [(1, "Failed"), (1, "Completed")]
    assert str(runs[0][2]).startswith("abandoned")


def test_dry_run_writes_no_run_and_no_lines(db: str) -> None:
    load(db)
    [report] = settle(OCTOBER, "344", url=db, now=AFTER, dry_run=True, progress=quiet)
    assert report.dry_run and report.settled == 1
    assert sum(t.amount for t in report.totals) > 0
    assert runs_of(db) == []
    with connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM settlement_line").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM aconto_settlement").fetchone() == (0,)


def test_two_runs_of_the_same_grid_area_serialise(db: str) -> None:
    load(db)
    holder = connect(db, autocommit=True)
    assert run_store.try_lock_run(holder, OCTOBER.start, OCTOBER.end, "344")
    done: list[int] = []
    lines: list[str] = []

    def run() -> None:
        [report] = settle(OCTOBER, "344", url=db, now=AFTER, progress=lines.append)
        done.append(report.version)

    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(1.5)
    assert done == []
    assert any("waiting for another run" in line for line in lines)
    run_store.unlock_run(holder, OCTOBER.start, OCTOBER.end, "344")
    holder.close()
    worker.join(timeout=30)
    assert done == [1]


def test_open_period_and_unknown_grid_area_are_one_line_errors(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    load(db)
    with pytest.raises(
        SettlementError,
        match=r"^period 2026-10 is not closed: its last local day is 31 October 2026$",
    ):
        settle(OCTOBER, "344", url=db, now=datetime(2026, 10, 31, 12, tzinfo=UTC), progress=quiet)
    assert main(["settle", "--period", "2026-10", "--grid-area", "999"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == "elflow: unknown grid area 999"


def test_cli_settles_every_supplied_grid_area_and_prints_a_summary(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    load(db)
    assert main(["settle", "--period", "2026-10"]) == 0
    out = capsys.readouterr()
    assert "settlement 2026-10 grid area 344 version 1 (Completed)" in out.out
    assert "metering points settled  1" in out.out
    assert "computing lines" in out.err


def test_a_run_that_settles_nobody_says_so(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    load(db)
    with connect(db, autocommit=True) as conn:
        conn.execute(
            """INSERT INTO grid_area (code, grid_operator_gln, grid_operator_name, price_area)
               VALUES ('791', '5790000000000', 'Empty Net', 'DK1')"""
        )
    assert main(["settle", "--period", "2026-10", "--grid-area", "791"]) == 0
    out = capsys.readouterr()
    assert (
        "settlement 2026-10 grid area 791 version 1 (Completed) in "
    ) in out.out and out.out.splitlines()[0].endswith(
        ": settled nobody, no metering point of ours to settle in this grid area and period"
    )
    assert "settled nobody" in out.err  # the progress line too
    [full] = settle(OCTOBER, "344", url=db, now=AFTER, progress=quiet)
    assert full.nobody() == "" and "settled nobody" not in full.table()
