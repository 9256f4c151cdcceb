"""(Just over 400 lines: the four kinds of parts, their rounding and the notes' differences share
one part model; split, the rounding rule would be stated twice.)

The parts of an invoice's lines as the customer reads them, computed when the Draft is written
(settlement.invoice_run) and stored with it (invoice_line_part, migration 0042):

- tariffs and the electricity tax: kWh × the published rate in force (øre/kWh, as the price
  list's DKK/kWh × 100), one part per distinct rate with the first and last local day it
  applied; kWh from the current readings of the days the settlement run settles the contract
  on (its settle_day, per grid area), rates by the
  settlement run's own lookups (storage.invoice_details.hour_rates);
- energy: the product's published price (fixed price, margin and supplement, øre/kWh) and, for
  spot products, the spot share as the consumption-weighted mean (marked not published: the
  spot price changes every quarter-hour);
- subscriptions: days × the daily price (monthly price / days in the month, rules), per month
  and price;
- aconto lines: the amount incl. VAT the customer paid / is to pay.

Part amounts are rounded to øre so that they add up to the line exactly (largest remainder);
when the readings or rates no longer reproduce a line (kWh differ, or the amounts by more than
rounding), the line gets one part at amount ÷ quantity marked not published, never a guess.
Credit and debit notes get the difference of the new parts and the invoiced ones.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from schemas.bands import band_table
from schemas.calendar import BillingPeriod, local_midnight_utc
from schemas.codelists import ChargeType
from schemas.invoice_records import (
    ACONTO,
    AcontoKind,
    AcontoSettled,
    ContractTerms,
    Line,
    SettledLine,
)
from schemas.settings import settings
from settlement.invoice_document import FALLBACK
from settlement.invoicing import aconto_for_contract
from settlement.rules import (
    FIRST_TARIFF_HOUR_NUMBER,
    ORE_PER_KRONE,
    ORE_QUANTUM,
    daily_subscription_price,
    energy_price_terms,
    round_ore,
)
from storage import invoice_details as details
from storage.db import Conn
from storage.invoice_details import PartRow

ZERO = Decimal("0.00")
RATE_QUANTUM = Decimal("0.0001")  # a mean spot price in øre/kWh
_PER_KWH = {
    ChargeType.GRID_TARIFF: ("Nettarif", "grid"),
    ChargeType.SYSTEM_TARIFF: ("Systemtarif", "system"),
    ChargeType.TRANSMISSION_TARIFF: ("Transmissionsnettarif", "transmission"),
    ChargeType.ELECTRICITY_TAX: ("Elafgift", "tax"),
}


def _part(*fields: object, **named: object) -> PartRow:
    """A part before it is numbered (line 0, part 0): exact amount until `allocate` rounds it."""
    return PartRow(0, 0, *fields, **named)  # type: ignore[arg-type]


def _counted(parts: Iterable[PartRow]) -> Decimal:
    return sum((p.quantity for p in parts if p.counts_quantity), Decimal(0))


@dataclass(frozen=True)
class CustomerInputs:
    period: BillingPeriod
    contracts: Sequence[ContractTerms]
    aconto: Sequence[AcontoSettled]
    products: dict[uuid.UUID, details.ContractProduct]
    hours: dict[str, list[details.HourRates]]
    # Per contract: the (local day, grid area) the settlement runs settle it on.
    settle_days: dict[uuid.UUID, list[tuple[date, str]]]
    grid_subscriptions: dict[str, list[tuple[datetime, datetime | None, Decimal]]]
    # Σ kWh and Σ øre-rounded amount per (gsrn, charge type, contract) of the settlement lines.
    settled: dict[tuple[str, str, uuid.UUID], tuple[Decimal, Decimal]]


def allocate(parts: list[PartRow], total: Decimal) -> list[PartRow] | None:
    """Round the parts' amounts to øre so they add up to `total`; None when they are further
    from it than rounding explains (half an øre per part, plus one øre)."""
    exact = sum((p.amount for p in parts), Decimal(0))
    if abs(exact - total) > ORE_QUANTUM * (len(parts) + 2) / 2:
        return None
    rounded = [round_ore(p.amount) for p in parts]
    steps = int((total - sum(rounded, ZERO)) / ORE_QUANTUM)
    order = sorted(
        range(len(parts)), key=lambda i: (parts[i].amount - rounded[i]) * (1 if steps > 0 else -1)
    )
    for i in reversed(order[-abs(steps) :] if steps else []):
        rounded[i] += ORE_QUANTUM if steps > 0 else -ORE_QUANTUM
    return [replace(p, amount=a) for p, a in zip(parts, rounded, strict=True)]


def _days(period: BillingPeriod, contract: ContractTerms) -> tuple[date, date]:
    """[first, end) of the contract's local days in the period."""
    end = period.end if contract.end_date is None else min(period.end, contract.end_date)
    return max(period.start, contract.start_date), end


def _per_kwh_parts(inputs: CustomerInputs, gsrn: str, charge: ChargeType) -> list[PartRow] | None:
    name, column = _PER_KWH[charge]
    grouped: dict[Decimal, list[tuple[date, Decimal]]] = defaultdict(list)
    for contract in inputs.contracts:
        if contract.gsrn != gsrn or (gsrn, str(charge), contract.id) not in inputs.settled:
            continue
        for hour in inputs.hours.get(gsrn, []):
            rate = getattr(hour, column)
            if hour.contract_id == contract.id and rate is not None:
                grouped[rate].append((hour.day, hour.kwh))
    parts = []
    for rate, days in sorted(grouped.items()):
        kwh = sum((k for _, k in days), Decimal(0))
        parts.append(
            _part(
                "rate",
                name,
                kwh,
                "kWh",
                rate * ORE_PER_KRONE,
                "øre/kWh",
                min(d for d, _ in days),
                max(d for d, _ in days),
                kwh * rate,
            )
        )
    return parts


def _energy_parts(inputs: CustomerInputs, gsrn: str) -> list[PartRow]:
    parts = []
    for contract in inputs.contracts:
        found = inputs.settled.get((gsrn, str(ChargeType.ENERGY), contract.id))
        product = inputs.products.get(contract.id)
        if contract.gsrn != gsrn or found is None or product is None:
            continue
        kwh, amount = found
        settled_days = [day for day, _area in inputs.settle_days.get(contract.id, [])]
        first, end = _days(inputs.period, contract)
        last = end - timedelta(days=1)
        if settled_days:
            first, last = min(settled_days), max(settled_days)
        terms = energy_price_terms(
            product.energy_model,
            margin_ore_per_kwh=product.margin_ore_per_kwh,
            supplement_ore_per_kwh=product.supplement_ore_per_kwh,
            fixed_price_ore_per_kwh=product.fixed_price_ore_per_kwh,
            spot_share=product.spot_share,
        )
        fixed = round_ore(kwh * terms.adder)
        label = "Elpris, fast pris og tillæg" if terms.spot_factor != 1 else "Elpris, tillæg"
        priced_fixed = bool(terms.adder or terms.spot_factor == 0)
        if priced_fixed:
            parts.append(
                _part(
                    "rate",
                    label,
                    kwh,
                    "kWh",
                    terms.adder * ORE_PER_KRONE,
                    "øre/kWh",
                    first,
                    last,
                    fixed,
                )
            )
        if terms.spot_factor != 0 and kwh != 0:
            spot = amount - fixed
            mean = (spot / kwh * ORE_PER_KRONE).quantize(RATE_QUANTUM, ROUND_HALF_UP)
            label = "Spotpris, gennemsnit vægtet efter forbrug"
            if terms.spot_factor != 1:
                label = f"Spotpris ({terms.spot_factor.normalize():f} af), gennemsnit vægtet efter forbrug"
            parts.append(
                _part(
                    "rate",
                    label,
                    kwh,
                    "kWh",
                    mean,
                    "øre/kWh",
                    first,
                    last,
                    spot,
                    published=False,
                    counts_quantity=not priced_fixed,
                )
            )
    return parts


def _grid_monthly(inputs: CustomerInputs, area: str, day: date) -> Decimal | None:
    midnight = local_midnight_utc(day)
    found = None
    for valid_from, valid_to, amount in inputs.grid_subscriptions.get(area, []):
        if valid_from <= midnight and (valid_to is None or valid_to > midnight):
            found = amount
    return found


def _subscription_parts(inputs: CustomerInputs, gsrn: str, charge: ChargeType) -> list[PartRow]:
    name = "Netabonnement" if charge is ChargeType.GRID_SUBSCRIPTION else "Leverandørabonnement"
    grouped: dict[tuple[date, Decimal, Decimal], list[date]] = defaultdict(list)
    for contract in inputs.contracts:
        product = inputs.products.get(contract.id)
        if contract.gsrn != gsrn or (gsrn, str(charge), contract.id) not in inputs.settled:
            continue
        for day, area in inputs.settle_days.get(contract.id, []):
            if charge is ChargeType.GRID_SUBSCRIPTION:
                monthly = _grid_monthly(inputs, area, day)
            else:
                monthly = None if product is None else product.subscription_kr_per_month
            if monthly is not None:
                daily = daily_subscription_price(monthly, day.year, day.month)
                grouped[(day.replace(day=1), monthly, daily)].append(day)
    return [
        _part(
            "rate",
            f"{name} {monthly.normalize():f} kr/md",
            Decimal(len(days)),
            "dage",
            daily,
            "kr/dag",
            min(days),
            max(days),
            daily * len(days),
        )
        for (_, monthly, daily), days in sorted(grouped.items())
    ]


def _fallback(line: Line) -> list[PartRow]:
    if line.charge_type == ACONTO or line.quantity == 0:
        return []
    unit = (
        "dage"
        if line.charge_type in (ChargeType.GRID_SUBSCRIPTION, ChargeType.SUPPLIER_SUBSCRIPTION)
        else "kWh"
    )
    return [
        _part(
            "rate",
            FALLBACK,
            line.quantity,
            unit,
            line.unit_price,
            "kr/dag" if unit == "dage" else "kr/kWh",
            None,
            None,
            line.amount,
            published=False,
        )
    ]


def _aconto_incl_vat(inputs: CustomerInputs, gsrn: str, kind: AcontoKind) -> Decimal:
    total = ZERO
    for contract in inputs.contracts:
        rows = [row for row in inputs.aconto if row.contract_id == contract.id]
        if contract.gsrn != gsrn or not rows:
            continue
        _actual, paid, next_aconto = aconto_for_contract(inputs.period, contract, rows)
        total += -paid if kind is AcontoKind.PAID else next_aconto
    return round_ore(total)


def line_parts(inputs: CustomerInputs, line: Line) -> list[PartRow]:
    """The parts of one line of the invoice the latest runs call for."""
    if line.charge_type == ACONTO:
        assert line.aconto_kind is not None
        incl = _aconto_incl_vat(inputs, line.metering_point_id, line.aconto_kind)
        return [
            _part(
                "aconto",
                line.description,
                Decimal(1),
                "stk",
                None,
                None,
                None,
                None,
                line.amount,
                incl,
            )
        ]
    charge = ChargeType(line.charge_type)
    if charge in _PER_KWH:
        parts = _per_kwh_parts(inputs, line.metering_point_id, charge)
    elif charge is ChargeType.ENERGY:
        parts = _energy_parts(inputs, line.metering_point_id)
    else:
        parts = _subscription_parts(inputs, line.metering_point_id, charge)
    if not parts or _counted(parts) != line.quantity:
        return _fallback(line)
    return allocate(parts, line.amount) or _fallback(line)


def note_parts(
    target: Sequence[PartRow], invoiced: Iterable[PartRow], note_line: Line
) -> list[PartRow]:
    """A note line's parts: the new parts minus the invoiced ones, per description and rate."""
    merged: dict[tuple[object, ...], PartRow] = {}
    for part in target:
        merged[part.key] = part
    for row in invoiced:
        old = replace(row, line_no=0, part_no=0)
        if old.key in merged:
            new = merged[old.key]
            merged[old.key] = replace(
                new,
                quantity=new.quantity - old.quantity,
                amount=new.amount - old.amount,
                amount_incl_vat=None
                if new.amount_incl_vat is None or old.amount_incl_vat is None
                else new.amount_incl_vat - old.amount_incl_vat,
            )
        else:
            merged[old.key] = replace(
                old,
                quantity=-old.quantity,
                amount=-old.amount,
                amount_incl_vat=None if old.amount_incl_vat is None else -old.amount_incl_vat,
            )
    parts = [p for p in merged.values() if p.amount != 0 or p.quantity != 0]
    if (
        sum((p.amount for p in parts), ZERO) != note_line.amount
        or _counted(parts) != note_line.quantity
    ):
        return _fallback(note_line)
    return parts


def numbered(lines_parts: Sequence[list[PartRow]]) -> list[PartRow]:
    return [
        replace(p, line_no=line_no, part_no=part_no, description=p.description[:200])
        for line_no, parts in enumerate(lines_parts, start=1)
        for part_no, p in enumerate(parts, start=1)
    ]


@dataclass(frozen=True)
class Written:
    """A Draft invoicing just wrote, with the invoice the latest runs call for (a note's target)."""

    invoice_id: uuid.UUID
    lines: tuple[Line, ...]
    is_note: bool
    target_lines: tuple[Line, ...]
    contracts: tuple[ContractTerms, ...]
    aconto: tuple[AcontoSettled, ...]
    settled: tuple[SettledLine, ...]
    # Issued invoices (and notes) of the customer and period: a note is the difference to them.
    invoiced: tuple[tuple[uuid.UUID, tuple[Line, ...]], ...]


def store(conn: Conn, period: BillingPeriod, written: Sequence[Written], tz: str) -> None:
    """Compute and store the parts of the Drafts an invoicing run wrote (its transaction)."""
    if not written:
        return
    contracts = {c.id: c for w in written for c in w.contracts}
    products = details.contract_products(conn, sorted(contracts))
    gsrns = sorted({c.gsrn for c in contracts.values()})
    areas = set(details.grid_areas_of(conn, gsrns)) | {c.grid_area_code for c in contracts.values()}
    hours: dict[str, list[details.HourRates]] = defaultdict(list)
    settle_days: dict[uuid.UUID, list[tuple[date, str]]] = defaultdict(list)
    subscriptions: dict[str, list[tuple[datetime, datetime | None, Decimal]]] = {}
    for area in sorted(areas):
        rated, days = details.hour_rates(
            conn,
            gsrns,
            grid_area=area,
            start=period.start,
            end=period.end,
            tz=tz,
            first_tariff_hour_number=FIRST_TARIFF_HOUR_NUMBER,
            bands=list(band_table(settings().bands)),
        )
        for row in rated:
            hours[row.gsrn].append(row)
        for _gsrn, day, contract_id in days:
            settle_days[contract_id].append((day, area))
        subscriptions[area] = details.grid_subscriptions(conn, area)
    for w in written:
        settled: dict[tuple[str, str, uuid.UUID], tuple[Decimal, Decimal]] = {}
        for s in w.settled:
            key = (s.metering_point_id, str(s.charge_type), s.contract_id)
            kwh, amount = settled.get(key, (Decimal(0), ZERO))
            settled[key] = (kwh + s.total_kwh, amount + round_ore(s.total_amount))
        inputs = CustomerInputs(
            period, w.contracts, w.aconto, products, hours, settle_days, subscriptions, settled
        )
        target = {line.key: line_parts(inputs, line) for line in w.target_lines}
        if not w.is_note:
            rows = numbered([target.get(line.key, []) for line in w.lines])
        else:
            old: dict[tuple[str, str, str], list[PartRow]] = defaultdict(list)
            for invoice_id, lines in w.invoiced:
                stored = details.parts(conn, invoice_id)
                for n, line in enumerate(lines, start=1):
                    old[line.key].extend(p for p in stored if p.line_no == n)
            rows = numbered(
                [note_parts(target.get(line.key, []), old[line.key], line) for line in w.lines]
            )
        details.write_parts(conn, w.invoice_id, rows)
