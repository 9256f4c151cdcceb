"""DatahubPricelist rows → grid_tariff (+ 24 tariff_rate), electricity_tax, subscription.

Which table a row goes to is `schemas.reference.charges.classify_charge`; here only where:
- GridTariff / GridSubscription: once for every grid area whose grid_operator_gln is the row's
  GLN_Number (rows of owners without a known grid area are skipped);
- SystemTariff / TransmissionTariff: one version without grid area (they apply everywhere);
- ElectricityTax: electricity_tax keyed on valid from, rate Price1 (DKK/kWh);
- not billed by us (fees, Energinet's other charges): skipped.
A P1D tariff stores its one daily price as all 24 hourly rates (Σ hours × price = day × price).
"""

from __future__ import annotations

import uuid

from schemas.codelists import ChargeType, Resolution
from schemas.reference.pricelist import PriceListRow
from storage.db import Conn
from storage.importers.common import Known, Outcome, Skipped, combined, upsert
from storage.importers.tariffs import store_tariff_version


def grid_areas_of(conn: Conn, gln: str) -> list[str]:
    rows = conn.execute(
        "SELECT code FROM grid_area WHERE grid_operator_gln = %s ORDER BY code", (gln,)
    )
    return [code for (code,) in rows]


def write_price_list_row(conn: Conn, row: PriceListRow, known: Known) -> Outcome:
    kind = row.settlement_charge
    if kind is ChargeType.ELECTRICITY_TAX:
        return upsert(
            conn,
            "electricity_tax",
            ("valid_from",),
            {
                "id": uuid.uuid4(),
                "rate_per_kwh": row.prices[0],
                "valid_from": row.valid_from,
                "valid_to": row.valid_to,
            },
        )
    if kind in (ChargeType.SYSTEM_TARIFF, ChargeType.TRANSMISSION_TARIFF):
        return _tariff(conn, row, None, kind)
    if kind not in (ChargeType.GRID_TARIFF, ChargeType.GRID_SUBSCRIPTION):
        return Skipped(
            "a charge elflow does not bill (a fee, or a charge other than a tariff, grid subscription or tax)"
        )
    areas = grid_areas_of(conn, row.gln)
    if not areas:
        return Skipped(
            f"a charge of grid operator {row.gln}, which has no grid area loaded"
            " (load its grid area first if we supply there)"
        )
    if kind is ChargeType.GRID_TARIFF:
        return combined([_tariff(conn, row, area, kind) for area in areas])
    return combined([_subscription(conn, row, area) for area in areas])


def _subscription(conn: Conn, row: PriceListRow, area: str) -> Outcome:
    return upsert(
        conn,
        "subscription",
        ("type", "charge_owner_id", "charge_code", "valid_from", "grid_area_code"),
        {
            "id": uuid.uuid4(),
            "type": ChargeType.GRID_SUBSCRIPTION.value,
            "charge_owner_id": row.gln,
            "charge_code": row.charge_type_code,
            "valid_from": row.valid_from,
            "grid_area_code": area,
            "amount_kr_per_month": row.prices[0],
            "valid_to": row.valid_to,
        },
    )


def _tariff(conn: Conn, row: PriceListRow, area: str | None, kind: ChargeType) -> Outcome:
    daily = row.resolution is Resolution.P1D
    return store_tariff_version(
        conn,
        owner=row.gln,
        code=row.charge_type_code,
        tariff_type=kind.value,
        area=area,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        note=row.note or None,
        resolution=row.resolution.value,
        prices=(row.prices[0],) * 24 if daily else row.prices,
    )
