"""Handlers of `elflow load`, `settle`, `invoice` and `export` (wired in deploy/cli.py)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime

from schemas.errors import ElflowError


def load(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.importers import import_file

    if args.kind == "portfolio":
        return load_portfolio(args)
    with connect(job="loader", autocommit=True) as conn:
        for file in args.files:
            print(import_file(conn, args.kind, file).line())
    return 0


def load_portfolio(args: argparse.Namespace) -> int:
    """`elflow load portfolio PATH`: every refusal on stderr (the first 50 and a count), then
    the one-line verdict; or one line per kind of what was written."""
    from schemas.errors import ElflowError
    from schemas.reference.portfolio import PortfolioRefused
    from storage.db import connect
    from storage.importers.portfolio import load_portfolio as load_all

    if len(args.files) != 1:
        raise ElflowError("load portfolio takes one path: a JSON file or a folder of files")
    with connect(job="loader", autocommit=True) as conn:
        try:
            report = load_all(conn, args.files[0])
        except PortfolioRefused as refused:
            for line in refused.lines():
                print(line, file=sys.stderr)
            raise
    print(f"portfolio {report.path} loaded in one transaction:")
    for line in report.lines():
        print(f"  {line}")
    return 0


def settle(args: argparse.Namespace) -> int:
    from settlement.run import RunReport
    from settlement.run import settle as run
    from storage.db import url_for

    def show(report: RunReport) -> None:
        print(report.table(), flush=True)

    if args.prepare:
        from settlement.run import prepare

        prepared = prepare(
            args.period,
            args.grid_area,
            url=url_for("finance"),
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )
        for area, days in prepared.items():
            print(f"prepared {args.period.label} grid area {area}: {days} days")
        return 0
    run(
        args.period,
        args.grid_area,
        dry_run=args.dry_run,
        allow_open=args.allow_open,
        refresh=not args.no_refresh,
        url=url_for("finance"),
        progress=lambda line: print(line, file=sys.stderr, flush=True),
        on_report=show,
    )
    return 0


def invoice(args: argparse.Namespace) -> int:
    from settlement.exports import export_directory, export_invoice_json
    from settlement.invoice_run import run_invoicing
    from storage.db import connect
    from storage.invoice_documents import period_invoice_ids

    if args.period is None:
        raise ElflowError("invoice needs --period (a month, 2026-10, or a quarter, 2026-Q4)")
    directory = None if args.export_dir is None else export_directory(args.export_dir)
    with connect(job="finance") as conn:
        report = run_invoicing(conn, args.period, datetime.now(UTC), issue=args.issue)
        exported = []
        if directory is not None:
            exported = [
                export_invoice_json(conn, invoice_id, directory, force=args.force)
                for invoice_id in period_invoice_ids(conn, args.period)
            ]
    print(
        f"invoicing {report.period}: {len(report.created)} created, {len(report.replaced)} drafts"
        f" rebuilt, {len(report.discarded)} drafts discarded, {report.unchanged} unchanged,"
        f" {len(report.issued)} issued, {len(report.skipped)} customers skipped"
    )
    if report.issued_numbers:
        first, last = report.issued_numbers[0], report.issued_numbers[-1]
        print(f"issued invoice numbers {first}" + ("" if first == last else f" … {last}"))
    for customer, reason in report.skipped:
        print(f"  skipped customer {customer}: {reason}", file=sys.stderr)
    if report.lines_without_contract:
        print(
            f"  {report.lines_without_contract} settlement lines have no contract and were not"
            " invoiced",
            file=sys.stderr,
        )
    if directory is not None:
        print(f"exported {len(exported)} invoices to {directory}")
    print(f"every customer, invoiced or why not: elflow close --period {args.period.label}")
    return 0


def invoice_pdf(args: argparse.Namespace) -> int:
    from settlement.exports import export_directory
    from settlement.invoice_pdf import write_pdfs
    from storage.db import connect

    if args.period is None and not args.invoice:
        raise ElflowError("invoice pdf needs --period or --invoice NUMBER")
    directory = export_directory(args.out)
    with connect(job="finance") as conn:
        written = write_pdfs(conn, directory, args.period, args.invoice or [], force=args.force)
    print(f"wrote {len(written)} invoice PDFs to {directory}")
    return 0


def export_lines(args: argparse.Namespace) -> int:
    from settlement.exports import export_settlement_lines
    from storage.db import connect

    with connect(job="finance") as conn:
        count = export_settlement_lines(conn, args.period, args.out, force=args.force)
    print(f"wrote {count} settlement lines of {args.period.label} to {args.out}")
    return 0


def close(args: argparse.Namespace) -> int:
    from settlement.close_output import report_text, write_close_files
    from settlement.close_report import build_close_report
    from storage.db import connect

    with connect(job="finance") as conn:
        report = build_close_report(conn, args.period)
    print(report_text(report))
    if args.out is not None:
        for path in write_close_files(report, args.out, force=args.force):
            print(f"wrote {path}")
    return 0
