"""`elflow demo`: feed a month of DataHub documents through Kafka and the Bytewax flow into
TimescaleDB, then print what finance and operators would look at."""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta

from flows.feed import DEFAULT_GRID_AREAS, FeedSpec, generate_feed, grid_area_for, gsrn_for
from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import ConfigError, Settings, settings
from storage.db import Conn, connect

# Demo grid areas: code → (grid operator GLN, name, price area). Test GLNs, not real companies'.
DEMO_GRID_AREAS = {
    "344": ("5790000610976", "Demo Net Øst", "DK2"),
    "740": ("5790000705689", "Demo Net Sjælland", "DK2"),
    "131": ("5790001089030", "Demo Net Jylland", "DK1"),
}


def register_metering_points(conn: Conn, spec: FeedSpec) -> None:
    """Master data for the feed's metering points (what DataHub's BRS processes would give us)."""
    with conn.transaction():
        for code in spec.grid_areas:
            gln, name, area = DEMO_GRID_AREAS[code]
            conn.execute(
                """INSERT INTO grid_area (code, grid_operator_gln, grid_operator_name, price_area)
                   VALUES (%s, %s, %s, %s) ON CONFLICT (code) DO NOTHING""",
                (code, gln, name, area),
            )
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO metering_point (gsrn, type, settlement_method, connection_status,
                       grid_area_code, grid_operator_gln, activated_at)
                   VALUES (%s, 'E17_Consumption', 'Flex', 'Connected', %s, %s, '2020-01-01Z')
                   ON CONFLICT (gsrn) DO NOTHING""",
                [
                    (
                        gsrn_for(i),
                        grid_area_for(i, spec.grid_areas),
                        DEMO_GRID_AREAS[grid_area_for(i, spec.grid_areas)][0],
                    )
                    for i in range(spec.metering_points)
                ],
            )


def ingest_until_caught_up(cfg: Settings, spec: FeedSpec, processes: int = 1) -> tuple[int, float]:
    """Publish the feed and run the flow until the end of the topic; returns (documents, s)."""
    kinds: Counter[str] = Counter()

    def messages() -> Iterator[tuple[bytes, bytes]]:
        for message in generate_feed(spec):
            kinds[message.kind] += 1
            yield message.key, message.value

    published = publish(cfg, cfg.readings_topic, messages(), partitions=2)
    print(
        f"published {published} documents to {cfg.readings_topic} "
        f"({', '.join(f'{k} {v}' for k, v in sorted(kinds.items()))})"
    )
    started = time.perf_counter()
    procs = start_flow(cfg, processes=processes, until_end=True)
    codes = [p.wait() for p in procs]
    if any(codes):
        raise ConfigError(f"the ingest flow failed (exit codes {codes}); see its output above")
    return published, time.perf_counter() - started


def print_daily_table(conn: Conn, start: date, end: date) -> None:
    rows = conn.execute(
        """SELECT date, count(*), sum(total_kwh), sum(off_peak_kwh), sum(peak_kwh),
                  sum(super_peak_kwh), sum(points_expected - missing_count), sum(points_expected),
                  count(*) FILTER (WHERE missing_count > 0)
           FROM daily_summary WHERE date >= %s AND date < %s
           GROUP BY date ORDER BY date""",
        (start, end),
    ).fetchall()
    header = (
        f"{'date':10}  {'points':>6}  {'total kWh':>12}  {'off-peak':>11}  {'peak':>11}  "
        f"{'super-peak':>11}  {'quantities':>13}  {'incomplete':>10}"
    )
    print(header)
    print("-" * len(header))
    for day, points, total, off, peak, superpeak, got, want, incomplete in rows:
        print(
            f"{day:%Y-%m-%d}  {points:>6}  {total:>12,.3f}  {off:>11,.3f}  {peak:>11,.3f}  "
            f"{superpeak:>11,.3f}  {f'{got}/{want}':>13}  {incomplete:>10}"
        )


def run_demo(args: argparse.Namespace) -> int:
    cfg = settings()
    spec = FeedSpec(
        metering_points=args.metering_points,
        days=args.days,
        start=args.start,
        seed=args.seed,
        grid_areas=DEFAULT_GRID_AREAS,
        # DataHub rarely leaves a quantity missing at month end; a metering point with one gap
        # is left out of settlement, so the demo keeps gaps rare (a few metering points a month).
        missing_rate=0.00003,
    )
    with connect() as conn:
        register_metering_points(conn, spec)
    _published, seconds = ingest_until_caught_up(cfg, spec)
    with connect() as conn:
        readings = conn.execute("SELECT count(*) FROM metering_data").fetchone()
        dead = conn.execute(
            "SELECT reason_code, count(*) FROM dead_letter_message WHERE NOT resolved GROUP BY 1"
        ).fetchall()
        print(
            f"flow caught up in {seconds:.1f} s; metering_data holds {readings[0] if readings else 0} "
            "reading versions; open dead letters: "
            + (", ".join(f"{reason} {n}" for reason, n in sorted(dead)) or "none")
        )
        print()
        print_daily_table(conn, spec.start, spec.start + timedelta(days=spec.days))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("demo", help="the local demo: feed → Kafka → Bytewax → TimescaleDB")
    parser.add_argument("--metering-points", type=int, default=300)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 10, 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.set_defaults(handler=run_demo)


REGISTRY = [register]
