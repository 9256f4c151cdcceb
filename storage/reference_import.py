"""Import reference data files (prices, price lists, master data) into the database.

`import_file(conn, kind, path)` parses one file with `schemas.reference` and writes it in ONE
transaction: a bad row (unparseable, or refused by the database, e.g. an unknown grid area)
raises `ReferenceDataError` naming the file and row, and nothing of the file is written.
Every write is an upsert keyed on the row's natural key, so importing the same file twice
changes nothing the second time:

- spot, elspot: spot_price (price area, interval start, resolution);
- pricelist: grid_tariff (owner, code, tariff type, valid from, grid area — a NULL grid area is
  one key value, migration 0003) with its 24 tariff_rate rows; electricity_tax (valid from);
  subscription (type, owner, code, valid from, grid area);
- pricelist-xml: D08 hourly prices of a charge already known from a price list, as grid_tariff
  versions (one per run of local days with the same 24 hourly prices);
- master data by Id (Gsrn for metering points, Code for grid areas).

How DatahubPricelist rows map (DOMAIN § 2 "Charges", § 3):
- Energinet (GLN 5790000432752) D03 "Systemtarif"/41000 → SystemTariff, "Transmissions
  nettarif"/40000 → TransmissionTariff (no grid area: they apply everywhere); "Elafgift"/EA-001
  or TaxIndicator → electricity_tax with rate Price1 (DKK/kWh). Other Energinet charges are
  skipped.
- Another owner's D03 tariff → GridTariff for every grid area whose grid_operator_gln is the
  row's GLN_Number; rows of owners without a known grid area are skipped.
- Another owner's D01 subscription with resolution P1M → GridSubscription (Price1 kr/month) for
  that owner's grid areas. Fees (D02) are skipped.
- A P1D tariff stores its one daily price as all 24 hourly rates: Σ hours × price = day × price.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import psycopg

from schemas.codelists import DataHubChargeType, Resolution
from schemas.reference import (
    COPENHAGEN,
    AcontoPaymentRow,
    ChargeDocumentItem,
    ContractRow,
    CustomerRow,
    GridAreaRow,
    MeteringPointRow,
    PriceListRow,
    ProductRow,
    ReferenceDataError,
    SpotPriceRow,
    SupplyPeriodRow,
    local_midnight_utc,
    parse_datahub_pricelist,
    parse_day_ahead_prices,
    parse_elspot_prices,
    parse_master_data,
    parse_price_list_document,
)
from storage.db import Conn

ENERGINET_GLN = "5790000432752"

MASTER_KINDS = (
    "grid_areas",
    "customers",
    "products",
    "metering_points",
    "supply_periods",
    "contracts",
    "aconto_payments",
)
PRICE_KINDS = ("spot", "elspot", "pricelist", "pricelist-xml")
KINDS: tuple[str, ...] = PRICE_KINDS + MASTER_KINDS

Outcome = Literal["inserted", "updated", "unchanged", "skipped"]


@dataclass
class ImportResult:
    kind: str
    path: Path
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def line(self) -> str:
        text = (
            f"{self.path.name}: {self.kind}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )
        return text + (f", {self.skipped} skipped" if self.skipped else "")


class _RowError(Exception):
    """A row refused while writing; the caller adds file and row number."""


def import_file(conn: Conn, kind: str, path: Path | str) -> ImportResult:
    """Parse and write one file in one transaction (see the module docstring)."""
    file = Path(path)
    if kind not in KINDS:
        raise ReferenceDataError(file, None, f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    result = ImportResult(kind, file)
    rows: Sequence[Any]
    spot: list[SpotPriceRow] = []
    writer: Callable[[Conn, Any, ImportResult], Outcome | None]
    if kind == "spot":
        rows = spot = parse_day_ahead_prices(file)
    elif kind == "elspot":
        rows = spot = parse_elspot_prices(file)
    elif kind == "pricelist":
        rows = parse_datahub_pricelist(file)
    elif kind == "pricelist-xml":
        rows = parse_price_list_document(file)
    else:
        rows = parse_master_data(kind, file)
    try:
        with conn.transaction():
            if kind in ("spot", "elspot"):
                _write_spot_prices(conn, spot, result)
                return result
            writer = _WRITERS[kind]
            for number, row in enumerate(rows, start=1):
                try:
                    outcome = writer(conn, row, result)
                except _RowError as exc:
                    raise ReferenceDataError(file, number, str(exc)) from None
                except psycopg.Error as exc:
                    raise ReferenceDataError(file, number, _db_message(exc)) from None
                if outcome is not None:
                    result.count(outcome)
    except psycopg.Error as exc:
        raise ReferenceDataError(file, None, _db_message(exc)) from None
    return result


def _db_message(exc: psycopg.Error) -> str:
    diag = exc.diag
    detail = diag.message_detail or diag.message_primary or str(exc)
    return " ".join(str(detail).split())


def _upsert(
    conn: Conn, table: str, key: Sequence[str], values: dict[str, object]
) -> Literal["inserted", "updated", "unchanged"]:
    """INSERT … ON CONFLICT (key) DO UPDATE only when a non-key column differs. A surrogate
    `id` outside the key is only set on insert."""
    columns = list(values)
    others = [c for c in columns if c not in key and c != "id"]
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'%({c})s' for c in columns)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
        + f" WHERE ({', '.join(f'{table}.{c}' for c in others)}) IS DISTINCT FROM "
        f"({', '.join(f'EXCLUDED.{c}' for c in others)}) "
        "RETURNING (xmax = 0)"
    )
    row = conn.execute(sql, values).fetchone()
    if row is None:
        return "unchanged"
    return "inserted" if row[0] else "updated"


# ------------------------------------------------------------------------------- spot prices
def _write_spot_prices(conn: Conn, rows: Sequence[SpotPriceRow], result: ImportResult) -> None:
    conn.execute(
        """CREATE TEMP TABLE IF NOT EXISTS spot_import (
               price_area text, hour timestamptz, resolution text, price_per_kwh numeric
           ) ON COMMIT DELETE ROWS"""
    )
    with conn.cursor().copy(
        "COPY spot_import (price_area, hour, resolution, price_per_kwh) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(
                (row.price_area.value, row.start, row.resolution.value, row.price_dkk_per_kwh)
            )
    changed = conn.execute(
        """INSERT INTO spot_price AS s (price_area, hour, resolution, price_per_kwh)
           SELECT price_area, hour, resolution, price_per_kwh FROM spot_import
           ON CONFLICT (price_area, hour, resolution) DO UPDATE
               SET price_per_kwh = EXCLUDED.price_per_kwh
               WHERE s.price_per_kwh IS DISTINCT FROM EXCLUDED.price_per_kwh
           RETURNING (xmax = 0)"""
    ).fetchall()
    result.inserted = sum(1 for (fresh,) in changed if fresh)
    result.updated = len(changed) - result.inserted
    result.unchanged = len(rows) - len(changed)


# -------------------------------------------------------------------------------- price lists
def _grid_areas_of(conn: Conn, gln: str) -> list[str]:
    return [
        code
        for (code,) in conn.execute(
            "SELECT code FROM grid_area WHERE grid_operator_gln = %s ORDER BY code", (gln,)
        )
    ]


def _write_price_list_row(conn: Conn, row: PriceListRow, result: ImportResult) -> Outcome:
    code = row.charge_type_code
    if row.gln == ENERGINET_GLN:
        if row.charge_type is not DataHubChargeType.TARIFF:
            return "skipped"
        if row.note == "Elafgift" or code == "EA-001" or row.tax_indicator:
            return _upsert(
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
        if row.note == "Systemtarif" or code == "41000":
            return _upsert_tariff(conn, row, None, "SystemTariff")
        if row.note == "Transmissions nettarif" or code == "40000":
            return _upsert_tariff(conn, row, None, "TransmissionTariff")
        return "skipped"
    areas = _grid_areas_of(conn, row.gln)
    if not areas:
        return "skipped"
    outcomes: list[Outcome] = []
    if row.charge_type is DataHubChargeType.TARIFF:
        outcomes = [_upsert_tariff(conn, row, area, "GridTariff") for area in areas]
    elif row.charge_type is DataHubChargeType.SUBSCRIPTION and row.resolution is Resolution.P1M:
        for area in areas:
            outcomes.append(
                _upsert_subscription(
                    conn, area, row.gln, code, row.prices[0], row.valid_from, row.valid_to
                )
            )
    else:
        return "skipped"
    return _combined(outcomes)


def _combined(outcomes: Sequence[Outcome]) -> Outcome:
    for outcome in ("inserted", "updated"):
        if outcome in outcomes:
            return outcome
    return "unchanged"


def _upsert_subscription(
    conn: Conn,
    area: str,
    owner: str,
    code: str,
    amount: Decimal,
    valid_from: datetime,
    valid_to: datetime | None,
) -> Outcome:
    return _upsert(
        conn,
        "subscription",
        ("type", "charge_owner_id", "charge_code", "valid_from", "grid_area_code"),
        {
            "id": uuid.uuid4(),
            "type": "GridSubscription",
            "charge_owner_id": owner,
            "charge_code": code,
            "valid_from": valid_from,
            "grid_area_code": area,
            "amount_kr_per_month": amount,
            "valid_to": valid_to,
        },
    )


def _upsert_tariff(conn: Conn, row: PriceListRow, area: str | None, tariff_type: str) -> Outcome:
    prices: tuple[Decimal, ...]
    if row.resolution is Resolution.P1D:
        prices = (row.prices[0],) * 24
        resolution = "P1D"
    elif row.resolution is Resolution.PT1H:
        prices = tuple(row.prices)
        resolution = "PT1H"
    else:
        raise _RowError(f"a tariff must have resolution PT1H or P1D, not {row.resolution}")
    return _store_tariff_version(
        conn,
        owner=row.gln,
        code=row.charge_type_code,
        tariff_type=tariff_type,
        area=area,
        valid_from=row.valid_from,
        valid_to=row.valid_to,
        note=row.note or None,
        resolution=resolution,
        prices=prices,
    )


def _store_tariff_version(
    conn: Conn,
    *,
    owner: str,
    code: str,
    tariff_type: str,
    area: str | None,
    valid_from: datetime,
    valid_to: datetime | None,
    note: str | None,
    resolution: str,
    prices: Sequence[Decimal],
) -> Outcome:
    """Upsert one grid_tariff version and its 24 hourly rates (hour_number 1 = 00–01 local)."""
    existing = conn.execute(
        """SELECT id, valid_to, note, resolution FROM grid_tariff
           WHERE charge_owner_id = %s AND charge_code = %s AND tariff_type = %s
             AND valid_from = %s AND grid_area_code IS NOT DISTINCT FROM %s""",
        (owner, code, tariff_type, valid_from, area),
    ).fetchone()
    if existing is None:
        tariff_id = uuid.uuid4()
        conn.execute(
            """INSERT INTO grid_tariff (id, grid_area_code, charge_owner_id, tariff_type,
                   valid_from, valid_to, charge_code, note, resolution)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (tariff_id, area, owner, tariff_type, valid_from, valid_to, code, note, resolution),
        )
        outcome: Outcome = "inserted"
    else:
        tariff_id = existing[0]
        outcome = "unchanged"
        if (existing[1], existing[2], existing[3]) != (valid_to, note, resolution):
            conn.execute(
                "UPDATE grid_tariff SET valid_to = %s, note = %s, resolution = %s WHERE id = %s",
                (valid_to, note, resolution, tariff_id),
            )
            outcome = "updated"
    with conn.cursor() as cur:
        cur.executemany(
            """INSERT INTO tariff_rate AS r (grid_tariff_id, hour_number, price_per_kwh)
               VALUES (%s, %s, %s)
               ON CONFLICT (grid_tariff_id, hour_number) DO UPDATE
                   SET price_per_kwh = EXCLUDED.price_per_kwh
                   WHERE r.price_per_kwh IS DISTINCT FROM EXCLUDED.price_per_kwh
               RETURNING 1""",
            [(tariff_id, hour + 1, price) for hour, price in enumerate(prices)],
            returning=True,
        )
        changed = 0
        while True:
            changed += len(cur.fetchall())
            if not cur.nextset():
                break
    if changed and outcome == "unchanged":
        outcome = "updated"
    return outcome


def _write_charge_item(conn: Conn, item: ChargeDocumentItem, result: ImportResult) -> Outcome:
    """Best effort: D08 hourly tariff prices of a charge we already know from a price list."""
    if item.process_type != "D08" or item.charge_type is not DataHubChargeType.TARIFF:
        return "skipped"
    if item.resolution is not Resolution.PT1H:
        raise _RowError(f"only PT1H tariff prices are read, not {item.resolution}")
    known = conn.execute(
        """SELECT DISTINCT tariff_type, grid_area_code FROM grid_tariff
           WHERE charge_owner_id = %s AND charge_code = %s ORDER BY 1, 2""",
        (item.owner_gln, item.charge_code),
    ).fetchall()
    if not known:
        raise _RowError(
            f"charge {item.charge_code} of {item.owner_gln} is unknown; "
            "import its price list (pricelist) first"
        )
    outcomes: list[Outcome] = []
    for first_day, end_day, prices in _daily_profiles(item):
        for tariff_type, area in known:
            outcomes.append(
                _store_tariff_version(
                    conn,
                    owner=item.owner_gln,
                    code=item.charge_code,
                    tariff_type=tariff_type,
                    area=area,
                    valid_from=local_midnight_utc(first_day),
                    valid_to=local_midnight_utc(end_day),
                    note=f"D08 {item.document_id}",
                    resolution="PT1H",
                    prices=prices,
                )
            )
    return _combined(outcomes)


def _daily_profiles(
    item: ChargeDocumentItem,
) -> list[tuple[date, date, tuple[Decimal, ...]]]:
    """Hourly points → runs of whole local days with the same 24 prices (first day, end day
    exclusive, prices by local hour). The repeated hour of the 25-hour day must carry the same
    price twice; the 23-hour day's missing hour takes the price of the hour before it."""
    by_day: dict[date, dict[int, Decimal]] = {}
    counts: dict[date, int] = {}
    for point in item.points:
        local = point.start.astimezone(COPENHAGEN)
        hours = by_day.setdefault(local.date(), {})
        if local.hour in hours and hours[local.hour] != point.price:
            raise _RowError(
                f"local hour {local.hour} of {local.date()} has two different prices "
                "(a 25-hour day cannot be stored as 24 hourly rates)"
            )
        hours[local.hour] = point.price
        counts[local.date()] = counts.get(local.date(), 0) + 1
    profiles: list[tuple[date, date, tuple[Decimal, ...]]] = []
    for day in sorted(by_day):
        start, end = local_midnight_utc(day), local_midnight_utc(day + timedelta(days=1))
        if counts[day] != (end - start) // timedelta(hours=1):
            raise _RowError(f"the prices do not cover the whole local day {day}")
        hours = by_day[day]
        prices: list[Decimal] = []
        for hour in range(24):
            prices.append(hours.get(hour, prices[-1] if prices else hours[min(hours)]))
        profile = tuple(prices)
        if profiles and profiles[-1][1] == day and profiles[-1][2] == profile:
            profiles[-1] = (profiles[-1][0], day + timedelta(days=1), profile)
        else:
            profiles.append((day, day + timedelta(days=1), profile))
    return profiles


# -------------------------------------------------------------------------------- master data
_CONTACT_TYPES = {
    "private": "Private",
    "person": "Private",
    "privat": "Private",
    "business": "Business",
    "company": "Business",
    "erhverv": "Business",
}


def _write_grid_area(conn: Conn, row: GridAreaRow, result: ImportResult) -> Outcome:
    return _upsert(
        conn,
        "grid_area",
        ("code",),
        {
            "code": row.code,
            "grid_operator_gln": row.grid_operator_gln,
            "grid_operator_name": row.grid_operator_name,
            "price_area": row.price_area.value,
        },
    )


def _write_customer(conn: Conn, row: CustomerRow, result: ImportResult) -> Outcome:
    contact = _CONTACT_TYPES.get(row.contact_type.lower())
    if contact is None:
        raise _RowError(f"ContactType must be Private or Business: {row.contact_type!r}")
    return _upsert(
        conn,
        "customer",
        ("id",),
        {
            "id": row.id,
            "name": row.name,
            "cpr_cvr": row.cpr_cvr,
            "contact_type": contact,
            "email": row.email,
            "phone": row.phone,
            "created_at": row.created_at,
            "status": row.status.value,
        },
    )


def _write_product(conn: Conn, row: ProductRow, result: ImportResult) -> Outcome:
    return _upsert(
        conn,
        "product",
        ("id",),
        {
            "id": row.id,
            "name": row.name,
            "energy_model": row.energy_model.value,
            "margin_ore_per_kwh": row.margin_ore_per_kwh,
            "supplement_ore_per_kwh": row.supplement_ore_per_kwh,
            "subscription_kr_per_month": row.subscription_kr_per_month,
            "binding_period_months": row.binding_period_months,
            "is_active": row.is_active,
            "fixed_price_ore_per_kwh": row.fixed_price_ore_per_kwh,
            "spot_share": row.spot_share,
        },
    )


def _write_metering_point(conn: Conn, row: MeteringPointRow, result: ImportResult) -> Outcome:
    return _upsert(
        conn,
        "metering_point",
        ("gsrn",),
        {
            "gsrn": row.gsrn,
            "type": row.type.value,
            "settlement_method": row.settlement_method.value,
            "connection_status": row.connection_status.value,
            "grid_area_code": row.grid_area_code,
            "grid_operator_gln": row.grid_operator_gln,
            "activated_at": row.activated_at,
            "deactivated_at": row.deactivated_at,
        },
    )


def _write_supply_period(conn: Conn, row: SupplyPeriodRow, result: ImportResult) -> Outcome:
    return _upsert(
        conn,
        "supply_period",
        ("id",),
        {
            "id": row.id,
            "gsrn": row.gsrn,
            "start_date": row.start_date,
            "end_date": row.end_date,
            "end_reason": None if row.end_reason is None else row.end_reason.value,
        },
    )


def _write_contract(conn: Conn, row: ContractRow, result: ImportResult) -> Outcome:
    return _upsert(
        conn,
        "contract",
        ("id",),
        {
            "id": row.id,
            "customer_id": row.customer_id,
            "gsrn": row.gsrn,
            "product_id": row.product_id,
            "billing_frequency": row.billing_frequency.value,
            "payment_model": row.payment_model.value,
            "payment_term_days": row.payment_term_days,
            "start_date": row.start_date,
            "end_date": row.end_date,
        },
    )


def billing_period_id(conn: Conn, start: date, end: date, frequency: str) -> uuid.UUID:
    """The billing_period row of [start, end) and frequency, created if missing."""
    conn.execute(
        """INSERT INTO billing_period (id, period_start, period_end, frequency)
           VALUES (%s, %s, %s, %s)
           ON CONFLICT (period_start, period_end, frequency) DO NOTHING""",
        (uuid.uuid4(), start, end, frequency),
    )
    row = conn.execute(
        """SELECT id FROM billing_period
           WHERE period_start = %s AND period_end = %s AND frequency = %s""",
        (start, end, frequency),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def _write_aconto_payment(conn: Conn, row: AcontoPaymentRow, result: ImportResult) -> Outcome:
    # The payment's billing period takes the frequency of the contract it pays for.
    contract = conn.execute(
        "SELECT billing_frequency FROM contract WHERE id = %s", (row.contract_id,)
    ).fetchone()
    if contract is None:
        raise _RowError(f"ContractId {row.contract_id} is not a known contract")
    period = billing_period_id(conn, row.billing_period_start, row.billing_period_end, contract[0])
    return _upsert(
        conn,
        "aconto_payment",
        ("id",),
        {
            "id": row.id,
            "contract_id": row.contract_id,
            "billing_period_id": period,
            "amount": row.amount,
            "paid_at": row.paid_at,
        },
    )


_WRITERS: dict[str, Callable[[Conn, Any, ImportResult], Outcome | None]] = {
    "pricelist": _write_price_list_row,
    "pricelist-xml": _write_charge_item,
    "grid_areas": _write_grid_area,
    "customers": _write_customer,
    "products": _write_product,
    "metering_points": _write_metering_point,
    "supply_periods": _write_supply_period,
    "contracts": _write_contract,
    "aconto_payments": _write_aconto_payment,
}
