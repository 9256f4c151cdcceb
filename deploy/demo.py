"""`elflow demo`: feed a month of DataHub documents through Kafka and the Bytewax flow into
TimescaleDB, then print what finance and operators would look at."""

from __future__ import annotations

import argparse
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from deploy.demo_data import DEMO_GRID_AREAS, write_demo_files
from deploy.demo_datahub import feed_through_datahub
from deploy.demo_masterdata import apply_demo_master_data
from deploy.demo_processes import print_process_invoices, run_demo_processes
from flows.feed import DEFAULT_GRID_AREAS, FeedSpec
from flows.publisher import describe_kinds
from flows.runner import start_flow
from schemas.calendar import BillingPeriod, local_midnight_utc
from schemas.errors import ElflowError
from schemas.settings import Settings, settings
from settlement.close_output import report_text, write_close_files
from settlement.close_report import build_close_report
from settlement.exports import export_settlement_lines
from settlement.invoice_run import run_invoicing
from settlement.run import RunReport, settle
from storage import reports
from storage.db import Conn, connect, url_for
from storage.importers import import_file


class DemoError(ElflowError):
    """A step of the demo failed (one line)."""


def load_reference_data(conn: Conn, spec: FeedSpec, directory: Path) -> None:
    """Write the demo's master data, prices and price lists in their real formats and import
    them the way an operator would (`elflow load`)."""
    files = write_demo_files(directory, spec.metering_points, spec.start, spec.grid_areas)
    for kind, path in files.in_load_order():
        print(import_file(conn, kind, path).line())


def ingest_until_caught_up(cfg: Settings, spec: FeedSpec, processes: int = 1) -> tuple[int, float]:
    """Feed the documents through the fake DataHub and the connector (DataHub → connector →
    Kafka), then run the flow until the end of the topic; returns (documents, s)."""
    published, kinds, pulled = feed_through_datahub(cfg, spec)
    print(
        f"fake DataHub → elflow datahub pull → {cfg.readings_topic}: {published} documents in "
        f"{pulled:.1f} s ({describe_kinds(kinds)})"
    )
    started = time.perf_counter()
    procs = start_flow(cfg, processes=processes, until_end=True)
    codes = [p.wait() for p in procs]
    if any(codes):
        raise DemoError(f"the ingest flow failed (exit codes {codes}); see its output above")
    return published, time.perf_counter() - started


# Where a local Grafana serves the provisioned dashboard (uid in its JSON; Grafana's port).
DASHBOARD_URL = "http://127.0.0.1:3000/d/elflow-live-consumption"


def dashboard_link(first: date, end: date) -> str:
    """The dashboard over local days [first, end). Its own default range is the last two days
    (live operations); the demo's month lies in the past, so the demo names its range."""
    start_ms = int(local_midnight_utc(first).timestamp() * 1000)
    end_ms = int(local_midnight_utc(end).timestamp() * 1000)
    return f"{DASHBOARD_URL}?from={start_ms}&to={end_ms}"


def print_daily_table(conn: Conn, start: date, end: date) -> None:
    header = (
        f"{'date':10}  {'points':>6}  {'total kWh':>12}  {'off-peak':>11}  {'peak':>11}  "
        f"{'super-peak':>11}  {'quantities':>13}  {'incomplete':>10}"
    )
    print(header)
    print("-" * len(header))
    for d in reports.daily_totals(conn, start, end):
        quantities = f"{d.quantities_received}/{d.quantities_expected}"
        print(
            f"{d.day:%Y-%m-%d}  {d.metering_points:>6}  {d.total_kwh:>12,.3f}  "
            f"{d.off_peak_kwh:>11,.3f}  {d.peak_kwh:>11,.3f}  {d.super_peak_kwh:>11,.3f}  "
            f"{quantities:>13}  {d.incomplete_metering_points:>10}"
        )


def run(args: argparse.Namespace) -> int:
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
        dead = reports.open_dead_letters_by_reason(conn)
        print(
            f"flow caught up in {seconds:.1f} s; metering_data holds "
            f"{reports.reading_versions(conn)} reading versions; open dead letters: "
            + (", ".join(f"{reason} {n}" for reason, n in sorted(dead.items())) or "none")
        )
        print()
        print_daily_table(conn, spec.start, spec.start + timedelta(days=spec.days))
    print()
    print("Grafana (deploy/grafana/README.md), the demo's days:")
    print(f"  {dashboard_link(spec.start, spec.start + timedelta(days=spec.days))}")
    if spec.start.day == 1 and spec.days >= 28:
        print()
        areas = {code: DEMO_GRID_AREAS[code][0] for code in spec.grid_areas}
        apply_demo_master_data(cfg, spec.start, spec.metering_points, areas, print)
        print()
        run_demo_processes(cfg, spec.start, spec.metering_points, print, areas)
        print()
        close_period(BillingPeriod.month_of(spec.start), args.data_dir)
        print_process_invoices(spec.metering_points, BillingPeriod.month_of(spec.start), print)
        write_demo_pdfs(BillingPeriod.month_of(spec.start), args.data_dir / "invoices")
        print()
        print_close_report(BillingPeriod.month_of(spec.start), args.data_dir / "close")
    return 0


def write_demo_pdfs(period: BillingPeriod, directory: Path) -> None:
    """Issue the period's invoices and write the first of each type as the customer's PDF."""
    from settlement.exports import export_directory
    from settlement.invoice_pdf import write_pdfs
    from settlement.invoice_ubl_export import export_period_ubl
    from storage.invoice_details import first_issued_per_type
    from storage.invoices import find_billing_period

    directory = export_directory(directory)
    with connect(job="finance") as conn:
        report = run_invoicing(conn, period, datetime.now(UTC), issue=True)
        bp_id = find_billing_period(conn, period)
        chosen = [] if bp_id is None else first_issued_per_type(conn, bp_id)
        write_pdfs(conn, directory, None, [number for _, number in chosen], force=True)
        ubl_directory = export_directory(directory.parent / "ubl")
        ubl = export_period_ubl(conn, period, ubl_directory, force=True)
    print()
    print(
        f"issued {len(report.issued)} invoices of {period.label}; PDFs of one per type in "
        f"{directory}: {', '.join(number for _, number in chosen) or 'none'}"
    )
    print(
        f"Peppol BIS 3.0 (UBL 2.1) files of the business customers' invoices in {ubl_directory}: "
        f"{len(ubl.written)} written and validated, {len(ubl.refused)} refused"
    )
    for number, reason in ubl.refused:
        print(f"  {number}: not written: {reason}")


def print_close_report(period: BillingPeriod, directory: Path) -> None:
    """The period-close report (`elflow close --period … --out DIR`) ends the demo."""
    with connect(job="finance") as conn:
        report = build_close_report(conn, period)
    print(report_text(report))
    for path in write_close_files(report, directory, force=True):
        print(f"wrote {path}")


def close_period(period: BillingPeriod, data_dir: Path) -> None:
    """What finance does at month end: settle every grid area, build the invoices, export."""

    def show(report: RunReport) -> None:
        print(report.table(), flush=True)

    settle(
        period,
        url=url_for("finance"),
        on_report=show,
        progress=lambda line: print(line, flush=True),
    )
    with connect(job="finance") as conn:
        report = run_invoicing(conn, period, datetime.now(UTC))
        parquet = data_dir / f"settlement_lines_{period.label}.parquet"
        lines = export_settlement_lines(conn, period, parquet, force=True)
        invoices = reports.invoice_totals_by_type(conn, period.start, period.end)
    print()
    print(
        f"invoicing {report.period}: {len(report.created)} created, {report.unchanged} unchanged, "
        f"{len(report.skipped)} customers skipped (quarterly customers wait for the quarter)"
    )
    print(f"  {'type':<16}{'invoices':>9}{'ex VAT DKK':>16}{'VAT DKK':>14}{'incl VAT DKK':>16}")
    for t in invoices:
        print(
            f"  {t.type:<16}{t.invoices:>9}{t.total_ex_vat:>16}{t.vat_amount:>14}"
            f"{t.total_incl_vat:>16}"
        )
    print(f"settlement lines exported to {parquet} ({lines} lines); invoices stay Draft until")
    print(f"`elflow invoice --period {period.label} --issue` (the demo issues them at its end)")
