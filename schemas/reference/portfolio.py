"""A whole portfolio (grid areas, products, customers, metering points, supply periods,
contracts, aconto payments) → typed rows, and every reason a row is refused.

The ids of products, customers, supply periods, contracts and aconto payments may be any stable
text of the source system (`C-10017`, `kunde/4711`, a UUID): `source_uuid` maps each to a UUID
(a UUID stays itself, other text becomes a name-based UUID of its kind), so loading the same
portfolio again finds the same rows, and a contract's `CustomerId` finds its customer whether it
was loaded now or before. Grid areas keep their `Code`, metering points their `Gsrn`.

Nothing stops at the first problem: `parse_*` and `check_portfolio` return every refusal, each a
`ReferenceDataError` naming the file (a single JSON file: the file and its section), the row and
the field, in words. No I/O here: the stored keys `check_portfolio` needs come as `Stored`.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Final

from pydantic import ValidationError

from schemas.errors import ElflowError
from schemas.reference.bounds import FieldError, ReferenceDataError, shown
from schemas.reference.masterdata import (
    ContractRow,
    MasterDataRow,
    SupplyPeriodRow,
    build_master_data,
    master_data_key,
)
from schemas.reference.pricelist import (
    PRICE_LIST_KEY_NAME,
    PriceListRow,
    price_list_key,
    price_list_row,
)
from schemas.reference.tabular import (
    Fields,
    Record,
    decode,
    json_records,
    load_records,
    parse_json,
    validation_message,
)

# Dependency order: every kind refers only to kinds before it.
PORTFOLIO_KINDS: Final = (
    "grid_areas",
    "pricelist",  # DatahubPricelist: tariffs, subscriptions and tax, after the grid areas
    "products",
    "customers",
    "metering_points",
    "supply_periods",
    "contracts",
    "aconto_payments",
)
LABELS: Final = {
    kind: "price list rows" if kind == "pricelist" else kind.replace("_", " ")
    for kind in PORTFOLIO_KINDS
}
# The table whose ids a kind's `Id`, and each reference field, map to.
ID_TABLES: Final = {
    "products": "product",
    "customers": "customer",
    "supply_periods": "supply_period",
    "contracts": "contract",
    "aconto_payments": "aconto_payment",
}
_REFERENCE_TABLES: Final = {
    "CustomerId": "customer",
    "ProductId": "product",
    "ContractId": "contract",
}
SOURCE_ID_MAX: Final = 100
PRINTED_MAX: Final = 50  # refusals printed; the rest are counted
_UUID_LENGTHS: Final = frozenset({32, 36, 38, 45})  # the forms uuid.UUID() reads
_NAMESPACE: Final = uuid.UUID("6f0d3c52-1b8e-4f7a-9a51-3e2c7d4b8a10")  # elflow source ids


@lru_cache(maxsize=1 << 18)
def source_uuid(table: str, source_id: str) -> uuid.UUID:
    """The UUID of a source system's id: a UUID is itself, any other text a name-based UUID of
    the table, the same every time."""
    if len(source_id) in _UUID_LENGTHS:
        try:
            return uuid.UUID(source_id)
        except ValueError:
            pass
    return uuid.uuid5(_NAMESPACE, f"{table}\x00{source_id}")


class PortfolioRefused(ElflowError):
    """A portfolio with at least one refused row: nothing of it was written."""

    def __init__(self, reasons: Sequence[ReferenceDataError]) -> None:
        self.reasons = list(reasons)
        super().__init__(len(self.reasons))

    def __str__(self) -> str:
        count = len(self.reasons)
        return f"portfolio refused, nothing written: {count} problem{'s' * (count != 1)}"

    def lines(self, limit: int = PRINTED_MAX) -> list[str]:
        """The first `limit` reasons, one line each, and how many more there are."""
        shown_lines = [str(reason) for reason in self.reasons[:limit]]
        if len(self.reasons) > limit:
            shown_lines.append(f"… and {len(self.reasons) - limit} more")
        return shown_lines


@dataclass(frozen=True)
class PortfolioRow:
    kind: str
    source: str  # the file, or "FILE section" of a single JSON file
    number: int
    row: MasterDataRow | PriceListRow
    source_ids: Mapping[str, str]  # field → the source system's id text

    def error(self, message: str) -> ReferenceDataError:
        return ReferenceDataError(self.source, self.number, message)


@dataclass
class Portfolio:
    rows: dict[str, list[PortfolioRow]] = field(
        default_factory=lambda: {kind: [] for kind in PORTFOLIO_KINDS}
    )
    sources: dict[str, str] = field(default_factory=dict)  # kind → where its rows came from
    errors: list[ReferenceDataError] = field(default_factory=list)
    # kind → key → number of a refused row with that key (so rows referring to it say so)
    refused: dict[str, dict[object, int]] = field(default_factory=dict)


class _SourceIdFields(Fields):
    """Fields whose ids are source-system text, mapped to UUIDs and remembered."""

    def __init__(self, record: Record, table: str | None) -> None:
        super().__init__(record)
        self._table = table
        self.source_ids: dict[str, str] = {}

    def uuid(self, name: str) -> uuid.UUID:
        table = self._table if name == "Id" else _REFERENCE_TABLES.get(name)
        if table is None:
            return super().uuid(name)
        text = self.text(name, SOURCE_ID_MAX)
        self.source_ids[name] = text
        return source_uuid(table, text)


_KEY_FIELDS: Final = {"grid_areas": "Code", "metering_points": "Gsrn"}


def _refused_key(kind: str, record: Record) -> object:
    """The key a refused row would have had, if its key field is readable."""
    fields = _SourceIdFields(record, ID_TABLES.get(kind))
    try:
        if kind in ID_TABLES:
            return fields.uuid("Id")
        return fields.token(_KEY_FIELDS[kind]) if kind in _KEY_FIELDS else None
    except FieldError:
        return None


def _add_records(portfolio: Portfolio, kind: str, source: str, records: Iterable[Record]) -> None:
    portfolio.sources[kind] = source
    refused = portfolio.refused.setdefault(kind, {})
    seen: dict[object, int] = {}
    for record in records:
        fields = _SourceIdFields(record, ID_TABLES.get(kind))
        try:
            row = price_list_row(fields) if kind == "pricelist" else build_master_data(kind, fields)
        except (FieldError, ValidationError) as exc:
            message = validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
            portfolio.errors.append(ReferenceDataError(source, record.number, message))
            refused.setdefault(_refused_key(kind, record), record.number)
            continue
        key: Hashable
        if isinstance(row, PriceListRow):
            key, key_name = price_list_key(row), PRICE_LIST_KEY_NAME
        else:
            key, key_name = master_data_key(kind, row)
        if key in seen:
            shown_key = fields.source_ids.get(key_name, str(key))
            portfolio.errors.append(
                ReferenceDataError(
                    source,
                    record.number,
                    f"duplicate {key_name} {shown(shown_key)} (same as row {seen[key]})",
                )
            )
            continue
        seen[key] = record.number
        portfolio.rows[kind].append(
            PortfolioRow(kind, source, record.number, row, fields.source_ids)
        )


def parse_portfolio_files(files: Mapping[str, tuple[str, bytes]]) -> Portfolio:
    """A portfolio from one CSV/JSON file per kind: kind → (file name, bytes)."""
    portfolio = Portfolio()
    for kind in PORTFOLIO_KINDS:
        if kind not in files:
            continue
        name, data = files[kind]
        try:
            records = load_records(data, name)
        except ReferenceDataError as exc:
            portfolio.errors.append(exc)
            continue
        _add_records(portfolio, kind, name, records)
    return portfolio


def parse_portfolio_json(data: bytes, name: str) -> Portfolio:
    """A portfolio from one JSON object with one list per kind (`{"customers": [...], …}`)."""
    portfolio = Portfolio()
    try:
        document = parse_json(name, decode(data, name))
        if not isinstance(document, dict):
            raise ReferenceDataError(name, None, "is not a JSON object of sections")
        unknown = [key for key in document if key not in PORTFOLIO_KINDS]
        if unknown:
            raise ReferenceDataError(
                name,
                None,
                f"unknown section {shown(unknown[0])}; the sections are {', '.join(PORTFOLIO_KINDS)}",
            )
    except ReferenceDataError as exc:
        portfolio.errors.append(exc)
        return portfolio
    for kind in PORTFOLIO_KINDS:
        if kind not in document:
            continue
        source = f"{name} {kind}"
        try:
            records = json_records(source, document[kind])
        except ReferenceDataError as exc:
            portfolio.errors.append(exc)
            continue
        _add_records(portfolio, kind, source, records)
    if not any(portfolio.rows.values()) and not portfolio.errors:
        portfolio.errors.append(ReferenceDataError(name, None, "has no rows in any section"))
    return portfolio


@dataclass(frozen=True)
class Period:
    """A supply period or contract of one metering point, local dates [start, end)."""

    id: uuid.UUID
    gsrn: str
    start: date
    end: date | None


@dataclass
class Stored:
    """What the database already holds that a portfolio's rows may refer to."""

    keys: dict[str, set[object]] = field(default_factory=dict)  # kind → stored keys
    supply_periods: list[Period] = field(default_factory=list)
    contract_periods: list[Period] = field(default_factory=list)


def _span(start: date, end: date | None) -> str:
    return f"from {start.isoformat()} " + (
        "(open-ended)" if end is None else f"to {end.isoformat()}"
    )


def _missing(
    item: PortfolioRow, name: str, value: str, what: str, kind: str, portfolio: Portfolio
) -> ReferenceDataError:
    where = portfolio.sources.get(kind)
    key = source_uuid(ID_TABLES[kind], value) if kind in ID_TABLES else value
    if key in portfolio.refused.get(kind, {}):
        number = portfolio.refused[kind][key]
        return item.error(
            f"{name} {shown(value)} is the {what} of {where} row {number}, which is refused"
        )
    found = f"in {where}" if where else f"in the portfolio (it has no {LABELS[kind]} file)"
    return item.error(f"{name} {shown(value)} is not a known {what}: not {found} nor stored")


# (kind, field, attribute, the kind it refers to, what that is in words)
_REFERENCES: Final = (
    ("metering_points", "GridAreaCode", "grid_area_code", "grid_areas", "grid area"),
    ("supply_periods", "Gsrn", "gsrn", "metering_points", "metering point"),
    ("contracts", "CustomerId", "customer_id", "customers", "customer"),
    ("contracts", "Gsrn", "gsrn", "metering_points", "metering point"),
    ("contracts", "ProductId", "product_id", "products", "product"),
    ("aconto_payments", "ContractId", "contract_id", "contracts", "contract"),
)


def _references(portfolio: Portfolio, stored: Stored) -> list[ReferenceDataError]:
    known = {
        kind: {master_data_key(kind, item.row)[0] for item in portfolio.rows[kind]}  # type: ignore[arg-type]
        | stored.keys.get(kind, set())
        for kind in {target for *_, target, _ in _REFERENCES}
    }
    errors = []
    for kind, name, attribute, target, what in _REFERENCES:
        for item in portfolio.rows[kind]:
            value = getattr(item.row, attribute)
            if value not in known[target]:
                text = item.source_ids.get(name, str(value))
                errors.append(_missing(item, name, text, what, target, portfolio))
    return errors


def _overlaps(
    items: Sequence[PortfolioRow], stored: Sequence[Period], what: str
) -> list[ReferenceDataError]:
    """A file row whose dates overlap another period of the same metering point (another file
    row, or a stored one the file does not replace)."""
    periods: dict[str, list[tuple[Period, PortfolioRow | None]]] = {}
    replaced = set()
    for item in items:
        row = item.row
        assert isinstance(row, SupplyPeriodRow | ContractRow)
        replaced.add(row.id)
        period = Period(row.id, row.gsrn, row.start_date, row.end_date)
        periods.setdefault(row.gsrn, []).append((period, item))
    for period in stored:
        if period.id not in replaced and period.gsrn in periods:
            periods[period.gsrn].append((period, None))
    errors = []
    for gsrn, found in periods.items():
        found.sort(key=lambda pair: (pair[0].start, pair[1] is None))
        latest: tuple[Period, PortfolioRow | None] | None = None  # the one ending last so far
        for period, found_item in found:
            if latest is not None and (latest[0].end is None or latest[0].end > period.start):
                other, other_item = latest
                target: PortfolioRow | None
                peer: PortfolioRow | None
                if found_item is not None:
                    target, peer, mine, theirs = found_item, other_item, period, other
                else:
                    target, peer, mine, theirs = other_item, None, other, period
                if target is not None:
                    whose = "a stored one" if peer is None else f"row {peer.number}"
                    errors.append(
                        target.error(
                            f"{what} {_span(mine.start, mine.end)} of Gsrn {gsrn} overlaps"
                            f" {whose} {_span(theirs.start, theirs.end)}"
                        )
                    )
            if latest is None or (
                latest[0].end is not None and (period.end is None or period.end > latest[0].end)
            ):
                latest = (period, found_item)
    return errors


def check_portfolio(portfolio: Portfolio, stored: Stored) -> list[ReferenceDataError]:
    """Every refusal of the portfolio: its rows' own (from parsing), references to rows that
    are neither in the portfolio nor stored, and overlapping supply periods or contracts of one
    metering point."""
    errors = list(portfolio.errors)
    errors += _references(portfolio, stored)
    errors += _overlaps(portfolio.rows["supply_periods"], stored.supply_periods, "supply period")
    errors += _overlaps(portfolio.rows["contracts"], stored.contract_periods, "contract")
    order = {kind: index for index, kind in enumerate(PORTFOLIO_KINDS)}
    by_source = {source: order[kind] for kind, source in portfolio.sources.items()}
    return sorted(errors, key=lambda e: (by_source.get(e.source, -1), e.row or 0))


__all__ = [
    "LABELS",
    "PORTFOLIO_KINDS",
    "Period",
    "Portfolio",
    "PortfolioRefused",
    "PortfolioRow",
    "Stored",
    "check_portfolio",
    "parse_portfolio_files",
    "parse_portfolio_json",
    "source_uuid",
]
