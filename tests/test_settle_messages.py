"""What the clerk reads when a settlement cannot be done or leaves a metering point out: local
dates in words, the date first, never a UTC instant. One test per kind of message; the run
tests (test_settlement_runs.py) cover a missing spot price, a missing tariff and an open
period, test_close_report.py an unsettled period."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from schemas.calendar import BillingPeriod, local_midnight_utc
from settlement.run import SettlementError, settle
from storage.db import connect
from storage.settlement import left_out_reason
from tests.settlement_support import SCENARIOS, load_given

PLAIN = SCENARIOS / "a_plain_month_pt15m_spot" / "given"
OCTOBER = BillingPeriod.parse("2026-10")
AFTER = local_midnight_utc(OCTOBER.end) + timedelta(days=1)
D = date(2026, 10, 14)


def _facts(**kinds: tuple[int, date] | tuple[int, int, date, str | None]) -> tuple[object, ...]:
    """A row of storage.settlement's left-out facts with only the given kinds set."""
    contract = kinds.get("contract", (0, None))
    unread = kinds.get("unread", (0, None))
    missing = kinds.get("missing", (0, 0, None, None))
    mixed = kinds.get("mixed", (0, None))
    return ("571313100000000017", *contract, *unread, *missing, *mixed)


@pytest.mark.parametrize(
    ("facts", "words"),
    [
        (_facts(missing=(1, 1, D, "PT15M")), "1 quarter-hour missing on 14 October 2026"),
        (
            _facts(missing=(5, 3, D, "PT15M")),
            "5 quarter-hours missing on 3 days, the first 14 October 2026",
        ),
        (_facts(missing=(2, 1, D, "PT1H")), "2 hours missing on 14 October 2026"),
        (
            _facts(missing=(3, 2, D, None)),
            "3 quantities missing on 2 days, the first 14 October 2026",
        ),
        (_facts(unread=(1, D)), "no readings on 14 October 2026"),
        (
            _facts(unread=(31, date(2026, 10, 1))),
            "no readings on 31 days, the first 1 October 2026",
        ),
        (_facts(contract=(2, D)), "more than one contract on 2 days, the first 14 October 2026"),
        (_facts(mixed=(1, D)), "both 15-minute and hourly readings on 14 October 2026"),
        (
            _facts(unread=(1, date(2026, 10, 31)), missing=(1, 1, D, "PT15M")),
            "no readings on 31 October 2026; 1 quarter-hour missing on 14 October 2026",
        ),
    ],
)
def test_left_out_reasons_are_words_with_local_dates(facts: tuple[object, ...], words: str) -> None:
    assert left_out_reason(facts) == words


def _load(db: str, given: Path = PLAIN) -> None:
    with connect(db, autocommit=True) as conn:
        load_given(conn, given)


def _quiet(_line: str) -> None:
    pass


def _fails(db: str, period: BillingPeriod = OCTOBER) -> str:
    with pytest.raises(SettlementError) as caught:
        settle(period, "344" if period == OCTOBER else None, url=db, now=AFTER, progress=_quiet)
    return str(caught.value)


@pytest.mark.services
def test_a_missing_grid_subscription_names_the_local_day(db: str) -> None:
    _load(db)
    with connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM subscription WHERE type = 'GridSubscription'")
    assert _fails(db).endswith(
        "version 1 failed: no GridSubscription for grid area 344 on 29 October 2026"
    )


@pytest.mark.services
def test_a_missing_tax_rate_names_the_local_hour(db: str) -> None:
    _load(db)
    with connect(db, autocommit=True) as conn:
        conn.execute("DELETE FROM electricity_tax")
    assert _fails(db).endswith(
        "version 1 failed: no electricity tax rate on 29 October 2026 00:00 (local)"
    )


@pytest.mark.services
def test_two_grid_tariffs_at_once_name_the_local_start(db: str, tmp_path: Path) -> None:
    given = tmp_path / "given"
    given.mkdir()
    for file in PLAIN.iterdir():
        text = file.read_text(encoding="utf-8")
        if file.name == "pricelist.csv":
            tariff = next(line for line in text.splitlines() if ";C-TIME;" in line)
            text += tariff.replace(";C-TIME;", ";C-TIME2;") + "\n"
        (given / file.name).write_text(text, encoding="utf-8")
    _load(db, given)
    assert _fails(db).endswith(
        "version 1 failed: more than one GridTariff for grid area 344 from 1 January 2026 00:00"
        " (local) (C-TIME, C-TIME2); import only the tariff of our metering points"
    )


@pytest.mark.services
def test_a_period_nobody_is_supplied_in_names_its_days(db: str) -> None:
    _load(db)  # supplied from 29 October 2026 on
    assert _fails(db, BillingPeriod.parse("2026-09")) == (
        "no metering point is supplied in 2026-09 (1 to 30 September 2026)"
    )


@pytest.mark.services
def test_a_summary_whose_slots_do_not_fill_the_day_cannot_be_stored(db: str) -> None:
    """The close no longer checks slot counts (it reads only the key's columns, 0051): the
    table refuses such a row instead, so it cannot reach a run."""
    row = {"mp": "571313100000000017", "day": D, "slots": [Decimal("0.100")] * 95}
    with connect(db) as conn:
        with pytest.raises(psycopg.errors.CheckViolation, match="slots_fill_the_day"):
            conn.execute(
                """INSERT INTO daily_summary (metering_point_id, date, total_kwh, peak_kwh,
                       off_peak_kwh, super_peak_kwh, resolution, points_received,
                       points_expected, missing_count, estimated_count, slot_kwh)
                   VALUES (%(mp)s, %(day)s, 9.5, 0, 9.5, 0, 'PT15M', 95, 96, 0, 0, %(slots)s)""",
                row,
            )
        conn.rollback()
        conn.execute(
            """INSERT INTO daily_summary (metering_point_id, date, total_kwh, peak_kwh,
                   off_peak_kwh, super_peak_kwh, resolution, points_received,
                   points_expected, missing_count, estimated_count, slot_kwh)
               VALUES (%(mp)s, %(day)s, 9.5, 0, 9.5, 0, 'PT15M', 95, 95, 0, 0, %(slots)s)""",
            row,
        )
