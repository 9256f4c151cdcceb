"""Money rules of settlement and invoicing: every constant and rule is named here, once.

Units: energy in kWh (3 decimals, as DataHub), unit prices in DKK per kWh, amounts in DKK.
Product parameters come in øre (1/100 DKK) and are converted here. Unit prices are never
rounded: an amount is Σ kWh × unit price exactly, rounded once per settlement line to 6
decimals (DataHub's Decimal(18,6)); VAT is the rounded line × VAT_RATE, rounded to 6 decimals;
only invoice figures are rounded to øre. Rounding is ROUND_HALF_UP throughout (no statute
prescribes the mode).

The settlement run computes its lines in SQL for speed (storage.settlement); the SQL holds no
money constant of its own: `SqlRuleParameters` carries VAT, the rounding scales, the tariff hour
numbering, the quarter weight of the hourly spot mean and each product's energy price terms
(`energy_price_terms`) into the query as parameters. `settlement.calc` is the same settlement
in plain Python, built from the functions below; the differential test holds the two equal.

Sources, cited by name: DataHub 3's wholesale calculator (Energinet-DataHub/opengeh-wholesale:
tariff amounts Σ quantity × price as Decimal(18,6), subscriptions round(monthly / days in month,
6) per day, hourly quantities split into carry-rounded quarters); EN 16931 business rules
BR-CO-10 and BR-CO-17 (invoice lines rounded to øre, VAT once on the total); the Danish
electricity supply order (elleveringsbekendtgørelsen) § 14 for aconto amounts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from typing import Final, NamedTuple

from schemas import calendar
from schemas.codelists import EnergyModel, InvoiceType

ROUNDING: Final = ROUND_HALF_UP
KWH_SCALE: Final = 3
AMOUNT_SCALE: Final = 6  # a settlement line's amount and VAT
DAILY_PRICE_SCALE: Final = 6  # a subscription's daily price
KWH_QUANTUM = Decimal(1).scaleb(-KWH_SCALE)
AMOUNT_QUANTUM = Decimal(1).scaleb(-AMOUNT_SCALE)
DAILY_PRICE_QUANTUM = Decimal(1).scaleb(-DAILY_PRICE_SCALE)
ORE_QUANTUM = Decimal("0.01")
VAT_RATE = Decimal("0.25")
ACONTO_HISTORY_DAYS = 365
DAYS_PER_YEAR = 365  # expected annual consumption → per day
ACONTO_QUANTUM = Decimal(1)  # aconto amounts are whole kroner, rounded up
ORE_PER_KRONE = Decimal(100)
# DatahubPricelist Price1 (tariff_rate.hour_number 1) is the local hour 00–01.
FIRST_TARIFF_HOUR_NUMBER: Final = 1
# An hour of a PT1H meter is priced at the mean of its quarter-hour spot prices.
QUARTERS_PER_HOUR: Final = calendar.SLOT_STEPS["PT1H"] // calendar.SLOT_STEPS["PT15M"]
QUARTER_WEIGHT = Decimal(1) / QUARTERS_PER_HOUR  # 0.25, exact


def hour_to_quarters(kwh: Decimal) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """Split an hourly quantity into four quarter-hour quantities that sum back exactly.

    Each quarter is a quarter of the hour rounded to 3 decimals with carry: quarter i is the
    cumulative share i/4 of the hour rounded half-up, minus what the earlier quarters already
    got, so each rounding error is carried into the next quarter. The quarters differ by at most
    0.001 kWh and never change sign. Example: 1.001 → (0.250, 0.251, 0.250, 0.250).
    Source: DataHub's wholesale calculator (hour_to_quarter with carry rounding). The quantity
    must already have at most 3 decimals (DataHub's Decimal(18,3)).
    """
    if kwh != kwh.quantize(KWH_QUANTUM):
        raise ValueError(f"quantity {kwh} has more than 3 decimals")
    cumulative = [(kwh * i / 4).quantize(KWH_QUANTUM, ROUNDING) for i in range(5)]
    q1, q2, q3, q4 = (cumulative[i + 1] - cumulative[i] for i in range(4))
    return q1, q2, q3, q4


# ------------------------------------------------------------------------------ amounts, VAT
def line_amount(products: Iterable[Decimal]) -> Decimal:
    """A settlement line's amount: the exact Σ of its kWh × price products (or daily prices),
    rounded once, half-up, to 6 decimals. Source: DataHub's wholesale calculator (Σ quantity ×
    price, Decimal(18,6))."""
    return sum(products, Decimal(0)).quantize(AMOUNT_QUANTUM, ROUNDING)


def vat_amount(line: Decimal) -> Decimal:
    """VAT of a settlement line: the (rounded) line amount × 25 %, rounded half-up to 6
    decimals. VAT is 25 % on every price element."""
    return (line * VAT_RATE).quantize(AMOUNT_QUANTUM, ROUNDING)


# ------------------------------------------------------------------------------ energy price
def ore_to_dkk(ore: Decimal | None) -> Decimal:
    return Decimal(0) if ore is None else ore / ORE_PER_KRONE


class EnergyPriceTerms(NamedTuple):
    """An energy unit price as a linear function of the spot price: factor × spot + adder
    (DKK/kWh excl. VAT). Every energy model is such a function; the SQL receives the two terms
    per product."""

    spot_factor: Decimal
    adder: Decimal

    def unit_price(self, spot_dkk_per_kwh: Decimal) -> Decimal:
        """Exact, never rounded (amounts are rounded once per line)."""
        return self.spot_factor * spot_dkk_per_kwh + self.adder


def energy_price_terms(
    model: EnergyModel | str,
    *,
    margin_ore_per_kwh: Decimal = Decimal(0),
    supplement_ore_per_kwh: Decimal | None = None,
    fixed_price_ore_per_kwh: Decimal | None = None,
    spot_share: Decimal | None = None,
) -> EnergyPriceTerms:
    """The energy price rule of each product model (øre parameters as the product carries
    them: MarginOrePerKwh, SupplementOrePerKwh, the fixed price and the spot share):

    - Spot: spot + margin + supplement;
    - FixedPrice: fixed price + supplement (the margin is part of the agreed fixed price);
    - Mixed: share × spot + (1 − share) × fixed price, plus margin and supplement.
    """
    adders = ore_to_dkk(margin_ore_per_kwh) + ore_to_dkk(supplement_ore_per_kwh)
    match EnergyModel(model):
        case EnergyModel.SPOT:
            return EnergyPriceTerms(Decimal(1), adders)
        case EnergyModel.FIXED_PRICE:
            fixed = _required(fixed_price_ore_per_kwh, "FixedPrice", "a fixed price")
            return EnergyPriceTerms(
                Decimal(0), ore_to_dkk(fixed) + ore_to_dkk(supplement_ore_per_kwh)
            )
        case EnergyModel.MIXED:
            fixed = _required(fixed_price_ore_per_kwh, "Mixed", "a fixed price")
            share = _required(spot_share, "Mixed", "a spot share")
            if not Decimal(0) <= share <= Decimal(1):
                raise ValueError(f"spot share {share} is not between 0 and 1")
            return EnergyPriceTerms(share, (1 - share) * ore_to_dkk(fixed) + adders)


def _required(value: Decimal | None, model: str, what: str) -> Decimal:
    if value is None:
        raise ValueError(f"a {model} product needs {what}")
    return value


def spot_unit_price(
    spot_dkk_per_kwh: Decimal, margin_ore_per_kwh: Decimal, supplement_ore_per_kwh: Decimal | None
) -> Decimal:
    """Energy unit price of a Spot product in DKK/kWh excl. VAT (energy_price_terms)."""
    terms = energy_price_terms(
        EnergyModel.SPOT,
        margin_ore_per_kwh=margin_ore_per_kwh,
        supplement_ore_per_kwh=supplement_ore_per_kwh,
    )
    return terms.unit_price(spot_dkk_per_kwh)


def fixed_unit_price(
    fixed_price_ore_per_kwh: Decimal, supplement_ore_per_kwh: Decimal | None = None
) -> Decimal:
    """Energy unit price of a FixedPrice product in DKK/kWh excl. VAT (energy_price_terms)."""
    terms = energy_price_terms(
        EnergyModel.FIXED_PRICE,
        fixed_price_ore_per_kwh=fixed_price_ore_per_kwh,
        supplement_ore_per_kwh=supplement_ore_per_kwh,
    )
    return terms.unit_price(Decimal(0))


def mixed_unit_price(
    spot_dkk_per_kwh: Decimal,
    fixed_price_ore_per_kwh: Decimal,
    spot_share: Decimal,
    margin_ore_per_kwh: Decimal,
    supplement_ore_per_kwh: Decimal | None,
) -> Decimal:
    """Energy unit price of a Mixed product in DKK/kWh excl. VAT (energy_price_terms)."""
    terms = energy_price_terms(
        EnergyModel.MIXED,
        margin_ore_per_kwh=margin_ore_per_kwh,
        supplement_ore_per_kwh=supplement_ore_per_kwh,
        fixed_price_ore_per_kwh=fixed_price_ore_per_kwh,
        spot_share=spot_share,
    )
    return terms.unit_price(spot_dkk_per_kwh)


def hourly_spot_price(quarter_prices: Sequence[Decimal]) -> Decimal:
    """The spot price of an hour for a PT1H meter: the exact mean of its four quarter-hour
    prices (the same as splitting the hour into four equal quarters: Σ kWh/4 × p_q)."""
    if len(quarter_prices) != QUARTERS_PER_HOUR:
        raise ValueError(f"expected {QUARTERS_PER_HOUR} quarter prices, got {len(quarter_prices)}")
    return sum(quarter_prices, Decimal(0)) * QUARTER_WEIGHT


# ------------------------------------------------------------------------------------ tariffs
def tariff_hour_number(moment: datetime, tz: str | None = None) -> int:
    """The price list's hour number (1–24) of an instant: its local hour + 1. On the 25-hour DST
    day both occurrences of the repeated hour 02–03 are hour number 3; on the 23-hour day
    hour number 3 is unused. Tarifmodel 3.0's bands are local time."""
    return calendar.local_hour(moment, tz) + FIRST_TARIFF_HOUR_NUMBER


def tariff_price_for_local_hour(prices24: Sequence[Decimal], local_hour: int) -> Decimal:
    """The tariff price of a local hour: Price1 applies to 00–01, Price24 to 23–24."""
    if len(prices24) != 24:
        raise ValueError(f"expected 24 hourly prices, got {len(prices24)}")
    if not 0 <= local_hour <= 23:
        raise ValueError(f"local hour {local_hour} is not 0–23")
    return prices24[local_hour]


def tariff_price_at(
    prices24: Sequence[Decimal], moment: datetime, tz: str | None = None
) -> Decimal:
    """The tariff price of the local hour in which `moment` falls (tariff_hour_number)."""
    return tariff_price_for_local_hour(
        prices24, tariff_hour_number(moment, tz) - FIRST_TARIFF_HOUR_NUMBER
    )


# ------------------------------------------------------------------------------ subscriptions
def daily_subscription_price(monthly_price: Decimal, year: int, month: int) -> Decimal:
    """A subscription's price per day: monthly price / days in that local month, rounded
    half-up to 6 decimals (DataHub's wholesale calculator, subscriptions)."""
    days = calendar.days_in_month(year, month)
    return (monthly_price / days).quantize(DAILY_PRICE_QUANTUM, ROUNDING)


def prorated_subscription(
    monthly_price: Decimal, year: int, month: int, days_supplied: int
) -> Decimal:
    """A subscription for part of a month: daily price × supplied days (6 decimals, exact).

    As DataHub, a full month is days × the rounded daily price, which can differ from the
    monthly price in the 6th decimal.
    """
    days_in_month = calendar.days_in_month(year, month)
    if not 0 <= days_supplied <= days_in_month:
        raise ValueError(f"{days_supplied} supplied days in a month of {days_in_month} days")
    return daily_subscription_price(monthly_price, year, month) * days_supplied


def supplied_days(
    period_start: date, period_end_excl: date, supply_start: date, supply_end_excl: date | None
) -> int:
    """Days of a billing period in which we supply: the overlap of two local-date ranges.

    All four dates are local dates, ends exclusive (supply ends at local midnight of its end
    date); `supply_end_excl` None means ongoing. Counting dates, not hours, keeps DST days
    whole days.
    """
    start = max(period_start, supply_start)
    end = period_end_excl if supply_end_excl is None else min(period_end_excl, supply_end_excl)
    return max(0, (end - start).days)


# ---------------------------------------------------------------------- parameters of the SQL
@dataclass(frozen=True)
class ProductTerms:
    product_id: object  # the product's id as the database holds it (a UUID)
    terms: EnergyPriceTerms


@dataclass(frozen=True)
class SqlRuleParameters:
    """Every money constant the settlement SQL uses, as named query parameters.

    storage.settlement.compute_lines takes `as_params()` (plain values: Decimals, ints, lists),
    so storage never imports settlement and no rule constant is spelled in SQL.
    """

    products: tuple[ProductTerms, ...] = ()
    vat_rate: Decimal = VAT_RATE
    amount_scale: int = AMOUNT_SCALE
    daily_price_scale: int = DAILY_PRICE_SCALE
    quarter_weight: Decimal = QUARTER_WEIGHT
    first_tariff_hour_number: int = FIRST_TARIFF_HOUR_NUMBER

    def as_params(self) -> dict[str, object]:
        # PostgreSQL's round(numeric, n) rounds halves away from zero, which is ROUND_HALF_UP;
        # it has no other mode, so a different ROUNDING cannot be carried into the SQL.
        if ROUNDING != ROUND_HALF_UP:
            raise ValueError(f"the settlement SQL rounds half-up only, not {ROUNDING}")
        return {
            "product_ids": [p.product_id for p in self.products],
            "spot_factors": [p.terms.spot_factor for p in self.products],
            "adders": [p.terms.adder for p in self.products],
            "vat_rate": self.vat_rate,
            "amount_scale": self.amount_scale,
            "daily_price_scale": self.daily_price_scale,
            "quarter_weight": self.quarter_weight,
            "first_tariff_hour_number": self.first_tariff_hour_number,
        }


# ---------------------------------------------------------------------------------- invoices
def round_ore(amount: Decimal) -> Decimal:
    """Round an amount in DKK to whole øre (2 decimals), half-up."""
    return amount.quantize(ORE_QUANTUM, ROUNDING)


class InvoiceTotals(NamedTuple):
    total_ex_vat: Decimal
    vat_amount: Decimal
    total_incl_vat: Decimal


def invoice_totals(line_amounts: Sequence[Decimal]) -> InvoiceTotals:
    """Invoice totals from line net amounts (DKK excl. VAT, any precision).

    Each line is rounded to øre first and the total excl. VAT is the sum of the rounded lines
    (EN 16931 BR-CO-10); VAT is 25 % of that total, rounded once to øre (BR-CO-17), never per
    line; the total incl. VAT is their sum.
    """
    total = sum((round_ore(amount) for amount in line_amounts), Decimal("0.00"))
    vat = round_ore(total * VAT_RATE)
    return InvoiceTotals(total_ex_vat=total, vat_amount=vat, total_incl_vat=total + vat)


def aconto_difference(actual_cost: Decimal, aconto_paid: Decimal) -> Decimal:
    """Actual cost of the period minus aconto paid: positive = the customer owes, negative =
    the customer is owed (to be refunded or credited at this invoicing, at least quarterly).

    Source: the class diagram's AcontoSettlement ("Difference = ActualCost - AcontoPaid");
    overpayment is returned at each invoicing and at least quarterly (elleveringsbekendtgørelsen).
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
    (Energi Data Service); the current published prices are the best public expectation. A
    whole year covers the seasons; rounding up to whole kroner keeps the amount plain and avoids a
    systematic shortfall of a few øre.
    """
    if days_in_next_period < 0:
        raise ValueError(f"negative period length {days_in_next_period}")
    recent = list(history_kwh_per_day)[-ACONTO_HISTORY_DAYS:]
    if recent:
        daily_kwh = sum(recent, Decimal(0)) / len(recent)
    elif expected_annual_kwh is not None:
        daily_kwh = expected_annual_kwh / DAYS_PER_YEAR
    else:
        raise ValueError("no consumption history and no expected annual consumption")
    estimate = daily_kwh * days_in_next_period * all_in_unit_price_dkk_per_kwh + fixed_charges_dkk
    return max(Decimal(0), estimate.quantize(ACONTO_QUANTUM, ROUND_CEILING))


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
