"""`elflow bench settle`: a settlement run at scale against the floor of one plain scan.

On a scratch database (created with ELFLOW_ADMIN_DATABASE_URL, dropped at the end) it generates
a month of synthetic PT15M readings for N metering points of one grid area directly in SQL, as
the day blocks the flow writes (one per point and local day: 96 slots, 92/100 on DST days) with
the daily summaries ingest keeps beside them (a sample of them is recomputed from the blocks and
must come out unchanged), the month's 15-minute spot prices, tariffs, tax, subscriptions and
master data, then times:

1. the daily summary refresh `settle` pays when ingest kept the summaries current
   (storage.summaries.refresh_period, step (a) of a run);
2. `settle --prepare` (settlement.run.prepare): the per-day charge sums computed ahead of the
   close, e.g. nightly;
3. the settlement run proper (lines, aconto, bookkeeping) reading those sums (the close), and
   once more with the sums deleted (every day computed from slot_kwh, as before issue 12);
4. the floor: one aggregate scan over the same readings (every slot of the period's blocks
   summed per metering point),

and prints wall times, readings per second, the peak RSS of this process and the ratios.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from schemas.bands import band_table
from schemas.calendar import BillingPeriod, local_date, local_midnight_utc
from schemas.settings import settings
from settlement.run import RunReport, prepare, settle
from storage.blocks import BLOCK_VERSIONS_SQL
from storage.db import Conn, connect
from storage.migrate import migrate
from storage.scratch import scratch_database
from storage.summaries import recompute_days, refresh_period


@dataclass(frozen=True)
class BenchSpec:
    metering_points: int
    period: str = "2026-10"
    keep: bool = False
    reuse: str | None = None  # the URL of a database a previous --keep run left


_MASTER_DATA = """
INSERT INTO grid_area VALUES ('344', '5790000000344', 'Bench Net A/S', 'DK1');
INSERT INTO product (id, name, energy_model, margin_ore_per_kwh, subscription_kr_per_month)
VALUES ('7b1f4c2e-58a3-4d6e-9c1a-2f6e8d0b3a11', 'Spot Basis', 'Spot', 4.5, 29);
INSERT INTO customer (id, name, cpr_cvr, contact_type)
SELECT md5('c' || i)::uuid, 'Customer ' || i, lpad(i::text, 10, '0'), 'Private'
FROM generate_series(1, %(n)s) i;
INSERT INTO metering_point (gsrn, type, settlement_method, connection_status, grid_area_code,
                            grid_operator_gln)
SELECT '5713131' || lpad(i::text, 11, '0'), 'E17_Consumption', 'Flex', 'Connected', '344',
       '5790000000344'
FROM generate_series(1, %(n)s) i;
INSERT INTO supply_period (id, gsrn, start_date)
SELECT md5('s' || i)::uuid, '5713131' || lpad(i::text, 11, '0'), DATE '2026-01-01'
FROM generate_series(1, %(n)s) i;
INSERT INTO contract (id, customer_id, gsrn, product_id, billing_frequency, payment_model,
                      payment_term_days, start_date)
SELECT md5('k' || i)::uuid, md5('c' || i)::uuid, '5713131' || lpad(i::text, 11, '0'),
       '7b1f4c2e-58a3-4d6e-9c1a-2f6e8d0b3a11', 'Monthly',
       CASE WHEN i %% 10 = 0 THEN 'Aconto' ELSE 'PostPayment' END, 14, DATE '2026-01-01'
FROM generate_series(1, %(n)s) i;
"""

_PRICES = """
INSERT INTO spot_price (price_area, hour, resolution, price_per_kwh)
SELECT 'DK1', ts, 'PT15M', 0.5 + (extract(epoch FROM ts)::bigint / 900 %% 97) / 100.0
FROM generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '15 minutes',
                     interval '15 minutes') ts;
INSERT INTO grid_tariff (id, grid_area_code, charge_owner_id, tariff_type, valid_from, charge_code)
VALUES ('00000000-0000-4000-8000-000000000001', '344', '5790000000344', 'GridTariff',
        '2026-01-01', 'C-TIME'),
       ('00000000-0000-4000-8000-000000000002', NULL, '5790000432752', 'SystemTariff',
        '2026-01-01', '41000'),
       ('00000000-0000-4000-8000-000000000003', NULL, '5790000432752', 'TransmissionTariff',
        '2026-01-01', '40000');
INSERT INTO tariff_rate (grid_tariff_id, hour_number, price_per_kwh)
SELECT '00000000-0000-4000-8000-000000000001'::uuid, h,
       CASE WHEN h <= 6 THEN 0.15 WHEN h BETWEEN 18 AND 21 THEN 1.35 ELSE 0.45 END
FROM generate_series(1, 24) h
UNION ALL SELECT '00000000-0000-4000-8000-000000000002'::uuid, h, 0.072 FROM generate_series(1, 24) h
UNION ALL SELECT '00000000-0000-4000-8000-000000000003'::uuid, h, 0.043 FROM generate_series(1, 24) h;
INSERT INTO electricity_tax (id, rate_per_kwh, valid_from)
VALUES ('00000000-0000-4000-8000-000000000004', 0.008, '2026-01-01');
INSERT INTO subscription (id, grid_area_code, type, amount_kr_per_month, valid_from,
                          charge_owner_id, charge_code)
VALUES ('00000000-0000-4000-8000-000000000005', '344', 'GridSubscription', 31, '2026-01-01',
        '5790000000344', 'C-ABON');
"""

# Per 500 metering points: one day block per point and local day (storage.blocks, as the flow
# writes them; 96 quarters, 92/100 on DST days) and the daily summary ingest keeps beside it.
# Quantities vary by slot and metering point (0–499 Wh). %(bands)s: text[24], the band of
# local hour h at index h + 1, as storage.summaries uses it.
_DAYS = """
CREATE TEMP TABLE bench_day AS
SELECT d::date AS day, d::timestamp AT TIME ZONE %(tz)s AS day_start,
       (d + interval '1 day')::timestamp AT TIME ZONE %(tz)s AS day_end
FROM generate_series(%(first_day)s::date, %(last_day)s::date, interval '1 day') d
"""

_SLOTS = """
CREATE TEMP TABLE bench_slot AS
SELECT d.day, d.day_start, g.slot,
       extract(epoch FROM d.day_start)::bigint / 900 + g.slot AS quarter,
       (%(bands)s::text[])[extract(hour FROM (d.day_start + g.slot * interval '15 minutes')
                                         AT TIME ZONE %(tz)s)::int + 1] AS band
FROM bench_day d
CROSS JOIN LATERAL generate_series(
    0, (extract(epoch FROM d.day_end - d.day_start) / 900)::int - 1) AS g(slot)
"""

# The slots' Wh computed once, then the blocks and the summaries from them.
_BLOCKS_AND_SUMMARIES = """
WITH v AS MATERIALIZED (
    SELECT '5713131' || lpad(i::text, 11, '0') AS gsrn, s.day, s.day_start, s.slot, s.band,
           (i * 37 + s.quarter) %% 500 AS w
    FROM generate_series(%(first)s::int, %(last)s::int) i CROSS JOIN bench_slot s
),
blocks AS (
    INSERT INTO metering_block (metering_point_id, day_start, resolution, wh, quality,
                                source_message_id, transaction_id, created_at, received_at)
    SELECT gsrn, day_start, 'PT15M', array_agg(w ORDER BY slot), repeat('4', count(*)::int),
           'BENCH-' || gsrn || '-' || day, 'BENCH-' || gsrn || '-' || day,
           %(end)s::timestamptz, %(end)s::timestamptz
    FROM v GROUP BY gsrn, day, day_start
)
INSERT INTO daily_summary (metering_point_id, date, total_kwh, peak_kwh, off_peak_kwh,
    super_peak_kwh, resolution, points_received, points_expected, missing_count,
    estimated_count, slot_kwh, versions)
SELECT gsrn, day, (sum(w)::numeric / 1000)::numeric(18, 3),
       (coalesce(sum(w) FILTER (WHERE band = 'peak'), 0)::numeric / 1000)::numeric(18, 3),
       (coalesce(sum(w) FILTER (WHERE band = 'off_peak'), 0)::numeric / 1000)::numeric(18, 3),
       (coalesce(sum(w) FILTER (WHERE band = 'super_peak'), 0)::numeric / 1000)::numeric(18, 3),
       'PT15M', count(*), count(*), 0, 0,
       array_agg((w::numeric / 1000)::numeric(18, 3) ORDER BY slot), count(*)
FROM v GROUP BY gsrn, day
"""


def _statements(script: str) -> list[str]:
    return [part.strip() for part in script.split(";\n") if part.strip()]


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bench(spec: BenchSpec, progress: Callable[[str], None]) -> str:
    """Run the benchmark (module docstring); returns the figures as printable lines."""
    if spec.metering_points < 1:
        raise ValueError("--metering-points must be at least 1")
    if spec.reuse:
        with connect(spec.reuse) as conn:
            migrate(conn)
        return _bench(spec, spec.reuse, progress)
    with scratch_database("elflow_bench", keep=spec.keep) as url:
        if spec.keep:
            progress(f"keeping the scratch database {url}")
        return _bench(spec, url, progress)


def _bench(spec: BenchSpec, url: str, progress: Callable[[str], None]) -> str:
    period = BillingPeriod.parse(spec.period)
    cfg = settings()
    start, end = local_midnight_utc(period.start), local_midnight_utc(period.end)
    n = spec.metering_points
    bands = list(band_table(cfg.bands))
    with connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        if spec.reuse:
            started = time.perf_counter()
            progress(f"bench: reusing {spec.reuse}")
            n = _count(conn, "SELECT count(*) FROM metering_point")
        else:
            started = time.perf_counter()
            _generate(conn, n, start, end, cfg.timezone, bands, progress)
        readings = _count(
            conn,
            f"SELECT sum({BLOCK_VERSIONS_SQL.format(q='quality')}) FROM metering_block"
            " WHERE day_start >= %s AND day_start < %s",
            (start, end),
        )
        generate_s = time.perf_counter() - started
        progress(f"bench: {readings} readings generated in {generate_s:.1f} s; checking …")
        # What autovacuum does in the background while ingest fills a month (since PostgreSQL
        # 13 inserts trigger it too): the visibility map lets the close read daily_summary's
        # facts from its primary key alone (migration 0051). Timed, not part of the close.
        started = time.perf_counter()
        conn.execute("VACUUM (ANALYZE) daily_summary")
        vacuum_s = time.perf_counter() - started
        # The generated summaries must be what ingest computes: recompute a sample of days
        # (the first, the DST day if any, the last; three metering points) from the blocks.
        sample = _sample_days(conn, n)
        with conn.transaction():
            differ = recompute_days(conn, sample, tz=cfg.timezone, bands=bands)
        if differ:
            raise RuntimeError(
                f"{differ} of {len(sample)} generated summaries differ from ingest's"
            )

        def timed_refresh() -> tuple[float, int]:
            started = time.perf_counter()
            with conn.transaction():
                changed = refresh_period(
                    conn, period.start, period.end, tz=cfg.timezone, bands=bands
                )
            return time.perf_counter() - started, changed

        # What `elflow settle` pays when ingest kept the summaries current: two counts.
        check_s, changed = timed_refresh()

        progress("bench: prepare (per-day charge sums) …")
        started = time.perf_counter()
        prepare(period, "344", url=url, progress=progress)
        prepare_s = time.perf_counter() - started

        def timed_run() -> tuple[float, RunReport]:
            started = time.perf_counter()
            [report] = settle(
                period,
                "344",
                url=url,
                refresh=False,
                now=end + timedelta(days=1),
                progress=progress,
            )
            return time.perf_counter() - started, report

        progress("bench: settlement run from the prepared sums …")
        settle_s, report = timed_run()
        progress("bench: settlement run without them (every slot multiplied) …")
        conn.execute("DELETE FROM day_charge_sum")
        cold_s, _ = timed_run()

        progress("bench: floor scan …")
        started = time.perf_counter()
        # every stored slot of the period, summed per metering point (the blocks' Wh)
        conn.execute(
            """SELECT metering_point_id, sum(w) FROM metering_block, unnest(wh) AS w
               WHERE day_start >= %s AND day_start < %s GROUP BY 1""",
            (start, end),
        ).fetchall()
        floor_s = time.perf_counter() - started

    def rate(seconds: float) -> str:
        return f"{readings / seconds:,.0f} readings/s" if seconds > 0 else "-"

    close_s = check_s + settle_s
    lines = [
        f"bench settle: {n} PT15M metering points, {period.label}, {readings:,} readings",
        f"  generate data                 {generate_s:8.1f} s",
        f"  vacuum daily_summary          {vacuum_s:8.1f} s  (autovacuum's work; not in the close)",
        f"  (a) refresh when current      {check_s:8.1f} s  {rate(check_s)}"
        f"  (what settle pays after ingest: two counts; {changed} summaries changed)",
        f"  prepare (per-day sums)        {prepare_s:8.1f} s  {rate(prepare_s)}"
        "  (settle --prepare, ahead of the close)",
        f"  settlement run (lines)        {settle_s:8.1f} s  {rate(settle_s)}  "
        f"({report.settled} settled, {len(report.left_out)} left out, "
        f"{sum(t.lines for t in report.totals)} lines; from the prepared sums)",
        f"  run without prepared sums     {cold_s:8.1f} s  {rate(cold_s)}"
        "  (every day from slot_kwh)",
        f"  floor: one aggregate scan     {floor_s:8.1f} s  {rate(floor_s)}",
        f"  ratio run / floor             {settle_s / floor_s:8.2f}",
        f"  close = refresh when current + run {close_s:6.1f} s, / floor {close_s / floor_s:6.2f}",
        f"  peak RSS of this process      {_peak_rss_mib():8.1f} MiB",
    ]
    return "\n".join(lines)


def _count(conn: Conn, query: str, params: tuple[object, ...] = ()) -> int:
    row = conn.execute(query, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _sample_days(conn: Conn, n: int) -> list[tuple[str, date]]:
    days = [
        r[0]
        for r in conn.execute(
            """SELECT date FROM daily_summary GROUP BY date
               ORDER BY count(*) FILTER (WHERE points_expected <> 96) DESC, date"""
        ).fetchall()
    ]
    chosen = sorted({days[0], days[-1], days[len(days) // 2]} if days else set())
    points = sorted({1, (n + 1) // 2, n})
    return [(f"5713131{p:011d}", d) for p in points for d in chosen]


def _generate(
    conn: Conn,
    n: int,
    start: datetime,
    end: datetime,
    tz: str,
    bands: list[str],
    progress: Callable[[str], None],
) -> None:
    progress(f"bench: generating master data and prices for {n} metering points …")
    for statement in _statements(_MASTER_DATA):
        conn.execute(statement, {"n": n})
    for statement in _statements(_PRICES):
        conn.execute(statement, {"start": start, "end": end})
    days = {
        "tz": tz,
        "first_day": local_date(start, tz),
        "last_day": local_date(end, tz) - timedelta(days=1),
        "bands": bands,
    }
    conn.execute(_DAYS, days)
    conn.execute(_SLOTS, days)
    step = 500
    for first in range(1, n + 1, step):
        span = {"first": first, "last": min(n, first + step - 1), "end": end, **days}
        conn.execute(_BLOCKS_AND_SUMMARIES, span)
        progress(f"bench: blocks and summaries for {min(n, first + step - 1)}/{n} metering points")
    conn.execute("DROP TABLE bench_slot, bench_day")
    conn.execute("ANALYZE metering_block")
    conn.execute("ANALYZE daily_summary")
