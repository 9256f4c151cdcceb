"""What the printed invoice reads besides the invoice rows: the customer's address, the number of
the invoice a note corrects, the installations, and the lines' parts (published rates, aconto
incl. VAT) stored when the invoice was made. SQL only; settlement/invoice_document.py assembles.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from storage.db import Conn


@dataclass(frozen=True)
class PartRow:
    """An invoice_line_part row (migration 0042)."""

    line_no: int
    part_no: int
    kind: str  # 'rate' | 'aconto'
    description: str
    quantity: Decimal
    quantity_unit: str
    rate: Decimal | None
    rate_unit: str | None
    first_day: date | None
    last_day: date | None
    amount: Decimal
    amount_incl_vat: Decimal | None
    published: bool


@dataclass(frozen=True)
class InstallationRow:
    gsrn: str
    grid_area_code: str | None
    grid_operator_name: str | None


def customer_extras(conn: Conn, invoice_id: uuid.UUID) -> tuple[str | None, str | None]:
    """(the customer's address, the number of the invoice this one corrects)."""
    row = conn.execute(
        """SELECT c.address, o.invoice_number
           FROM invoice i JOIN customer c ON c.id = i.customer_id
           LEFT JOIN invoice o ON o.id = i.corrects_invoice_id
           WHERE i.id = %s""",
        (invoice_id,),
    ).fetchone()
    return (None, None) if row is None else (row[0], row[1])


def installations(conn: Conn, gsrns: list[str]) -> list[InstallationRow]:
    rows = conn.execute(
        """SELECT mp.gsrn, mp.grid_area_code, ga.grid_operator_name
           FROM metering_point mp LEFT JOIN grid_area ga ON ga.code = mp.grid_area_code
           WHERE mp.gsrn = ANY(%s) ORDER BY mp.gsrn""",
        (gsrns,),
    ).fetchall()
    return [InstallationRow(*row) for row in rows]


PART_COLUMNS = (
    "line_no, part_no, kind, description, quantity, quantity_unit, rate, rate_unit, first_day,"
    " last_day, amount, amount_incl_vat, published"
)


def parts(conn: Conn, invoice_id: uuid.UUID) -> list[PartRow]:
    rows = conn.execute(
        f"""SELECT {PART_COLUMNS} FROM invoice_line_part WHERE invoice_id = %s
            ORDER BY line_no, part_no""",
        (invoice_id,),
    ).fetchall()
    return [PartRow(*row) for row in rows]


def write_parts(conn: Conn, invoice_id: uuid.UUID, rows: list[PartRow]) -> None:
    """Replace a Draft's parts (the database refuses once the invoice is issued)."""
    conn.execute("DELETE FROM invoice_line_part WHERE invoice_id = %s", (invoice_id,))
    with conn.cursor() as cur:
        cur.executemany(
            f"""INSERT INTO invoice_line_part (invoice_id, {PART_COLUMNS})
                VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (
                    invoice_id,
                    r.line_no,
                    r.part_no,
                    r.kind,
                    r.description,
                    r.quantity,
                    r.quantity_unit,
                    r.rate,
                    r.rate_unit,
                    r.first_day,
                    r.last_day,
                    r.amount,
                    r.amount_incl_vat,
                    r.published,
                )
                for r in rows
            ],
        )
