"""Code lists: the domain's vocabulary as one StrEnum each.

Values are spelled exactly as in the class diagram (seeds/004, "Enums samlet") or, for DataHub
codes, as they appear on the wire (CIM / Energi Data Service). All enums live here, at the
bottom of the dependency chain, so that schemas, storage and settlement share them.
"""

from __future__ import annotations

from enum import StrEnum


class PriceArea(StrEnum):
    """Nord Pool bidding zones in Denmark (Energi Data Service `PriceArea`)."""

    DK1 = "DK1"
    DK2 = "DK2"


class Resolution(StrEnum):
    """Resolution of a time series or price series (ISO 8601 durations as DataHub writes them)."""

    PT15M = "PT15M"
    PT1H = "PT1H"
    P1D = "P1D"
    P1M = "P1M"


class DataHubChargeType(StrEnum):
    """CIM charge type code (edi `ChargeType.cs`): subscription, fee or tariff."""

    SUBSCRIPTION = "D01"
    FEE = "D02"
    TARIFF = "D03"


class MeteringPointType(StrEnum):
    E17_CONSUMPTION = "E17_Consumption"
    E18_PRODUCTION = "E18_Production"


class SettlementMethod(StrEnum):
    FLEX = "Flex"
    NON_PROFILED = "NonProfiled"


class ConnectionStatus(StrEnum):
    CONNECTED = "Connected"
    DISCONNECTED = "Disconnected"
    CLOSED_DOWN = "ClosedDown"


class CustomerStatus(StrEnum):
    ACTIVE = "Active"
    INACTIVE = "Inactive"
    ARCHIVED = "Archived"


class EnergyModel(StrEnum):
    """How the product prices energy: spot plus margin, a fixed price, or a blend of the two."""

    SPOT = "Spot"
    FIXED_PRICE = "FixedPrice"
    MIXED = "Mixed"


class BillingFrequency(StrEnum):
    MONTHLY = "Monthly"
    QUARTERLY = "Quarterly"


class PaymentModel(StrEnum):
    ACONTO = "Aconto"
    POST_PAYMENT = "PostPayment"


class EndReason(StrEnum):
    SUPPLIER_SWITCH = "SupplierSwitch"
    MOVE_OUT = "MoveOut"
    NON_PAYMENT = "NonPayment"


class ChargeType(StrEnum):
    """What a settlement line or invoice line is for."""

    ENERGY = "Energy"
    GRID_TARIFF = "GridTariff"
    SYSTEM_TARIFF = "SystemTariff"
    TRANSMISSION_TARIFF = "TransmissionTariff"
    ELECTRICITY_TAX = "ElectricityTax"
    GRID_SUBSCRIPTION = "GridSubscription"
    SUPPLIER_SUBSCRIPTION = "SupplierSubscription"


class TariffType(StrEnum):
    GRID_TARIFF = "GridTariff"
    SYSTEM_TARIFF = "SystemTariff"
    TRANSMISSION_TARIFF = "TransmissionTariff"


class SubscriptionType(StrEnum):
    GRID_SUBSCRIPTION = "GridSubscription"
    SUPPLIER_SUBSCRIPTION = "SupplierSubscription"


class InvoiceType(StrEnum):
    STANDARD = "Standard"
    ACONTO_COMBINED = "AcontoCombined"
    FINAL_SETTLEMENT = "FinalSettlement"
    CREDIT_NOTE = "CreditNote"
    DEBIT_NOTE = "DebitNote"


class InvoiceStatus(StrEnum):
    DRAFT = "Draft"
    ISSUED = "Issued"
    SENT = "Sent"
    PAID = "Paid"
    OVERDUE = "Overdue"
    CANCELLED = "Cancelled"


class SettlementRunStatus(StrEnum):
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
