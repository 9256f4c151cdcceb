"""Reference data files → typed records; no I/O (parsers take the bytes and a name for messages).

- `bounds` — the error type and the limits every value obeys (text sizes, amounts, dates);
- `tabular` — CSV / Energi Data Service JSON rows and typed, bounded field access;
- `spot` — DayAheadPrices (15-minute) and Elspotprices (hourly);
- `pricelist` — DatahubPricelist rows; `pricelist_cim` — DataHub D10 price-list documents;
- `charges` — which settlement charge a DataHub charge feeds (`classify_charge`);
- `masterdata` — grid areas, customers, products, metering points, supply periods, contracts,
  aconto payments.
"""

from schemas.reference.bounds import ReferenceDataError

__all__ = ["ReferenceDataError"]
