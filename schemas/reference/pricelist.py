"""Energi Data Service `DatahubPricelist`: a charge's 24 local-hour prices for a validity period.

ValidFrom/ValidTo are local wall-clock times without zone and become aware UTC; a null PriceN
falls back to Price1; TaxIndicator and TransparentInvoicing default to false when null.
Every price is a charge price within `bounds` (0 ≤ price < 1 000 000, 6 decimals): the dataset
has no field that marks a charge as a credit. Discounts have been published as separate charges
with negative prices (N1's "CD R" rabat in December 2022; see the review thread of
github.com/MTrab/energidataservice/pull/336). We refuse them: settlement takes one grid tariff
per grid area and hour, so a discount must be netted into the tariff it reduces.
"""

from __future__ import annotations

from decimal import Decimal

from pydantic import AwareDatetime, Field

from schemas.codelists import ChargeType, DataHubChargeType, Resolution
from schemas.reference.bounds import (
    CHARGE_CODE_MAX,
    CHARGE_NAME_MAX,
    CHARGE_PRICE_BELOW,
    CHARGE_PRICE_DECIMALS,
    DESCRIPTION_MAX,
    NAME_MAX,
    WORD_MAX,
    FieldError,
)
from schemas.reference.charges import classify_charge
from schemas.reference.tabular import Fields, Frozen, parse_rows

_RESOLUTIONS = (Resolution.PT1H, Resolution.P1D, Resolution.P1M)
NO_CREDIT_FLAG = " (DatahubPricelist marks no charge as a credit; net a discount into its tariff)"


class PriceListRow(Frozen):
    """One `DatahubPricelist` row.

    `prices[h]` is the price in DKK/kWh (tariffs) or DKK per period (subscriptions, fees) for
    local hour h (0 = 00–01). For P1D and P1M charges only `prices[0]` is meaningful.
    `valid_to` None means open-ended.
    """

    charge_owner: str
    gln: str
    charge_type: DataHubChargeType
    charge_type_code: str
    note: str
    description: str
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None
    vat_class: str | None
    prices: tuple[Decimal, ...] = Field(min_length=24, max_length=24)
    resolution: Resolution
    transparent_invoicing: bool
    tax_indicator: bool

    @property
    def settlement_charge(self) -> ChargeType | None:
        """What this row prices (`classify_charge`); None when we do not bill it."""
        return classify_charge(
            self.gln,
            self.charge_type,
            self.charge_type_code,
            note=self.note,
            tax_indicator=self.tax_indicator,
            resolution=self.resolution,
        )


def _price(fields: Fields, name: str) -> Decimal:
    return fields.amount(
        name,
        below=CHARGE_PRICE_BELOW,
        decimals=CHARGE_PRICE_DECIMALS,
        why_not_negative=NO_CREDIT_FLAG,
    )


def _price_list_row(fields: Fields) -> PriceListRow:
    first = _price(fields, "Price1")
    given = [fields.optional(f"Price{hour}", lambda n: _price(fields, n)) for hour in range(2, 25)]
    prices = (first, *(first if price is None else price for price in given))
    resolution = fields.enum("ResolutionDuration", Resolution)
    if resolution not in _RESOLUTIONS:
        raise FieldError(f"ResolutionDuration must be PT1H, P1D or P1M: {resolution.value!r}")
    charge_type = fields.enum("ChargeType", DataHubChargeType)
    if charge_type is DataHubChargeType.TARIFF and resolution is Resolution.P1M:
        raise FieldError("a tariff (ChargeType D03) must have ResolutionDuration PT1H or P1D")
    valid_from = fields.local_datetime("ValidFrom")
    valid_to = fields.optional("ValidTo", fields.local_datetime)
    if valid_to is not None and valid_to <= valid_from:
        raise FieldError("ValidTo is not after ValidFrom")
    return PriceListRow(
        charge_owner=fields.text("ChargeOwner", NAME_MAX),
        gln=fields.gln("GLN_Number"),
        charge_type=charge_type,
        charge_type_code=fields.text("ChargeTypeCode", CHARGE_CODE_MAX),
        note=fields.optional("Note", lambda n: fields.text(n, CHARGE_NAME_MAX)) or "",
        description=fields.optional(
            "Description", lambda n: fields.text(n, DESCRIPTION_MAX, multiline=True)
        )
        or "",
        valid_from=valid_from,
        valid_to=valid_to,
        vat_class=fields.optional("VATClass", lambda n: fields.text(n, WORD_MAX)),
        prices=prices,
        resolution=resolution,
        transparent_invoicing=fields.optional("TransparentInvoicing", fields.boolean) or False,
        tax_indicator=fields.optional("TaxIndicator", fields.boolean) or False,
    )


PRICE_LIST_KEY_NAME = "GLN_Number, ChargeType, ChargeTypeCode and ValidFrom"


def price_list_row(fields: Fields) -> PriceListRow:
    """One DatahubPricelist row from its fields (a FieldError names the bad field)."""
    return _price_list_row(fields)


def price_list_key(row: PriceListRow) -> tuple[object, ...]:
    """What makes a row unique within a file (PRICE_LIST_KEY_NAME)."""
    return (row.gln, row.charge_type, row.charge_type_code, row.valid_from)


def parse_datahub_pricelist(data: bytes | str, name: str) -> list[PriceListRow]:
    """Every row of a DatahubPricelist file (JSON or CSV), or the first refusal."""
    return parse_rows(data, name, _price_list_row, key=price_list_key, key_name=PRICE_LIST_KEY_NAME)
