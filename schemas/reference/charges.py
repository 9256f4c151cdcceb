"""Which settlement charge a DataHub charge feeds: the one classification of price-list charges.

Used for DatahubPricelist rows and for DataHub price-list documents alike (DOMAIN § 2 "Charges";
Energinet's codes from geh-charges' seed of default charges):
- Energinet (GLN 5790000432752) tariffs (D03): EA-001 "Elafgift", or any with TaxIndicator →
  ElectricityTax; 41000 "Systemtarif" → SystemTariff; 40000 "Transmissions nettarif" →
  TransmissionTariff. Energinet's other charges are not billed by us (None).
- Any other owner is a grid company: its tariffs (D03) → GridTariff; its monthly (P1M)
  subscriptions (D01) → GridSubscription. Fees (D02) and other subscriptions: None.
"""

from __future__ import annotations

from typing import Final

from schemas.codelists import ChargeType, DataHubChargeType, Resolution

ENERGINET_GLN: Final = "5790000432752"

_ENERGINET_TARIFFS: Final[dict[str, ChargeType]] = {
    "EA-001": ChargeType.ELECTRICITY_TAX,
    "41000": ChargeType.SYSTEM_TARIFF,
    "40000": ChargeType.TRANSMISSION_TARIFF,
}
_ENERGINET_NOTES: Final[dict[str, ChargeType]] = {
    "Elafgift": ChargeType.ELECTRICITY_TAX,
    "Systemtarif": ChargeType.SYSTEM_TARIFF,
    "Transmissions nettarif": ChargeType.TRANSMISSION_TARIFF,
}


def classify_charge(
    owner_gln: str,
    charge_type: DataHubChargeType,
    code: str,
    *,
    note: str | None = None,
    tax_indicator: bool | None = None,
    resolution: Resolution | None = None,
) -> ChargeType | None:
    """The settlement charge a DataHub charge is priced into, or None when we do not bill it.

    `code` is the charge id (DatahubPricelist ChargeTypeCode, CIM mRID) and `note` its name
    (DatahubPricelist Note, CIM name).
    """
    if owner_gln == ENERGINET_GLN:
        if charge_type is not DataHubChargeType.TARIFF:
            return None
        if tax_indicator:
            return ChargeType.ELECTRICITY_TAX
        return _ENERGINET_TARIFFS.get(code) or _ENERGINET_NOTES.get(note or "")
    if charge_type is DataHubChargeType.TARIFF:
        return ChargeType.GRID_TARIFF
    if charge_type is DataHubChargeType.SUBSCRIPTION and resolution is Resolution.P1M:
        return ChargeType.GRID_SUBSCRIPTION
    return None
