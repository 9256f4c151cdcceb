"""The invoice as a PDF the customer reads: Danish, A4, one page for a normal invoice.

Rendered with fpdf2 (pure Python, no system libraries; the PDF core font Helvetica, so no font
file is shipped) from settlement.invoice_document.InvoiceDocument: every figure printed is a
field of the document, and the document's figures are the stored invoice rows. Amounts in
kroner with Danish separators (1.234,56), dates dd.mm.yyyy (local dates).

Text outside Latin-1 (the core font's range; æ, ø, å are in it) is printed as '?'.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from schemas.calendar import BillingPeriod
from settlement.exports import write_file
from settlement.invoice_document import (
    FALLBACK,
    DocumentLine,
    InvoiceDocument,
    InvoiceDocumentError,
    RateLine,
    assemble,
)
from storage import invoice_details as details
from storage.db import Conn
from storage.invoices import find_billing_period

FONT = "Helvetica"
WIDTHS = (86, 30, 24, 26, 24)  # description, period, quantity, rate, amount (mm; 190 in all)
ROW = 4.6


def kr(amount: Decimal) -> str:
    """1234.5 → '1.234,50' (øre, Danish separators)."""
    text = f"{amount.quantize(Decimal('0.01')):,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def number(value: Decimal, decimals: int | None = None) -> str:
    """A quantity or rate with Danish separators; trailing zeros kept to `decimals` places,
    else dropped (a rate prints as published: 0,8 → '0,80' with decimals=2)."""
    if decimals is not None:
        text = f"{value.quantize(Decimal(1).scaleb(-decimals)):,}"
    else:
        normal = value.normalize()
        text = f"{normal:,f}" if normal == normal.to_integral() else f"{normal:,}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")


def rate_text(rate: RateLine) -> str:
    places = max(2, -min(0, rate.rate.normalize().as_tuple().exponent))  # type: ignore[operator]
    return f"{number(rate.rate, places)} {rate.rate_unit}"


def day(value: date) -> str:
    return f"{value:%d.%m.%Y}"


def _days(first: date | None, last: date | None) -> str:
    if first is None or last is None:
        return ""
    return f"{first:%d.%m}-{last:%d.%m.%y}"


def _latin1(text: str) -> str:
    return text.encode("latin-1", "replace").decode("latin-1")


class _Page(FPDF):
    def __init__(self, document: InvoiceDocument) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.document = document
        self.set_margins(10, 10, 10)
        self.set_auto_page_break(auto=True, margin=18)
        self.set_title(_latin1(f"{document.title} {document.number}"))
        self.set_author(_latin1(document.supplier.name))
        # Reproducible bytes: the PDF's own dates are the issue date.
        self.set_creation_date(datetime.combine(document.issue_date, time(), UTC))

    def footer(self) -> None:
        s = self.document.supplier
        self.set_y(-14)
        self.set_font(FONT, size=7)
        self.cell(
            0,
            3.5,
            _latin1(f"{s.name} - {s.address} - CVR {s.cvr} - GLN {s.gln} - {s.phone} - {s.email}"),
            align="C",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.cell(
            0, 3.5, f"Side {self.page_no()}/{{nb}}", align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT
        )

    def text_line(self, text: str, *, size: float = 9, bold: bool = False, h: float = ROW) -> None:
        self.set_font(FONT, style="B" if bold else "", size=size)
        self.cell(0, h, _latin1(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def row(self, cells: Sequence[str], *, bold: bool = False, size: float = 9) -> None:
        self.set_font(FONT, style="B" if bold else "", size=size)
        for n, (width, text) in enumerate(zip(WIDTHS, cells, strict=True)):
            self.cell(width, ROW, _latin1(text), align="L" if n < 2 else "R")
        self.ln(ROW)


def _head(pdf: _Page, doc: InvoiceDocument) -> None:
    s, c = doc.supplier, doc.customer
    top = pdf.get_y()
    pdf.set_font(FONT, style="B", size=14)
    pdf.cell(0, 7, _latin1(s.name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.text_line(s.address)
    pdf.text_line(f"CVR-nr. {s.cvr}  GLN {s.gln}")
    pdf.text_line(f"Tlf. {s.phone}  {s.email}")
    pdf.ln(4)
    pdf.text_line(c.name, bold=True)
    for part in (c.address or "Adresse ikke oplyst").split("\n"):
        pdf.text_line(part)
    if c.is_business:
        pdf.text_line(f"CVR-nr. {c.cpr_cvr}")
    bottom = pdf.get_y()
    pdf.set_xy(120, top)
    pdf.set_font(FONT, style="B", size=16)
    pdf.cell(80, 8, _latin1(doc.title), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    facts = [
        ("Fakturanr.", doc.number),
        ("Fakturadato", day(doc.issue_date)),
        ("Forfaldsdato", day(doc.due_date)),
        ("Periode", f"{day(doc.period_first_day)} - {day(doc.period_last_day)}"),
        ("Kunde-id", str(c.id)[:8]),
    ]
    if doc.corrects_number:
        facts.insert(1, ("Korrigerer faktura", doc.corrects_number))
    pdf.set_font(FONT, size=9)
    for label, value in facts:
        pdf.set_x(120)
        pdf.cell(35, ROW, _latin1(label))
        pdf.cell(45, ROW, _latin1(value), align="R", new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_xy(pdf.l_margin, max(bottom, pdf.get_y()) + 3)
    if doc.corrects_number:
        verb = "krediterer" if doc.type.value == "CreditNote" else "efterdebiterer"
        pdf.text_line(
            f"Denne {doc.title.lower()} {verb} forskellen til faktura {doc.corrects_number}.",
            bold=True,
        )
    for inst in doc.installations:
        area = f", netområde {inst.grid_area_code}" if inst.grid_area_code else ""
        owner = f" ({inst.grid_operator_name})" if inst.grid_operator_name else ""
        where = inst.address or "installationsadresse ikke oplyst af DataHub"
        pdf.text_line(f"Målepunkt (GSRN) {inst.gsrn}{area}{owner}; {where}")
    pdf.ln(2)


def _line(pdf: _Page, line: DocumentLine) -> None:
    if line.aconto_kind is not None:
        incl = "" if line.amount_incl_vat is None else f"inkl. moms {kr(line.amount_incl_vat)}"
        pdf.row([line.description, "", "", incl, kr(line.amount)])
        return
    pdf.row(
        [line.description, "", f"{number(line.quantity)} {line.quantity_unit}", "", ""], bold=True
    )
    for rate in line.rates:
        mark = "" if rate.published else " *"
        pdf.row(
            [
                f"   {rate.description}{mark}",
                _days(rate.first_day, rate.last_day),
                f"{number(rate.quantity)} {rate.quantity_unit}",
                rate_text(rate),
                kr(rate.amount),
            ],
            size=8,
        )
    if len(line.rates) != 1:
        pdf.row(["   I alt", "", "", "", kr(line.amount)], size=8, bold=True)


def _totals(pdf: _Page, doc: InvoiceDocument) -> None:
    pdf.ln(1)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    pdf.ln(1)
    rate = number(doc.vat_rate * 100)
    for label, value, bold in (
        ("I alt ekskl. moms", doc.total_ex_vat, False),
        (f"Moms {rate} %", doc.vat_amount, False),
        ("I alt inkl. moms", doc.total_incl_vat, True),
    ):
        pdf.row([label, "", "", "", kr(value)], bold=bold)
    pdf.ln(2)
    due = doc.amount_due
    label = "Beløb til betaling" if due >= 0 else "Beløb til gode"
    pdf.set_font(FONT, style="B", size=11)
    pdf.cell(166, 6, _latin1(f"{label} senest {day(doc.due_date)}"))
    pdf.cell(24, 6, _latin1(f"{kr(abs(due))}"), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.aconto_lines and not doc.is_note:
        pdf.text_line(
            f"Betalt aconto i perioden inkl. moms: {kr(doc.aconto_paid_incl_vat)} kr.  "
            f"Aconto for næste periode inkl. moms: {kr(doc.next_aconto_incl_vat)} kr.",
            size=8,
        )


def _payment(pdf: _Page, doc: InvoiceDocument) -> None:
    s = doc.supplier
    pdf.ln(3)
    if doc.amount_due >= 0:
        bic = f", BIC {s.bic}" if s.bic else ""
        pdf.text_line(
            f"Betaling: reg.nr. {s.bank_reg} konto {s.bank_account} (IBAN {s.iban}{bic}); "
            f"angiv fakturanr. {doc.number}.",
            size=8,
        )
    else:
        pdf.text_line(
            "Beløbet til gode udbetales til din konto eller modregnes i næste faktura.", size=8
        )
    pdf.text_line(
        "Priserne er ekskl. moms. Sats = den offentliggjorte pris i perioden (tariffer og "
        "elafgift fra prislisten, elpris fra dit produkt).",
        size=7,
        h=3.5,
    )
    means = {r.description for line in doc.lines for r in line.rates if not r.published}
    if any(text.startswith("Spotpris") for text in means):
        pdf.text_line(
            "* Spotprisen skifter hvert kvarter; vist er gennemsnittet vægtet efter dit forbrug.",
            size=7,
            h=3.5,
        )
    if FALLBACK in means:
        pdf.text_line(
            f"* {FALLBACK}: beløb divideret med mængde (satserne i perioden kunne ikke "
            "opgøres pr. sats).",
            size=7,
            h=3.5,
        )


def render(doc: InvoiceDocument) -> bytes:
    """The PDF bytes of one document."""
    pdf = _Page(doc)
    pdf.add_page()
    _head(pdf, doc)
    pdf.row(["Specifikation", "Periode", "Mængde", "Sats", "Beløb kr."], bold=True)
    pdf.line(pdf.l_margin, pdf.get_y(), pdf.w - pdf.r_margin, pdf.get_y())
    for line in doc.charge_lines:
        _line(pdf, line)
    for line in doc.aconto_lines:
        _line(pdf, line)
    _totals(pdf, doc)
    _payment(pdf, doc)
    return bytes(pdf.output())


def write_pdfs(
    conn: Conn,
    directory: Path,
    period: BillingPeriod | None,
    numbers: Sequence[str],
    *,
    force: bool = False,
) -> list[Path]:
    """`<number>.pdf` in `directory` for every issued invoice of `period` and every invoice
    number given; raises InvoiceDocumentError naming a number that is not an issued invoice."""
    bp_id = None if period is None else find_billing_period(conn, period)
    found = details.issued_invoices(conn, bp_id, list(numbers))
    unknown = sorted(set(numbers) - {n for _, n in found})
    if unknown:
        raise InvoiceDocumentError(f"no issued invoice numbered {', '.join(unknown)}")
    written = []
    for invoice_id, invoice_number in found:
        document = assemble(conn, invoice_id)
        written.append(
            write_file(directory / f"{invoice_number}.pdf", render(document), force=force)
        )
    return written
