"""Tariff bands by local hour and the calendar's local days, including both DST days of a year."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from schemas.bands import DEFAULT_BANDS, Bands, band_of, band_table, validate_bands
from schemas.calendar import day_bounds_utc, expected_slots, local_date


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_default_bands_are_tarifmodel_3() -> None:
    table = band_table(DEFAULT_BANDS)

    assert table == ("off_peak",) * 6 + ("peak",) * 11 + ("super_peak",) * 4 + ("peak",) * 3


def test_settings_default_bands_are_valid_and_equal_the_default() -> None:
    from schemas.settings import Settings

    assert band_table(Settings().bands) == band_table(DEFAULT_BANDS)


@pytest.mark.parametrize(
    "bands",
    [
        {"off_peak": [(0, 6)], "peak": [(5, 24)]},  # hour 5 twice
        {"off_peak": [(0, 6)], "peak": [(7, 24)]},  # hour 6 in none
        {"all": [(0, 25)]},
        {"all": [(-1, 24)]},
        {"all": [(0, 12), (12, 12), (12, 24)]},
        {"all": [(12, 0), (0, 24)]},
        {"all": [(0, True), (1, 24)]},
        {"": [(0, 24)]},
        {},
    ],
    ids=[
        "overlap",
        "gap",
        "past 24",
        "negative",
        "empty range",
        "reversed",
        "bool",
        "no name",
        "none",
    ],
)
def test_bands_must_cover_each_local_hour_exactly_once(bands: Bands) -> None:
    with pytest.raises(ValueError):
        validate_bands(bands)


@pytest.mark.parametrize(
    ("day", "quarters", "hours"),
    [
        (date(2026, 3, 29), 92, 23),
        (date(2026, 10, 25), 100, 25),
        (date(2026, 1, 15), 96, 24),
        (date(2026, 6, 15), 96, 24),
        (date(2026, 3, 28), 96, 24),
        (date(2025, 3, 30), 92, 23),
        (date(2025, 10, 26), 100, 25),
        (date(2027, 3, 28), 92, 23),
    ],
)
def test_expected_slots_follow_the_zone_rules(day: date, quarters: int, hours: int) -> None:
    assert expected_slots(day, "PT15M") == quarters
    assert expected_slots(day, "PT1H") == hours


def test_expected_slots_in_another_zone() -> None:
    assert expected_slots(date(2026, 3, 29), "PT1H", "UTC") == 24
    assert expected_slots(date(2026, 3, 8), "PT1H", "America/New_York") == 23


def test_expected_slots_rejects_other_resolutions() -> None:
    with pytest.raises(ValueError):
        expected_slots(date(2026, 1, 15), "P1D")


@pytest.mark.parametrize(
    ("day", "start", "end"),
    [
        (date(2026, 1, 15), utc(2026, 1, 14, 23), utc(2026, 1, 15, 23)),
        (date(2026, 6, 15), utc(2026, 6, 14, 22), utc(2026, 6, 15, 22)),
        (date(2026, 3, 29), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22)),
        (date(2026, 10, 25), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23)),
    ],
)
def test_day_bounds_are_local_midnights_in_utc(day: date, start: datetime, end: datetime) -> None:
    assert day_bounds_utc(day) == (start, end)


@pytest.mark.parametrize(
    ("ts", "day"),
    [
        (utc(2026, 1, 14, 22, 59), date(2026, 1, 14)),
        (utc(2026, 1, 14, 23, 0), date(2026, 1, 15)),
        (utc(2026, 6, 30, 21, 59), date(2026, 6, 30)),
        (utc(2026, 6, 30, 22, 0), date(2026, 7, 1)),
        (utc(2026, 10, 25, 22, 59), date(2026, 10, 25)),
    ],
)
def test_local_date_of_an_instant(ts: datetime, day: date) -> None:
    assert local_date(ts) == day


@pytest.mark.parametrize(
    ("ts", "band"),
    [
        # 2026-03-28, winter time (UTC+1)
        (utc(2026, 3, 28, 4, 59), "off_peak"),  # 05:59
        (utc(2026, 3, 28, 5, 0), "peak"),  # 06:00
        (utc(2026, 3, 28, 16, 0), "super_peak"),  # 17:00
        (utc(2026, 3, 28, 20, 0), "peak"),  # 21:00
        # 2026-03-29, summer time from 01:00Z (UTC+2)
        (utc(2026, 3, 29, 3, 59), "off_peak"),  # 05:59
        (utc(2026, 3, 29, 4, 0), "peak"),  # 06:00
        (utc(2026, 3, 29, 4, 30), "peak"),  # 06:30, an hour earlier in UTC than the day before
        (utc(2026, 3, 29, 14, 59), "peak"),  # 16:59
        (utc(2026, 3, 29, 15, 0), "super_peak"),  # 17:00
        (utc(2026, 3, 29, 18, 59), "super_peak"),  # 20:59
        (utc(2026, 3, 29, 19, 0), "peak"),  # 21:00
        # 2026-10-25, back to winter time at 01:00Z: local 02:00-03:00 happens twice
        (utc(2026, 10, 25, 0, 30), "off_peak"),  # 02:30 summer time
        (utc(2026, 10, 25, 1, 30), "off_peak"),  # 02:30 winter time
        (utc(2026, 10, 25, 4, 59), "off_peak"),  # 05:59
        (utc(2026, 10, 25, 5, 0), "peak"),  # 06:00
        (utc(2026, 10, 25, 16, 0), "super_peak"),  # 17:00
        (utc(2026, 10, 25, 20, 0), "peak"),  # 21:00
    ],
)
def test_band_of_uses_the_local_hour_across_dst(ts: datetime, band: str) -> None:
    assert band_of(ts, DEFAULT_BANDS) == band


def test_same_utc_hour_changes_band_when_summer_time_starts() -> None:
    assert band_of(utc(2026, 3, 28, 4, 30), DEFAULT_BANDS) == "off_peak"  # 05:30 local
    assert band_of(utc(2026, 3, 29, 4, 30), DEFAULT_BANDS) == "peak"  # 06:30 local


def test_band_of_with_own_bands_and_zone() -> None:
    bands = {"night": [(0, 7), (23, 24)], "day": [(7, 23)]}

    assert band_of(utc(2026, 1, 15, 6, 59), bands, "UTC") == "night"
    assert band_of(utc(2026, 1, 15, 6, 59), bands) == "day"  # 07:59 in Copenhagen


def test_naive_datetimes_are_refused() -> None:
    naive = datetime(2026, 1, 15, 12)  # noqa: DTZ001 - the point of the test
    with pytest.raises(ValueError):
        band_of(naive, DEFAULT_BANDS)
    with pytest.raises(ValueError):
        local_date(naive)


def test_settings_refuse_bands_that_leave_an_hour_without_a_band(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from schemas.settings import ConfigError, load_settings

    monkeypatch.setenv("ELFLOW_BANDS", '{"peak": [[0, 20]]}')
    with pytest.raises(
        ConfigError, match=r"^bad setting ELFLOW_BANDS: .*local hours \[20, 21, 22, 23\]"
    ):
        load_settings()
    monkeypatch.setenv("ELFLOW_BANDS", '{"day": [[6, 22]], "night": [[0, 6], [22, 24]]}')
    assert load_settings().bands["night"] == [(0, 6), (22, 24)]
