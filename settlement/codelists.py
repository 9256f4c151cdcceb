"""Code lists used by settlement and invoicing.

Defined in `schemas.codelists` (data flows schemas → settlement, never back) and re-exported
here so settlement code reads `from settlement.codelists import ChargeType`.
"""

from schemas.codelists import (
    BillingFrequency,
    ChargeType,
    EnergyModel,
    InvoiceStatus,
    InvoiceType,
    PaymentModel,
    SettlementRunStatus,
    SubscriptionType,
    TariffType,
)

__all__ = [
    "BillingFrequency",
    "ChargeType",
    "EnergyModel",
    "InvoiceStatus",
    "InvoiceType",
    "PaymentModel",
    "SettlementRunStatus",
    "SubscriptionType",
    "TariffType",
]
