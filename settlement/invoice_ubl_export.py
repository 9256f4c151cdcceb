"""`elflow invoice ubl`: one Peppol BIS 3.0 file per issued business invoice of a period, each
checked (settlement.ubl_validation) before it is written, named by its invoice number.

A document that fails a check, or an invoice that cannot be assembled, fails only itself: it is
not written and is reported with its reason; the others are written (settlement.exports'
write_file: atomic, 0600, never over an existing file unless forced).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from schemas.calendar import BillingPeriod
from schemas.errors import ElflowError
from settlement.exports import write_file
from settlement.invoice_document import assemble
from settlement.invoice_ubl import render
from settlement.settled_period import require_settled
from settlement.ubl_validation import fatal, validate
from storage.db import Conn
from storage.invoice_documents import invoice_with_lines, period_invoice_ids

_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")


@dataclass
class UblExport:
    period: BillingPeriod
    written: list[Path] = field(default_factory=list)
    # Issued invoices of private customers (no CVR: they get the PDF only), by number.
    private: list[str] = field(default_factory=list)
    drafts: int = 0
    # (invoice number or id, reason in one line) of the invoices not written.
    refused: list[tuple[str, str]] = field(default_factory=list)


def export_period_ubl(
    conn: Conn, period: BillingPeriod, directory: Path, *, force: bool = False
) -> UblExport:
    """Write `<directory>/<invoice number>.xml` for every issued business invoice of `period`.

    Raises UnsettledPeriod (nothing written) when a supplied grid area has no completed run."""
    require_settled(conn, period)
    report = UblExport(period)
    for invoice_id in period_invoice_ids(conn, period):
        found = invoice_with_lines(conn, invoice_id)
        if found is None:
            continue
        head = found[0]
        number = head["invoice_number"]
        if number is None:
            report.drafts += 1
            continue
        if head["contact_type"] != "Business":
            report.private.append(str(number))
            continue
        try:
            data = render(assemble(conn, invoice_id))
        except ElflowError as exc:
            report.refused.append((str(number), str(exc)))
            continue
        failed = fatal(validate(data))
        if failed:
            rules = ", ".join(sorted({f.rule for f in failed}))
            report.refused.append((str(number), f"fails {rules}: {failed[0]}"))
            continue
        if not _SAFE_NAME.fullmatch(str(number)):
            report.refused.append((str(number), "the invoice number is not a safe file name"))
            continue
        report.written.append(write_file(directory / f"{number}.xml", data, force=force))
    return report
