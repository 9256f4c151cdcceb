"""DataHub price-list documents (D10) → grid_tariff versions.

Only D08 hourly prices of tariffs already known from a DatahubPricelist import are written: one
version per run of local days with the same 24 prices (`daily_profiles`), for every (tariff
type, grid area) under which that owner's charge is stored. D18 charge information and prices
of subscriptions and fees are skipped; tax prices are refused (they come from the price list).
"""

from __future__ import annotations

from schemas.calendar import local_midnight_utc
from schemas.codelists import ChargeType, Resolution
from schemas.reference.bounds import FieldError
from schemas.reference.pricelist_cim import ChargeDocumentItem, daily_profiles
from storage.db import Conn
from storage.importers.common import Known, Outcome, RowError, Skipped, combined
from storage.importers.tariffs import store_tariff_version

_TARIFFS = (ChargeType.GRID_TARIFF, ChargeType.SYSTEM_TARIFF, ChargeType.TRANSMISSION_TARIFF)


def write_charge_item(conn: Conn, item: ChargeDocumentItem, known: Known) -> Outcome:
    kind = item.settlement_charge
    if item.process_type != "D08" or kind not in (*_TARIFFS, ChargeType.ELECTRICITY_TAX):
        return Skipped(
            "not D08 tariff prices (charge information and other charges' prices are not read"
            " from price-list documents)"
        )
    if kind is ChargeType.ELECTRICITY_TAX:
        raise RowError("electricity tax rates are read from the DatahubPricelist (pricelist)")
    if item.resolution is not Resolution.PT1H:
        raise RowError(f"only PT1H tariff prices are read, not {item.resolution}")
    stored = conn.execute(
        """SELECT DISTINCT tariff_type, grid_area_code FROM grid_tariff
           WHERE charge_owner_id = %s AND charge_code = %s ORDER BY 1, 2""",
        (item.owner_gln, item.charge_code),
    ).fetchall()
    if not stored:
        raise RowError(
            f"charge {item.charge_code} of {item.owner_gln} is unknown; "
            "import its price list (pricelist) first"
        )
    try:
        profiles = daily_profiles(item)
    except FieldError as exc:
        raise RowError(str(exc)) from None
    outcomes: list[Outcome] = []
    for profile in profiles:
        for tariff_type, area in stored:
            outcomes.append(
                store_tariff_version(
                    conn,
                    owner=item.owner_gln,
                    code=item.charge_code,
                    tariff_type=tariff_type,
                    area=area,
                    valid_from=local_midnight_utc(profile.first),
                    valid_to=local_midnight_utc(profile.end),
                    note=f"D08 {item.document_id}",
                    resolution="PT1H",
                    prices=profile.prices,
                )
            )
    return combined(outcomes)
