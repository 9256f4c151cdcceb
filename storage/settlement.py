"""The SQL of the lines of one grid area's settlement run (bookkeeping: storage.settlement_runs).

Over 400 lines on purpose: the lines are one pipeline of temp tables in one transaction, and
each statement sits next to the gap check that follows it (aconto SQL is in storage.aconto).

The lines are computed in the database from daily_summary (one row per metering point per local
day, `slot_kwh` = the day's current quantities in time order) so a period close reads 2.4 M
summary rows for 80 000 metering points instead of 230 M readings, and no reading crosses the
wire. The pieces, all temp tables of the caller's transaction:

1. `settle_day`: the (metering point, local day, contract) triples to settle — days of the period
   covered by one of our supply periods AND a contract of the metering point, on which the
   point is an E17 consumption point of this grid area that is Connected. A point with history
   (metering_point_version, from RSM-022) is judged by the version valid at the day's local
   midnight (so a grid-area move settles each part in its own area's run; days before
   connection, while disconnected and from close down are not settled at all, subscriptions
   included); a point without history by its current metering_point row.
2. `left_out`: metering points with a settle day lacking a summary, a missing quantity, mixed
   resolution or two contracts on one day. Incomplete data is never billed as zero: such a
   metering point gets no lines and is reported, the reason in words with local dates
   (`left_out_reason`: "1 quarter-hour missing on 14 October 2026"). It reads only columns
   that daily_summary's indexes include (migrations 0051, 0052: one range scan of the period's
   index entries, hash-joined), so the 1-KB rows with their slots are not read; a summary whose
   slots do not fill the day is refused by a constraint.
3. Prices of the needed days only: `q_spot` per quarter-hour (the PT15M price, else the PT1H
   price of its hour — before 2025-10-01 only hourly prices exist) and `h_rate` per UTC hour
   (GridTariff, SystemTariff, TransmissionTariff by local hour_number, electricity tax). A gap
   raises `SettlementDataError` naming the first missing interval.
4. `day_rate`: per (day, resolution) the rate arrays aligned with `slot_kwh` (spot and the four
   per-kWh charges of every slot) and their fingerprint `rates_md5`.
5. `day_sum`: per settled day Σ kWh, Σ kWh × spot and Σ kWh × each charge, taken from
   `day_charge_sum` (migration 0030) when its row was computed from the same summary (versions,
   updated_at) and the same rates, else computed from `slot_kwh` × the arrays (`unnest(a, b, …)`,
   so the slot values never meet a join) and stored for the next close. A close after
   `compute_lines(run_id=None)` (`elflow settle --prepare`) reads one small row per point and
   day. The energy line is factor × Σ kWh × spot + adder × Σ kWh, exactly the same NUMERIC value
   as Σ kWh × (factor × spot + adder).

Money rules live in settlement.rules; this SQL holds none of their constants. The caller
passes them as query parameters (`rules`, see RULE_PARAMETERS; settlement.rules.
SqlRuleParameters builds them):
- `product_ids`, `spot_factors`, `adders`: each product's energy price as factor × spot + adder
  (DKK/kWh); the unit price of a slot is that, exact, never rounded. A PT1H meter's hourly spot
  price is the exact mean of the hour's quarter prices: Σ × `quarter_weight`.
- Tariffs and tax: per hour Σ kWh × price; the tariff of an instant is the version with the
  latest valid_from among those valid then; hour_number = local hour + `first_tariff_hour_number`,
  so both occurrences of the repeated hour on the 25-hour day use the same rate.
- Line amount = round(Σ exact products, `amount_scale`) (PostgreSQL's round() on numeric rounds
  halves away from zero, as ROUND_HALF_UP); VAT = round(amount × `vat_rate`, `amount_scale`).
- Subscriptions per day: round(monthly / days in that local month, `daily_price_scale`), summed
  over the supplied days. The grid subscription valid at each day's local midnight is used.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from schemas.calendar import format_day, format_local
from schemas.errors import ElflowError
from storage.db import Conn


class SettlementDataError(ElflowError):
    """Settlement cannot proceed: a price, tariff or master data item is missing (one line)."""


@dataclass(frozen=True)
class LeftOut:
    gsrn: str
    reason: str


# --------------------------------------------------------------------------------- the lines
_SETTLE_DAY = """
CREATE TEMP TABLE settle_day ON COMMIT DROP AS
WITH period_day AS (
    SELECT d::date AS day, (d AT TIME ZONE %(tz)s) AS midnight
    FROM generate_series(%(start)s::date::timestamp, (%(end)s::date - 1)::timestamp,
                         interval '1 day') AS d
),
-- A point with history: the version valid at the day's local midnight decides the day.
history_day AS (
    SELECT v.gsrn, p.day
    FROM period_day p
    JOIN metering_point_version v
      ON v.valid_from <= p.midnight AND (v.valid_to IS NULL OR v.valid_to > p.midnight)
    WHERE v.grid_area_code = %(area)s AND v.type = 'E17' AND v.connection_status = 'Connected'
),
-- A point without history (loaded from a portfolio file): its current row, every day.
current_day AS (
    SELECT mp.gsrn, p.day
    FROM metering_point mp CROSS JOIN period_day p
    WHERE mp.grid_area_code = %(area)s AND mp.type = 'E17_Consumption'
      AND NOT EXISTS (SELECT 1 FROM metering_point_version v WHERE v.gsrn = mp.gsrn)
),
point_day AS (SELECT gsrn, day FROM history_day UNION ALL SELECT gsrn, day FROM current_day)
SELECT DISTINCT pd.gsrn, pd.day, c.id AS contract_id, c.product_id
FROM point_day pd
JOIN supply_period sp ON sp.gsrn = pd.gsrn AND sp.start_date <= pd.day
 AND coalesce(sp.end_date, 'infinity'::date) > pd.day
JOIN contract c ON c.gsrn = pd.gsrn AND c.start_date <= pd.day
 AND coalesce(c.end_date, 'infinity'::date) > pd.day
"""

_LEFT_OUT = """
CREATE TEMP TABLE left_out ON COMMIT DROP AS
WITH per_day AS (
    SELECT s.gsrn, s.day, s.contracts, ds.metering_point_id IS NULL AS no_summary,
           coalesce(ds.missing_count, 0) AS missing, ds.resolution
    FROM (SELECT gsrn, day, count(*) AS contracts FROM settle_day GROUP BY gsrn, day) s
    LEFT JOIN daily_summary ds ON ds.metering_point_id = s.gsrn AND ds.date = s.day
     AND ds.date >= %(start)s AND ds.date < %(end)s
)
SELECT gsrn,
    count(*) FILTER (WHERE contracts > 1) AS contract_days,
    min(day) FILTER (WHERE contracts > 1) AS contract_first,
    count(*) FILTER (WHERE no_summary) AS unread_days,
    min(day) FILTER (WHERE no_summary) AS unread_first,
    sum(missing) AS missing_slots,
    count(*) FILTER (WHERE missing > 0) AS missing_days,
    min(day) FILTER (WHERE missing > 0) AS missing_first,
    CASE WHEN min(resolution) FILTER (WHERE missing > 0)
              = max(resolution) FILTER (WHERE missing > 0)
         THEN min(resolution) FILTER (WHERE missing > 0) END AS missing_resolution,
    count(*) FILTER (WHERE resolution = 'mixed') AS mixed_days,
    min(day) FILTER (WHERE resolution = 'mixed') AS mixed_first
FROM per_day
GROUP BY gsrn
HAVING bool_or(contracts > 1) OR bool_or(no_summary) OR sum(missing) > 0
    OR bool_or(resolution = 'mixed')
"""

_LEFT_OUT_FACTS = """SELECT gsrn, contract_days, contract_first, unread_days, unread_first,
    missing_slots, missing_days, missing_first, missing_resolution, mixed_days, mixed_first
    FROM left_out ORDER BY gsrn"""

# What a missing quantity is called, by the resolution of its days.
_SLOT_WORDS = {"PT15M": ("quarter-hour", "quarter-hours"), "PT1H": ("hour", "hours")}


def _on_days(days: int, first: date) -> str:
    """`on 14 October 2026`, or `on 3 days, the first 14 October 2026`."""
    if days == 1:
        return f"on {format_day(first)}"
    return f"on {days} days, the first {format_day(first)}"


def left_out_reason(row: tuple[Any, ...]) -> str:
    """One row of _LEFT_OUT_FACTS in words, e.g. `1 quarter-hour missing on 14 October 2026`."""
    (_gsrn, contract_days, contract_first, unread_days, unread_first, missing, missing_days,
     missing_first, resolution, mixed_days, mixed_first) = row  # fmt: skip
    parts = []
    if contract_days:
        parts.append(f"more than one contract {_on_days(contract_days, contract_first)}")
    if unread_days:
        parts.append(f"no readings {_on_days(unread_days, unread_first)}")
    if missing:
        one, many = _SLOT_WORDS.get(resolution, ("quantity", "quantities"))
        slots = f"{missing} {one if missing == 1 else many}"
        parts.append(f"{slots} missing {_on_days(missing_days, missing_first)}")
    if mixed_days:
        parts.append(f"both 15-minute and hourly readings {_on_days(mixed_days, mixed_first)}")
    return "; ".join(parts)


_DROP_LEFT_OUT = "DELETE FROM settle_day s USING left_out l WHERE l.gsrn = s.gsrn"

# Energy unit price of a slot = spot_factor × spot + adder, the terms given per product.
_PRODUCT_FACTOR = """
CREATE TEMP TABLE product_factor ON COMMIT DROP AS
SELECT p.id AS product_id, p.subscription_kr_per_month, t.spot_factor, t.adder
FROM product p
JOIN unnest(%(product_ids)s::uuid[], %(spot_factors)s::numeric[], %(adders)s::numeric[])
     AS t(product_id, spot_factor, adder) ON t.product_id = p.id
WHERE p.id IN (SELECT DISTINCT product_id FROM settle_day)
"""

_PRODUCT_WITHOUT_TERMS = """
SELECT min(s.product_id::text) FROM settle_day s
WHERE NOT EXISTS (SELECT 1 FROM product_factor f WHERE f.product_id = s.product_id)
"""

_RATE_DAY = """
CREATE TEMP TABLE rate_day ON COMMIT DROP AS
SELECT s.day, (s.day::timestamp AT TIME ZONE %(tz)s) AS day_start,
       ((s.day + 1)::timestamp AT TIME ZONE %(tz)s) AS day_end,
       bool_or(f.spot_factor <> 0) AS needs_spot
FROM settle_day s JOIN product_factor f USING (product_id)
GROUP BY s.day
"""

_Q_SPOT = """
CREATE TEMP TABLE q_spot ON COMMIT DROP AS
SELECT r.day, q.ts, coalesce(p15.price_per_kwh, p60.price_per_kwh) AS spot, r.needs_spot
FROM rate_day r
CROSS JOIN LATERAL generate_series(r.day_start, r.day_end - interval '15 minutes',
                                   interval '15 minutes') AS q(ts)
LEFT JOIN spot_price p15
  ON p15.price_area = %(price_area)s AND p15.resolution = 'PT15M' AND p15.hour = q.ts
LEFT JOIN spot_price p60
  ON p60.price_area = %(price_area)s AND p60.resolution = 'PT1H'
 AND p60.hour = date_trunc('hour', q.ts, 'UTC')
"""

# The tariff version valid at an instant: the latest valid_from among the versions valid then.
_TARIFF_AT = """
LEFT JOIN LATERAL (
    SELECT tr.price_per_kwh FROM grid_tariff gt
    JOIN tariff_rate tr ON tr.grid_tariff_id = gt.id AND tr.hour_number = h.hour_number
    WHERE gt.tariff_type = '{kind}' AND gt.grid_area_code {area}
      AND gt.valid_from <= h.ts AND (gt.valid_to IS NULL OR gt.valid_to > h.ts)
    ORDER BY gt.valid_from DESC LIMIT 1
) {alias} ON true
"""

# The UTC hours of the needed days with their price-list hour number. A table of its own: with
# generate_series inline, the lookups below measured 5-10 times slower.
_RATE_HOUR = """
CREATE TEMP TABLE rate_hour ON COMMIT DROP AS
SELECT r.day, hh.ts,
       extract(hour FROM hh.ts AT TIME ZONE %(tz)s)::int + %(first_tariff_hour_number)s
           AS hour_number
FROM rate_day r
CROSS JOIN LATERAL generate_series(r.day_start, r.day_end - interval '1 hour',
                                   interval '1 hour') AS hh(ts)
"""

_H_RATE = (
    """
CREATE TEMP TABLE h_rate ON COMMIT DROP AS
SELECT h.day, h.ts, h.hour_number, g.price_per_kwh AS grid, s.price_per_kwh AS system,
       t.price_per_kwh AS transmission, x.rate_per_kwh AS tax
FROM rate_hour h
"""
    + _TARIFF_AT.format(kind="GridTariff", area="= %(area)s", alias="g")
    + _TARIFF_AT.format(kind="SystemTariff", area="IS NULL", alias="s")
    + _TARIFF_AT.format(kind="TransmissionTariff", area="IS NULL", alias="t")
    + """
LEFT JOIN LATERAL (
    SELECT et.rate_per_kwh FROM electricity_tax et
    WHERE et.valid_from <= h.ts AND (et.valid_to IS NULL OR et.valid_to > h.ts)
    ORDER BY et.valid_from DESC LIMIT 1
) x ON true
"""
)

# Two charges of one tariff type starting at the same instant: without charge links we cannot
# tell which one applies to our metering points.
_AMBIGUOUS_TARIFF = """
SELECT gt.tariff_type, gt.valid_from, string_agg(DISTINCT gt.charge_code, ', ')
FROM grid_tariff gt
WHERE ((gt.tariff_type = 'GridTariff' AND gt.grid_area_code = %(area)s)
    OR (gt.tariff_type IN ('SystemTariff', 'TransmissionTariff') AND gt.grid_area_code IS NULL))
  AND gt.valid_from < (SELECT max(day_end) FROM rate_day)
  AND (gt.valid_to IS NULL OR gt.valid_to > (SELECT min(day_start) FROM rate_day))
GROUP BY gt.tariff_type, gt.valid_from
HAVING count(DISTINCT (gt.charge_owner_id, gt.charge_code)) > 1
ORDER BY 2 LIMIT 1
"""

# Per (day, resolution): the rates of every slot, aligned with slot_kwh, the same for every
# product (the energy price is factor × spot + adder, applied to the day's sums below), and
# rates_md5, the fingerprint day_charge_sum rows are checked against.
_DAY_RATE = """
CREATE TEMP TABLE day_rate ON COMMIT DROP AS
WITH quarter AS (
    SELECT q.day, q.ts, q.spot, h.grid, h.system, h.transmission, h.tax
    FROM q_spot q JOIN h_rate h ON h.ts = date_trunc('hour', q.ts, 'UTC')
),
hour AS (
    SELECT h.day, h.ts, hs.spot, h.grid, h.system, h.transmission, h.tax
    FROM h_rate h
    JOIN (SELECT date_trunc('hour', ts, 'UTC') AS ts, sum(spot) * %(quarter_weight)s AS spot
          FROM q_spot GROUP BY 1) hs ON hs.ts = h.ts
),
arrays AS (
    SELECT q.day, 'PT15M'::text AS resolution, array_agg(q.spot ORDER BY q.ts) AS spot,
           array_agg(q.grid ORDER BY q.ts) AS grid, array_agg(q.system ORDER BY q.ts) AS system,
           array_agg(q.transmission ORDER BY q.ts) AS transmission,
           array_agg(q.tax ORDER BY q.ts) AS tax
    FROM quarter q GROUP BY q.day
    UNION ALL
    SELECT h.day, 'PT1H', array_agg(h.spot ORDER BY h.ts), array_agg(h.grid ORDER BY h.ts),
           array_agg(h.system ORDER BY h.ts), array_agg(h.transmission ORDER BY h.ts),
           array_agg(h.tax ORDER BY h.ts)
    FROM hour h GROUP BY h.day
)
SELECT a.day, a.resolution, a.spot, a.grid, a.system, a.transmission, a.tax,
       md5(ROW(a.resolution, a.spot, a.grid, a.system, a.transmission, a.tax)::text)::uuid
           AS rates_md5,
       NULL::numeric AS grid_flat, NULL::numeric AS system_flat,
       NULL::numeric AS transmission_flat, NULL::numeric AS tax_flat
FROM arrays a
"""

# A charge whose rate is the same in every slot of a day (system and transmission tariffs and
# the tax, usually) is multiplied once per day: Σ k × c = c × Σ k exactly. Its array is NULL, so
# the per-slot products below are skipped (strict operators on NULL are not evaluated).
_FLATTEN = """
UPDATE day_rate SET {name}_flat = {name}[1], {name} = NULL
WHERE NOT EXISTS (SELECT 1 FROM unnest({name}) v WHERE v IS DISTINCT FROM {name}[1])
"""

# Per settled day: the day's sums from day_charge_sum when that row was computed from the same
# summary (versions, updated_at) and the same rates (rates_md5); otherwise NULL, filled below.
_DAY_SUM = """
CREATE TEMP TABLE day_sum ON COMMIT DROP AS
SELECT s.gsrn, s.day, s.contract_id, s.product_id, ds.resolution, ds.versions, ds.updated_at,
       r.rates_md5, c.metering_point_id IS NOT NULL AS cached, c.kwh, c.spot_kwh, c.grid,
       c.system, c.transmission, c.tax
FROM settle_day s
JOIN daily_summary ds ON ds.metering_point_id = s.gsrn AND ds.date = s.day
 AND ds.date >= %(start)s AND ds.date < %(end)s
JOIN day_rate r ON r.day = s.day AND r.resolution = ds.resolution
LEFT JOIN day_charge_sum c
  ON c.metering_point_id = s.gsrn AND c.date = s.day AND c.rates_md5 = r.rates_md5
 AND c.summary_versions = ds.versions AND c.summary_updated_at = ds.updated_at
"""

# A day without a matching row: Σ kWh and Σ kWh × rate over its slots, exact. A spot price not
# known yet is left out of Σ kWh × spot: only products without spot use such a day, and the
# price arriving changes rates_md5.
_FILL_DAY_SUM = """
UPDATE day_sum d
SET kwh = x.kwh, spot_kwh = coalesce(x.spot, 0),
    grid = coalesce(x.grid, x.kwh * r.grid_flat),
    system = coalesce(x.system, x.kwh * r.system_flat),
    transmission = coalesce(x.transmission, x.kwh * r.transmission_flat),
    tax = coalesce(x.tax, x.kwh * r.tax_flat)
FROM daily_summary ds, day_rate r,
LATERAL (
    SELECT sum(u.k) AS kwh, sum(u.k * u.p) AS spot, sum(u.k * u.g) AS grid,
           sum(u.k * u.s) AS system, sum(u.k * u.t) AS transmission, sum(u.k * u.x) AS tax
    FROM unnest(ds.slot_kwh, r.spot, r.grid, r.system, r.transmission, r.tax)
         AS u(k, p, g, s, t, x)
) x
WHERE NOT d.cached AND ds.metering_point_id = d.gsrn AND ds.date = d.day
  AND r.day = d.day AND r.resolution = d.resolution
"""

_STORE_DAY_SUM = """
INSERT INTO day_charge_sum (metering_point_id, date, summary_versions, summary_updated_at,
                            rates_md5, kwh, spot_kwh, grid, system, transmission, tax)
SELECT gsrn, day, versions, updated_at, rates_md5, kwh, spot_kwh, grid, system, transmission, tax
FROM day_sum WHERE NOT cached
ON CONFLICT (metering_point_id, date) DO UPDATE SET
    summary_versions = EXCLUDED.summary_versions,
    summary_updated_at = EXCLUDED.summary_updated_at, rates_md5 = EXCLUDED.rates_md5,
    kwh = EXCLUDED.kwh, spot_kwh = EXCLUDED.spot_kwh, grid = EXCLUDED.grid,
    system = EXCLUDED.system, transmission = EXCLUDED.transmission, tax = EXCLUDED.tax
"""

# Per metering point and contract: Σ over the days. Energy = Σ k × (factor × spot + adder)
# = factor × Σ k × spot + adder × Σ k, exact in NUMERIC (no division, no rounding).
_CONSUMPTION = """
CREATE TEMP TABLE consumption ON COMMIT DROP AS
SELECT d.gsrn, d.contract_id, count(*) AS days, sum(d.kwh) AS kwh,
       f.spot_factor * sum(d.spot_kwh) + f.adder * sum(d.kwh) AS energy,
       sum(d.grid) AS grid, sum(d.system) AS system, sum(d.transmission) AS transmission,
       sum(d.tax) AS tax
FROM day_sum d JOIN product_factor f USING (product_id)
GROUP BY d.gsrn, d.contract_id, f.spot_factor, f.adder
"""

# prepare (no run): instead of leaving a metering point out, only its unusable days are skipped.
_PREPARE_DROP_DAYS = """
DELETE FROM settle_day s
WHERE NOT EXISTS (
        SELECT 1 FROM daily_summary ds
        WHERE ds.metering_point_id = s.gsrn AND ds.date = s.day AND ds.missing_count = 0
          AND ds.resolution <> 'mixed' AND ds.date >= %(start)s AND ds.date < %(end)s)
   OR (s.gsrn, s.day) IN (SELECT gsrn, day FROM settle_day GROUP BY 1, 2 HAVING count(*) > 1)
"""

_PREPARE_DROP_UNRATED = """
DELETE FROM settle_day s
WHERE s.day IN (SELECT day FROM h_rate
                WHERE grid IS NULL OR system IS NULL OR transmission IS NULL OR tax IS NULL)
"""

# Per day: round(monthly / days in the local month, daily_price_scale); summed over the days.
# The grid subscription's daily price is looked up once per day of the period, not once per
# metering point and day (2.4 M lookups at 80 000 metering points).
_SUBSCRIPTION = """
CREATE TEMP TABLE subscription_amount ON COMMIT DROP AS
WITH period_day AS (
    SELECT d.day,
           ((date_trunc('month', d.day::timestamp) + interval '1 month')::date
            - date_trunc('month', d.day::timestamp)::date) AS days_in_month
    FROM (SELECT DISTINCT day FROM settle_day) d
),
grid_day AS (
    SELECT p.day, p.days_in_month,
           round(g.amount_kr_per_month / p.days_in_month, %(daily_price_scale)s) AS grid_daily
    FROM period_day p
    LEFT JOIN LATERAL (
        SELECT sub.amount_kr_per_month FROM subscription sub
        WHERE sub.type = 'GridSubscription' AND sub.grid_area_code = %(area)s
          AND sub.valid_from <= (p.day::timestamp AT TIME ZONE %(tz)s)
          AND (sub.valid_to IS NULL OR sub.valid_to > (p.day::timestamp AT TIME ZONE %(tz)s))
        ORDER BY sub.valid_from DESC LIMIT 1
    ) g ON true
),
day_price AS (
    SELECT s.gsrn, s.contract_id, s.day,
           round(f.subscription_kr_per_month / gd.days_in_month, %(daily_price_scale)s)
               AS supplier_daily,
           gd.grid_daily
    FROM settle_day s
    JOIN product_factor f USING (product_id)
    JOIN grid_day gd USING (day)
)
SELECT gsrn, contract_id, count(*) AS days, sum(supplier_daily) AS supplier,
       sum(grid_daily) AS grid, min(day) FILTER (WHERE grid_daily IS NULL) AS missing_grid_day
FROM day_price GROUP BY gsrn, contract_id
"""

_INSERT_LINES = """
INSERT INTO settlement_line (id, settlement_run_id, metering_point_id, charge_type, total_kwh,
                             total_amount, vat_amount, contract_id)
SELECT gen_random_uuid(), %(run)s, l.gsrn, l.charge_type, l.kwh, l.amount,
       round(l.amount * %(vat_rate)s, %(amount_scale)s), l.contract_id
FROM (
    SELECT c.gsrn, c.contract_id, v.charge_type, v.kwh, round(v.amount, %(amount_scale)s) AS amount
    FROM consumption c
    JOIN subscription_amount sa USING (gsrn, contract_id)
    CROSS JOIN LATERAL (VALUES
        ('Energy', c.kwh, c.energy),
        ('GridTariff', c.kwh, c.grid),
        ('SystemTariff', c.kwh, c.system),
        ('TransmissionTariff', c.kwh, c.transmission),
        ('ElectricityTax', c.kwh, c.tax),
        ('GridSubscription', 0::numeric, sa.grid),
        ('SupplierSubscription', 0::numeric, sa.supplier)
    ) AS v(charge_type, kwh, amount)
) l
"""


def _first(conn: Conn, sql: str, params: dict[str, Any] | None = None) -> tuple[Any, ...] | None:
    return conn.execute(sql, params or {}).fetchone()


def _hash_joined(conn: Conn, sql: str, params: dict[str, Any]) -> None:
    """Run `sql` with nested loops off: it joins every settled (metering point, day) with its
    summary, and PostgreSQL's estimate favours one index lookup per pair (5 µs each, 2.4 M of
    them at 80 000 metering points) over one range scan of the period's index entries and a hash
    join (3 times faster, measured on bench settle's data)."""
    conn.execute("SET LOCAL enable_nestloop = off")
    conn.execute(sql, params)  # on failure the transaction is aborted and the SET with it
    conn.execute("SET LOCAL enable_nestloop = on")


# The money parameters compute_lines needs (module docstring); settlement.rules supplies them.
RULE_PARAMETERS = frozenset(
    {
        "product_ids",
        "spot_factors",
        "adders",
        "vat_rate",
        "amount_scale",
        "daily_price_scale",
        "quarter_weight",
        "first_tariff_hour_number",
    }
)


@dataclass(frozen=True)
class ProductRow:
    """A product's pricing fields as stored (øre/kWh, kr/month)."""

    product_id: uuid.UUID
    energy_model: str
    margin_ore_per_kwh: Decimal
    supplement_ore_per_kwh: Decimal | None
    fixed_price_ore_per_kwh: Decimal | None
    spot_share: Decimal | None


def contracted_products(conn: Conn, grid_area: str, start: date, end: date) -> list[ProductRow]:
    """Products of the contracts overlapping [start, end) of the metering points that are, or
    ever were, in `grid_area` (a superset of what the run needs)."""
    rows = conn.execute(
        """SELECT DISTINCT p.id, p.energy_model, p.margin_ore_per_kwh, p.supplement_ore_per_kwh,
                  p.fixed_price_ore_per_kwh, p.spot_share
           FROM product p
           JOIN contract c ON c.product_id = p.id
           JOIN metering_point mp ON mp.gsrn = c.gsrn
           WHERE (mp.grid_area_code = %(area)s OR mp.gsrn IN (
                     SELECT gsrn FROM metering_point_version WHERE grid_area_code = %(area)s))
             AND c.start_date < %(end)s
             AND coalesce(c.end_date, 'infinity'::date) > %(start)s
           ORDER BY p.id""",
        {"area": grid_area, "start": start, "end": end},
    ).fetchall()
    return [ProductRow(*row) for row in rows]


def compute_lines(
    conn: Conn,
    run_id: uuid.UUID | None,
    *,
    grid_area: str,
    price_area: str,
    start: date,
    end: date,
    tz: str,
    rules: Mapping[str, object],
) -> tuple[int, list[LeftOut]]:
    """Insert the lines of `run_id` for `grid_area` and local dates [start, end) in the caller's
    transaction. `rules` holds exactly RULE_PARAMETERS. Returns (metering points settled,
    metering points left out). Raises SettlementDataError, naming the first gap, when a needed
    price, tariff or tax is missing.

    With `run_id` None nothing is settled: the day_charge_sum rows of every usable day (a
    complete summary and every tariff known) are brought up to date, so the close that follows
    reads them instead of the slots; returns (days prepared, [])."""
    if set(rules) != RULE_PARAMETERS:
        raise ValueError(f"rule parameters {sorted(rules)} are not {sorted(RULE_PARAMETERS)}")
    prepare = run_id is None
    params = {
        **rules,
        "area": grid_area,
        "price_area": price_area,
        "start": start,
        "end": end,
        "tz": tz,
    }
    conn.execute("SET LOCAL TimeZone = 'UTC'")
    conn.execute(_SETTLE_DAY, params)
    left_out: list[LeftOut] = []
    if prepare:
        conn.execute(_PREPARE_DROP_DAYS, params)
    else:
        _hash_joined(conn, _LEFT_OUT, params)
        left_out = [
            LeftOut(str(row[0]), left_out_reason(row))
            for row in conn.execute(_LEFT_OUT_FACTS).fetchall()
        ]
        conn.execute(_DROP_LEFT_OUT)
    conn.execute("ANALYZE settle_day")
    anyone = _first(conn, "SELECT EXISTS (SELECT 1 FROM settle_day)")
    if not (anyone and anyone[0]):
        return 0, left_out
    conn.execute(_PRODUCT_FACTOR, params)
    unpriced = _first(conn, _PRODUCT_WITHOUT_TERMS)
    if unpriced and unpriced[0] is not None:
        raise SettlementDataError(f"no energy price terms given for product {unpriced[0]}")
    conn.execute(_RATE_DAY, params)
    conn.execute(_Q_SPOT, params)
    gap = _first(conn, "SELECT min(ts) FROM q_spot WHERE needs_spot AND spot IS NULL")
    if gap and gap[0] is not None and not prepare:
        raise SettlementDataError(
            f"no spot price for {price_area} on {format_local(gap[0], tz, words=True)}"
        )
    conn.execute(_RATE_HOUR, params)
    conn.execute(_H_RATE, params)
    ambiguous = _first(conn, _AMBIGUOUS_TARIFF, params)
    if ambiguous:
        raise SettlementDataError(
            f"more than one {ambiguous[0]} for grid area {grid_area} from "
            f"{format_local(ambiguous[1], tz, words=True)} ({ambiguous[2]}); import only the"
            " tariff of our metering points"
        )
    if prepare:
        conn.execute(_PREPARE_DROP_UNRATED)
    else:
        _check_rates(conn, grid_area, tz)
    conn.execute(_DAY_RATE, params)
    for name in ("grid", "system", "transmission", "tax"):
        conn.execute(_FLATTEN.format(name=name))
    conn.execute("ANALYZE day_rate")
    _hash_joined(conn, _DAY_SUM, params)
    conn.execute(_FILL_DAY_SUM)
    conn.execute(_STORE_DAY_SUM)
    if prepare:
        days = _first(conn, "SELECT count(*) FROM day_sum")
        return (int(days[0]) if days else 0), []
    conn.execute(_CONSUMPTION)
    # Every point left in settle_day has a summary and rates for each of its days (the left-out
    # check and the rate checks above), so it has consumption: counted there, 31 times fewer rows.
    settled_row = _first(conn, "SELECT count(DISTINCT gsrn) FROM consumption")
    settled = int(settled_row[0]) if settled_row else 0
    conn.execute(_SUBSCRIPTION, params)
    gap = _first(conn, "SELECT min(missing_grid_day) FROM subscription_amount")
    if gap and gap[0] is not None:
        raise SettlementDataError(
            f"no GridSubscription for grid area {grid_area} on {format_day(gap[0])}"
        )
    conn.execute(_INSERT_LINES, {**params, "run": run_id})
    return settled, left_out


def _check_rates(conn: Conn, grid_area: str, tz: str) -> None:
    for column, what in (
        ("grid", f"GridTariff for grid area {grid_area}"),
        ("system", "SystemTariff"),
        ("transmission", "TransmissionTariff"),
        ("tax", "electricity tax rate"),
    ):
        gap = _first(conn, f"SELECT min(ts) FROM h_rate WHERE {column} IS NULL")
        if gap and gap[0] is not None:
            raise SettlementDataError(f"no {what} on {format_local(gap[0], tz, words=True)}")


def supplied_days_per_contract(conn: Conn) -> dict[str, int]:
    """Settled days per contract of the current compute_lines transaction (the quantity of the
    subscription lines)."""
    rows = conn.execute("SELECT contract_id, count(*) FROM settle_day GROUP BY contract_id")
    return {str(c): int(n) for c, n in rows}
