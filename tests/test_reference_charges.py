"""Golden table of `classify_charge`: which settlement charge a DataHub charge is priced into.

Owners and codes are the real ones (DOMAIN.md: Energinet's 40000/41000/EA-001 from geh-charges'
default charges; grid companies' DatahubPricelist codes; the DataHub 3 charge samples).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from schemas.codelists import ChargeType, DataHubChargeType, Resolution
from schemas.reference.charges import ENERGINET_GLN, classify_charge
from schemas.reference.pricelist import parse_datahub_pricelist
from schemas.reference.pricelist_cim import parse_price_list_document

FIXTURES = Path(__file__).parent / "fixtures"
N1, RADIUS, CERIUS, TREFOR = "5790001089030", "5790000705689", "5790000705184", "5790000392261"
SAMPLE_OWNER = "8100000000030"  # owner in the DataHub 3 charge samples
D01, D02, D03 = DataHubChargeType.SUBSCRIPTION, DataHubChargeType.FEE, DataHubChargeType.TARIFF
P1M, P1D, PT1H = Resolution.P1M, Resolution.P1D, Resolution.PT1H
TAX, SYSTEM, TRANSMISSION = (
    ChargeType.ELECTRICITY_TAX,
    ChargeType.SYSTEM_TARIFF,
    ChargeType.TRANSMISSION_TARIFF,
)
GRID, GRID_SUBSCRIPTION = ChargeType.GRID_TARIFF, ChargeType.GRID_SUBSCRIPTION

GOLDEN = [
    # owner, type, code, note, tax indicator, resolution → charge
    (ENERGINET_GLN, D03, "EA-001", "Elafgift", True, PT1H, TAX),
    (ENERGINET_GLN, D03, "EA-001", "Elafgift", False, PT1H, TAX),
    (ENERGINET_GLN, D03, "EA-001", "", None, PT1H, TAX),
    (ENERGINET_GLN, D03, "EA-X", "Elafgift", False, PT1H, TAX),
    (ENERGINET_GLN, D03, "41000", "Systemtarif", False, PT1H, SYSTEM),
    (ENERGINET_GLN, D03, "41000", None, None, None, SYSTEM),
    (ENERGINET_GLN, D03, "40000", "Transmissions nettarif", False, PT1H, TRANSMISSION),
    (ENERGINET_GLN, D03, "T-X", "Transmissions nettarif", False, PT1H, TRANSMISSION),
    (ENERGINET_GLN, D03, "T-Y", "Anden tarif", False, PT1H, None),
    (ENERGINET_GLN, D01, "41000", "Systemtarif", False, P1M, None),
    (ENERGINET_GLN, D02, "EA-001", "Elafgift", True, P1D, None),
    (N1, D03, "CD", "Nettarif C time", False, PT1H, GRID),
    (N1, D03, "CD R", "Rabat på nettarif", False, PT1H, GRID),
    (N1, D03, "CD", "Nettarif C", True, PT1H, GRID),
    (N1, D03, "CD", "Nettarif C", False, P1D, GRID),
    (N1, D01, "CD-ABON", "Netabonnement C", False, P1M, GRID_SUBSCRIPTION),
    (N1, D01, "CD-ABON", "Netabonnement C", False, P1D, None),
    (N1, D01, "CD-ABON", "Netabonnement C", False, None, None),
    (N1, D02, "GEBYR", "Gebyr", False, P1D, None),
    (RADIUS, D03, "DT_C_01", "Nettarif C time", False, PT1H, GRID),
    (CERIUS, D03, "30TR_C_ET", "Nettarif C time", False, PT1H, GRID),
    (TREFOR, D03, "C", "Nettarif C time", False, PT1H, GRID),
    (SAMPLE_OWNER, D03, "TariffId01", "Charge Tariff Hourly Name", False, PT1H, GRID),
    (SAMPLE_OWNER, D01, "TestSub", None, None, P1M, GRID_SUBSCRIPTION),
]


@pytest.mark.parametrize(
    ("owner", "charge_type", "code", "note", "tax", "resolution", "expected"), GOLDEN
)
def test_classification_golden_table(
    owner: str,
    charge_type: DataHubChargeType,
    code: str,
    note: str | None,
    tax: bool | None,
    resolution: Resolution | None,
    expected: ChargeType | None,
) -> None:
    got = classify_charge(
        owner, charge_type, code, note=note, tax_indicator=tax, resolution=resolution
    )
    assert got is expected


def test_the_fixture_price_lists_classify_as_their_notes_say() -> None:
    path = FIXTURES / "reference" / "datahub_pricelist_2026.json"
    rows = parse_datahub_pricelist(path.read_bytes(), path.name)
    kinds = [row.settlement_charge for row in rows]
    assert kinds == [TAX, TAX, SYSTEM, TRANSMISSION, GRID, GRID]


@pytest.mark.parametrize(
    ("sample", "expected"),
    [
        ("ChargeInformationTariffHourlySample.xml", GRID),
        ("ChargePriceSeriesTariffHourlySample.xml", GRID),
        ("ChargePriceSeriesSubscriptionMonthlySample.xml", GRID_SUBSCRIPTION),
    ],
)
def test_the_datahub_charge_samples(sample: str, expected: ChargeType) -> None:
    path = FIXTURES / "datahub3" / sample
    (item,) = parse_price_list_document(path.read_bytes(), path.name)
    assert item.settlement_charge is expected
