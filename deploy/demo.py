"""`elflow demo`: feed a month of DataHub documents through Kafka and the Bytewax flow into
TimescaleDB, then print what finance and operators would look at."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from deploy.demo_data import write_demo_files
from flows.feed import DEFAULT_GRID_AREAS, FeedSpec
from flows.publisher import describe_kinds, publish_feed
from flows.runner import start_flow
from schemas.settings import ConfigError, Settings, settings
from storage.db import Conn, connect, url_for
from storage.reference_import import import_file


def load_reference_data(conn: Conn, spec: FeedSpec, directory: Path) -> None:
    """Write the demo's master data, prices and price lists in their real formats and import
    them the way an operator would (`elflow load`)."""
    files = write_demo_files(directory, spec.metering_points, spec.start, spec.grid_areas)
    for kind, path in files.in_load_order():
        print(import_file(conn, kind, path).line())


def ingest_until_caught_up(cfg: Settings, spec: FeedSpec, processes: int = 1) -> tuple[int, float]:
    """Publish the feed and run the flow until the end of the topic; returns (documents, s)."""
    published, kinds = publish_feed(cfg, cfg.readings_topic, spec)
    print(f"published {published} documents to {cfg.readings_topic} ({describe_kinds(kinds)})")
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
    with connect(job="loader", autocommit=True) as conn:
        load_reference_data(conn, spec, args.data_dir)
    print()
    _published, seconds = ingest_until_caught_up(cfg, spec)
    with connect(job="ingest") as conn:
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
    if spec.start.day == 1 and spec.days >= 28:
        print()
        close_period(f"{spec.start:%Y-%m}", args.data_dir)
    return 0


def close_period(label: str, data_dir: Path) -> None:
    """What finance does at month end: settle every grid area, build the invoices, export."""
    from settlement.invoicing import InvoicePeriod
    from settlement.run import RunReport, parse_period, settle
    from storage.invoices import export_settlement_lines, run_invoicing

    def show(report: RunReport) -> None:
        print(report.table(), flush=True)

    settle(parse_period(label), url=url_for("finance"), on_report=show)
    period = InvoicePeriod.parse(label)
    with connect(job="finance") as conn:
        report = run_invoicing(conn, period, datetime.now(UTC))
        parquet = data_dir / f"settlement_lines_{label}.parquet"
        lines = export_settlement_lines(conn, period, parquet)
        invoices = conn.execute(
            """SELECT i.type, count(*), sum(i.total_ex_vat), sum(i.vat_amount), sum(i.total_incl_vat)
               FROM invoice i JOIN billing_period b ON b.id = i.billing_period_id
               WHERE b.period_start = %s AND b.period_end = %s
               GROUP BY i.type ORDER BY i.type""",
            (period.start, period.end),
        ).fetchall()
    print()
    print(
        f"invoicing {report.period}: {len(report.created)} created, {report.unchanged} unchanged, "
        f"{len(report.skipped)} customers skipped (quarterly customers wait for the quarter)"
    )
    print(f"  {'type':<16}{'invoices':>9}{'ex VAT DKK':>16}{'VAT DKK':>14}{'incl VAT DKK':>16}")
    for kind, count, ex_vat, vat, incl in invoices:
        print(f"  {kind:<16}{count:>9}{ex_vat:>16}{vat:>14}{incl:>16}")
    print(f"settlement lines exported to {parquet} ({lines} lines); invoices stay Draft until")
    print(f"`elflow invoice --period {label} --issue`")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("demo", help="the local demo: feed → Kafka → Bytewax → TimescaleDB")
    parser.add_argument("--metering-points", type=int, default=300)
    parser.add_argument("--days", type=int, default=31)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 10, 1))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--data-dir", type=Path, default=Path(".local/demo"), help="where demo files are written"
    )
    parser.set_defaults(handler=run_demo)


REGISTRY = [register]
