"""`elflow bench settle`: a settlement run at scale against the floor of one plain scan.

On a scratch database (created with ELFLOW_ADMIN_DATABASE_URL, dropped at the end) it generates
a month of synthetic PT15M readings for N metering points of one grid area directly in SQL
(96 slots per day, 92/100 on DST days), the month's 15-minute spot prices, tariffs, tax,
subscriptions and master data, then times:

1. the daily summary refresh (storage.summaries.refresh_period, step (a) of a run), from
   scratch and when ingest kept the summaries current;
2. `settle --prepare` (settlement.run.prepare): the per-day charge sums computed ahead of the
   close, e.g. nightly;
3. the settlement run proper (lines, aconto, bookkeeping) reading those sums (the close), and
   once more with the sums deleted (every day computed from slot_kwh, as before issue 12);
4. the floor: one aggregate scan over the same readings
   (SELECT metering_point_id, sum(quantity_kwh) … GROUP BY 1),

and prints wall times, readings per second, the peak RSS of this process and the ratios.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from schemas.bands import band_table
from schemas.calendar import BillingPeriod, local_midnight_utc
from schemas.settings import settings
from settlement.run import RunReport, prepare, settle
from storage.db import Conn, connect
from storage.migrate import migrate
from storage.scratch import scratch_database
from storage.summaries import refresh_period


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

# One metering point at a time keeps each statement's sort/hash memory small; the quantities
# vary by slot and metering point (0.000–0.499 kWh).
_READINGS = """
INSERT INTO metering_data (metering_point_id, "timestamp", resolution, quantity_kwh, quality,
                           source_message_id, transaction_id, created_at)
SELECT '5713131' || lpad(i::text, 11, '0'), ts, 'PT15M',
       ((i * 37 + extract(epoch FROM ts)::bigint / 900) %% 500) / 1000.0, 'A04',
       'BENCH-' || i, 'BENCH-' || i, %(end)s::timestamptz
FROM generate_series(%(first)s::int, %(last)s::int) i
CROSS JOIN generate_series(%(start)s::timestamptz, %(end)s::timestamptz - interval '15 minutes',
                           interval '15 minutes') ts
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
    with connect(url, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        if spec.reuse:
            started = time.perf_counter()
            progress(f"bench: reusing {spec.reuse}")
            n = _count(conn, "SELECT count(*) FROM metering_point")
        else:
            started = time.perf_counter()
            _generate(conn, n, start, end, progress)
        readings = _count(conn, "SELECT count(*) FROM metering_data")
        generate_s = time.perf_counter() - started
        progress(f"bench: {readings} readings generated in {generate_s:.1f} s; refreshing …")

        def timed_refresh() -> float:
            started = time.perf_counter()
            with conn.transaction():
                refresh_period(
                    conn,
                    period.start,
                    period.end,
                    tz=cfg.timezone,
                    bands=list(band_table(cfg.bands)),
                )
            return time.perf_counter() - started

        refresh_s = timed_refresh()
        conn.execute("ANALYZE daily_summary")
        # What `elflow settle` pays when ingest kept the summaries current: a version count.
        check_s = timed_refresh()

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
        conn.execute(
            """SELECT metering_point_id, sum(quantity_kwh) FROM metering_data
               WHERE "timestamp" >= %s AND "timestamp" < %s GROUP BY 1""",
            (start, end),
        ).fetchall()
        floor_s = time.perf_counter() - started

    def rate(seconds: float) -> str:
        return f"{readings / seconds:,.0f} readings/s" if seconds > 0 else "-"

    close_s = check_s + settle_s
    lines = [
        f"bench settle: {n} PT15M metering points, {period.label}, {readings:,} readings",
        f"  generate data                 {generate_s:8.1f} s",
        f"  (a) build daily summaries     {refresh_s:8.1f} s  {rate(refresh_s)}"
        "  (the readings were generated in SQL, behind ingest's back)",
        f"  (a) refresh when current      {check_s:8.1f} s  {rate(check_s)}"
        "  (what settle pays after ingest: two counts)",
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


def _count(conn: Conn, query: str) -> int:
    row = conn.execute(query).fetchone()
    return int(row[0]) if row else 0


def _generate(
    conn: Conn, n: int, start: datetime, end: datetime, progress: Callable[[str], None]
) -> None:
    progress(f"bench: generating master data and prices for {n} metering points …")
    for statement in _statements(_MASTER_DATA):
        conn.execute(statement, {"n": n})
    for statement in _statements(_PRICES):
        conn.execute(statement, {"start": start, "end": end})
    step = 500
    for first in range(1, n + 1, step):
        conn.execute(
            _READINGS,
            {"first": first, "last": min(n, first + step - 1), "start": start, "end": end},
        )
        progress(f"bench: readings for {min(n, first + step - 1)}/{n} metering points")
    conn.execute("ANALYZE metering_data")
