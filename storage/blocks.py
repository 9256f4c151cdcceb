"""Day blocks: one metering_block row per (metering point, transaction, local day).

A block holds the day's slots from local midnight on: an int8[] of Wh (None = missing or absent)
and one quality character per slot ('2'..'6' for CIM A02..A06, '-' = this transaction has no
reading for the slot). Slot i starts at day_start + i × step in UTC, so DST days have 92/100
quarter-hours or 23/25 hours without any special case. See migration 0031.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

from schemas.calendar import SLOT_SECONDS, day_bounds_utc, local_date

Reading = tuple[datetime, Decimal | None, str]

BLOCK_COLUMNS = (
    "metering_point_id, day_start, resolution, wh, quality, "
    "source_message_id, transaction_id, created_at, received_at"
)
BLOCK_TYPES = [
    "text",
    "timestamptz",
    "text",
    "int8[]",
    "text",
    "text",
    "text",
    "timestamptz",
    "timestamptz",
]
ABSENT = "-"
_QUALITY_CHAR = {"A02": "2", "A03": "3", "A04": "4", "A05": "5", "A06": "6"}

# SQL: how many reading versions a block holds (its slots that are not absent).
BLOCK_VERSIONS_SQL = "length(replace({q}, '-', ''))"


def day_slices(
    readings: Sequence[Reading], tz: str
) -> Iterator[tuple[date, datetime, Sequence[Reading]]]:
    """(local day, its start in UTC, the readings of that day) for readings in time order."""
    if not readings:
        return
    day = local_date(readings[0][0], tz)
    last = local_date(readings[-1][0], tz)
    times = [r[0] for r in readings]
    lo = 0
    while day <= last:
        start, end = day_bounds_utc(day, tz)
        hi = bisect_left(times, end, lo)
        if hi > lo:
            yield day, start, readings[lo:hi]
        lo = hi
        day += timedelta(days=1)


def slot_of(ts: datetime, day_start: datetime, resolution: str) -> int:
    """The 0-based slot of `ts` in the block starting at `day_start`."""
    slot, rest = divmod(int((ts - day_start).total_seconds()), SLOT_SECONDS[resolution])
    if rest:
        raise ValueError(f"{ts.isoformat()} is not a {resolution} slot start")
    return slot


def build_block(
    day_start: datetime, resolution: str, readings: Sequence[Reading]
) -> tuple[list[int | None], str]:
    """The Wh array and quality string of one day's readings (in time order)."""
    last = slot_of(readings[-1][0], day_start, resolution)
    wh: list[int | None] = [None] * (last + 1)
    quality = [ABSENT] * (last + 1)
    for ts, quantity, code in readings:
        slot = slot_of(ts, day_start, resolution)
        if quantity is not None:
            scaled = quantity.scaleb(3)
            wh[slot] = int(scaled)
            if wh[slot] != scaled:
                raise ValueError(f"quantity {quantity} is not a whole number of Wh")
        quality[slot] = _QUALITY_CHAR[code]
    return wh, "".join(quality)
