"""The settlement of one metering point in plain Python: the rules of settlement.rules, slot by slot.

The settlement run computes its lines in SQL for speed (storage.settlement, one set-based pass
over a grid area). This module computes the same lines the slow and obvious way, from the same
facts, so that the two can be held equal (tests/test_settlement_differential.py) and so a reader
can see the whole computation of one line in one place:

- the days of a contract: local days of the period inside one of our supply periods and the
  contract, on which the point is billed in the grid area being settled: a point with history
  (master data with validity intervals) only on days whose local midnight finds it an E17
  consumption point of that grid area, Connected; a point without history every day;
- Energy: Σ over the slots of those days of kWh × the product's unit price at the slot's spot
  price (a quarter-hour's own price, else its hour's; a PT1H meter's hour uses the mean of its
  quarters);
- GridTariff, SystemTariff, TransmissionTariff, ElectricityTax: Σ kWh × the price of the version
  valid at the start of the slot's hour, for the slot's local hour;
- GridSubscription, SupplierSubscription: Σ over the days of the daily price of the day's month
  (the grid subscription valid at the day's local midnight);
- every line rounded once (rules.line_amount), VAT per line (rules.vat_amount).

Pure: no I/O; the caller gathers the facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Generic, TypeVar

from schemas import calendar
from schemas.codelists import ChargeType
from settlement import rules

T = TypeVar("T")
_HOUR = calendar.SLOT_STEPS["PT1H"]
_QUARTER = calendar.SLOT_STEPS["PT15M"]


class MissingPrice(ValueError):
    """A spot price, tariff, tax rate or subscription needed for a slot or day is absent."""


@dataclass(frozen=True)
class Version(Generic[T]):
    """A price valid over [valid_from, valid_to) (valid_to None = open-ended)."""

    valid_from: datetime
    valid_to: datetime | None
    value: T

    def valid_at(self, moment: datetime) -> bool:
        return self.valid_from <= moment and (self.valid_to is None or moment < self.valid_to)


def version_at(versions: Sequence[Version[T]], moment: datetime, what: str) -> T:
    """The value valid at `moment`: of the versions valid then, the one that starts last."""
    valid = [v for v in versions if v.valid_at(moment)]
    if not valid:
        raise MissingPrice(f"no {what} on {calendar.format_local(moment, words=True)}")
    return max(valid, key=lambda v: v.valid_from).value


@dataclass(frozen=True)
class Product:
    terms: rules.EnergyPriceTerms
    subscription_kr_per_month: Decimal


@dataclass(frozen=True)
class Contract:
    contract_id: str
    product: Product
    start: date
    end: date | None  # exclusive; None = ongoing


@dataclass(frozen=True)
class MasterData:
    """What settlement reads of a metering point's master data version."""

    grid_area: str
    type: str  # DataHub's code: E17 consumption, E18 production, D01… child types
    connection_status: str  # New, Connected, Disconnected, ClosedDown


@dataclass(frozen=True)
class MeteringPoint:
    gsrn: str
    resolution: str  # PT15M or PT1H
    slot_kwh: Mapping[date, Sequence[Decimal]]  # per local day, the day's slots in time order
    supply: Sequence[tuple[date, date | None]]  # our supply periods, ends exclusive
    contracts: Sequence[Contract]
    history: Sequence[Version[MasterData]] = ()  # empty: a point loaded from a portfolio file


def billed_in(point: MeteringPoint, day: date, grid_area: str | None, tz: str | None) -> bool:
    """Whether `day` of `point` is settled as consumption in `grid_area`'s run (module
    docstring). A point without history is settled by the run it is given to."""
    if not point.history:
        return True
    if grid_area is None:
        raise ValueError(f"{point.gsrn} has history: name the grid area being settled")
    midnight = calendar.local_midnight_utc(day, tz)
    valid = [v for v in point.history if v.valid_at(midnight)]
    if not valid:
        return False  # not created yet
    master = max(valid, key=lambda v: v.valid_from).value
    return (
        master.grid_area == grid_area
        and master.type == "E17"
        and master.connection_status == "Connected"
    )


@dataclass(frozen=True)
class PriceSet:
    """The prices of one grid area: spot prices of its price area by interval start (UTC),
    tariffs as 24 prices (Price1 = 00–01 local), tax rates per kWh, the grid subscription per
    month."""

    spot_quarter: Mapping[datetime, Decimal]
    spot_hour: Mapping[datetime, Decimal]
    grid_tariff: Sequence[Version[tuple[Decimal, ...]]]
    system_tariff: Sequence[Version[tuple[Decimal, ...]]]
    transmission_tariff: Sequence[Version[tuple[Decimal, ...]]]
    electricity_tax: Sequence[Version[Decimal]]
    grid_subscription: Sequence[Version[Decimal]]


@dataclass(frozen=True)
class Line:
    gsrn: str
    contract_id: str
    charge_type: ChargeType
    total_kwh: Decimal
    total_amount: Decimal
    vat_amount: Decimal


def contract_days(
    point: MeteringPoint,
    contract: Contract,
    period: calendar.BillingPeriod,
    grid_area: str | None = None,
    tz: str | None = None,
) -> list[date]:
    """Local days of the period that lie in one of our supply periods and in the contract, on
    which the point is billed in `grid_area` (billed_in)."""
    days = []
    day = period.start
    while day < period.end:
        supplied = any(s <= day and (e is None or day < e) for s, e in point.supply)
        contracted = contract.start <= day and (contract.end is None or day < contract.end)
        if supplied and contracted and billed_in(point, day, grid_area, tz):
            days.append(day)
        day += timedelta(days=1)
    return days


def _slots(point: MeteringPoint, day: date, tz: str | None) -> Iterator[tuple[datetime, Decimal]]:
    quantities = point.slot_kwh.get(day)
    expected = calendar.expected_slots(day, point.resolution, tz)
    if quantities is None or len(quantities) != expected:
        raise ValueError(f"{point.gsrn} has no complete day {day}")
    start = calendar.local_midnight_utc(day, tz)
    step = calendar.slot_step(point.resolution)
    for index, kwh in enumerate(quantities):
        yield start + index * step, kwh


def _hour_start(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def quarter_spot(prices: PriceSet, quarter: datetime) -> Decimal:
    """The spot price of a quarter-hour: its own 15-minute price, else its hour's price."""
    price = prices.spot_quarter.get(quarter)
    if price is None:
        price = prices.spot_hour.get(_hour_start(quarter))
    if price is None:
        raise MissingPrice(f"no spot price on {calendar.format_local(quarter, words=True)}")
    return price


def slot_spot(prices: PriceSet, start: datetime, resolution: str) -> Decimal:
    """The spot price of a slot: a quarter's own, or an hour's mean of its quarters."""
    if resolution == "PT15M":
        return quarter_spot(prices, start)
    quarters = [quarter_spot(prices, start + n * _QUARTER) for n in range(_HOUR // _QUARTER)]
    return rules.hourly_spot_price(quarters)


def settle_point(
    point: MeteringPoint,
    prices: PriceSet,
    period: calendar.BillingPeriod,
    tz: str | None = None,
    grid_area: str | None = None,
) -> list[Line]:
    """The settlement lines of one metering point for one billing period in the run of
    `grid_area`, whose prices are `prices` (module docstring)."""
    lines: list[Line] = []
    for contract in point.contracts:
        days = contract_days(point, contract, period, grid_area, tz)
        if not days:
            continue
        terms = contract.product.terms
        kwh_total = Decimal(0)
        products: dict[ChargeType, list[Decimal]] = {charge: [] for charge in ChargeType}
        hourly: list[tuple[ChargeType, Callable[[datetime], Decimal]]] = [
            (ChargeType.GRID_TARIFF, _tariff(prices.grid_tariff, "GridTariff", tz)),
            (ChargeType.SYSTEM_TARIFF, _tariff(prices.system_tariff, "SystemTariff", tz)),
            (
                ChargeType.TRANSMISSION_TARIFF,
                _tariff(prices.transmission_tariff, "TransmissionTariff", tz),
            ),
            (
                ChargeType.ELECTRICITY_TAX,
                lambda hour: version_at(prices.electricity_tax, hour, "electricity tax"),
            ),
        ]
        for day in days:
            for start, kwh in _slots(point, day, tz):
                kwh_total += kwh
                spot = (
                    slot_spot(prices, start, point.resolution)
                    if terms.spot_factor != 0
                    else Decimal(0)
                )
                products[ChargeType.ENERGY].append(kwh * terms.unit_price(spot))
                for charge, price_of_hour in hourly:
                    products[charge].append(kwh * price_of_hour(_hour_start(start)))
            midnight = calendar.local_midnight_utc(day, tz)
            grid_monthly = version_at(prices.grid_subscription, midnight, "GridSubscription")
            products[ChargeType.GRID_SUBSCRIPTION].append(
                rules.daily_subscription_price(grid_monthly, day.year, day.month)
            )
            products[ChargeType.SUPPLIER_SUBSCRIPTION].append(
                rules.daily_subscription_price(
                    contract.product.subscription_kr_per_month, day.year, day.month
                )
            )
        for charge in ChargeType:
            amount = rules.line_amount(products[charge])
            per_kwh = charge not in (
                ChargeType.GRID_SUBSCRIPTION,
                ChargeType.SUPPLIER_SUBSCRIPTION,
            )
            lines.append(
                Line(
                    gsrn=point.gsrn,
                    contract_id=contract.contract_id,
                    charge_type=charge,
                    total_kwh=kwh_total if per_kwh else Decimal(0),
                    total_amount=amount,
                    vat_amount=rules.vat_amount(amount),
                )
            )
    return lines


def _tariff(
    versions: Sequence[Version[tuple[Decimal, ...]]], what: str, tz: str | None
) -> Callable[[datetime], Decimal]:
    def price(hour: datetime) -> Decimal:
        prices24: tuple[Decimal, ...] = version_at(versions, hour, what)
        return rules.tariff_price_at(prices24, hour, tz)

    return price
