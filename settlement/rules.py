"""Money rules of settlement and invoicing, one small pure function each.

Units: energy in kWh (3 decimals, as DataHub), unit prices in DKK per kWh, amounts in DKK.
Product parameters come in øre (1/100 DKK) and are converted here. Internal amounts carry 6
decimals (DataHub's Decimal(18,6)); only invoice figures are rounded to øre. Rounding is
ROUND_HALF_UP throughout (DOMAIN.md § 4: no statute prescribes the mode). "DOMAIN § n" below
refers to /work/shared/DOMAIN.md.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import NamedTuple
from zoneinfo import ZoneInfo

from settlement.codelists import InvoiceType

COPENHAGEN = ZoneInfo("Europe/Copenhagen")

KWH_QUANTUM = Decimal("0.001")
PRICE_QUANTUM = Decimal("0.000001")
AMOUNT_QUANTUM = Decimal("0.000001")
ORE_QUANTUM = Decimal("0.01")
VAT_RATE = Decimal("0.25")
ACONTO_HISTORY_DAYS = 365

_ORE_PER_KRONE = Decimal(100)


def hour_to_quarters(kwh: Decimal) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Split an hourly quantity into four quarter-hour quantities that sum back exactly.

    Each quarter is a quarter of the hour rounded to 3 decimals with carry: quarter i is the
    cumulative share i/4 of the hour rounded half-up, minus what the earlier quarters already
    got, so each rounding error is carried into the next quarter. The quarters differ by at most
    0.001 kWh and never change sign. Example: 1.001 → (0.250, 0.251, 0.250, 0.250).
    Source: DOMAIN § 1 "15-minute resolution" (DataHub's hour_to_quarter with carry rounding).
    The quantity must already have at most 3 decimals (DataHub's Decimal(18,3)).
    """
    if kwh != kwh.quantize(KWH_QUANTUM):
        raise ValueError(f"quantity {kwh} has more than 3 decimals")
    cumulative = [(kwh * i / 4).quantize(KWH_QUANTUM, ROUND_HALF_UP) for i in range(5)]
    q1, q2, q3, q4 = (cumulative[i + 1] - cumulative[i] for i in range(4))
    return q1, q2, q3, q4


def energy_amount(kwh: Decimal, price_dkk_per_kwh: Decimal) -> Decimal:
    """Amount of one interval: quantity × unit price, rounded half-up to 6 decimals.

    Source: DOMAIN § 1 (tariffs: amount = Σ quantity × price, Decimal(18,6)) and § 3
    (energy per quarter-hour: kWh_q × price_q).
    """
    return (kwh * price_dkk_per_kwh).quantize(AMOUNT_QUANTUM, ROUND_HALF_UP)


def _ore_to_dkk(ore: Decimal | None) -> Decimal:
    return Decimal(0) if ore is None else ore / _ORE_PER_KRONE


def spot_unit_price(
    spot_dkk_per_kwh: Decimal, margin_ore_per_kwh: Decimal, supplement_ore_per_kwh: Decimal | None
) -> Decimal:
    """Energy unit price of a Spot product: spot + margin + supplement, in DKK/kWh excl. VAT.

    Margin and supplement are øre/kWh (the product's MarginOrePerKwh and SupplementOrePerKwh,
    class diagram "Produkt") and are divided by 100. Rounded half-up to 6 decimals.
    """
    price = spot_dkk_per_kwh + _ore_to_dkk(margin_ore_per_kwh) + _ore_to_dkk(supplement_ore_per_kwh)
    return price.quantize(PRICE_QUANTUM, ROUND_HALF_UP)


def fixed_unit_price(
    fixed_price_ore_per_kwh: Decimal, supplement_ore_per_kwh: Decimal | None = None
) -> Decimal:
    """Energy unit price of a FixedPrice product in DKK/kWh excl. VAT.

    The fixed price is the whole agreed energy price, so no margin is added (the margin is
    part of it); a product supplement, if any, is added. Rounded half-up to 6 decimals.
    """
    price = _ore_to_dkk(fixed_price_ore_per_kwh) + _ore_to_dkk(supplement_ore_per_kwh)
    return price.quantize(PRICE_QUANTUM, ROUND_HALF_UP)


def mixed_unit_price(
    spot_dkk_per_kwh: Decimal,
    fixed_price_ore_per_kwh: Decimal,
    spot_share: Decimal,
    margin_ore_per_kwh: Decimal,
    supplement_ore_per_kwh: Decimal | None,
) -> Decimal:
    """Energy unit price of a Mixed product in DKK/kWh excl. VAT.

    Blend: spot_share × spot + (1 − spot_share) × fixed price, then margin and supplement are
    added to the blend. spot_share is the product's SpotShare (0..1). Rounded half-up to 6
    decimals.
    """
    if not Decimal(0) <= spot_share <= Decimal(1):
        raise ValueError(f"spot share {spot_share} is not between 0 and 1")
    blend = spot_share * spot_dkk_per_kwh + (1 - spot_share) * _ore_to_dkk(fixed_price_ore_per_kwh)
    price = blend + _ore_to_dkk(margin_ore_per_kwh) + _ore_to_dkk(supplement_ore_per_kwh)
    return price.quantize(PRICE_QUANTUM, ROUND_HALF_UP)


def local_hour(moment: datetime) -> int:
    """The Danish local hour (0–23) in which an aware instant falls."""
    if moment.tzinfo is None:
        raise ValueError("expected an aware datetime")
    return moment.astimezone(COPENHAGEN).hour


def tariff_price_for_local_hour(prices24: Sequence[Decimal], local_hour: int) -> Decimal:
    """The tariff price of a local hour: Price1 applies to 00–01, Price24 to 23–24.

    Tariffs are per local clock hour (DOMAIN § 3, DatahubPricelist; Tarifmodel 3.0 bands
    00–06/06–17/17–21/21–24 are local time). On the 25-hour DST day the repeated hour 02–03
    occurs twice and both occurrences use Price3; on the 23-hour day Price3 is unused.
    """
    if len(prices24) != 24:
        raise ValueError(f"expected 24 hourly prices, got {len(prices24)}")
    if not 0 <= local_hour <= 23:
        raise ValueError(f"local hour {local_hour} is not 0–23")
    return prices24[local_hour]


def daily_subscription_price(monthly_price: Decimal, year: int, month: int) -> Decimal:
    """A subscription's price per day: monthly price / days in that month, rounded half-up to 6.

    Source: DOMAIN § 1 "Subscriptions" (opengeh-wholesale subscription_calculators.py). The month
    is the local calendar month.
    """
    days = calendar.monthrange(year, month)[1]
    return (monthly_price / days).quantize(AMOUNT_QUANTUM, ROUND_HALF_UP)


def prorated_subscription(
    monthly_price: Decimal, year: int, month: int, days_supplied: int
) -> Decimal:
    """A subscription for part of a month: daily price × supplied days (6 decimals, exact).

    As DataHub, a full month is days × the rounded daily price, which can differ from the
    monthly price in the 6th decimal. Source: DOMAIN § 1 "Subscriptions".
    """
    days_in_month = calendar.monthrange(year, month)[1]
    if not 0 <= days_supplied <= days_in_month:
        raise ValueError(f"{days_supplied} supplied days in a month of {days_in_month} days")
    return daily_subscription_price(monthly_price, year, month) * days_supplied


def supplied_days(
    period_start: date, period_end_excl: date, supply_start: date, supply_end_excl: date | None
) -> int:
    """Days of a billing period in which we supply: the overlap of two local-date ranges.

    All four dates are local Danish dates, ends exclusive (supply ends at local midnight of its
    end date); `supply_end_excl` None means ongoing. Counting dates, not hours, keeps DST days
    whole days.
    """
    start = max(period_start, supply_start)
    end = period_end_excl if supply_end_excl is None else min(period_end_excl, supply_end_excl)
    return max(0, (end - start).days)


def round_ore(amount: Decimal) -> Decimal:
    """Round an amount in DKK to whole øre (2 decimals), half-up. Source: DOMAIN § 4."""
    return amount.quantize(ORE_QUANTUM, ROUND_HALF_UP)


class InvoiceTotals(NamedTuple):
    total_ex_vat: Decimal
    vat_amount: Decimal
    total_incl_vat: Decimal


def invoice_totals(line_amounts: Sequence[Decimal]) -> InvoiceTotals:
    """Invoice totals from line net amounts (DKK excl. VAT, any precision).

    Each line is rounded to øre first and the total excl. VAT is the sum of the rounded lines
    (EN 16931 BR-CO-10); VAT is 25 % of that total, rounded once to øre (BR-CO-17), never per
    line; the total incl. VAT is their sum. Source: DOMAIN § 3 "VAT" and § 4 "Rounding".
    """
    total = sum((round_ore(amount) for amount in line_amounts), Decimal("0.00"))
    vat = round_ore(total * VAT_RATE)
    return InvoiceTotals(total_ex_vat=total, vat_amount=vat, total_incl_vat=total + vat)


def aconto_difference(actual_cost: Decimal, aconto_paid: Decimal) -> Decimal:
    """Actual cost of the period minus aconto paid: positive = the customer owes, negative =
    the customer is owed (to be refunded or credited at this invoicing, at least quarterly).

    Source: class diagram AcontoSettlement ("Difference = ActualCost - AcontoPaid") and DOMAIN § 4.
    """
    return actual_cost - aconto_paid


def new_aconto_amount(
    history_kwh_per_day: Sequence[Decimal],
    days_in_next_period: int,
    all_in_unit_price_dkk_per_kwh: Decimal,
    fixed_charges_dkk: Decimal,
    expected_annual_kwh: Decimal | None = None,
) -> Decimal:
    """The aconto to charge for the next period, in whole kroner.

    Rule: the metering point's mean daily consumption over its trailing 365 days of history
    (`history_kwh_per_day`, oldest first; fewer days are used as they are) × the days of the
    next period × the current all-in unit price (energy, tariffs and tax per kWh) + the fixed
    charges of the period (subscriptions), rounded up to whole kroner and never negative.
    Without any history, the grid company's expected annual consumption / 365 is used; without
    either there is no basis and ValueError is raised. Pass the price and fixed charges incl.
    VAT to get the amount the customer pays.

    Why: elleveringsbekendtgørelsen § 14 requires aconto amounts to be reasonable and based on
    the customer's historical consumption and expected prices, documented by public price data
    (DOMAIN § 4); the current published prices are the best public expectation. A whole year
    covers the seasons; rounding up to whole kroner keeps the amount plain and avoids a
    systematic shortfall of a few øre.
    """
    if days_in_next_period < 0:
        raise ValueError(f"negative period length {days_in_next_period}")
    recent = list(history_kwh_per_day)[-ACONTO_HISTORY_DAYS:]
    if recent:
        daily_kwh = sum(recent, Decimal(0)) / len(recent)
    elif expected_annual_kwh is not None:
        daily_kwh = expected_annual_kwh / 365
    else:
        raise ValueError("no consumption history and no expected annual consumption")
    estimate = daily_kwh * days_in_next_period * all_in_unit_price_dkk_per_kwh + fixed_charges_dkk
    return max(Decimal(0), estimate.quantize(Decimal(1), ROUND_CEILING))


def credit_or_debit(
    previous_invoiced_net: Decimal, new_net: Decimal
) -> tuple[InvoiceType, Decimal] | None:
    """After a recalculation: a credit note if the net amount went down, a debit note if it went
    up, nothing if unchanged. The amount is the positive difference only (the previous invoice
    stands). Compare like with like (both excl. VAT, rounded to øre).
    """
    difference = new_net - previous_invoiced_net
    if difference < 0:
        return InvoiceType.CREDIT_NOTE, -difference
    if difference > 0:
        return InvoiceType.DEBIT_NOTE, difference
    return None
