"""The printed invoice's model (settlement.invoice_document.assemble) against the invoice rows of
the golden invoice scenarios, on the real database."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from schemas.calendar import BillingPeriod
from schemas.codelists import InvoiceType
from settlement.invoice_document import InvoiceDocumentError, assemble, check
from settlement.invoice_run import run_invoicing
from storage.db import connect
from tests.test_invoice_scenarios import test_invoice_scenario as run_scenario

pytestmark = pytest.mark.services

LATER = datetime.fromisoformat("2026-12-02T09:00:00+00:00")


def _issued(url: str) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(
            """SELECT id, invoice_number, type, total_ex_vat, vat_amount, total_incl_vat, due_date,
                      corrects_invoice_id
               FROM invoice WHERE invoice_number IS NOT NULL ORDER BY invoice_number"""
        ).fetchall()


def _rows(url: str, invoice_id: Any) -> list[tuple[Any, ...]]:
    with connect(url) as conn:
        return conn.execute(
            """SELECT line_no, metering_point_id, charge_type, description, quantity, amount
               FROM invoice_line WHERE invoice_id = %s ORDER BY line_no""",
            (invoice_id,),
        ).fetchall()


def test_credit_note_document_equals_rows(db: str) -> None:
    run_scenario(db, "b_credit_note_after_lower_rerun")
    with connect(db) as conn:
        run_invoicing(conn, BillingPeriod.parse("2026-10"), LATER, issue=True)
    issued = _issued(db)
    assert [row[2] for row in issued] == ["Standard", "CreditNote"]
    numbers = {row[0]: row[1] for row in issued}
    with connect(db) as conn:
        for invoice_id, number, kind, ex_vat, vat, incl, due, corrects in issued:
            doc = assemble(conn, invoice_id)
            assert doc.number == number and doc.type is InvoiceType(kind)
            assert (doc.total_ex_vat, doc.vat_amount, doc.total_incl_vat) == (ex_vat, vat, incl)
            assert doc.amount_due == incl and doc.due_date == due
            assert doc.period_first_day == date(2026, 10, 1)
            assert doc.period_last_day == date(2026, 10, 31)
            assert doc.corrects_number == (numbers[corrects] if corrects else None)
            rows = _rows(db, invoice_id)
            assert [
                (n.line_no, n.gsrn, n.charge_type, n.description, n.quantity, n.amount)
                for n in doc.lines
            ] == rows
            assert doc.supplier.cvr and doc.customer.name
            assert [i.gsrn for i in doc.installations] == sorted({r[1] for r in rows})
    credit = next(row for row in issued if row[2] == "CreditNote")
    assert credit[3] == Decimal("-30.61")


def test_check_refuses_parts_that_do_not_add_up(db: str) -> None:
    run_scenario(db, "a_standard_monthly_rounding")
    invoice_id = _issued(db)[0][0]
    with connect(db) as conn:
        doc = assemble(conn, invoice_id)
    line = doc.lines[0]
    broken_line = type(line)(**{**line.__dict__, "amount": line.amount + Decimal("0.01")})
    broken = type(doc)(**{**doc.__dict__, "lines": (broken_line, *doc.lines[1:])})
    with pytest.raises(InvoiceDocumentError, match="line 1") as raised:
        check(broken)
    assert "\n" not in str(raised.value)


def test_a_draft_is_not_printed(db: str) -> None:
    run_scenario(db, "b_credit_note_after_lower_rerun")
    with connect(db) as conn:
        draft = conn.execute("SELECT id FROM invoice WHERE status = 'Draft'").fetchone()
        assert draft is not None
        with pytest.raises(InvoiceDocumentError, match="not issued"):
            assemble(conn, draft[0])
