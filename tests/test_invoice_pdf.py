"""The invoice PDF (settlement.invoice_pdf) rendered from real closes and the golden invoice
scenarios, read back with poppler's `pdftotext -layout`: every figure of the stored invoice rows
(and of the parts stored with them) is on the page, on the row it belongs to."""

from __future__ import annotations

import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from deploy.cli import main
from settlement.invoice_document import InvoiceDocument, assemble
from settlement.invoice_pdf import day, kr, number, rate_text, write_pdfs
from settlement.invoice_run import run_invoicing
from storage.db import connect
from tests.test_invoice_document import (
    LATER,
    OCTOBER,
    _close_october,
    _issued,
    _rows,
)
from tests.test_invoice_scenarios import test_invoice_scenario as run_scenario

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed"),
]


def _text(pdf: Path) -> str:
    done = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    )
    return done.stdout


def _on_one_row(text: str, *figures: str) -> bool:
    """Some line of the page holds the figures in this order."""
    pattern = r".*".join(re.escape(f) for f in figures)
    return any(re.search(pattern, line) for line in text.splitlines())


def _check_page(text: str, doc: InvoiceDocument, rows: list[tuple[object, ...]]) -> None:
    assert text.count("\f") == 1, "a normal invoice is one page"
    for figure in (
        doc.title,
        doc.number,
        day(doc.issue_date),
        day(doc.due_date),
        day(doc.period_first_day),
        day(doc.period_last_day),
        doc.supplier.name,
        doc.supplier.address,
        f"CVR-nr. {doc.supplier.cvr}",
        doc.supplier.iban if doc.amount_due >= 0 else "til gode",
        doc.customer.name,
    ):
        assert figure in text, figure
    for inst in doc.installations:
        assert inst.gsrn in text
    # The rows of invoice_line, each with its amount (or its parts), in the stored order.
    assert [(line.line_no, line.description, line.amount) for line in doc.lines] == [
        (r[0], r[3], r[5]) for r in rows
    ]
    for line in doc.lines:
        if line.aconto_kind is not None:
            incl = () if line.amount_incl_vat is None else (kr(line.amount_incl_vat),)
            assert _on_one_row(text, line.description, *incl, kr(line.amount)), line
            continue
        assert _on_one_row(text, line.description, f"{number(line.quantity)} {line.quantity_unit}")
        for rate in line.rates:
            assert _on_one_row(
                text,
                rate.description,
                f"{number(rate.quantity)} {rate.quantity_unit}",
                rate_text(rate),
                kr(rate.amount),
            ), rate
        if len(line.rates) != 1:
            assert _on_one_row(text, "I alt", kr(line.amount))
    assert _on_one_row(text, "I alt ekskl. moms", kr(doc.total_ex_vat))
    assert _on_one_row(text, "Moms 25 %", kr(doc.vat_amount))
    assert _on_one_row(text, "I alt inkl. moms", kr(doc.total_incl_vat))
    assert _on_one_row(text, day(doc.due_date), kr(abs(doc.amount_due)))
    if doc.corrects_number:
        assert _on_one_row(text, "Korrigerer faktura", doc.corrects_number)


def _render_and_check(url: str, out: Path) -> list[InvoiceDocument]:
    issued = _issued(url)
    with connect(url) as conn:
        written = write_pdfs(conn, out, OCTOBER, [])
        docs = [assemble(conn, row[0]) for row in issued]
    assert [p.name for p in written] == [f"{row[1]}.pdf" for row in issued]
    for path, doc, row in zip(written, docs, issued, strict=True):
        _check_page(_text(path), doc, _rows(url, row[0]))
    return docs


def test_real_close_pdf_shows_every_figure(db: str, tmp_path: Path) -> None:
    _close_october(db)
    (doc,) = _render_and_check(db, tmp_path)
    text = _text(tmp_path / f"{doc.number}.pdf")
    # Published rates as the price list states them (øre/kWh), aconto paid incl. VAT.
    assert "0,80 øre/kWh" in text and "7,20 øre/kWh" in text
    assert kr(doc.aconto_paid_incl_vat) in text and doc.aconto_paid_incl_vat > 0


def test_golden_credit_note_pdf(db: str, tmp_path: Path) -> None:
    run_scenario(db, "b_credit_note_after_lower_rerun")
    with connect(db) as conn:
        run_invoicing(conn, OCTOBER, LATER, issue=True)
    docs = _render_and_check(db, tmp_path)
    credit = docs[1]
    assert credit.title == "Kreditnota" and credit.total_incl_vat == Decimal("-38.26")
    text = _text(tmp_path / f"{credit.number}.pdf")
    assert f"krediterer forskellen til faktura {docs[0].number}" in text
    assert "Beløb til gode" in text


def test_cli_writes_one_file_per_number(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_scenario(db, "d_aconto_overpaid")
    (number_,) = [row[1] for row in _issued(db)]
    monkeypatch.setenv("ELFLOW_FINANCE_DATABASE_URL", db)
    from schemas.settings import settings

    settings.cache_clear()
    out = tmp_path / "pdf"
    assert main(["invoice", "pdf", "--invoice", number_, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"{number_}.pdf"]
    assert main(["invoice", "pdf", "--invoice", "EF-1999-000001", "--out", str(out)]) == 2
