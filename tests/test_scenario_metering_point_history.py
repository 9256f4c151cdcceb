"""Golden scenario (h): a metering point's month as DataHub tells it, settled and invoiced.

tests/scenarios/h_metering_point_history (README computes every figure by hand): the reference
data is imported, the six RSM-022 documents are published to a fresh master-data topic and
applied by the real master-data flow, then our supply period, contract and readings are loaded,
October 2026 is settled for both grid areas and invoiced. The projection, each run's lines and
the FinalSettlement invoice must equal the files in then/.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from flows import masterdata
from flows.publisher import publish
from schemas.bands import DEFAULT_BANDS, band_table
from schemas.calendar import BillingPeriod, local_date, local_midnight_utc
from schemas.settings import settings
from settlement.invoice_run import run_invoicing
from settlement.rules import vat_amount
from settlement.run import settle
from storage.db import connect
from storage.importers import import_file
from storage.readings import write_batch
from tests.settlement_support import SCENARIOS, read_rows, readings_items

pytestmark = pytest.mark.services

FOLDER = SCENARIOS / "h_metering_point_history"
BEFORE_MASTER_DATA = ("grid_areas", "customers", "products", "pricelist", "spot")
AFTER_MASTER_DATA = ("supply_periods", "contracts")


def _apply_master_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, documents: Path) -> None:
    monkeypatch.setenv("ELFLOW_MASTERDATA_TOPIC", f"test.md.h.{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("ELFLOW_RECOVERY_DIR", str(tmp_path / "recovery"))
    settings.cache_clear()
    cfg = settings()
    files = sorted(documents.glob("*.xml"))
    # Published last document first: the flow must apply them in effective-date order anyway.
    messages = [(b"571313100000000096", path.read_bytes()) for path in reversed(files)]
    publish(cfg, cfg.masterdata_topic, messages, partitions=1)
    procs = masterdata.start(cfg, processes=1, until_end=True, log_dir=tmp_path)
    assert [p.wait(timeout=300) for p in procs] == [0]


def test_metering_point_history_is_settled_per_day_and_ends_in_a_final_settlement(
    db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    when = json.loads((FOLDER / "when.json").read_text())
    given = FOLDER / "given"
    with connect(db, autocommit=True) as conn:
        for kind in BEFORE_MASTER_DATA:
            import_file(conn, kind, given / f"{kind}.csv")
    _apply_master_data(monkeypatch, tmp_path, FOLDER / when["masterdata"])
    with connect(db, autocommit=True) as conn:
        for kind in AFTER_MASTER_DATA:
            import_file(conn, kind, given / f"{kind}.csv")
        write_batch(
            conn,
            readings_items(given / "readings.csv"),
            tz="Europe/Copenhagen",
            bands=list(band_table(DEFAULT_BANDS)),
        )
        versions = conn.execute(
            """SELECT valid_from, grid_area_code, connection_status FROM metering_point_version
               ORDER BY valid_from"""
        ).fetchall()
    assert [(str(local_date(v)), a, s) for v, a, s in versions] == [
        (r["valid_from_local"], r["grid_area"], r["connection_status"])
        for r in read_rows(FOLDER / "then" / "master_data.csv")
    ]

    period = BillingPeriod.parse(when["period"])
    after = local_midnight_utc(period.end) + timedelta(days=1)
    reports = settle(period, url=db, now=after, progress=lambda _line: None)
    assert sorted(r.grid_area for r in reports) == when["grid_areas"]
    assert all(r.status == "Completed" and not r.left_out for r in reports)
    with connect(db) as conn:
        lines = conn.execute(
            """SELECT r.grid_area_code, l.metering_point_id, l.charge_type, l.total_kwh,
                      l.total_amount, l.vat_amount
               FROM settlement_line l JOIN settlement_run r ON r.id = l.settlement_run_id"""
        ).fetchall()
    expected = {
        (
            r["grid_area"],
            r["gsrn"],
            r["charge_type"],
            Decimal(r["total_kwh"]),
            Decimal(r["total_amount"]),
        )
        for r in read_rows(FOLDER / "then" / "settlement_lines.csv")
    }
    assert {tuple(line[:5]) for line in lines} == expected
    assert len(lines) == len(expected)
    assert all(vat == vat_amount(amount) for *_, amount, vat in lines)

    with connect(db) as conn:
        run_invoicing(conn, period, datetime(2026, 11, 2, 8, tzinfo=UTC))
        invoices = conn.execute(
            "SELECT id, type, total_ex_vat, vat_amount, total_incl_vat FROM invoice"
        ).fetchall()
        assert len(invoices) == 1
        invoice_id, *totals = invoices[0]
        invoice_lines = conn.execute(
            "SELECT charge_type, amount FROM invoice_line WHERE invoice_id = %s", (invoice_id,)
        ).fetchall()
    [expected_totals] = read_rows(FOLDER / "then" / "invoice_totals.csv")
    assert tuple(totals) == (
        expected_totals["type"],
        Decimal(expected_totals["total_ex_vat"]),
        Decimal(expected_totals["vat_amount"]),
        Decimal(expected_totals["total_incl_vat"]),
    )
    assert sorted(invoice_lines) == sorted(
        (r["charge_type"], Decimal(r["amount"])) for r in read_rows(FOLDER / "then" / "invoice.csv")
    )
