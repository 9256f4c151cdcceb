"""The one calendar: local days, slots, months and billing periods (pure, no services)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.calendar import (
    BillingPeriod,
    PeriodError,
    add_months,
    day_bounds_utc,
    days_in_month,
    expected_slots,
    format_day,
    format_days,
    format_local,
    format_month,
    local_date,
    local_hour,
    local_midnight_utc,
    wall_time_to_utc,
)
from schemas.codelists import BillingFrequency

CPH = "Europe/Copenhagen"


@pytest.mark.parametrize(
    ("day", "resolution", "slots"),
    [
        (date(2026, 3, 29), "PT15M", 92),
        (date(2026, 3, 29), "PT1H", 23),
        (date(2026, 10, 25), "PT15M", 100),
        (date(2026, 10, 25), "PT1H", 25),
        (date(2026, 10, 26), "PT15M", 96),
        (date(2026, 7, 1), "PT1H", 24),
    ],
)
def test_slots_of_a_local_day(day: date, resolution: str, slots: int) -> None:
    assert expected_slots(day, resolution, CPH) == slots


def test_unknown_resolution_is_refused() -> None:
    with pytest.raises(ValueError, match="P1D"):
        expected_slots(date(2026, 1, 1), "P1D", CPH)


def test_day_bounds_and_local_midnight() -> None:
    assert day_bounds_utc(date(2026, 10, 25), CPH) == (
        datetime(2026, 10, 24, 22, tzinfo=UTC),
        datetime(2026, 10, 25, 23, tzinfo=UTC),
    )
    assert local_midnight_utc(date(2026, 1, 1), CPH) == datetime(2025, 12, 31, 23, tzinfo=UTC)


def test_local_date_and_hour_of_instants() -> None:
    assert local_date(datetime(2026, 10, 14, 22, 30, tzinfo=UTC), CPH) == date(2026, 10, 15)
    # Both occurrences of the repeated hour are local hour 2.
    assert local_hour(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), CPH) == 2
    assert local_hour(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), CPH) == 2
    with pytest.raises(ValueError, match="naive"):
        local_date(datetime(2026, 1, 1), CPH)  # noqa: DTZ001 - the naive case under test


def test_wall_time_to_utc_resolves_the_repeated_hour_and_refuses_the_gap() -> None:
    assert wall_time_to_utc(datetime(2026, 10, 25, 2, 30), CPH) == datetime(  # noqa: DTZ001
        2026, 10, 25, 0, 30, tzinfo=UTC
    )
    with pytest.raises(ValueError, match="DST gap"):
        wall_time_to_utc(datetime(2026, 3, 29, 2, 30), CPH)  # noqa: DTZ001


def test_format_local_names_the_local_date_first() -> None:
    assert (
        format_local(datetime(2025, 10, 14, 22, 0, tzinfo=UTC), CPH) == "2025-10-15 00:00 (+02:00)"
    )


def test_format_local_in_words_names_the_local_day_and_which_repeated_hour() -> None:
    assert (
        format_local(datetime(2025, 10, 14, 22, 0, tzinfo=UTC), CPH, words=True)
        == "15 October 2025 00:00 (local)"
    )
    # 2026-10-25 02:30 local happens twice: 00:30Z in summer time, 01:30Z in winter time.
    assert (
        format_local(datetime(2026, 10, 25, 0, 30, tzinfo=UTC), CPH, words=True)
        == "25 October 2026 02:30 (local summer time)"
    )
    assert (
        format_local(datetime(2026, 10, 25, 1, 30, tzinfo=UTC), CPH, words=True)
        == "25 October 2026 02:30 (local winter time)"
    )
    assert (
        format_local(datetime(2026, 10, 25, 2, 30, tzinfo=UTC), CPH, words=True)
        == "25 October 2026 03:30 (local)"
    )


def test_local_days_in_words_take_the_shortest_form() -> None:
    assert format_day(date(2026, 10, 5)) == "5 October 2026"
    assert format_month(date(2026, 10, 5)) == "October 2026"
    assert format_days(date(2026, 11, 1), date(2026, 11, 30)) == "1 to 30 November 2026"
    assert format_days(date(2026, 10, 1), date(2026, 12, 31)) == "1 October to 31 December 2026"
    assert (
        format_days(date(2026, 12, 15), date(2027, 1, 14)) == "15 December 2026 to 14 January 2027"
    )
    assert format_days(date(2026, 2, 3), date(2026, 2, 3)) == "3 February 2026"
    assert BillingPeriod.parse("2026-Q4").in_words == "1 October to 31 December 2026"
    assert BillingPeriod.parse("2028-02").in_words == "1 to 29 February 2028"


def test_months() -> None:
    assert add_months(date(2026, 11, 17), 2) == date(2027, 1, 1)
    assert add_months(date(2026, 1, 31), -1) == date(2025, 12, 1)
    assert days_in_month(2028, 2) == 29


@pytest.mark.parametrize(
    ("text", "label", "start", "end", "months"),
    [
        ("2026-10", "2026-10", date(2026, 10, 1), date(2026, 11, 1), 1),
        ("2026-12", "2026-12", date(2026, 12, 1), date(2027, 1, 1), 1),
        (" 2026-q4 ", "2026-Q4", date(2026, 10, 1), date(2027, 1, 1), 3),
        ("2027-Q1", "2027-Q1", date(2027, 1, 1), date(2027, 4, 1), 3),
    ],
)
def test_billing_period_parse(text: str, label: str, start: date, end: date, months: int) -> None:
    period = BillingPeriod.parse(text)
    assert (period.label, period.start, period.end, period.length_months) == (
        label,
        start,
        end,
        months,
    )
    assert len(period.months) == months
    assert period.following().start == end


@pytest.mark.parametrize("text", ["2026-13", "2026-Q5", "26-10", "2026-1", "october", ""])
def test_billing_period_refuses_other_text(text: str) -> None:
    with pytest.raises(PeriodError, match="neither a month"):
        BillingPeriod.parse(text)


def test_billing_period_must_start_its_month_or_quarter() -> None:
    with pytest.raises(PeriodError):
        BillingPeriod(BillingFrequency.QUARTERLY, date(2026, 11, 1))
    with pytest.raises(PeriodError):
        BillingPeriod(BillingFrequency.MONTHLY, date(2026, 11, 2))
    assert BillingPeriod.month_of(date(2026, 11, 17)).label == "2026-11"
    assert BillingPeriod.parse("2026-02").days == 28
