"""Differential test: the SQL settlement run against the Python oracle (settlement.calc).

Random portfolios (tests/settlement_portfolios.py: products of all three energy models, PT15M
and PT1H meters, supply periods and contracts starting and ending mid-month, DST months,
tariff, tax and subscription changes mid-month, several grid areas and both price areas) are
written to a real database and settled by the real run (`settlement.run.settle`, one run per
grid area); every line must equal the oracle's to the 6th decimal, kWh and VAT included, and
no metering point may be left out (the portfolios have complete data).

The default suite runs a bounded, derandomized set of examples; `-m slow` runs 1 000
portfolios (100 examples of 10 grid areas each, one run per grid area).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings

from schemas.calendar import BillingPeriod
from settlement import calc
from settlement.run import settle
from storage.db import connect
from tests.settlement_portfolios import Portfolios, portfolios, write

pytestmark = pytest.mark.services

LineKey = tuple[str, str, str, str]  # grid area of the run, GSRN, contract, charge type
LineValue = tuple[Decimal, Decimal, Decimal]


def quiet(_line: str) -> None:
    pass


def expected_lines(p: Portfolios) -> dict[LineKey, LineValue]:
    """Each area's run settles its own points without history and every point with history
    (which may have been in it on some days)."""
    lines: dict[LineKey, LineValue] = {}
    with_history = [point for area in p.areas for point in area.points if point.history]
    for area in p.areas:
        points = [point for point in area.points if not point.history] + with_history
        for point in points:
            for line in calc.settle_point(point, p.prices(area), p.period, grid_area=area.code):
                key = (area.code, line.gsrn, line.contract_id, line.charge_type.value)
                lines[key] = (line.total_kwh, line.total_amount, line.vat_amount)
    return lines


def settled_lines(db: str, p: Portfolios) -> dict[LineKey, LineValue]:
    period = BillingPeriod.parse(p.period.label)
    after = p.period.bounds_utc()[1] + timedelta(days=1)
    runs = []
    for area in p.areas:
        [report] = settle(period, area.code, url=db, refresh=False, now=after, progress=quiet)
        assert report.status == "Completed"
        assert report.left_out == []
        runs.append(report.run_id)
    with connect(db) as conn:
        rows = conn.execute(
            """SELECT r.grid_area_code, l.metering_point_id, l.contract_id::text, l.charge_type,
                      l.total_kwh, l.total_amount, l.vat_amount
               FROM settlement_line l JOIN settlement_run r ON r.id = l.settlement_run_id
               WHERE l.settlement_run_id = ANY(%s)""",
            (runs,),
        ).fetchall()
    return {(r[0], r[1], r[2], r[3]): (r[4], r[5], r[6]) for r in rows}


def check(db: str, p: Portfolios) -> int:
    with connect(db, autocommit=True) as conn:
        write(conn, p)
    expected = expected_lines(p)
    actual = settled_lines(db, p)
    differences = {
        key: (expected.get(key), actual.get(key))
        for key in expected.keys() | actual.keys()
        if expected.get(key) != actual.get(key)
    }
    assert not differences, f"{p.period.label}: {len(differences)} lines differ: " + "; ".join(
        f"{k}: oracle {e} SQL {a}" for k, (e, a) in sorted(differences.items())[:5]
    )
    return len(expected)


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(p=portfolios())
def test_sql_run_equals_the_python_oracle(db: str, p: Portfolios) -> None:
    check(db, p)


@pytest.mark.slow
@settings(
    max_examples=100,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(p=portfolios(areas=10))
def test_sql_run_equals_the_python_oracle_on_1000_portfolios(db: str, p: Portfolios) -> None:
    check(db, p)


def test_the_generator_reaches_every_case() -> None:
    """Over a fixed set of examples the portfolios include every energy model, both meter
    resolutions, DST months, mid-month contract and tariff changes, and lines to compare."""
    seen: set[str] = set()

    @settings(max_examples=40, deadline=None, derandomize=True, database=None)
    @given(p=portfolios())
    def collect(p: Portfolios) -> None:
        seen.update(x.model.value for x in p.products)
        start, end = p.period.bounds_utc()
        for area in p.areas:
            if len(area.grid_tariff) > 1:
                seen.add("tariff change")
            for point in area.points:
                seen.add(point.resolution)
                seen.update(_history_cases(point, p.period))
                if any(p.period.start < c.start < p.period.end for c in point.contracts):
                    seen.add("contract starts mid-month")
        if (end - start) % timedelta(days=1):
            seen.add("DST month")
        if expected_lines(p):
            seen.add("lines")

    collect()
    assert seen >= {
        "Spot",
        "FixedPrice",
        "Mixed",
        "PT15M",
        "PT1H",
        "DST month",
        "tariff change",
        "contract starts mid-month",
        "lines",
        "grid-area move in the month",
        "disconnected days",
        "not yet connected",
        "closed down",
        "not consumption",
    }


def _history_cases(point: calc.MeteringPoint, period: BillingPeriod) -> set[str]:
    start, end = period.bounds_utc()
    inside = [v for v in point.history if v.valid_from < end and (v.valid_to or end) > start]
    cases = set()
    if len({v.value.grid_area for v in inside}) > 1:
        cases.add("grid-area move in the month")
    statuses = {v.value.connection_status for v in inside}
    names = {"Disconnected": "disconnected days", "New": "not yet connected"}
    cases.update(names[s] for s in statuses if s in names)
    if "ClosedDown" in statuses:
        cases.add("closed down")
    if any(v.value.type != "E17" for v in inside):
        cases.add("not consumption")
    return cases
