"""elflow's one calendar: local days, slots, months and billing periods.

Readings and prices are instants in UTC; a settlement day, a tariff hour and a billing period
are local (Danish) calendar notions. This module is the only place that turns one into the
other. The time zone is read once from settings (`ELFLOW_TIMEZONE`, Europe/Copenhagen by
default); every function also takes an explicit `tz` so tests and scratch databases can pin it.
A local day has 23, 24 or 25 hours; slot counts come from the zone rules, never from a list of
DST dates.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo

from schemas.codelists import BillingFrequency
from schemas.errors import ElflowError

# The one table of slot lengths (DataHub's fixed resolutions; P1D / P1M are calendar steps).
SLOT_STEPS: Final[dict[str, timedelta]] = {
    "PT15M": timedelta(minutes=15),
    "PT1H": timedelta(hours=1),
}
SLOT_SECONDS: Final[dict[str, int]] = {
    name: int(step.total_seconds()) for name, step in SLOT_STEPS.items()
}


class PeriodError(ElflowError, ValueError):
    """A billing period text or date that is not a month or a quarter (one line)."""


def zone_name() -> str:
    """The configured local time zone (`ELFLOW_TIMEZONE`)."""
    from schemas.settings import settings

    return settings().timezone


@lru_cache(maxsize=8)
def zone(tz: str | None = None) -> ZoneInfo:
    """ZoneInfo of `tz`, or of the configured zone."""
    return ZoneInfo(tz or zone_name())


def _aware(ts: datetime) -> datetime:
    if ts.tzinfo is None or ts.utcoffset() is None:
        raise ValueError(f"{ts!r} is a naive datetime; instants are aware UTC")
    return ts


def to_local(ts: datetime, tz: str | None = None) -> datetime:
    """The local wall-clock time of an aware instant."""
    return _aware(ts).astimezone(zone(tz))


def local_date(ts: datetime, tz: str | None = None) -> date:
    """The local calendar day in which an instant falls."""
    return to_local(ts, tz).date()


def local_hour(ts: datetime, tz: str | None = None) -> int:
    """The local hour (0–23) in which an instant falls; the repeated DST hour is 2 both times."""
    return to_local(ts, tz).hour


def local_midnight_utc(day: date, tz: str | None = None) -> datetime:
    """The UTC instant at which local `day` begins (local midnight always exists)."""
    return datetime.combine(day, time(0), tzinfo=zone(tz)).astimezone(UTC)


def day_bounds_utc(day: date, tz: str | None = None) -> tuple[datetime, datetime]:
    """[start, end) in UTC of a local calendar day."""
    return local_midnight_utc(day, tz), local_midnight_utc(day + timedelta(days=1), tz)


def wall_time_to_utc(wall: datetime, tz: str | None = None) -> datetime:
    """A naive local wall-clock time as aware UTC.

    The repeated hour of the autumn DST day resolves to its first (summer time) occurrence; a
    wall time skipped by the spring change raises ValueError.
    """
    if wall.tzinfo is not None:
        raise ValueError("expected a naive local time")
    local = zone(tz)
    moment = wall.replace(tzinfo=local, fold=0).astimezone(UTC)
    if moment.astimezone(local).replace(tzinfo=None) != wall:
        raise ValueError(f"{wall.isoformat()} does not exist in {local.key} (DST gap)")
    return moment


def slot_step(resolution: str) -> timedelta:
    step = SLOT_STEPS.get(resolution)
    if step is None:
        raise ValueError(f"resolution {resolution!r} is not one of {sorted(SLOT_STEPS)}")
    return step


def expected_slots(day: date, resolution: str, tz: str | None = None) -> int:
    """Slots in a local day: 96 quarter-hours (92/100 on DST days), 24 hours (23/25)."""
    start, end = day_bounds_utc(day, tz)
    return (end - start) // slot_step(resolution)


def add_months(day: date, months: int) -> date:
    """The first day of the month `months` after the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def days_in_month(year: int, month: int) -> int:
    return _stdlib_calendar.monthrange(year, month)[1]


# English month names for messages; a table, not strftime's %B, so no locale can change them.
MONTH_NAMES: Final[tuple[str, ...]] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_local(ts: datetime, tz: str | None = None, *, words: bool = False) -> str:
    """An instant as people read it: local date first, then the local time.

    Default (tables): `2025-10-15 00:00 (+02:00)`. With `words` (messages to people):
    `15 October 2025 00:00 (local)`; in the hour the autumn change repeats, `(local summer
    time)` or `(local winter time)` says which of the two it is.
    """
    local = to_local(ts, tz)
    if not words:
        return local.strftime("%Y-%m-%d %H:%M") + f" ({local.strftime('%z')[:3]}:00)"
    other = local.replace(fold=1 - local.fold)
    repeated = other.utcoffset() != local.utcoffset()
    season = (" summer time" if local.dst() else " winter time") if repeated else ""
    return f"{format_day(local.date())} {local:%H:%M} (local{season})"


def format_day(day: date) -> str:
    """A local date in words, day first: `15 October 2025`."""
    return f"{day.day} {MONTH_NAMES[day.month - 1]} {day.year}"


def format_month(day: date) -> str:
    """The month of a date in words: `October 2026`."""
    return f"{MONTH_NAMES[day.month - 1]} {day.year}"


def format_days(first: date, last: date) -> str:
    """The local dates `first` to `last` (both included) in words, shortest form:
    `1 to 30 November 2026`, `1 October to 31 December 2026`, `15 December 2026 to 14 January
    2027`, or one date."""
    if first == last:
        return format_day(first)
    if first.year != last.year:
        return f"{format_day(first)} to {format_day(last)}"
    if first.month != last.month:
        return f"{first.day} {MONTH_NAMES[first.month - 1]} to {format_day(last)}"
    return f"{first.day} to {format_day(last)}"


_MONTH = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
_QUARTER = re.compile(r"(\d{4})-[Qq]([1-4])")


@dataclass(frozen=True)
class BillingPeriod:
    """A month or a quarter of local dates, [start, end)."""

    frequency: BillingFrequency
    start: date

    def __post_init__(self) -> None:
        object.__setattr__(self, "frequency", BillingFrequency(self.frequency))
        quarter_start = self.frequency is BillingFrequency.MONTHLY or self.start.month % 3 == 1
        if self.start.day != 1 or not quarter_start:
            raise PeriodError(f"{self.start} does not start a {self.frequency} billing period")

    @classmethod
    def parse(cls, text: str) -> BillingPeriod:
        """`2026-10` is October 2026; `2026-Q4` is October..December 2026."""
        value = text.strip()
        if match := _MONTH.fullmatch(value):
            return cls(BillingFrequency.MONTHLY, date(int(match[1]), int(match[2]), 1))
        if match := _QUARTER.fullmatch(value):
            return cls(BillingFrequency.QUARTERLY, date(int(match[1]), 3 * int(match[2]) - 2, 1))
        raise PeriodError(f"period {text!r} is neither a month (2026-10) nor a quarter (2026-Q4)")

    @classmethod
    def month_of(cls, day: date) -> BillingPeriod:
        return cls(BillingFrequency.MONTHLY, day.replace(day=1))

    @property
    def length_months(self) -> int:
        return 3 if self.frequency is BillingFrequency.QUARTERLY else 1

    @property
    def end(self) -> date:
        return add_months(self.start, self.length_months)

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    @property
    def months(self) -> tuple[date, ...]:
        """First days of the calendar months the period is made of."""
        return tuple(add_months(self.start, n) for n in range(self.length_months))

    @property
    def label(self) -> str:
        if self.frequency is BillingFrequency.MONTHLY:
            return f"{self.start:%Y-%m}"
        return f"{self.start.year}-Q{(self.start.month + 2) // 3}"

    def following(self) -> BillingPeriod:
        return BillingPeriod(self.frequency, self.end)

    @property
    def in_words(self) -> str:
        """The period's local days in words: `1 to 31 October 2026`."""
        return format_days(self.start, self.end - timedelta(days=1))

    def bounds_utc(self, tz: str | None = None) -> tuple[datetime, datetime]:
        return local_midnight_utc(self.start, tz), local_midnight_utc(self.end, tz)

    def __str__(self) -> str:
        return self.label
