"""Invoicing subcommands: `elflow invoice` and `elflow export lines`.

elflow invoice --period 2026-10 [--issue] [--export-dir DIR]
    Monthly contracts' invoices for October 2026 ('2026-Q4': Quarterly contracts' invoices
    for October..December) from the latest completed settlement runs. New or changed Drafts
    are written; Issued invoices are corrected by credit/debit notes; unchanged runs change
    nothing. --issue then issues every Draft of the period; --export-dir writes each invoice
    of the period as <invoice id>.json.
elflow export lines --period 2026-10 --out lines.parquet
    The settlement lines of the period's latest completed runs as Parquet (decimal columns).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

Registrar = Callable[[argparse._SubParsersAction], None]  # type: ignore[type-arg]

REGISTRY: list[Registrar] = []


def register(fn: Registrar) -> Registrar:
    REGISTRY.append(fn)
    return fn


def _period(text: str) -> object:
    from settlement.invoicing import InvoicePeriod

    try:
        return InvoicePeriod.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _group(sub: argparse._SubParsersAction, name: str, help: str) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The subcommand group `name`, shared with another command module that defines it too
    (argparse refuses a second subparser of the same name)."""
    existing = sub.choices.get(name)
    if existing is not None:
        for action in existing._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action
    group: argparse._SubParsersAction = sub.add_parser(name, help=help).add_subparsers(  # type: ignore[type-arg]
        dest=f"{name}_command", required=True
    )
    return group


# ------------------------------------------------------------------------------------- invoice
def _invoice(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.invoices import export_invoice_json, period_invoice_ids, run_invoicing

    with connect(job="finance") as conn:
        report = run_invoicing(conn, args.period, datetime.now(UTC), issue=args.issue)
        exported = []
        if args.export_dir is not None:
            exported = [
                export_invoice_json(conn, invoice_id, args.export_dir)
                for invoice_id in period_invoice_ids(conn, args.period)
            ]
    print(
        f"invoicing {report.period}: {len(report.created)} created, {len(report.replaced)} drafts"
        f" rebuilt, {len(report.discarded)} drafts discarded, {report.unchanged} unchanged,"
        f" {len(report.issued)} issued, {len(report.skipped)} customers skipped"
    )
    for customer, reason in report.skipped:
        print(f"  skipped customer {customer}: {reason}", file=sys.stderr)
    if report.lines_without_contract:
        print(
            f"  {report.lines_without_contract} settlement lines have no contract and were not"
            " invoiced",
            file=sys.stderr,
        )
    if args.export_dir is not None:
        print(f"exported {len(exported)} invoices to {args.export_dir}")
    return 0


@register
def _invoice_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = sub.add_parser("invoice", help="build invoices from the latest settlement runs")
    parser.add_argument(
        "--period", type=_period, required=True, help="a month (2026-10) or a quarter (2026-Q4)"
    )
    parser.add_argument("--issue", action="store_true", help="issue the period's Draft invoices")
    parser.add_argument("--export-dir", type=Path, help="write <invoice id>.json files here")
    parser.set_defaults(handler=_invoice)


# -------------------------------------------------------------------------------------- export
def _export_lines(args: argparse.Namespace) -> int:
    from storage.db import connect
    from storage.invoices import export_settlement_lines

    with connect(job="finance") as conn:
        count = export_settlement_lines(conn, args.period, args.out)
    print(f"wrote {count} settlement lines of {args.period.label} to {args.out}")
    return 0


@register
def _export_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = _group(sub, "export", "export data files")
    lines = export.add_parser("lines", help="settlement lines of a period's latest runs (Parquet)")
    lines.add_argument(
        "--period", type=_period, required=True, help="a month (2026-10) or a quarter (2026-Q4)"
    )
    lines.add_argument("--out", type=Path, required=True, help="the Parquet file to write")
    lines.set_defaults(handler=_export_lines)
