"""Per-day charge sums (day_charge_sum, issue 12): the close reads them, and a day whose price,
tariff or summary changed after they were computed is computed again from slot_kwh.

Every run here is the real run (settlement.run.settle) on random portfolios in a real database;
the lines are compared with the Python oracle (settlement.calc) or with a run that has no sums
to read (the path the differential test checks against the oracle)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, assume, given, settings

from schemas.calendar import BillingPeriod
from schemas.codelists import EnergyModel
from settlement.run import prepare
from storage.db import connect
from tests.settlement_portfolios import Portfolios, portfolios, write
from tests.test_settlement_differential import expected_lines, quiet, settled_lines

pytestmark = pytest.mark.services

SETTINGS = settings(
    max_examples=4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _prepare_all(db: str, p: Portfolios) -> int:
    period = BillingPeriod.parse(p.period.label)
    prepared = 0
    for area in p.areas:
        prepared += sum(prepare(period, area.code, url=db, progress=quiet).values())
    return prepared


def _rows(db: str) -> int:
    with connect(db) as conn:
        row = conn.execute("SELECT count(*) FROM day_charge_sum").fetchone()
    return int(row[0]) if row else 0


@SETTINGS
@given(p=portfolios())
def test_a_close_from_prepared_sums_equals_the_oracle(db: str, p: Portfolios) -> None:
    with connect(db, autocommit=True) as conn:
        write(conn, p)  # day_charge_sum keeps the rows of earlier examples: no fingerprint matches
        conn.execute("DELETE FROM day_charge_sum")
    expected = expected_lines(p)
    assume(expected)
    prepared = _prepare_all(db, p)
    assert prepared > 0
    assert _rows(db) == prepared
    assert settled_lines(db, p) == expected
    # and once more, every day read back from day_charge_sum
    assert settled_lines(db, p) == expected


@SETTINGS
@given(p=portfolios())
def test_the_close_reads_the_prepared_rows(db: str, p: Portfolios) -> None:
    """A prepared row changed behind the run's back (fingerprints untouched) shows in the
    lines: the run took that day's sums from the row and did not multiply its slots again."""
    with connect(db, autocommit=True) as conn:
        write(conn, p)  # day_charge_sum keeps the rows of earlier examples: no fingerprint matches
        conn.execute("DELETE FROM day_charge_sum")
    expected = expected_lines(p)
    assume(expected)
    _prepare_all(db, p)
    with connect(db, autocommit=True) as conn:
        row = conn.execute(
            """UPDATE day_charge_sum SET kwh = kwh + 1
               WHERE (metering_point_id, date) = (SELECT metering_point_id, date
                                                  FROM day_charge_sum ORDER BY 1, 2 LIMIT 1)
               RETURNING metering_point_id"""
        ).fetchone()
    assert row is not None
    actual = settled_lines(db, p)
    differing = {
        key for key in expected.keys() | actual.keys() if expected.get(key) != actual.get(key)
    }
    assert differing
    assert {key[1] for key in differing} == {row[0]}


CHANGES = {
    # every spot price of the period's price areas, after the sums were prepared
    "spot price": "UPDATE spot_price SET price_per_kwh = price_per_kwh + 0.1",
    # every grid tariff rate
    "grid tariff": """UPDATE tariff_rate SET price_per_kwh = price_per_kwh + 0.1
                      WHERE grid_tariff_id IN (SELECT id FROM grid_tariff
                                               WHERE tariff_type = 'GridTariff')""",
    # one summary rewritten (as ingest or the refresh does: new slot_kwh, updated_at = now())
    "summary": """UPDATE daily_summary
                  SET slot_kwh[1] = slot_kwh[1] + 1, total_kwh = total_kwh + 1,
                      updated_at = now()
                  WHERE (metering_point_id, date) IN (SELECT metering_point_id, date
                                                      FROM day_charge_sum)""",
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@SETTINGS
@given(p=portfolios())
def test_a_day_whose_rates_or_summary_changed_is_computed_again(
    db: str, change: str, p: Portfolios
) -> None:
    with connect(db, autocommit=True) as conn:
        write(conn, p)  # day_charge_sum keeps the rows of earlier examples: no fingerprint matches
        conn.execute("DELETE FROM day_charge_sum")
    assume(expected_lines(p))
    if change == "spot price":
        assume(any(x.model is not EnergyModel.FIXED_PRICE for x in p.products))
    _prepare_all(db, p)
    before = settled_lines(db, p)
    with connect(db, autocommit=True) as conn:
        assert conn.execute(CHANGES[change]).rowcount > 0
    after = settled_lines(db, p)
    with connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM day_charge_sum")
    from_slots = settled_lines(db, p)
    assert after == from_slots
    assert after != before


@settings(SETTINGS, max_examples=2)
@given(p=portfolios())
def test_prepare_skips_days_without_readings_and_writes_no_run(db: str, p: Portfolios) -> None:
    """Prepare is for a period still running: days without a summary are skipped, the others
    stored, and no settlement run is written."""
    assume(expected_lines(p))
    with connect(db, autocommit=True) as conn:
        write(conn, p)  # day_charge_sum keeps the rows of earlier examples: no fingerprint matches
        conn.execute("DELETE FROM day_charge_sum")
        conn.execute(
            "DELETE FROM daily_summary WHERE date >= %s",
            (p.period.start + timedelta(days=10),),
        )
    prepared = _prepare_all(db, p)
    with connect(db) as conn:
        late = conn.execute(
            "SELECT count(*) FROM day_charge_sum WHERE date >= %s",
            (p.period.start + timedelta(days=10),),
        ).fetchone()
        runs = conn.execute("SELECT count(*) FROM settlement_run").fetchone()
    assume(prepared > 0)
    assert prepared == _rows(db)
    assert late == (0,)
    assert runs == (0,)
