"""Settlement and master data history beyond scenario h: a settlement-method change is shown on
the run, a production point we supply is never billed as consumption. The documents go through
the master-data apply path (settlement.masterdata.apply_batch, as the flow's sink does); the
flow itself is exercised by scenario h."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from schemas.bands import DEFAULT_BANDS, band_table
from schemas.calendar import BillingPeriod, local_midnight_utc
from settlement.masterdata import apply_batch, message_items
from settlement.run import settle
from storage.db import Conn, connect
from storage.importers import import_file
from storage.readings import write_batch
from tests.masterdata_docs import rsm022
from tests.settlement_support import SCENARIOS, readings_items

pytestmark = pytest.mark.services

GIVEN = SCENARIOS / "h_metering_point_history" / "given"
POINT = "571313100000000096"
PERIOD = BillingPeriod.parse("2026-10")
TOPIC = "test.md.history"


def _at(day: int) -> datetime:
    return local_midnight_utc(date(2026, 10, day))


def _apply(conn: Conn, *documents: bytes) -> None:
    items = [item for n, raw in enumerate(documents) for _, item in message_items(raw, TOPIC, 0, n)]
    outcome = apply_batch(conn, items, topic=TOPIC)
    assert outcome.applied == len(documents), outcome


def _load(conn: Conn, *documents: bytes) -> None:
    for kind in ("grid_areas", "customers", "products", "pricelist", "spot"):
        import_file(conn, kind, GIVEN / f"{kind}.csv")
    _apply(conn, *documents)
    for kind in ("supply_periods", "contracts"):
        import_file(conn, kind, GIVEN / f"{kind}.csv")
    write_batch(
        conn,
        readings_items(GIVEN / "readings.csv"),
        tz="Europe/Copenhagen",
        bands=list(band_table(DEFAULT_BANDS)),
    )


def _settle(db: str) -> dict[str, dict[str, object]]:
    after = local_midnight_utc(PERIOD.end) + timedelta(days=1)
    reports = settle(PERIOD, url=db, now=after, progress=lambda _line: None)
    return {r.grid_area: r.summary() for r in reports}


def test_a_settlement_method_change_is_on_the_run_and_changes_no_amount(db: str) -> None:
    supply = "2026-09-30T22:00:00Z"
    with connect(db, autocommit=True) as conn:
        _load(
            conn,
            rsm022("E02", POINT, _at(1), mrid="m-1", grid_area="344", supply_start=supply),
            rsm022("D15", POINT, _at(1), mrid="m-2", grid_area="344", supply_start=supply),
            rsm022(
                "D17",
                POINT,
                _at(8),
                mrid="m-3",
                grid_area="344",
                settlement="D01",
                supply_start=supply,
            ),
        )
    [summary] = _settle(db).values()
    assert summary["settlement_method_changes"] == [
        {"gsrn": POINT, "date": "2026-10-08", "from": "NonProfiled", "to": "Flex"}
    ]
    totals = summary["totals"]
    assert isinstance(totals, dict)
    # Connected all month: 31 days of 24 kWh and the 25-hour 25th.
    assert totals["Energy"]["kwh"] == "745.000"


def test_a_production_point_we_supply_is_never_billed_as_consumption(db: str) -> None:
    supply = "2026-09-30T22:00:00Z"
    with connect(db, autocommit=True) as conn:
        _load(
            conn,
            rsm022(
                "E02",
                POINT,
                _at(1),
                mrid="p-1",
                grid_area="344",
                mp_type="E18",
                settlement=None,
                supply_start=supply,
            ),
            rsm022(
                "D15",
                POINT,
                _at(2),
                mrid="p-2",
                grid_area="344",
                mp_type="E18",
                settlement=None,
                supply_start=supply,
            ),
        )
        current = conn.execute("SELECT type FROM metering_point").fetchall()
        days = conn.execute("SELECT count(*) FROM daily_summary").fetchone()
    assert current == [("E18_Production",)]
    assert days == (31,)  # its readings are stored
    summaries = _settle(db)
    assert [s["settled_metering_points"] for s in summaries.values()] == [0]
    with connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM settlement_line").fetchone() == (0,)
