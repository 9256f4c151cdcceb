"""Day-ahead spot prices from Energi Data Service: DayAheadPrices (15-minute) and Elspotprices
(hourly, until 30 Sep 2025).

Prices come out in DKK per kWh excl. VAT: EDS publishes DKK/MWh, divided by 1000 exactly (a
decimal shift, no rounding). Spot prices may be negative; see `bounds` for their limits.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import AwareDatetime

from schemas.calendar import SLOT_STEPS, to_local, zone
from schemas.codelists import PriceArea, Resolution
from schemas.reference.bounds import SPOT_DECIMALS, SPOT_LIMIT, FieldError, bounded_amount, shown
from schemas.reference.tabular import Fields, Frozen, parse_rows

_KWH_PER_MWH_EXPONENT = -3


class SpotPriceRow(Frozen):
    """Day-ahead price of one interval in one price area, in DKK per kWh excl. VAT."""

    price_area: PriceArea
    start: AwareDatetime
    resolution: Resolution
    price_dkk_per_kwh: Decimal

    @property
    def end(self) -> datetime:
        return self.start + SLOT_STEPS[self.resolution]


def _check_local_agrees(fields: Fields, utc_name: str, local_name: str, start: datetime) -> None:
    local = fields.local_wall_time(local_name)
    expected = to_local(start).replace(tzinfo=None)
    if local != expected:
        raise FieldError(
            f"{local_name} {local.isoformat()} does not match {utc_name} "
            f"{start.strftime('%Y-%m-%dT%H:%M')}Z (expected {expected.isoformat()} in "
            f"{zone().key})"
        )


def _price_area(fields: Fields) -> PriceArea:
    value = fields.token("PriceArea")
    try:
        return PriceArea(value)
    except ValueError:
        raise FieldError(
            f"PriceArea must be DK1 or DK2 (filter the download to Danish areas): {shown(value)}"
        ) from None


def _spot_row(
    fields: Fields, utc_name: str, local_name: str, price_name: str, resolution: Resolution
) -> SpotPriceRow:
    start = fields.utc_datetime(utc_name)
    step_minutes = int(SLOT_STEPS[resolution].total_seconds()) // 60
    if start.second or start.microsecond or start.minute % step_minutes:
        raise FieldError(f"{utc_name} {start.isoformat()} is not on a {resolution} boundary")
    _check_local_agrees(fields, utc_name, local_name, start)
    per_mwh = bounded_amount(
        price_name,
        fields.decimal(price_name),
        below=SPOT_LIMIT,
        decimals=SPOT_DECIMALS,
        negative_allowed=True,
    )
    return SpotPriceRow(
        price_area=_price_area(fields),
        start=start,
        resolution=resolution,
        price_dkk_per_kwh=per_mwh.scaleb(_KWH_PER_MWH_EXPONENT),
    )


def parse_day_ahead_prices(data: bytes | str, name: str) -> list[SpotPriceRow]:
    """Energi Data Service `DayAheadPrices` (15-minute MTU): one row per area and quarter-hour.

    `DayAheadPriceDKK` (DKK/MWh) becomes DKK/kWh; `TimeDK` must equal `TimeUTC` in local time
    (on the autumn DST day the local 02:xx appears twice).
    """
    return parse_rows(
        data,
        name,
        lambda f: _spot_row(f, "TimeUTC", "TimeDK", "DayAheadPriceDKK", Resolution.PT15M),
        key=lambda row: (row.price_area, row.start),
        key_name="PriceArea and TimeUTC",
    )


def parse_elspot_prices(data: bytes | str, name: str) -> list[SpotPriceRow]:
    """Legacy hourly Energi Data Service `Elspotprices`, resolution PT1H.

    A null `SpotPriceDKK` is an error (we never settle on the EUR price).
    """
    return parse_rows(
        data,
        name,
        lambda f: _spot_row(f, "HourUTC", "HourDK", "SpotPriceDKK", Resolution.PT1H),
        key=lambda row: (row.price_area, row.start),
        key_name="PriceArea and HourUTC",
    )
