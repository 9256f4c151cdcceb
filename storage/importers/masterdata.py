"""Master data rows → their tables, upserted by Id (Gsrn for metering points, Code for grid
areas). A row pointing at a grid area, customer, product, metering point or contract that is
not stored is refused in words before the database would refuse it.

A supply period or contract that a completed process request ended (`ended_by_request`: an end
of supply, a move-out, a lost customer) keeps that end when its file is loaded again: DataHub's
process is newer than the migration file, and the file's row is otherwise written as usual."""

from __future__ import annotations

from schemas.reference.masterdata import (
    AcontoPaymentRow,
    ContractRow,
    CustomerRow,
    GridAreaRow,
    MeteringPointRow,
    ProductRow,
    SupplyPeriodRow,
)
from storage.db import Conn
from storage.importers.common import Known, Outcome, RowError, upsert
from storage.periods import billing_period_id


def grid_area_values(row: GridAreaRow) -> dict[str, object]:
    return {
        "code": row.code,
        "grid_operator_gln": row.grid_operator_gln,
        "grid_operator_name": row.grid_operator_name,
        "price_area": row.price_area.value,
    }


def write_grid_area(conn: Conn, row: GridAreaRow, known: Known) -> Outcome:
    return upsert(conn, "grid_area", ("code",), grid_area_values(row))


def customer_values(row: CustomerRow) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "cpr_cvr": row.cpr_cvr,
        "contact_type": row.contact_type,
        "email": row.email,
        "phone": row.phone,
        "created_at": row.created_at,
        "status": row.status.value,
        "address": row.address,
    }


def write_customer(conn: Conn, row: CustomerRow, known: Known) -> Outcome:
    values = customer_values(row)
    if row.address is None:  # a stored address (e.g. from RSM-028) is kept
        del values["address"]
    return upsert(conn, "customer", ("id",), values)


def product_values(row: ProductRow) -> dict[str, object]:
    return {
        "id": row.id,
        "name": row.name,
        "energy_model": row.energy_model.value,
        "margin_ore_per_kwh": row.margin_ore_per_kwh,
        "supplement_ore_per_kwh": row.supplement_ore_per_kwh,
        "subscription_kr_per_month": row.subscription_kr_per_month,
        "binding_period_months": row.binding_period_months,
        "is_active": row.is_active,
        "fixed_price_ore_per_kwh": row.fixed_price_ore_per_kwh,
        "spot_share": row.spot_share,
    }


def write_product(conn: Conn, row: ProductRow, known: Known) -> Outcome:
    return upsert(conn, "product", ("id",), product_values(row))


def metering_point_values(row: MeteringPointRow) -> dict[str, object]:
    return {
        "gsrn": row.gsrn,
        "type": row.type.value,
        "settlement_method": row.settlement_method.value,
        "connection_status": row.connection_status.value,
        "grid_area_code": row.grid_area_code,
        "grid_operator_gln": row.grid_operator_gln,
        "activated_at": row.activated_at,
        "deactivated_at": row.deactivated_at,
    }


def write_metering_point(conn: Conn, row: MeteringPointRow, known: Known) -> Outcome:
    known.require("grid_area", "code", row.grid_area_code, "GridAreaCode", "grid_areas")
    return upsert(conn, "metering_point", ("gsrn",), metering_point_values(row))


def _kept_end(conn: Conn, table: str, values: dict[str, object]) -> dict[str, object]:
    """`values` with the stored end columns instead of the file's when a process ended the row."""
    ends = ("end_date", "end_reason") if table == "supply_period" else ("end_date",)
    stored = conn.execute(
        f"SELECT {', '.join(ends)} FROM {table} WHERE id = %s AND ended_by_request IS NOT NULL",
        (values["id"],),
    ).fetchone()
    return values if stored is None else {**values, **dict(zip(ends, stored, strict=True))}


def supply_period_values(row: SupplyPeriodRow) -> dict[str, object]:
    return {
        "id": row.id,
        "gsrn": row.gsrn,
        "start_date": row.start_date,
        "end_date": row.end_date,
        "end_reason": None if row.end_reason is None else row.end_reason.value,
    }


def write_supply_period(conn: Conn, row: SupplyPeriodRow, known: Known) -> Outcome:
    known.require("metering_point", "gsrn", row.gsrn, "Gsrn", "metering_points")
    values = supply_period_values(row)
    return upsert(conn, "supply_period", ("id",), _kept_end(conn, "supply_period", values))


def contract_values(row: ContractRow) -> dict[str, object]:
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "gsrn": row.gsrn,
        "product_id": row.product_id,
        "billing_frequency": row.billing_frequency.value,
        "payment_model": row.payment_model.value,
        "payment_term_days": row.payment_term_days,
        "start_date": row.start_date,
        "end_date": row.end_date,
    }


def write_contract(conn: Conn, row: ContractRow, known: Known) -> Outcome:
    known.require("customer", "id", row.customer_id, "CustomerId", "customers")
    known.require("metering_point", "gsrn", row.gsrn, "Gsrn", "metering_points")
    known.require("product", "id", row.product_id, "ProductId", "products")
    values = contract_values(row)
    return upsert(conn, "contract", ("id",), _kept_end(conn, "contract", values))


def write_aconto_payment(conn: Conn, row: AcontoPaymentRow, known: Known) -> Outcome:
    # The payment's billing period takes the frequency of the contract it pays for.
    contract = conn.execute(
        "SELECT billing_frequency FROM contract WHERE id = %s", (row.contract_id,)
    ).fetchone()
    if contract is None:
        raise RowError(
            f"ContractId {row.contract_id} is not a known contract; load contracts first"
        )
    period = billing_period_id(conn, row.billing_period_start, row.billing_period_end, contract[0])
    return upsert(
        conn,
        "aconto_payment",
        ("id",),
        {
            "id": row.id,
            "contract_id": row.contract_id,
            "billing_period_id": period,
            "amount": row.amount,
            "paid_at": row.paid_at,
        },
    )
