"""`elflow invoice ubl`: Peppol BIS 3.0 / UBL 2.1 files of a period's issued business invoices."""

from __future__ import annotations

import argparse
import sys


def invoice_ubl(args: argparse.Namespace) -> int:
    from settlement.exports import export_directory
    from settlement.invoice_ubl_export import export_period_ubl
    from storage.db import connect

    directory = export_directory(args.out)
    with connect(job="finance") as conn:
        report = export_period_ubl(conn, args.period, directory, force=args.force)
    label = report.period.label
    print(
        f"wrote {len(report.written)} Peppol BIS 3.0 (UBL 2.1) files of {label} to {directory},"
        " each checked against the UBL 2.1 schema, the EN 16931 rules and elflow's Peppol checks"
    )
    if report.private:
        print(
            f"{len(report.private)} issued invoices of private customers get no UBL file"
            " (no CVR number; they get the PDF)"
        )
    if report.drafts:
        print(
            f"{report.drafts} draft invoices are not issued and get none (elflow invoice --issue)"
        )
    for number, reason in report.refused:
        print(f"  {number}: not written: {reason}", file=sys.stderr)
    return 1 if report.refused else 0
