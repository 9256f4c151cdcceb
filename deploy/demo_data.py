"""Synthetic, deterministic reference data for the demo, written in the real file formats that
`elflow load` reads (Energi Data Service JSON, master-data CSV/JSON with the class diagram's
field names). Prices and tariffs are invented demo values shaped like the real ones (Tarifmodel
3.0 bands, 15-minute day-ahead prices); only the electricity tax follows the law (0.8 øre/kWh
in 2026) — and even that comes from the data file, not from code."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from flows.feed import grid_area_for, gsrn_for
from schemas.calendar import local_midnight_utc, to_local

ENERGINET_GLN = "5790000432752"

# Demo grid areas: code → (grid operator GLN, name, price area). Test GLNs, not real companies'.
DEMO_GRID_AREAS = {
    "344": ("5790000610976", "Demo Net Øst", "DK2"),
    "740": ("5790000705689", "Demo Net Sjælland", "DK2"),
    "131": ("5790001089030", "Demo Net Jylland", "DK1"),
}

# Products: (name, energy model, margin øre/kWh, supplement øre/kWh, subscription kr/month,
# fixed price øre/kWh, spot share)
PRODUCTS = [
    ("Spot Basis", "Spot", "4.50", "", "29.00", "", ""),
    ("Grøn Spot", "Spot", "4.50", "1.25", "29.00", "", ""),
    ("Fastpris 12", "FixedPrice", "0", "", "19.00", "225.00", ""),
]


def _id(kind: str, index: int) -> str:
    """A stable UUID per demo object, so that re-running the demo re-imports the same rows."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"elflow-demo/{kind}/{index}"))


@dataclass(frozen=True)
class DemoFiles:
    grid_areas: Path
    metering_points: Path
    customers: Path
    products: Path
    supply_periods: Path
    contracts: Path
    aconto_payments: Path
    spot_prices: Path
    price_list: Path

    def in_load_order(self) -> list[tuple[str, Path]]:
        return [
            ("grid_areas", self.grid_areas),
            ("metering_points", self.metering_points),
            ("customers", self.customers),
            ("products", self.products),
            ("supply_periods", self.supply_periods),
            ("contracts", self.contracts),
            ("aconto_payments", self.aconto_payments),
            ("spot", self.spot_prices),
            ("pricelist", self.price_list),
        ]


def write_demo_files(
    directory: Path, metering_points: int, month_start: date, grid_areas: tuple[str, ...]
) -> DemoFiles:
    directory.mkdir(parents=True, exist_ok=True)
    month_end = (month_start.replace(day=28) + timedelta(days=4)).replace(day=1)
    files = DemoFiles(
        *(
            directory / name
            for name in (
                "grid_areas.csv",
                "metering_points.csv",
                "customers.json",
                "products.csv",
                "supply_periods.csv",
                "contracts.csv",
                "aconto_payments.json",
                "day_ahead_prices.json",
                "datahub_pricelist.json",
            )
        )
    )
    _write_csv(
        files.grid_areas,
        ["Code", "GridOperatorGln", "GridOperatorName", "PriceArea"],
        [[code, *DEMO_GRID_AREAS[code]] for code in grid_areas],
    )
    areas = [grid_area_for(i, grid_areas) for i in range(metering_points)]
    _write_csv(
        files.metering_points,
        [
            "Gsrn",
            "Type",
            "SettlementMethod",
            "ConnectionStatus",
            "GridAreaCode",
            "GridOperatorGln",
            "ActivatedAt",
            "DeactivatedAt",
        ],
        [
            [
                gsrn_for(i),
                "E17_Consumption",
                "Flex",
                "Connected",
                areas[i],
                DEMO_GRID_AREAS[areas[i]][0],
                "2020-01-01T00:00:00Z",
                "",
            ]
            for i in range(metering_points)
        ],
    )
    files.customers.write_text(
        json.dumps(
            {
                "records": [
                    {
                        "Id": _id("customer", i),
                        "Name": f"Demo Kunde {i + 1:04d}",
                        "CprCvr": f"{10_000_000 + i:08d}"
                        if i % 10 == 9
                        else f"010190{1000 + i % 9000:04d}",
                        "ContactType": "Business" if i % 10 == 9 else "Private",
                        "Email": f"kunde{i + 1:04d}@example.dk",
                        "Phone": None,
                        "CreatedAt": "2024-12-01T09:00:00Z",
                        "Status": "Active",
                    }
                    for i in range(metering_points)
                ]
            },
            ensure_ascii=False,
            indent=0,
        )
    )
    _write_csv(
        files.products,
        [
            "Id",
            "Name",
            "EnergyModel",
            "MarginOrePerKwh",
            "SupplementOrePerKwh",
            "SubscriptionKrPerMonth",
            "BindingPeriodMonths",
            "IsActive",
            "FixedPriceOrePerKwh",
            "SpotShare",
        ],
        [
            [_id("product", n), name, model, margin, supplement, sub, "", "true", fixed, share]
            for n, (name, model, margin, supplement, sub, fixed, share) in enumerate(PRODUCTS)
        ],
    )
    # Every 40th metering point leaves us mid-month (supplier switch); the rest stay all month.
    switch_day = month_start + timedelta(days=15)
    supply, contracts, payments = [], [], []
    for i in range(metering_points):
        leaves = i % 40 == 39
        end = switch_day.isoformat() if leaves else ""
        supply.append(
            [_id("supply", i), gsrn_for(i), "2025-01-01", end, "SupplierSwitch" if leaves else ""]
        )
        aconto = i % 5 == 4
        quarterly = i % 7 == 6 and not aconto
        contracts.append(
            [
                _id("contract", i),
                _id("customer", i),
                gsrn_for(i),
                _id("product", i % len(PRODUCTS)),
                "Quarterly" if quarterly else "Monthly",
                "Aconto" if aconto else "PostPayment",
                "14",
                "2025-01-01",
                end,
            ]
        )
        if aconto:
            payments.append(
                {
                    "Id": _id("aconto", i),
                    "ContractId": _id("contract", i),
                    "BillingPeriodStart": month_start.isoformat(),
                    "BillingPeriodEnd": month_end.isoformat(),
                    "Amount": f"{600 + (i * 37) % 500}.00",
                    "PaidAt": f"{month_start.isoformat()}T08:00:00Z",
                }
            )
    _write_csv(files.supply_periods, ["Id", "Gsrn", "StartDate", "EndDate", "EndReason"], supply)
    _write_csv(
        files.contracts,
        [
            "Id",
            "CustomerId",
            "Gsrn",
            "ProductId",
            "BillingFrequency",
            "PaymentModel",
            "PaymentTermDays",
            "StartDate",
            "EndDate",
        ],
        contracts,
    )
    files.aconto_payments.write_text(json.dumps(payments, indent=0))
    files.spot_prices.write_text(
        json.dumps(
            {"dataset": "DayAheadPrices", "records": _day_ahead_prices(month_start, month_end)},
            indent=0,
        )
    )
    files.price_list.write_text(
        json.dumps(
            {"dataset": "DatahubPricelist", "records": _price_list(grid_areas)},
            ensure_ascii=False,
            indent=0,
        )
    )
    return files


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> None:
    lines = [";".join(header)] + [";".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _day_ahead_prices(start: date, end: date) -> list[dict[str, object]]:
    """15-minute prices for DK1 and DK2: a daily curve with morning and evening peaks, noise."""
    rng = random.Random(20261001)
    records: list[dict[str, object]] = []
    moment = local_midnight_utc(start)
    stop = local_midnight_utc(end)
    while moment < stop:
        local = to_local(moment)
        hour = local.hour + local.minute / 60
        shape = 450 + 250 * (7 <= hour < 9) + 450 * (17 <= hour < 20) - 150 * (hour < 5)
        for area, offset in (("DK1", 0), ("DK2", 35)):
            dkk = Decimal(shape + offset + rng.randint(-60, 60)) + Decimal(rng.randint(0, 99)) / 100
            records.append(
                {
                    "TimeUTC": moment.strftime("%Y-%m-%dT%H:%M:%S"),
                    "TimeDK": local.strftime("%Y-%m-%dT%H:%M:%S"),
                    "PriceArea": area,
                    "DayAheadPriceEUR": str((dkk / Decimal("7.46")).quantize(Decimal("0.000001"))),
                    "DayAheadPriceDKK": str(dkk),
                }
            )
        moment += timedelta(minutes=15)
    return records


def _pricelist_row(
    owner: str,
    gln: str,
    charge_type: str,
    code: str,
    note: str,
    valid_from: str,
    valid_to: str | None,
    prices: list[str],
    resolution: str,
    tax: int,
) -> dict[str, object]:
    row: dict[str, object] = {
        "ChargeOwner": owner,
        "GLN_Number": gln,
        "ChargeType": charge_type,
        "ChargeTypeCode": code,
        "Note": note,
        "Description": note,
        "ValidFrom": valid_from,
        "ValidTo": valid_to,
        "VATClass": "D02",
    }
    for hour in range(24):
        row[f"Price{hour + 1}"] = prices[hour] if hour < len(prices) else None
    row.update({"TransparentInvoicing": 0, "TaxIndicator": tax, "ResolutionDuration": resolution})
    return row


def _price_list(grid_areas: tuple[str, ...]) -> list[dict[str, object]]:
    energinet = "Energinet Systemansvar A/S (SYO)"
    rows = [
        _pricelist_row(
            energinet,
            ENERGINET_GLN,
            "D03",
            "EA-001",
            "Elafgift",
            "2025-01-01T00:00:00",
            "2026-01-01T00:00:00",
            ["0.727"],
            "PT1H",
            1,
        ),
        _pricelist_row(
            energinet,
            ENERGINET_GLN,
            "D03",
            "EA-001",
            "Elafgift",
            "2026-01-01T00:00:00",
            None,
            ["0.008"],
            "PT1H",
            1,
        ),
        _pricelist_row(
            energinet,
            ENERGINET_GLN,
            "D03",
            "41000",
            "Systemtarif",
            "2026-01-01T00:00:00",
            None,
            ["0.072"],
            "PT1H",
            0,
        ),
        _pricelist_row(
            energinet,
            ENERGINET_GLN,
            "D03",
            "40000",
            "Transmissions nettarif",
            "2026-01-01T00:00:00",
            None,
            ["0.043"],
            "PT1H",
            0,
        ),
    ]
    # Winter prices (October-March) of a C-customer time tariff: lavlast 00-06, højlast 06-17 and
    # 21-24, spidslast 17-21 (DKK/kWh); each demo grid company a little different.
    for n, code in enumerate(grid_areas):
        gln, name, _area = DEMO_GRID_AREAS[code]
        low, high, peak = (
            Decimal("0.1083") + n * Decimal("0.0100"),
            Decimal("0.3250") + n * Decimal("0.0150"),
            Decimal("0.9751") - n * Decimal("0.0500"),
        )
        bands = [low] * 6 + [high] * 11 + [peak] * 4 + [high] * 3
        rows.append(
            _pricelist_row(
                name,
                gln,
                "D03",
                "CD",
                "Nettarif C time",
                "2026-10-01T00:00:00",
                "2027-04-01T00:00:00",
                [str(p) for p in bands],
                "PT1H",
                0,
            )
        )
        rows.append(
            _pricelist_row(
                name,
                gln,
                "D01",
                "CD-ABON",
                "Netabonnement C",
                "2026-01-01T00:00:00",
                None,
                ["33.358333"],
                "P1M",
                0,
            )
        )
    return rows
