"""Master data in CSV or JSON with the class diagram's PascalCase field names: grid areas,
customers, products, metering points, supply periods, contracts and aconto payments.

Contract and supply-period `StartDate`/`EndDate` and aconto `BillingPeriodStart`/`End` are local
dates: from local midnight of the start to local midnight of the end (exclusive).
Amounts and texts are bounded (`bounds`): margins, supplements, fixed prices, subscriptions and
aconto amounts are never negative — the class diagram has no credit products.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Hashable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal, overload

from pydantic import AwareDatetime

from schemas.calendar import format_local, local_midnight_utc
from schemas.codelists import (
    BillingFrequency,
    ConnectionStatus,
    CustomerStatus,
    EndReason,
    EnergyModel,
    MeteringPointType,
    PaymentModel,
    PriceArea,
    SettlementMethod,
)
from schemas.reference import bounds as b
from schemas.reference.bounds import FieldError, shown
from schemas.reference.tabular import Fields, Frozen, parse_rows

ContactType = Literal["Private", "Business"]
_CONTACT_TYPES: dict[str, ContactType] = {
    "private": "Private",
    "person": "Private",
    "privat": "Private",
    "business": "Business",
    "company": "Business",
    "erhverv": "Business",
}


class ProductRow(Frozen):
    """A product. Øre amounts are øre/kWh excl. VAT; the subscription is kr/month excl. VAT.

    `fixed_price_ore_per_kwh` is set for FixedPrice and Mixed products; `spot_share` (0..1) only
    for Mixed products.
    """

    id: uuid.UUID
    name: str
    energy_model: EnergyModel
    margin_ore_per_kwh: Decimal
    supplement_ore_per_kwh: Decimal | None
    subscription_kr_per_month: Decimal
    binding_period_months: int | None
    is_active: bool
    fixed_price_ore_per_kwh: Decimal | None
    spot_share: Decimal | None


class CustomerRow(Frozen):
    id: uuid.UUID
    name: str
    cpr_cvr: str
    contact_type: ContactType
    email: str | None
    phone: str | None
    created_at: AwareDatetime
    status: CustomerStatus
    # None: the file has no address (a stored one, e.g. from RSM-028, is kept).
    address: str | None = None


class LocalDatePeriod(Frozen):
    """Local dates [start_date, end_date) (end_date None = ongoing)."""

    start_date: date
    end_date: date | None

    @property
    def start_utc(self) -> datetime:
        return local_midnight_utc(self.start_date)

    @property
    def end_utc(self) -> datetime | None:
        return None if self.end_date is None else local_midnight_utc(self.end_date)


class ContractRow(LocalDatePeriod):
    id: uuid.UUID
    customer_id: uuid.UUID
    gsrn: str
    product_id: uuid.UUID
    billing_frequency: BillingFrequency
    payment_model: PaymentModel
    payment_term_days: int


class SupplyPeriodRow(LocalDatePeriod):
    """A period in which we supply a metering point."""

    id: uuid.UUID
    gsrn: str
    end_reason: EndReason | None


class MeteringPointRow(Frozen):
    gsrn: str
    type: MeteringPointType
    settlement_method: SettlementMethod
    connection_status: ConnectionStatus
    grid_area_code: str
    grid_operator_gln: str
    activated_at: AwareDatetime | None
    deactivated_at: AwareDatetime | None


class GridAreaRow(Frozen):
    code: str
    grid_operator_gln: str
    grid_operator_name: str
    price_area: PriceArea


class AcontoPaymentRow(Frozen):
    """An aconto payment in DKK incl. VAT for the local-date billing period [start, end)."""

    id: uuid.UUID
    contract_id: uuid.UUID
    billing_period_start: date
    billing_period_end: date
    amount: Decimal
    paid_at: AwareDatetime


MasterDataRow = (
    ProductRow
    | CustomerRow
    | ContractRow
    | SupplyPeriodRow
    | MeteringPointRow
    | GridAreaRow
    | AcontoPaymentRow
)


def _ore(fields: Fields, name: str) -> Decimal:
    return fields.amount(name, below=b.ORE_PER_KWH_BELOW, decimals=b.ORE_DECIMALS)


def _only_for(
    fields: Fields, name: str, model: EnergyModel, needed_by: Sequence[EnergyModel]
) -> bool:
    """Whether `name` is read: required for `needed_by` models, refused for the others."""
    if model in needed_by:
        return True
    if fields.has(name):
        allowed = "/".join(m.value for m in needed_by)
        raise FieldError(f"{name} only applies to {allowed} products, not {model.value}")
    return False


def _product(fields: Fields) -> ProductRow:
    model = fields.enum("EnergyModel", EnergyModel)
    fixed_models = (EnergyModel.FIXED_PRICE, EnergyModel.MIXED)
    fixed = (
        _ore(fields, "FixedPriceOrePerKwh")
        if _only_for(fields, "FixedPriceOrePerKwh", model, fixed_models)
        else None
    )
    share = None
    if _only_for(fields, "SpotShare", model, (EnergyModel.MIXED,)):
        share = b.bounded_amount(
            "SpotShare", fields.decimal("SpotShare"), below=Decimal(2), decimals=b.SHARE_DECIMALS
        )
        if share > 1:
            raise FieldError(f"SpotShare must be between 0 and 1: {share}")
    return ProductRow(
        id=fields.uuid("Id"),
        name=fields.text("Name", b.NAME_MAX),
        energy_model=model,
        margin_ore_per_kwh=_ore(fields, "MarginOrePerKwh"),
        supplement_ore_per_kwh=fields.optional("SupplementOrePerKwh", lambda n: _ore(fields, n)),
        subscription_kr_per_month=fields.amount(
            "SubscriptionKrPerMonth", below=b.SUBSCRIPTION_BELOW, decimals=b.SUBSCRIPTION_DECIMALS
        ),
        binding_period_months=fields.optional(
            "BindingPeriodMonths", lambda n: fields.integer(n, 0, b.BINDING_MONTHS_MAX)
        ),
        is_active=fields.boolean("IsActive"),
        fixed_price_ore_per_kwh=fixed,
        spot_share=share,
    )


def _customer(fields: Fields) -> CustomerRow:
    cpr_cvr = fields.text("CprCvr", b.WORD_MAX).replace("-", "")
    if len(cpr_cvr) not in (8, 10) or not cpr_cvr.isascii() or not cpr_cvr.isdigit():
        raise FieldError("CprCvr must be an 8-digit CVR or a 10-digit CPR number")
    email = fields.optional("Email", lambda n: fields.text(n, b.EMAIL_MAX))
    if email is not None and "@" not in email:
        raise FieldError(f"Email is not an e-mail address: {shown(email)}")
    contact = fields.text("ContactType", b.WORD_MAX)
    if contact.lower() not in _CONTACT_TYPES:
        raise FieldError(f"ContactType must be Private or Business: {shown(contact)}")
    return CustomerRow(
        id=fields.uuid("Id"),
        name=fields.text("Name", b.NAME_MAX),
        cpr_cvr=cpr_cvr,
        contact_type=_CONTACT_TYPES[contact.lower()],
        email=email,
        phone=fields.optional("Phone", lambda n: fields.text(n, b.PHONE_MAX)),
        created_at=fields.local_datetime("CreatedAt"),
        status=fields.enum("Status", CustomerStatus),
        address=fields.optional("Address", lambda n: fields.text(n, b.ADDRESS_MAX)),
    )


def _date_range(fields: Fields, start_name: str, end_name: str) -> tuple[date, date | None]:
    start = fields.local_date(start_name)
    end = fields.optional(end_name, fields.local_date)
    if end is not None and end <= start:
        raise FieldError(f"{end_name} {end} is not after {start_name} {start}")
    return start, end


def _contract(fields: Fields) -> ContractRow:
    start, end = _date_range(fields, "StartDate", "EndDate")
    return ContractRow(
        id=fields.uuid("Id"),
        customer_id=fields.uuid("CustomerId"),
        gsrn=fields.gsrn("Gsrn"),
        product_id=fields.uuid("ProductId"),
        billing_frequency=fields.enum("BillingFrequency", BillingFrequency),
        payment_model=fields.enum("PaymentModel", PaymentModel),
        payment_term_days=fields.integer("PaymentTermDays", 0, b.PAYMENT_TERM_DAYS_MAX),
        start_date=start,
        end_date=end,
    )


def _supply_period(fields: Fields) -> SupplyPeriodRow:
    start, end = _date_range(fields, "StartDate", "EndDate")
    reason = fields.optional("EndReason", lambda name: fields.enum(name, EndReason))
    if reason is not None and end is None:
        raise FieldError("EndReason is given but EndDate is empty")
    return SupplyPeriodRow(
        id=fields.uuid("Id"),
        gsrn=fields.gsrn("Gsrn"),
        start_date=start,
        end_date=end,
        end_reason=reason,
    )


def _metering_point(fields: Fields) -> MeteringPointRow:
    activated = fields.optional("ActivatedAt", fields.local_datetime)
    deactivated = fields.optional("DeactivatedAt", fields.local_datetime)
    if activated is not None and deactivated is not None and deactivated <= activated:
        raise FieldError(
            f"DeactivatedAt {format_local(deactivated)} is not after ActivatedAt"
            f" {format_local(activated)}"
        )
    return MeteringPointRow(
        gsrn=fields.gsrn("Gsrn"),
        type=fields.enum("Type", MeteringPointType),
        settlement_method=fields.enum("SettlementMethod", SettlementMethod),
        connection_status=fields.enum("ConnectionStatus", ConnectionStatus),
        grid_area_code=fields.digits("GridAreaCode", 3),
        grid_operator_gln=fields.gln("GridOperatorGln"),
        activated_at=activated,
        deactivated_at=deactivated,
    )


def _grid_area(fields: Fields) -> GridAreaRow:
    return GridAreaRow(
        code=fields.digits("Code", 3),
        grid_operator_gln=fields.gln("GridOperatorGln"),
        grid_operator_name=fields.text("GridOperatorName", b.NAME_MAX),
        price_area=fields.enum("PriceArea", PriceArea),
    )


def _aconto_payment(fields: Fields) -> AcontoPaymentRow:
    start = fields.local_date("BillingPeriodStart")
    end = fields.local_date("BillingPeriodEnd")
    if end <= start:
        raise FieldError(f"BillingPeriodEnd {end} is not after BillingPeriodStart {start}")
    return AcontoPaymentRow(
        id=fields.uuid("Id"),
        contract_id=fields.uuid("ContractId"),
        billing_period_start=start,
        billing_period_end=end,
        amount=fields.amount("Amount", below=b.ACONTO_BELOW, decimals=b.ACONTO_DECIMALS),
        paid_at=fields.local_datetime("PaidAt"),
    )


def _by_id(row: Any) -> Hashable:
    return row.id  # type: ignore[no-any-return]


_MASTER_DATA: dict[
    str, tuple[Callable[[Fields], MasterDataRow], Callable[[Any], Hashable], str]
] = {
    "products": (_product, _by_id, "Id"),
    "customers": (_customer, _by_id, "Id"),
    "contracts": (_contract, _by_id, "Id"),
    "supply_periods": (_supply_period, _by_id, "Id"),
    "metering_points": (_metering_point, lambda row: row.gsrn, "Gsrn"),
    "grid_areas": (_grid_area, lambda row: row.code, "Code"),
    "aconto_payments": (_aconto_payment, _by_id, "Id"),
}
MASTER_DATA_KINDS: tuple[str, ...] = tuple(_MASTER_DATA)


def build_master_data(kind: str, fields: Fields) -> MasterDataRow:
    """One row of `kind` from its fields (a FieldError names the bad field)."""
    return _MASTER_DATA[kind][0](fields)


def master_data_key(kind: str, row: MasterDataRow) -> tuple[Hashable, str]:
    """(the row's key within its kind, the key's field name)."""
    _, key, key_name = _MASTER_DATA[kind]
    return key(row), key_name


Data = bytes | str


# fmt: off
@overload
def parse_master_data(kind: Literal["products"], data: Data, name: str) -> list[ProductRow]: ...
@overload
def parse_master_data(kind: Literal["customers"], data: Data, name: str) -> list[CustomerRow]: ...
@overload
def parse_master_data(kind: Literal["contracts"], data: Data, name: str) -> list[ContractRow]: ...
@overload
def parse_master_data(kind: Literal["supply_periods"], data: Data, name: str) -> list[SupplyPeriodRow]: ...
@overload
def parse_master_data(kind: Literal["metering_points"], data: Data, name: str) -> list[MeteringPointRow]: ...
@overload
def parse_master_data(kind: Literal["grid_areas"], data: Data, name: str) -> list[GridAreaRow]: ...
@overload
def parse_master_data(kind: Literal["aconto_payments"], data: Data, name: str) -> list[AcontoPaymentRow]: ...
@overload
def parse_master_data(kind: str, data: Data, name: str) -> Sequence[MasterDataRow]: ...
# fmt: on
def parse_master_data(kind: str, data: Data, name: str) -> Sequence[MasterDataRow]:
    """Every row of a master-data file of `kind` (one of MASTER_DATA_KINDS; another kind is a
    ValueError). Ids (or Gsrn, or Code) must be unique within the file."""
    if kind not in _MASTER_DATA:
        raise ValueError(f"unknown master data kind {kind!r}; one of {', '.join(_MASTER_DATA)}")
    build, key, key_name = _MASTER_DATA[kind]
    return parse_rows(data, name, build, key=key, key_name=key_name)
