"""`elflow exporter`: the latest settlement run of each period and grid area, read as
elflow_grafana from the real database, served to Prometheus."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import date

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from storage.db import connect, with_user
from storage.periods import billing_period_id
from storage.settlement_runs import complete_run, fail_run, insert_run
from tests.conftest import free_port, use_database

pytestmark = pytest.mark.services


def _runs(db: str) -> None:
    """344: v1 completed, then a re-run failed (latest: Failed). 740: failed, then completed.
    804 in 2026-Q4: still running."""
    with connect(db) as conn:
        conn.execute(
            """INSERT INTO grid_area VALUES ('344', '5790000610976', 'Net 344', 'DK2'),
                   ('740', '5790000610977', 'Net 740', 'DK1'),
                   ('804', '5790000610978', 'Net 804', 'DK1')"""
        )
        october = billing_period_id(conn, date(2026, 10, 1), date(2026, 11, 1), "Monthly")
        quarter = billing_period_id(conn, date(2026, 10, 1), date(2027, 1, 1), "Quarterly")
        for area, outcomes in (("344", ["ok", "fail"]), ("740", ["fail", "ok"])):
            for outcome in outcomes:
                run_id, _version = insert_run(conn, october, area)
                if outcome == "ok":
                    complete_run(conn, run_id, "{}")
                else:
                    fail_run(conn, run_id, "no spot price for DK1 on 30 October 2026 13:15")
                conn.commit()
        insert_run(conn, quarter, "804")
        conn.commit()


def _scrape(port: int, path: str = "/metrics") -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as response:
        text: str = response.read().decode()
        return text


def _samples(text: str, name: str) -> dict[str, float]:
    return {
        line.split(" ")[0][len(name) :]: float(line.split(" ")[-1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    }


def test_the_exporter_serves_the_latest_run_of_each_period_and_area(db: str) -> None:
    _runs(db)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "exporter", "--port", str(port)],
        env={**os.environ, "ELFLOW_DATABASE_URL": db},
        stderr=subprocess.PIPE,
    )
    try:
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "elflow_settlement_status_up" not in text:
            try:
                text = _scrape(port)
            except OSError:
                time.sleep(0.2)
        failed = _samples(text, "elflow_settlement_run_failed")
        running = _samples(text, "elflow_settlement_run_running")
        assert failed == {
            '{grid_area="344",period="2026-10"}': 1.0,
            '{grid_area="740",period="2026-10"}': 0.0,
            '{grid_area="804",period="2026-Q4"}': 0.0,
        }, text
        assert running['{grid_area="804",period="2026-Q4"}'] == 1.0
        assert _samples(text, "elflow_settlement_status_up") == {"": 1.0}
        # A re-run of 344 completes: the failure is gone at the next scrape.
        with connect(db) as conn:
            october = billing_period_id(conn, date(2026, 10, 1), date(2026, 11, 1), "Monthly")
            run_id, version = insert_run(conn, october, "344")
            complete_run(conn, run_id, "{}")
            conn.commit()
        assert version == 2
        failed = _samples(_scrape(port), "elflow_settlement_run_failed")
        assert failed['{grid_area="344",period="2026-10"}'] == 0.0
        assert _scrape(port, "/healthz") == "ok\n"
        assert _scrape(port, "/readyz") == "ready\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def test_the_exporter_reads_as_grafana_and_reports_a_database_it_cannot_read(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from deploy.exporter import SettlementRunCollector, readiness

    _runs(db)
    # elflow_grafana may not read settlement_run itself, only through the function.
    with (
        connect(with_user(db, "elflow_grafana")) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege, match="settlement_run"),
    ):
        conn.execute("SELECT count(*) FROM settlement_run")
    metrics = {m.name: m for m in SettlementRunCollector().collect()}
    assert metrics["elflow_settlement_status_up"].samples[0].value == 1
    assert sum(s.value for s in metrics["elflow_settlement_run_failed"].samples) == 1
    # A database that is not there: status_up 0, no series, no crash.
    use_database(monkeypatch, make_conninfo(db, dbname="elflow_no_such_database"))
    metrics = {m.name: m for m in SettlementRunCollector().collect()}
    assert metrics["elflow_settlement_status_up"].samples[0].value == 0
    assert "elflow_settlement_run_failed" not in metrics
    reasons = readiness()()
    assert len(reasons) == 1 and reasons[0].startswith("database: "), reasons
    assert "elflow_no_such_database" in reasons[0]
