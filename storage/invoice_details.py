"""What the printed invoice reads besides the invoice rows: the customer's address, the number of
the invoice a note corrects, the installations, and the lines' parts (published rates, aconto
incl. VAT) stored when the invoice was made. SQL only; settlement/invoice_document.py assembles.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from storage.db import Conn
from storage.settlement import _H_RATE, _RATE_HOUR, _SETTLE_DAY


@dataclass(frozen=True)
class PartRow:
    """An invoice_line_part row (migration 0042)."""

    line_no: int
    part_no: int
    kind: str  # 'rate' | 'aconto'
    description: str
    quantity: Decimal
    quantity_unit: str
    rate: Decimal | None
    rate_unit: str | None
    first_day: date | None
    last_day: date | None
    amount: Decimal
    amount_incl_vat: Decimal | None = None
    published: bool = True
    counts_quantity: bool = True

    @property
    def key(self) -> tuple[object, ...]:
        """What a note compares: a published rate by its value, a mean by its description."""
        rate = self.rate if self.published else None
        return (self.kind, self.description, rate, self.rate_unit, self.published)


@dataclass(frozen=True)
class InstallationRow:
    gsrn: str
    grid_area_code: str | None
    grid_operator_name: str | None


def customer_extras(conn: Conn, invoice_id: uuid.UUID) -> tuple[str | None, str | None]:
    """(the customer's address, the number of the invoice this one corrects)."""
    row = conn.execute(
        """SELECT c.address, o.invoice_number
           FROM invoice i JOIN customer c ON c.id = i.customer_id
           LEFT JOIN invoice o ON o.id = i.corrects_invoice_id
           WHERE i.id = %s""",
        (invoice_id,),
    ).fetchone()
    return (None, None) if row is None else (row[0], row[1])


def installations(conn: Conn, gsrns: list[str]) -> list[InstallationRow]:
    rows = conn.execute(
        """SELECT mp.gsrn, mp.grid_area_code, ga.grid_operator_name
           FROM metering_point mp LEFT JOIN grid_area ga ON ga.code = mp.grid_area_code
           WHERE mp.gsrn = ANY(%s) ORDER BY mp.gsrn""",
        (gsrns,),
    ).fetchall()
    return [InstallationRow(*row) for row in rows]


PART_COLUMNS = (
    "line_no, part_no, kind, description, quantity, quantity_unit, rate, rate_unit, first_day,"
    " last_day, amount, amount_incl_vat, published, counts_quantity"
)


def parts(conn: Conn, invoice_id: uuid.UUID) -> list[PartRow]:
    rows = conn.execute(
        f"""SELECT {PART_COLUMNS} FROM invoice_line_part WHERE invoice_id = %s
            ORDER BY line_no, part_no""",
        (invoice_id,),
    ).fetchall()
    return [PartRow(*row) for row in rows]


def write_parts(conn: Conn, invoice_id: uuid.UUID, rows: list[PartRow]) -> None:
    """Replace a Draft's parts (the database refuses once the invoice is issued)."""
    conn.execute("DELETE FROM invoice_line_part WHERE invoice_id = %s", (invoice_id,))
    with conn.cursor() as cur:
        cur.executemany(
            f"""INSERT INTO invoice_line_part (invoice_id, {PART_COLUMNS})
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (
                    invoice_id,
                    r.line_no,
                    r.part_no,
                    r.kind,
                    r.description,
                    r.quantity,
                    r.quantity_unit,
                    r.rate,
                    r.rate_unit,
                    r.first_day,
                    r.last_day,
                    r.amount,
                    r.amount_incl_vat,
                    r.published,
                    r.counts_quantity,
                )
                for r in rows
            ],
        )


# ------------------------------------------------------------- what the parts are made from
@dataclass(frozen=True)
class ContractProduct:
    """A contract's product pricing fields as stored (øre/kWh, kr/month)."""

    contract_id: uuid.UUID
    energy_model: str
    margin_ore_per_kwh: Decimal
    supplement_ore_per_kwh: Decimal | None
    fixed_price_ore_per_kwh: Decimal | None
    spot_share: Decimal | None
    subscription_kr_per_month: Decimal


def contract_products(
    conn: Conn, contract_ids: list[uuid.UUID]
) -> dict[uuid.UUID, ContractProduct]:
    rows = conn.execute(
        """SELECT c.id, p.energy_model, p.margin_ore_per_kwh, p.supplement_ore_per_kwh,
                  p.fixed_price_ore_per_kwh, p.spot_share, p.subscription_kr_per_month
           FROM contract c JOIN product p ON p.id = c.product_id WHERE c.id = ANY(%s)""",
        (contract_ids,),
    ).fetchall()
    return {row[0]: ContractProduct(*row) for row in rows}


@dataclass(frozen=True)
class HourRates:
    """Σ kWh of a metering point's local day at one combination of per-kWh rates (DKK/kWh)."""

    gsrn: str
    day: date
    grid: Decimal | None
    system: Decimal | None
    transmission: Decimal | None
    tax: Decimal | None
    kwh: Decimal
    contract_id: uuid.UUID | None = None


# The days of [start, end) as rate_day, so the settlement run's own rate lookups
# (storage.settlement: rate_hour, h_rate) give the same rate of every hour.
_PART_RATE_DAY = """
CREATE TEMP TABLE rate_day ON COMMIT DROP AS
SELECT d::date AS day, (d AT TIME ZONE %(tz)s) AS day_start,
       ((d + interval '1 day') AT TIME ZONE %(tz)s) AS day_end, false AS needs_spot
FROM generate_series(%(start)s::date::timestamp, (%(end)s::date - 1)::timestamp,
                     interval '1 day') AS d
"""

# Per day: the flat system/transmission tariff and tax and, per band, the one grid tariff of its
# hours, when the day's rates are that regular (Tarifmodel 3.0: one grid rate per band); such a
# day's kWh per rate are the daily summary's band sums, read without touching a slot.
_PART_BAND_RATE = """
CREATE TEMP TABLE part_band ON COMMIT DROP AS
WITH hr AS (
    SELECT h.day, (%(bands)s::text[])[extract(hour FROM h.ts AT TIME ZONE %(tz)s)::int + 1] AS band,
           h.grid, h.system, h.transmission, h.tax
    FROM h_rate h
),
regular AS (
    SELECT day FROM hr GROUP BY day
    HAVING count(DISTINCT system) = 1 AND count(DISTINCT transmission) = 1
       AND count(DISTINCT tax) = 1 AND count(grid) = count(*) AND count(system) = count(*)
       AND count(transmission) = count(*) AND count(tax) = count(*)
       AND count(DISTINCT (band, grid)) = count(DISTINCT band)
)
SELECT hr.day, hr.band, min(hr.grid) AS grid, min(hr.system) AS system,
       min(hr.transmission) AS transmission, min(hr.tax) AS tax
FROM hr JOIN regular USING (day) GROUP BY hr.day, hr.band
"""

_PART_KWH = """
SELECT ds.metering_point_id, ds.date, b.grid, b.system, b.transmission, b.tax,
       CASE b.band WHEN 'off_peak' THEN ds.off_peak_kwh WHEN 'peak' THEN ds.peak_kwh
                   ELSE ds.super_peak_kwh END, s.contract_id
FROM settle_day s
JOIN daily_summary ds ON ds.metering_point_id = s.gsrn AND ds.date = s.day
JOIN part_band b ON b.day = ds.date
WHERE s.gsrn = ANY(%(gsrns)s) AND ds.resolution IN ('PT15M', 'PT1H')
UNION ALL
SELECT ds.metering_point_id, ds.date, h.grid, h.system, h.transmission, h.tax, sum(u.k),
       s.contract_id
FROM settle_day s
JOIN daily_summary ds ON ds.metering_point_id = s.gsrn AND ds.date = s.day
JOIN rate_day r ON r.day = ds.date
CROSS JOIN LATERAL unnest(ds.slot_kwh) WITH ORDINALITY AS u(k, i)
JOIN h_rate h ON h.ts = date_trunc('hour', r.day_start + (u.i - 1) * CASE ds.resolution
                     WHEN 'PT15M' THEN interval '15 minutes' ELSE interval '1 hour' END, 'UTC')
WHERE s.gsrn = ANY(%(gsrns)s) AND ds.resolution IN ('PT15M', 'PT1H')
  AND ds.date NOT IN (SELECT day FROM part_band)
GROUP BY 1, 2, 3, 4, 5, 6, 8
ORDER BY 1, 2
"""


_PART_TABLES = (
    "pg_temp.settle_day, pg_temp.rate_day, pg_temp.rate_hour, pg_temp.h_rate, pg_temp.part_band"
)


def hour_rates(
    conn: Conn,
    gsrns: list[str],
    *,
    grid_area: str,
    start: date,
    end: date,
    tz: str,
    first_tariff_hour_number: int,
    bands: list[str],
) -> tuple[list[HourRates], list[tuple[str, date, uuid.UUID]]]:
    """Per metering point of `grid_area` and local day of [start, end): Σ kWh of the current
    readings per combination of the grid, system and transmission tariff and the electricity tax
    in force in each hour (the settlement run's lookups), on the days and contracts the run of
    `grid_area` settles (its settle_day), and those (metering point, day, contract) days.
    `bands`: the band of each local hour (schemas.bands.band_table), as the summaries use."""
    params = {
        "tz": tz,
        "start": start,
        "end": end,
        "area": grid_area,
        "first_tariff_hour_number": first_tariff_hour_number,
        "gsrns": gsrns,
        "bands": bands,
    }
    conn.execute(f"DROP TABLE IF EXISTS {_PART_TABLES}")
    conn.execute(_SETTLE_DAY, params)
    days = [
        (str(row[0]), row[1], row[2])
        for row in conn.execute(
            "SELECT gsrn, day, contract_id FROM settle_day WHERE gsrn = ANY(%(gsrns)s)"
            " ORDER BY 1, 2",
            params,
        )
    ]
    conn.execute(_PART_RATE_DAY, params)
    conn.execute(_RATE_HOUR, params)
    conn.execute(_H_RATE, params)
    conn.execute(_PART_BAND_RATE, params)
    rows = conn.execute(_PART_KWH, params).fetchall()
    conn.execute(f"DROP TABLE {_PART_TABLES}")
    return [HourRates(*row) for row in rows if row[6]], days


def grid_subscriptions(
    conn: Conn, grid_area: str
) -> list[tuple[datetime, datetime | None, Decimal]]:
    """(valid_from, valid_to, kr/month) of the grid area's GridSubscription, oldest first."""
    rows = conn.execute(
        """SELECT valid_from, valid_to, amount_kr_per_month FROM subscription
           WHERE type = 'GridSubscription' AND grid_area_code = %s ORDER BY valid_from""",
        (grid_area,),
    ).fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


def issued_invoices(
    conn: Conn, billing_period_id: uuid.UUID | None, numbers: list[str]
) -> list[tuple[uuid.UUID, str]]:
    """(id, number) of the issued invoices of a billing period and/or with those numbers, in
    number order."""
    rows = conn.execute(
        """SELECT id, invoice_number FROM invoice
           WHERE invoice_number IS NOT NULL
             AND (billing_period_id = %s OR invoice_number = ANY(%s))
           ORDER BY number_series, number_in_series""",
        (billing_period_id, numbers),
    ).fetchall()
    return [(row[0], str(row[1])) for row in rows]


def first_issued_per_type(conn: Conn, billing_period_id: uuid.UUID) -> list[tuple[uuid.UUID, str]]:
    """(id, number) of the lowest-numbered issued invoice of each type in a billing period."""
    rows = conn.execute(
        """SELECT DISTINCT ON (type) id, invoice_number FROM invoice
           WHERE billing_period_id = %s AND invoice_number IS NOT NULL
           ORDER BY type, number_series, number_in_series""",
        (billing_period_id,),
    ).fetchall()
    return [(row[0], str(row[1])) for row in rows]


def grid_areas_of(conn: Conn, gsrns: list[str]) -> list[str]:
    """Every grid area the metering points are or were in (current row and history)."""
    rows = conn.execute(
        """SELECT grid_area_code FROM metering_point WHERE gsrn = ANY(%(g)s)
           UNION SELECT grid_area_code FROM metering_point_version WHERE gsrn = ANY(%(g)s)
           ORDER BY 1""",
        {"g": gsrns},
    ).fetchall()
    return [str(row[0]) for row in rows if row[0] is not None]
