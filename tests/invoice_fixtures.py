"""Test data for invoicing: master data, completed settlement runs and aconto settlements written
straight with SQL (as the settlement run would leave them), with readable names for ids."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from schemas.calendar import BillingPeriod
from storage.db import Conn

_NAMESPACE = uuid.UUID("6f1c1c9e-6a59-4f57-9a53-3c2f1e0b7a11")
GRID_OPERATOR_GLN = "5790000610099"
PRODUCT = "product-spot"


def ids(name: str) -> uuid.UUID:
    """A stable uuid for a readable name ('C1', 'K1', ...)."""
    return uuid.uuid5(_NAMESPACE, name)


@dataclass(frozen=True)
class ContractRow:
    customer: str
    contract: str
    gsrn: str
    grid_area: str
    billing_frequency: str
    payment_model: str
    payment_term_days: int
    start_date: date
    end_date: date | None = None
    supply_end_date: date | None = None


@dataclass(frozen=True)
class LineRow:
    gsrn: str
    contract: str
    charge_type: str
    total_kwh: Decimal
    total_amount: Decimal


def seed_contracts(conn: Conn, rows: list[ContractRow]) -> None:
    """Grid areas, customers, metering points, one product, contracts and supply periods."""
    conn.execute(
        """INSERT INTO product (id, name, energy_model, margin_ore_per_kwh, subscription_kr_per_month)
           VALUES (%s, 'Spot', 'Spot', 4, 29) ON CONFLICT DO NOTHING""",
        (ids(PRODUCT),),
    )
    for row in rows:
        conn.execute(
            """INSERT INTO grid_area (code, grid_operator_gln, grid_operator_name, price_area)
               VALUES (%s, %s, 'Test Net', 'DK1') ON CONFLICT DO NOTHING""",
            (row.grid_area, GRID_OPERATOR_GLN),
        )
        conn.execute(
            """INSERT INTO customer (id, name, cpr_cvr, contact_type, email)
               VALUES (%s, %s, '0101901234', 'Private', %s) ON CONFLICT DO NOTHING""",
            (ids(row.customer), f"Kunde {row.customer}", f"{row.customer.lower()}@example.dk"),
        )
        conn.execute(
            """INSERT INTO metering_point (gsrn, type, settlement_method, connection_status,
                                           grid_area_code, grid_operator_gln)
               VALUES (%s, 'E17_Consumption', 'Flex', 'Connected', %s, %s)
               ON CONFLICT DO NOTHING""",
            (row.gsrn, row.grid_area, GRID_OPERATOR_GLN),
        )
        conn.execute(
            """INSERT INTO contract (id, customer_id, gsrn, product_id, billing_frequency,
                                     payment_model, payment_term_days, start_date, end_date)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                ids(row.contract),
                ids(row.customer),
                row.gsrn,
                ids(PRODUCT),
                row.billing_frequency,
                row.payment_model,
                row.payment_term_days,
                row.start_date,
                row.end_date,
            ),
        )
        supply_end = row.supply_end_date or row.end_date
        conn.execute(
            """INSERT INTO supply_period (id, gsrn, start_date, end_date, end_reason)
               VALUES (%s, %s, %s, %s, %s)""",
            (
                uuid.uuid4(),
                row.gsrn,
                row.start_date,
                supply_end,
                None if supply_end is None else "MoveOut",
            ),
        )


def billing_period(conn: Conn, period: BillingPeriod) -> uuid.UUID:
    conn.execute(
        """INSERT INTO billing_period (id, period_start, period_end, frequency)
           VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING""",
        (uuid.uuid4(), period.start, period.end, str(period.frequency)),
    )
    row = conn.execute(
        "SELECT id FROM billing_period WHERE period_start = %s AND period_end = %s AND frequency = %s",
        (period.start, period.end, str(period.frequency)),
    ).fetchone()
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


def insert_run(
    conn: Conn,
    period: BillingPeriod,
    grid_area: str,
    version: int,
    lines: list[LineRow],
    *,
    status: str = "Completed",
) -> uuid.UUID:
    """A settlement run with its lines; VAT per line as the run computes it (25 %, 6 decimals)."""
    run_id = uuid.uuid4()
    conn.execute(
        """INSERT INTO settlement_run (id, billing_period_id, version, status, grid_area_code,
                                       finished_at)
           VALUES (%s, %s, %s, %s, %s, CASE WHEN %s = 'Running' THEN NULL ELSE now() END)""",
        (run_id, billing_period(conn, period), version, status, grid_area, status),
    )
    for line in lines:
        conn.execute(
            """INSERT INTO settlement_line (id, settlement_run_id, metering_point_id, charge_type,
                                            total_kwh, total_amount, vat_amount, contract_id)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
            (
                uuid.uuid4(),
                run_id,
                line.gsrn,
                line.charge_type,
                line.total_kwh,
                line.total_amount,
                (line.total_amount * Decimal("0.25")).quantize(Decimal("0.000001"), ROUND_HALF_UP),
                ids(line.contract),
            ),
        )
    return run_id


def insert_aconto(
    conn: Conn,
    run_id: uuid.UUID,
    period: BillingPeriod,
    contract: str,
    actual_cost: Decimal,
    aconto_paid: Decimal,
    new_aconto_amount: Decimal,
) -> None:
    conn.execute(
        """INSERT INTO aconto_settlement (id, contract_id, billing_period_id, actual_cost,
                                          aconto_paid, difference, new_aconto_amount,
                                          settlement_run_id)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
        (
            uuid.uuid4(),
            ids(contract),
            billing_period(conn, period),
            actual_cost,
            aconto_paid,
            actual_cost - aconto_paid,
            new_aconto_amount,
            run_id,
        ),
    )


def actual_cost_incl_vat(lines: list[LineRow], contract: str) -> Decimal:
    """Σ (amount + VAT) of a contract's lines, as settlement/aconto.py computes actual_cost."""
    total = Decimal(0)
    for line in lines:
        if line.contract == contract:
            vat = (line.total_amount * Decimal("0.25")).quantize(Decimal("0.000001"), ROUND_HALF_UP)
            total += line.total_amount + vat
    return total
