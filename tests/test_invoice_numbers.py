"""Invoice numbers against the real database: gap-free per series under concurrent issuers that
also roll back, never reused, kept by the issued-invoice guard, shown in the JSON export."""

from __future__ import annotations

import random
import re
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import psycopg
import pytest

from schemas.calendar import BillingPeriod, local_date
from schemas.codelists import ChargeType, InvoiceType
from schemas.invoice_records import Line
from settlement.exports import invoice_document
from settlement.invoicing import InvoiceDraft
from storage import invoices as store
from storage.db import connect
from tests.invoice_fixtures import ContractRow, billing_period, ids, seed_contracts

pytestmark = pytest.mark.services

NOW = datetime(2026, 11, 5, 8, tzinfo=UTC)
SERIES = f"T-{local_date(NOW).year}"


class Cancelled(Exception):
    """An issue the test aborts after the numbers were taken (its transaction rolls back)."""


def _drafts(url: str, customers: int, months: int) -> dict[uuid.UUID, list[uuid.UUID]]:
    """One Draft per customer and month of 2026; the draft ids per billing period."""
    rows = [
        ContractRow(
            f"C{c}",
            f"K{c}",
            f"5713131{c:011d}",
            "344",
            "Monthly",
            "PostPayment",
            14,
            BillingPeriod.parse("2026-01").start,
        )
        for c in range(customers)
    ]
    made: dict[uuid.UUID, list[uuid.UUID]] = {}
    with connect(url) as conn:
        seed_contracts(conn, rows)
        for month in range(1, months + 1):
            bp = billing_period(conn, BillingPeriod.parse(f"2026-{month:02d}"))
            made[bp] = [
                store.create_invoice(
                    conn,
                    bp,
                    InvoiceDraft(
                        ids(row.customer),
                        InvoiceType.STANDARD,
                        (
                            Line(
                                row.gsrn,
                                ChargeType.ENERGY,
                                None,
                                "El",
                                Decimal(1),
                                Decimal(2),
                                Decimal(2),
                            ),
                        ),
                        14,
                    ),
                )
                for row in rows
            ]
        conn.commit()
    return made


def _issue(bp: uuid.UUID, cancel: bool, start: threading.Barrier, taken: list[str]) -> None:
    """Issue a period's drafts as the finance role; with `cancel`, abort after numbering."""
    with connect(job="finance") as conn:
        start.wait()
        try:
            with conn.transaction():
                issued = store.issue_drafts(conn, bp, NOW, "T")
                numbers = store.invoice_numbers(conn, issued)
                if cancel:
                    raise Cancelled
        except Cancelled:
            return
        taken.extend(numbers.values())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_issuers_number_one_to_n_without_gaps_or_duplicates(db: str, seed: int) -> None:
    rng = random.Random(seed)
    made = _drafts(db, customers=rng.randint(3, 7), months=rng.randint(3, 6))
    # Per period: one or two issuers that run to the end, some cancelled ones before them, all
    # let go at once (two issuers of one period must not number a draft twice).
    plan = [
        (bp, cancel)
        for bp in made
        for cancel in [True] * rng.randint(0, 2) + [False] * rng.randint(1, 2)
    ]
    rng.shuffle(plan)
    start = threading.Barrier(len(plan))
    taken: list[str] = []
    threads = [
        threading.Thread(target=_issue, args=(bp, cancel, start, taken)) for bp, cancel in plan
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Cancelled issuers that got no drafts left are harmless; any draft they held goes back:
    # issue what is left (there is none when a finishing issuer came after every cancel).
    with connect(job="finance") as conn:
        for bp in made:
            taken.extend(
                store.invoice_numbers(conn, store.issue_drafts(conn, bp, NOW, "T")).values()
            )
        conn.commit()

    total = sum(len(drafts) for drafts in made.values())
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT status, number_series, number_in_series, invoice_number FROM invoice"
        ).fetchall()
        counter = conn.execute(
            "SELECT last_number FROM invoice_number_series WHERE series = %s", (SERIES,)
        ).fetchone()
    assert len(rows) == total and {row[0] for row in rows} == {"Issued"}
    assert {row[1] for row in rows} == {SERIES}
    assert sorted(row[2] for row in rows) == list(range(1, total + 1))
    assert sorted(taken) == sorted(row[3] for row in rows)  # every number handed out once
    assert {row[3] for row in rows} == {f"{SERIES}-{n:06d}" for n in range(1, total + 1)}
    assert counter == (total,)


def test_a_rolled_back_issue_leaves_no_gap_and_numbers_continue(db: str) -> None:
    made = _drafts(db, customers=2, months=2)
    first, second = made
    with connect(job="finance") as conn:
        with pytest.raises(Cancelled), conn.transaction():
            store.issue_drafts(conn, first, NOW, "T")
            raise Cancelled
        with conn.transaction():
            store.issue_drafts(conn, second, NOW, "T")
        with conn.transaction():
            store.issue_drafts(conn, first, NOW, "T")
        numbers = conn.execute(
            "SELECT billing_period_id, number_in_series FROM invoice ORDER BY number_in_series"
        ).fetchall()
    assert numbers == [(second, 1), (second, 2), (first, 3), (first, 4)]


def test_an_issued_number_is_kept_and_never_reused(db: str) -> None:
    made = _drafts(db, customers=2, months=1)
    (bp,) = made
    with connect(db) as conn:
        issued = store.issue_drafts(conn, bp, NOW, "T")
        conn.commit()
        for statement in (
            "UPDATE invoice SET invoice_number = 'T-2026-000009' WHERE id = %s",
            "UPDATE invoice SET number_in_series = 9 WHERE id = %s",
        ):
            with pytest.raises(psycopg.errors.RaiseException), conn.transaction():
                conn.execute(statement, (issued[0],))
        # Another invoice cannot take a number already given.
        draft = store.create_invoice(
            conn, bp, InvoiceDraft(ids("C0"), InvoiceType.CREDIT_NOTE, (), 14)
        )
        number = store.invoice_numbers(conn, [issued[0]])[issued[0]]
        with pytest.raises(psycopg.errors.UniqueViolation), conn.transaction():
            conn.execute(
                """UPDATE invoice SET status = 'Issued', issued_at = now(), number_series = %s,
                          number_in_series = %s, invoice_number = %s WHERE id = %s""",
                (SERIES, int(number[-6:]), number, draft),
            )
        # A Draft carries no number.
        with pytest.raises(psycopg.errors.CheckViolation), conn.transaction():
            conn.execute(
                """UPDATE invoice SET number_series = %s, number_in_series = 99,
                          invoice_number = 'T-2026-000099' WHERE id = %s""",
                (SERIES, draft),
            )


def test_the_json_export_shows_the_number_and_a_draft_has_none(db: str) -> None:
    made = _drafts(db, customers=1, months=2)
    issued_bp, draft_bp = made
    with connect(db) as conn:
        (issued,) = store.issue_drafts(conn, issued_bp, NOW, "EF")
        conn.commit()
        document = invoice_document(conn, issued)
        draft = invoice_document(conn, made[draft_bp][0])
    assert document["invoice"]["number"] == f"EF-{local_date(NOW).year}-000001"
    assert re.fullmatch(r"EF-\d{4}-\d{6}", document["invoice"]["number"])
    assert draft["invoice"]["number"] is None
