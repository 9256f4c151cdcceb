"""Tariff bands and local days: where UTC readings meet Danish local time.

Grid tariffs (Tarifmodel 3.0) are priced by local hour, and a settlement day is a local
calendar day, so a day has 23, 24 or 25 hours. Slot counts are derived from the time zone
rules, never from a list of DST dates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from schemas.rsm012 import RESOLUTIONS

# Band name → half-open local-hour ranges [from_hour, to_hour), 0 ≤ from < to ≤ 24.
Bands = Mapping[str, Sequence[tuple[int, int]]]

DEFAULT_TZ: Final = "Europe/Copenhagen"

# Tarifmodel 3.0, every day of the year: lavlast 00–06, højlast 06–17 and 21–24,
# spidslast 17–21 (only the prices differ between summer and winter).
DEFAULT_BANDS: Final[Bands] = {
    "off_peak": ((0, 6),),
    "peak": ((6, 17), (21, 24)),
    "super_peak": ((17, 21),),
}


def band_table(bands: Bands) -> tuple[str, ...]:
    """The band of each local hour 0..23; ValueError unless each hour has exactly one band."""
    table: list[str | None] = [None] * 24
    for name, ranges in bands.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"band name {name!r} must be a non-empty string")
        for hours in ranges:
            if len(hours) != 2:
                raise ValueError(f"band {name}: {hours!r} is not a (from_hour, to_hour) pair")
            start, end = hours
            if not all(type(h) is int for h in (start, end)) or not 0 <= start < end <= 24:
                raise ValueError(f"band {name}: {hours!r} is not 0 <= from_hour < to_hour <= 24")
            for hour in range(start, end):
                if table[hour] is not None:
                    raise ValueError(f"local hour {hour} is in both {table[hour]} and {name}")
                table[hour] = name
    unassigned = [hour for hour, name in enumerate(table) if name is None]
    if unassigned:
        raise ValueError(f"local hours {unassigned} belong to no band")
    return tuple(name for name in table if name is not None)


def validate_bands(bands: Bands) -> None:
    """Raise ValueError unless every local hour 0..23 belongs to exactly one band."""
    band_table(bands)


def band_of(ts_utc: datetime, bands: Bands, tz: str = DEFAULT_TZ) -> str:
    """The band of the local hour in which the instant `ts_utc` falls."""
    return band_table(bands)[_local(ts_utc, tz).hour]


def local_date(ts_utc: datetime, tz: str = DEFAULT_TZ) -> date:
    """The local calendar day of an instant."""
    return _local(ts_utc, tz).date()


def day_bounds_utc(local_day: date, tz: str = DEFAULT_TZ) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a local calendar day (local midnight to local midnight)."""
    zone = ZoneInfo(tz)
    start = datetime.combine(local_day, time(), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(local_day + timedelta(days=1), time(), tzinfo=zone).astimezone(UTC)
    return start, end


def expected_slots(local_day: date, resolution: str, tz: str = DEFAULT_TZ) -> int:
    """Slots in a local day: 96 quarter-hours (92/100 on DST days), 24 hours (23/25)."""
    step = RESOLUTIONS.get(resolution)
    if step is None:
        raise ValueError(f"resolution {resolution!r} is not one of {sorted(RESOLUTIONS)}")
    start, end = day_bounds_utc(local_day, tz)
    return (end - start) // step


def _local(ts_utc: datetime, tz: str) -> datetime:
    if ts_utc.tzinfo is None or ts_utc.utcoffset() is None:
        raise ValueError(f"{ts_utc!r} is a naive datetime; readings are aware UTC")
    return ts_utc.astimezone(ZoneInfo(tz))
