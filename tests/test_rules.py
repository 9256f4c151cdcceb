"""Money rules: golden values computed by hand in the comments, plus property tests."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas import codelists
from schemas.calendar import local_hour, local_midnight_utc
from settlement.rules import (
    VAT_RATE,
    EnergyPriceTerms,
    InvoiceTotals,
    SqlRuleParameters,
    aconto_difference,
    credit_or_debit,
    daily_subscription_price,
    energy_price_terms,
    fixed_unit_price,
    hour_to_quarters,
    hourly_spot_price,
    invoice_totals,
    line_amount,
    mixed_unit_price,
    new_aconto_amount,
    prorated_subscription,
    round_ore,
    spot_unit_price,
    supplied_days,
    tariff_hour_number,
    tariff_price_at,
    tariff_price_for_local_hour,
    vat_amount,
)

D = Decimal

# --------------------------------------------------------------------------------------------
# hour_to_quarters


@pytest.mark.parametrize(
    ("kwh", "quarters"),
    [
        # cumulative shares 0.25025 → 0.250, 0.5005 → 0.501, 0.75075 → 0.751, 1.001
        ("1.001", ("0.250", "0.251", "0.250", "0.250")),
        ("1.000", ("0.250", "0.250", "0.250", "0.250")),
        # 0.00075 → 0.001, 0.0015 → 0.002, 0.00225 → 0.002, 0.003
        ("0.003", ("0.001", "0.001", "0.000", "0.001")),
        ("0.002", ("0.001", "0.000", "0.001", "0.000")),
        ("0.000", ("0.000", "0.000", "0.000", "0.000")),
        ("-1.001", ("-0.250", "-0.251", "-0.250", "-0.250")),
        ("2.5", ("0.625", "0.625", "0.625", "0.625")),
    ],
)
def test_hour_to_quarters_golden(kwh: str, quarters: tuple[str, str, str, str]) -> None:
    result = hour_to_quarters(D(kwh))
    assert result == tuple(D(q) for q in quarters)
    assert all(q.as_tuple().exponent == -3 for q in result)


@settings(max_examples=500, database=None)
@given(st.decimals(min_value=-1_000_000, max_value=1_000_000, places=3))
def test_hour_to_quarters_sum_back_exactly_and_stay_within_one_thousandth(kwh: Decimal) -> None:
    quarters = hour_to_quarters(kwh)
    assert sum(quarters) == kwh
    assert all(q == q.quantize(D("0.001")) for q in quarters)
    assert max(quarters) - min(quarters) <= D("0.001")
    assert all(q >= 0 for q in quarters) or all(q <= 0 for q in quarters)


def test_hour_to_quarters_refuses_more_than_three_decimals() -> None:
    with pytest.raises(ValueError, match="more than 3 decimals"):
        hour_to_quarters(D("1.0005"))


# --------------------------------------------------------------------------------------------
# Energy amount and unit prices


def test_line_amount_rounds_the_exact_sum_once_half_up_to_six_decimals() -> None:
    # 0.123 kWh × 0.70998 DKK/kWh = 0.08732754 → 0.087328
    assert line_amount([D("0.123") * D("0.70998")]) == D("0.087328")
    # 0.005 × 0.0001 = 0.0000005: half-up gives 0.000001 (half-even would give 0)
    assert line_amount([D("0.005") * D("0.0001")]) == D("0.000001")
    assert line_amount([D("0.005") * D("-0.0001")]) == D("-0.000001")
    # rounded once: 3 × 0.0000004 = 0.0000012 → 0.000001 (per product it would be 3 × 0 = 0)
    assert line_amount([D("0.0000004")] * 3) == D("0.000001")
    assert line_amount([]) == D("0.000000")


def test_vat_is_a_quarter_of_the_rounded_line_at_six_decimals() -> None:
    # 0.000002 × 0.25 = 0.0000005 → 0.000001 (half-up); 47.760000 × 0.25 = 11.94
    assert vat_amount(D("0.000002")) == D("0.000001")
    assert vat_amount(D("47.760000")) == D("11.940000")
    assert vat_amount(D("-0.000002")) == D("-0.000001")


def test_spot_unit_price_adds_margin_and_supplement_in_ore() -> None:
    # 0.70998 + 4.50/100 + 1.25/100 = 0.70998 + 0.045 + 0.0125 = 0.76748
    assert spot_unit_price(D("0.70998"), D("4.50"), D("1.25")) == D("0.767480")
    assert spot_unit_price(D("0.70998"), D("4.50"), None) == D("0.754980")
    # negative spot price: -0.05 + 0.045 = -0.005
    assert spot_unit_price(D("-0.05"), D("4.5"), None) == D("-0.005")
    # unit prices are never rounded: 0.709909118 + 0.045 = 0.754909118
    assert spot_unit_price(D("0.709909118"), D("4.5"), None) == D("0.754909118")


def test_fixed_unit_price() -> None:
    assert fixed_unit_price(D("89.95")) == D("0.8995")
    assert fixed_unit_price(D("89.95"), D("1.25")) == D("0.912")


def test_mixed_unit_price_blends_spot_and_fixed_then_adds_margin() -> None:
    # 0.5 × 0.70998 + 0.5 × 0.95 = 0.35499 + 0.475 = 0.82999; + 0.03 margin = 0.85999
    assert mixed_unit_price(D("0.70998"), D("95.00"), D("0.5"), D("3.00"), None) == D("0.85999")
    # 0.333 × 0.71 + 0.667 × 0.8995 = 0.23643 + 0.5999665 = 0.8363965; + 0.045 + 0.0125
    # = 0.8938965, exact (not rounded)
    assert mixed_unit_price(D("0.71"), D("89.95"), D("0.333"), D("4.5"), D("1.25")) == D(
        "0.8938965"
    )
    assert mixed_unit_price(D("0.71"), D("89.95"), D("1"), D("0"), None) == D("0.71")
    with pytest.raises(ValueError, match="between 0 and 1"):
        mixed_unit_price(D("0.71"), D("89.95"), D("1.2"), D("0"), None)


def test_energy_price_terms_per_model() -> None:
    # Spot: 1 × spot + (4.50 + 1.25) / 100
    assert energy_price_terms(
        "Spot", margin_ore_per_kwh=D("4.50"), supplement_ore_per_kwh=D("1.25")
    ) == EnergyPriceTerms(D(1), D("0.0575"))
    # FixedPrice: the margin is part of the fixed price: 0 × spot + (89.95 + 1.25) / 100
    assert energy_price_terms(
        "FixedPrice",
        margin_ore_per_kwh=D("9"),
        supplement_ore_per_kwh=D("1.25"),
        fixed_price_ore_per_kwh=D("89.95"),
    ) == EnergyPriceTerms(D(0), D("0.912"))
    # Mixed 0.4: 0.4 × spot + 0.6 × 0.95 + 0.03 = 0.4 × spot + 0.6
    mixed = energy_price_terms(
        "Mixed", margin_ore_per_kwh=D("3"), fixed_price_ore_per_kwh=D("95"), spot_share=D("0.4")
    )
    assert mixed == EnergyPriceTerms(D("0.4"), D("0.6"))
    assert mixed.unit_price(D("1.2345")) == D("1.0938")
    with pytest.raises(ValueError, match="needs a spot share"):
        energy_price_terms("Mixed", fixed_price_ore_per_kwh=D("95"))
    with pytest.raises(ValueError, match="needs a fixed price"):
        energy_price_terms("FixedPrice")


def test_hourly_spot_price_is_the_exact_mean_of_the_quarters() -> None:
    # (0.80001 + 0.9 + 1.0 + 1.1) / 4 = 3.80001 / 4 = 0.9500025 (not rounded to 0.950003)
    assert hourly_spot_price([D("0.80001"), D("0.9"), D("1.0"), D("1.1")]) == D("0.9500025")
    with pytest.raises(ValueError, match="4 quarter prices"):
        hourly_spot_price([D(1)] * 3)


def test_sql_rule_parameters_carry_every_constant() -> None:
    params = SqlRuleParameters().as_params()
    assert params["vat_rate"] == D("0.25")
    assert params["amount_scale"] == 6
    assert params["daily_price_scale"] == 6
    assert params["quarter_weight"] == D("0.25")
    assert params["first_tariff_hour_number"] == 1
    assert params["product_ids"] == params["spot_factors"] == params["adders"] == []


# --------------------------------------------------------------------------------------------
# Tariffs per local hour

C_TARIFF_WINTER = tuple(
    [D("0.1083")] * 6 + [D("0.3250")] * 11 + [D("0.9751")] * 4 + [D("0.3250")] * 3
)


@pytest.mark.parametrize(
    ("hour", "price"),
    [
        (0, "0.1083"),
        (5, "0.1083"),
        (6, "0.3250"),
        (16, "0.3250"),
        (17, "0.9751"),
        (20, "0.9751"),
        (21, "0.3250"),
        (23, "0.3250"),
    ],
)
def test_tariff_price_bands(hour: int, price: str) -> None:
    assert tariff_price_for_local_hour(C_TARIFF_WINTER, hour) == D(price)


def _utc_hours_of_local_day(day: date) -> list[datetime]:
    start, end = local_midnight_utc(day), local_midnight_utc(day + timedelta(days=1))
    return [start + timedelta(hours=h) for h in range(int((end - start).total_seconds()) // 3600)]


def test_25_hour_day_charges_the_repeated_hour_02_at_price3_twice() -> None:
    hours = _utc_hours_of_local_day(date(2026, 10, 25))
    assert len(hours) == 25
    local = [local_hour(moment) for moment in hours]
    assert local[:5] == [0, 1, 2, 2, 3]
    prices = [D(n) for n in range(1, 25)]  # Price1..Price24 = 1..24
    charged = [tariff_price_for_local_hour(prices, h) for h in local]
    assert charged.count(D(3)) == 2
    assert sum(charged) == sum(prices) + D(3)
    assert [tariff_price_at(prices, moment) for moment in hours] == charged
    assert [tariff_hour_number(moment) for moment in hours[:5]] == [1, 2, 3, 3, 4]


def test_23_hour_day_never_charges_price3() -> None:
    hours = _utc_hours_of_local_day(date(2026, 3, 29))
    assert len(hours) == 23
    local = [local_hour(moment) for moment in hours]
    assert 2 not in local
    assert local[:3] == [0, 1, 3]


def test_tariff_lookup_validates_its_input() -> None:
    with pytest.raises(ValueError, match="24 hourly prices"):
        tariff_price_for_local_hour([D(1)] * 23, 0)
    with pytest.raises(ValueError, match="not 0–23"):
        tariff_price_for_local_hour([D(1)] * 24, 24)
    with pytest.raises(ValueError, match="naive"):
        tariff_hour_number(datetime(2026, 1, 1, 12))  # noqa: DTZ001


def test_local_hour_of_utc_instants() -> None:
    assert local_hour(datetime(2026, 1, 15, 16, 30, tzinfo=UTC)) == 17  # CET: spidslast
    assert local_hour(datetime(2026, 7, 15, 16, 30, tzinfo=UTC)) == 18  # CEST


# --------------------------------------------------------------------------------------------
# Subscriptions


def test_daily_subscription_price_of_n1_grid_subscription() -> None:
    monthly = D("400.30") / 12  # N1: 400.30 kr/year = 33.358333... kr/month
    # January: 33.3583333... / 31 = 1.0760752688... → 1.076075
    assert daily_subscription_price(monthly, 2026, 1) == D("1.076075")
    # February 2026 (28 days): 33.3583333... / 28 = 1.1913690476... → 1.191369
    assert daily_subscription_price(monthly, 2026, 2) == D("1.191369")
    # February 2028 (leap year, 29 days): 33.3583333... / 29 = 1.1502873563... → 1.150287
    assert daily_subscription_price(monthly, 2028, 2) == D("1.150287")


def test_daily_subscription_price_rounds_half_up() -> None:
    # 31.0000155 / 31 = 1.0000005 exactly → half-up 1.000001
    assert daily_subscription_price(D("31.0000155"), 2026, 1) == D("1.000001")


def test_prorated_subscription_is_daily_price_times_days() -> None:
    # supplier subscription 39 kr/month, April (30 days): 1.300000 × 10 = 13.000000
    assert prorated_subscription(D("39"), 2026, 4, 10) == D("13.000000")
    # N1 in February 2026, 10 days: 1.191369 × 10 = 11.913690
    assert prorated_subscription(D("400.30") / 12, 2026, 2, 10) == D("11.913690")
    # 23 kr in September: daily 0.766667, full month 30 × 0.766667 = 23.000010 (as DataHub)
    assert prorated_subscription(D("23"), 2026, 9, 30) == D("23.000010")
    assert prorated_subscription(D("23"), 2026, 9, 0) == D("0")
    with pytest.raises(ValueError, match="31 supplied days in a month of 30 days"):
        prorated_subscription(D("23"), 2026, 9, 31)


@pytest.mark.parametrize(
    ("supply_start", "supply_end", "days"),
    [
        (date(2025, 1, 1), None, 31),  # supplied the whole month
        (date(2026, 1, 15), None, 17),  # from 15 Jan: 15..31
        (date(2025, 6, 1), date(2026, 1, 10), 9),  # ends at local midnight of 10 Jan: 1..9
        (date(2026, 1, 10), date(2026, 1, 20), 10),  # inside the month
        (date(2026, 2, 1), None, 0),  # starts after the period
        (date(2025, 1, 1), date(2026, 1, 1), 0),  # ended before the period
    ],
)
def test_supplied_days(supply_start: date, supply_end: date | None, days: int) -> None:
    assert supplied_days(date(2026, 1, 1), date(2026, 2, 1), supply_start, supply_end) == days


def test_supplied_days_counts_dst_days_as_whole_days() -> None:
    assert supplied_days(date(2026, 10, 1), date(2026, 11, 1), date(2026, 10, 25), None) == 7


# --------------------------------------------------------------------------------------------
# Invoice rounding and VAT


def test_round_ore_half_up() -> None:
    assert round_ore(D("0.005")) == D("0.01")
    assert round_ore(D("2.675")) == D("2.68")
    assert round_ore(D("-0.005")) == D("-0.01")
    assert round_ore(D("12.344999")) == D("12.34")


def test_invoice_totals_round_each_line_before_summing() -> None:
    # lines round to 10.01 + 20.01 + 0.00 = 30.02 (summing first would give 30.014 → 30.01)
    # VAT 30.02 × 0.25 = 7.505 → 7.51; total 37.53
    totals = invoice_totals([D("10.005"), D("20.005"), D("0.004")])
    assert totals == InvoiceTotals(D("30.02"), D("7.51"), D("37.53"))


def test_invoice_vat_is_computed_once_on_the_total_not_per_line() -> None:
    # three lines of 0.02: VAT per line would be 3 × round(0.005) = 0.03;
    # once on the total: 0.06 × 0.25 = 0.015 → 0.02
    totals = invoice_totals([D("0.02")] * 3)
    assert totals.vat_amount == D("0.02")
    assert totals.total_incl_vat == D("0.08")


def test_invoice_totals_of_a_realistic_month() -> None:
    lines = [
        D("187.663412"),  # energy
        D("94.512001"),  # grid tariff
        D("20.167200"),  # system tariff 280.1 kWh × 0.072
        D("12.044300"),  # transmission tariff 280.1 kWh × 0.043
        D("2.240800"),  # elafgift 280.1 kWh × 0.008
        D("33.358325"),  # grid subscription 31 × 1.076075 (rounded daily price)
        D("29.00"),  # supplier subscription
    ]
    # rounded: 187.66 + 94.51 + 20.17 + 12.04 + 2.24 + 33.36 + 29.00 = 378.98
    # VAT: 378.98 × 0.25 = 94.745 → 94.75; incl. VAT 473.73
    assert invoice_totals(lines) == InvoiceTotals(D("378.98"), D("94.75"), D("473.73"))
    assert D("0.25") == VAT_RATE


def test_invoice_totals_of_no_lines_and_of_a_credit() -> None:
    assert invoice_totals([]) == InvoiceTotals(D("0.00"), D("0.00"), D("0.00"))
    # -10.005 → -10.01 (half-up is away from zero); VAT -2.5025 → -2.50
    assert invoice_totals([D("-10.005")]) == InvoiceTotals(D("-10.01"), D("-2.50"), D("-12.51"))


# --------------------------------------------------------------------------------------------
# Aconto


def test_aconto_difference_sign() -> None:
    assert aconto_difference(D("1234.56"), D("1500.00")) == D("-265.44")  # customer is owed
    assert aconto_difference(D("1650.10"), D("1500.00")) == D("150.10")  # customer owes


def test_new_aconto_uses_the_trailing_365_days_only() -> None:
    history = [D("100")] * 35 + [D("10")] * 365  # the 35 oldest days are ignored
    # 10 kWh/day × 92 days × 2.50 DKK/kWh = 2300; + 120.50 fixed = 2420.50 → 2421 (rounded up)
    assert new_aconto_amount(history, 92, D("2.50"), D("120.50")) == D("2421")


def test_new_aconto_with_short_history_uses_what_exists() -> None:
    # mean (8.2 + 9.1 + 10.0) / 3 = 9.1 kWh/day × 30 × 2.00 = 546.00 → 546 (already whole)
    assert new_aconto_amount([D("8.2"), D("9.1"), D("10.0")], 30, D("2.00"), D("0")) == D("546")


def test_new_aconto_without_history_falls_back_to_expected_annual_consumption() -> None:
    # 3650 kWh/year = 10 kWh/day × 91 days × 2.20 = 2002.00; + 87 = 2089
    amount = new_aconto_amount([], 91, D("2.20"), D("87"), expected_annual_kwh=D("3650"))
    assert amount == D("2089")
    with pytest.raises(ValueError, match="no consumption history"):
        new_aconto_amount([], 91, D("2.20"), D("87"))


def test_new_aconto_is_never_negative() -> None:
    assert new_aconto_amount([D("5")], 30, D("-1.00"), D("0")) == D("0")


# --------------------------------------------------------------------------------------------
# Credit and debit notes


def test_credit_or_debit() -> None:
    assert credit_or_debit(D("378.98"), D("350.00")) == ("CreditNote", D("28.98"))
    assert credit_or_debit(D("378.98"), D("400.00")) == ("DebitNote", D("21.02"))
    assert credit_or_debit(D("378.98"), D("378.98")) is None
    result = credit_or_debit(D("1"), D("0"))
    assert result is not None and result[0] is codelists.InvoiceType.CREDIT_NOTE


# --------------------------------------------------------------------------------------------
# Code lists


def test_code_lists_carry_the_class_diagram_values() -> None:
    assert [m.value for m in codelists.ChargeType] == [
        "Energy",
        "GridTariff",
        "SystemTariff",
        "TransmissionTariff",
        "ElectricityTax",
        "GridSubscription",
        "SupplierSubscription",
    ]
    assert [m.value for m in codelists.EnergyModel] == ["Spot", "FixedPrice", "Mixed"]
    assert [m.value for m in codelists.InvoiceType] == [
        "Standard",
        "AcontoCombined",
        "FinalSettlement",
        "CreditNote",
        "DebitNote",
    ]
    assert [m.value for m in codelists.InvoiceStatus] == [
        "Draft",
        "Issued",
        "Sent",
        "Paid",
        "Overdue",
        "Cancelled",
    ]
    assert [m.value for m in codelists.SettlementRunStatus] == ["Running", "Completed", "Failed"]
    assert [m.value for m in codelists.BillingFrequency] == ["Monthly", "Quarterly"]
    assert [m.value for m in codelists.PaymentModel] == ["Aconto", "PostPayment"]
    assert [m.value for m in codelists.TariffType] == [
        "GridTariff",
        "SystemTariff",
        "TransmissionTariff",
    ]
    assert [m.value for m in codelists.SubscriptionType] == [
        "GridSubscription",
        "SupplierSubscription",
    ]
