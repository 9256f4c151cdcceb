"""Period close end to end on the real database: readings through the ingest write path,
reference data through the importers, `settle`, invoices issued, then a DataHub correction
after invoicing → a new settlement version → a debit note; a later downward correction → a
credit note. No settlement line or invoice is inserted by hand here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest

from schemas.bands import DEFAULT_BANDS, band_table
from schemas.calendar import BillingPeriod
from settlement.invoice_run import run_invoicing
from settlement.run import settle
from storage.db import Conn, connect
from storage.readings import TransactionItem, write_batch
from tests.settlement_support import SCENARIOS, load_given

pytestmark = pytest.mark.services

GSRN = "571313100000000027"
# 2026-10-30 local: 23:00Z on the 29th to 23:00Z on the 30th (CET after the DST change).
DAY_START = datetime(2026, 10, 29, 23, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


def _correction(document_id: str, created: datetime, kwh: str) -> TransactionItem:
    return TransactionItem(
        document_id=document_id,
        document_type="E66",
        created=created,
        transaction_id=f"{document_id}-t",
        gsrn=GSRN,
        resolution="PT15M",
        readings=tuple(
            (DAY_START + timedelta(minutes=15 * q), Decimal(kwh), "A04") for q in range(96)
        ),
        topic="datahub",
        partition=0,
        offset=0,
    )


def _settled_total(conn: Conn, version: int) -> Decimal:
    row = conn.execute(
        """SELECT sum(round(l.total_amount, 2)) FROM settlement_line l
           JOIN settlement_run r ON r.id = l.settlement_run_id
           WHERE r.version = %s AND r.status = 'Completed'""",
        (version,),
    ).fetchone()
    assert row is not None
    return Decimal(row[0])


def _invoices(conn: Conn) -> list[tuple[str, str, Decimal, bool]]:
    rows = conn.execute(
        """SELECT type, status, total_ex_vat, corrects_invoice_id IS NOT NULL
           FROM invoice ORDER BY created_at"""
    ).fetchall()
    return [(r[0], r[1], r[2], r[3]) for r in rows]


def test_a_correction_after_invoicing_gives_a_new_version_and_a_debit_then_a_credit_note(
    db: str,
) -> None:
    bands = list(band_table(DEFAULT_BANDS))
    period = invoice_period = BillingPeriod.parse("2026-10")
    with connect(db, autocommit=True) as conn:
        load_given(conn, SCENARIOS / "a_plain_month_pt15m_spot" / "given")

    settle(period, "344", url=db, now=NOW, progress=lambda _m: None)
    with connect(db) as conn:
        first = run_invoicing(conn, invoice_period, NOW, issue=True)
        v1 = _settled_total(conn, 1)

    # DataHub corrects 2026-10-30 upwards (a new transaction, no flag), after we invoiced.
    with connect(db) as conn:
        write_batch(
            conn, [_correction("CORR-UP", NOW, "0.400")], tz="Europe/Copenhagen", bands=bands
        )
    settle(period, "344", url=db, now=NOW, progress=lambda _m: None)
    with connect(db) as conn:
        debit = run_invoicing(conn, invoice_period, NOW, issue=True)
        v2 = _settled_total(conn, 2)
        after_debit = _invoices(conn)
        unchanged = run_invoicing(conn, invoice_period, NOW, issue=True)

    # ... and later downwards, below the original.
    with connect(db) as conn:
        write_batch(
            conn,
            [_correction("CORR-DOWN", NOW + timedelta(hours=1), "0.100")],
            tz="Europe/Copenhagen",
            bands=bands,
        )
    settle(period, "344", url=db, now=NOW, progress=lambda _m: None)
    with connect(db) as conn:
        credit = run_invoicing(conn, invoice_period, NOW, issue=True)
        v3 = _settled_total(conn, 3)
        invoices = _invoices(conn)
        net_invoiced = conn.execute(
            "SELECT sum(amount) FROM invoice_line WHERE charge_type <> 'Aconto'"
        ).fetchone()

    assert len(first.created) == 1 and len(first.issued) == 1
    assert v1 < v2 and v3 < v1
    assert len(debit.created) == 1 and len(credit.created) == 1
    assert unchanged.created == [] and unchanged.replaced == []
    assert [(t, s, c) for t, s, _total, c in after_debit] == [
        ("AcontoCombined", "Issued", False),
        ("DebitNote", "Issued", True),
    ]
    assert [(t, c) for t, _s, _total, c in invoices] == [
        ("AcontoCombined", False),
        ("DebitNote", True),
        ("CreditNote", True),
    ]
    debit_total, credit_total = invoices[1][2], invoices[2][2]
    assert debit_total > 0 > credit_total
    # What the customer was billed for consumption in the end equals the latest run, to the øre.
    assert net_invoiced is not None
    assert Decimal(net_invoiced[0]).quantize(Decimal("0.01"), ROUND_HALF_UP) == v3
