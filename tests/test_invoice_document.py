"""The printed invoice's model (settlement.invoice_document.assemble) against the invoice rows of
the golden invoice scenarios, on the real database."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from schemas.bands import DEFAULT_BANDS, band_table
from schemas.calendar import BillingPeriod
from schemas.codelists import InvoiceType
from settlement.invoice_document import InvoiceDocumentError, assemble, check
from settlement.invoice_run import run_invoicing
from settlement.run import settle
from storage.db import connect
from storage.readings import write_batch
from tests.settlement_support import SCENARIOS, load_given
from tests.test_invoice_scenarios import test_invoice_scenario as run_scenario
from tests.test_period_close_e2e import _correction

pytestmark = pytest.mark.services

OCTOBER = BillingPeriod.parse("2026-10")
CLOSE = datetime.fromisoformat("2026-11-05T08:00:00+00:00")
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


def _close_october(url: str) -> None:
    """The settlement scenario a (PT15M spot month with aconto) settled and invoiced for real."""
    with connect(url, autocommit=True) as conn:
        load_given(conn, SCENARIOS / "a_plain_month_pt15m_spot" / "given")
    settle(OCTOBER, "344", url=url, now=CLOSE, progress=lambda _m: None)
    with connect(url) as conn:
        run_invoicing(conn, OCTOBER, CLOSE, issue=True)


def test_real_close_prints_published_rates(db: str) -> None:
    _close_october(db)
    with connect(db) as conn:
        (invoice_id,) = [row[0] for row in _issued(db)]
        doc = assemble(conn, invoice_id)
    by_charge = {line.charge_type: line for line in doc.lines}
    for charge in ("GridTariff", "SystemTariff", "TransmissionTariff", "ElectricityTax"):
        line = by_charge[charge]
        assert line.rates and all(r.published and r.rate_unit == "øre/kWh" for r in line.rates)
        assert sum(r.quantity for r in line.rates) == line.quantity
        for part in line.rates:
            # kWh × the published rate is the part's amount up to rounding to øre.
            assert abs(part.quantity * part.rate / 100 - part.amount) <= Decimal("0.005") * len(
                line.rates
            )
    energy = by_charge["Energy"].rates
    # A spot product: the margin at its published rate, the spot share as a marked mean.
    assert [r.published for r in energy] == [True, False]
    assert [r.counts_quantity for r in energy] == [True, False]
    subscription = by_charge["SupplierSubscription"].rates
    assert [(r.quantity_unit, r.rate_unit) for r in subscription] == [("dage", "kr/dag")]
    # Aconto paid is shown incl. VAT: the Paid line (excl. VAT) is it ÷ 1.25.
    paid = next(line for line in doc.lines if line.aconto_kind == "Paid")
    assert paid.amount_incl_vat is not None and paid.amount_incl_vat < 0
    assert doc.aconto_paid_incl_vat == -paid.amount_incl_vat
    assert (paid.amount * Decimal("1.25")).quantize(Decimal("0.01")) == paid.amount_incl_vat


def test_notes_after_real_corrections_print_rate_differences(db: str) -> None:
    _close_october(db)
    bands = list(band_table(DEFAULT_BANDS))
    for n, kwh in enumerate(("0.400", "0.100")):
        with connect(db) as conn:
            write_batch(
                conn,
                [_correction(f"CORR-{n}", CLOSE + timedelta(hours=n), kwh)],
                tz="Europe/Copenhagen",
                bands=bands,
            )
        settle(OCTOBER, "344", url=db, now=CLOSE, progress=lambda _m: None)
        with connect(db) as conn:
            run_invoicing(conn, OCTOBER, CLOSE, issue=True)
    issued = _issued(db)
    assert [row[2] for row in issued] == ["AcontoCombined", "DebitNote", "CreditNote"]
    with connect(db) as conn:
        docs = [assemble(conn, row[0]) for row in issued]
    debit, credit = docs[1], docs[2]
    assert debit.corrects_number == credit.corrects_number == docs[0].number
    for note, sign in ((debit, 1), (credit, -1)):
        tax = next(line for line in note.lines if line.charge_type == "ElectricityTax")
        # The difference is priced at the same published rate as the invoice it corrects.
        assert [(r.rate, r.published) for r in tax.rates] == [(Decimal("0.8"), True)]
        assert tax.rates[0].quantity * sign > 0


def test_rates_changing_in_the_period_give_a_part_each(db: str) -> None:
    """A new electricity tax from 30 October and one peak hour of the grid tariff priced apart
    (so the day is read slot by slot, not by band): each rate gets its own part and dates."""
    with connect(db, autocommit=True) as conn:
        load_given(conn, SCENARIOS / "a_plain_month_pt15m_spot" / "given")
        change = datetime.fromisoformat("2026-10-29T23:00:00+00:00")  # 30 October, local
        conn.execute("UPDATE electricity_tax SET valid_to = %s WHERE valid_to IS NULL", (change,))
        conn.execute(
            "INSERT INTO electricity_tax (id, rate_per_kwh, valid_from) VALUES (%s, 0.01, %s)",
            (uuid.uuid4(), change),
        )
        conn.execute(
            """UPDATE tariff_rate SET price_per_kwh = price_per_kwh + 0.05 WHERE hour_number = 8
               AND grid_tariff_id IN (SELECT id FROM grid_tariff WHERE tariff_type = 'GridTariff')"""
        )
    settle(OCTOBER, "344", url=db, now=CLOSE, progress=lambda _m: None)
    with connect(db) as conn:
        run_invoicing(conn, OCTOBER, CLOSE, issue=True)
        doc = assemble(conn, _issued(db)[0][0])
    by_charge = {line.charge_type: line for line in doc.lines}
    tax = by_charge["ElectricityTax"].rates
    assert [(r.rate, r.first_day, r.last_day) for r in tax] == [
        (Decimal("0.8"), date(2026, 10, 29), date(2026, 10, 29)),
        (Decimal("1"), date(2026, 10, 30), date(2026, 10, 31)),
    ]
    grid = by_charge["GridTariff"].rates
    assert len(grid) == 5 and all(r.published for r in grid)
    assert sum(r.quantity for r in grid) == by_charge["GridTariff"].quantity
