"""Tariff bands: which band (off-peak, peak, super-peak) each local hour belongs to.

Grid tariffs (Tarifmodel 3.0) are priced by local hour; local hours and days come from
schemas.calendar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from schemas.calendar import local_hour

# Band name → half-open local-hour ranges [from_hour, to_hour), 0 ≤ from < to ≤ 24.
Bands = Mapping[str, Sequence[tuple[int, int]]]

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


def band_of(ts_utc: datetime, bands: Bands, tz: str | None = None) -> str:
    """The band of the local hour in which the instant `ts_utc` falls."""
    return band_table(bands)[local_hour(ts_utc, tz)]
