"""`elflow load portfolio PATH`: a whole portfolio in ONE transaction, in dependency order.

PATH is one JSON file (`{"grid_areas": [...], "customers": [...], …}`) or a folder with one
file per kind, named `<kind>.csv` or `<kind>.json` (kinds: `schemas.reference.portfolio`); the
columns are those of `elflow load <kind>` (README "Loading a portfolio"). Every row is parsed
and checked first — its own fields, references to rows neither in the portfolio nor stored,
overlapping supply periods or contracts — and a single refused row refuses the portfolio with
every reason (`PortfolioRefused`), before anything is written. Then each kind is upserted in
bulk (COPY into a staging table, one INSERT … ON CONFLICT per kind), keeping the end a process
set (`ended_by_request`) and a stored customer address the file does not give, and the source
system's ids go to `source_id`. Loading the same portfolio again changes nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from schemas.reference.bounds import ReferenceDataError
from schemas.reference.portfolio import (
    ID_TABLES,
    LABELS,
    PORTFOLIO_KINDS,
    Period,
    Portfolio,
    PortfolioRefused,
    Stored,
    check_portfolio,
    parse_portfolio_files,
    parse_portfolio_json,
    source_uuid,
)
from storage.db import Conn
from storage.importers import masterdata
from storage.importers.common import (
    ImportResult,
    Known,
    Outcome,
    RowError,
    bulk_upsert,
    refusal,
)
from storage.importers.pricelist import write_price_list_row

_KEEP_END = "CASE WHEN t.ended_by_request IS NULL THEN EXCLUDED.{0} ELSE t.{0} END"
# kind → (table, key, the row's column values, columns whose stored value may win)
_TABLES: dict[str, tuple[str, tuple[str, ...], Callable[[Any], dict[str, object]], dict[str, str]]]
_TABLES = {
    "grid_areas": ("grid_area", ("code",), masterdata.grid_area_values, {}),
    "products": ("product", ("id",), masterdata.product_values, {}),
    "customers": (
        "customer",
        ("id",),
        masterdata.customer_values,
        {"address": "COALESCE(EXCLUDED.address, t.address)"},
    ),
    "metering_points": ("metering_point", ("gsrn",), masterdata.metering_point_values, {}),
    "supply_periods": (
        "supply_period",
        ("id",),
        masterdata.supply_period_values,
        {c: _KEEP_END.format(c) for c in ("end_date", "end_reason")},
    ),
    "contracts": (
        "contract",
        ("id",),
        masterdata.contract_values,
        {"end_date": _KEEP_END.format("end_date")},
    ),
}
# Kinds written row by row (each row may become several rows, or a billing period).
_ROW_WRITERS: dict[str, Callable[[Conn, Any, Known], Outcome]] = {
    "pricelist": write_price_list_row,
    "aconto_payments": masterdata.write_aconto_payment,
}
_REFUSALS = (psycopg.errors.IntegrityError, psycopg.errors.DataError)


@dataclass
class PortfolioReport:
    path: str
    results: list[ImportResult] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per kind; skipped rows always with their reasons."""
        return [
            f"{r.inserted} {LABELS[r.kind]} inserted, {r.updated} updated, {r.unchanged}"
            f" unchanged{r.skipped_text()}"
            for r in self.results
        ]


def read_portfolio(path: Path) -> Portfolio:
    """Parse a portfolio file or folder (every problem collected, none raised)."""
    from storage.importers import read_file

    if not path.is_dir():
        try:
            data = read_file(path)
        except ReferenceDataError as exc:
            return Portfolio(errors=[exc])
        if path.suffix.lower() != ".json":
            return Portfolio(
                errors=[
                    ReferenceDataError(
                        path.name,
                        None,
                        "a portfolio is one JSON file or a folder of <kind>.csv/.json files",
                    )
                ]
            )
        return parse_portfolio_json(data, path.name)
    errors: list[ReferenceDataError] = []
    files: dict[str, tuple[str, bytes]] = {}
    for file in sorted(path.iterdir()):
        if not file.is_file() or file.suffix.lower() not in (".csv", ".json"):
            continue
        kind = file.stem
        if kind not in PORTFOLIO_KINDS:
            errors.append(
                ReferenceDataError(
                    file.name,
                    None,
                    f"is not a portfolio file; the files are <kind>.csv or <kind>.json with kind"
                    f" one of {', '.join(PORTFOLIO_KINDS)}",
                )
            )
        elif kind in files:
            errors.append(
                ReferenceDataError(file.name, None, f"{files[kind][0]} already holds the {kind}")
            )
        else:
            try:
                files[kind] = (file.name, read_file(file))
            except ReferenceDataError as exc:
                errors.append(exc)
    if not files and not errors:
        errors.append(
            ReferenceDataError(
                path.name, None, f"has no portfolio file (<kind>.csv or .json; kinds: "
                f"{', '.join(PORTFOLIO_KINDS)})"
            )
        )  # fmt: skip
    portfolio = parse_portfolio_files(files)
    portfolio.errors[:0] = errors
    return portfolio


def _periods(conn: Conn, table: str) -> list[Period]:
    rows = conn.execute(f"SELECT id, gsrn, start_date, end_date FROM {table}").fetchall()
    return [Period(*row) for row in rows]


def stored_keys(conn: Conn) -> Stored:
    def keys(sql: str) -> set[Any]:
        return {key for (key,) in conn.execute(sql)}

    return Stored(
        keys={
            "grid_areas": keys("SELECT code FROM grid_area"),
            "metering_points": keys("SELECT gsrn FROM metering_point"),
            "products": keys("SELECT id FROM product"),
            "customers": keys("SELECT id FROM customer"),
            "contracts": keys("SELECT id FROM contract"),
        },
        supply_periods=_periods(conn, "supply_period"),
        contract_periods=_periods(conn, "contract"),
    )


def _source_ids(conn: Conn, portfolio: Portfolio) -> None:
    rows = [
        (table, item.source_ids["Id"], source_uuid(table, item.source_ids["Id"]))
        for kind, table in ID_TABLES.items()
        for item in portfolio.rows[kind]
    ]
    if not rows:
        return
    conn.execute(
        "CREATE TEMP TABLE stage_source_id ON COMMIT DROP AS "
        "SELECT kind, source_id, id FROM source_id WITH NO DATA"
    )
    with conn.cursor().copy("COPY stage_source_id (kind, source_id, id) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    conn.execute(
        "INSERT INTO source_id (kind, source_id, id) SELECT kind, source_id, id "
        "FROM stage_source_id ON CONFLICT (kind, source_id) DO NOTHING"
    )
    conn.execute("DROP TABLE stage_source_id")


def _write(conn: Conn, portfolio: Portfolio, report: PortfolioReport) -> None:
    for kind in PORTFOLIO_KINDS:
        items = portfolio.rows[kind]
        if not items:
            continue
        result = ImportResult(kind, portfolio.sources[kind])
        if kind in _ROW_WRITERS:
            known, write = Known(conn), _ROW_WRITERS[kind]
            for item in items:
                try:
                    result.count(write(conn, item.row, known))
                except RowError as exc:
                    raise PortfolioRefused([item.error(str(exc))]) from None
                except _REFUSALS as exc:
                    raise PortfolioRefused([item.error(refusal(exc))]) from None
        else:
            table, key, values, keep = _TABLES[kind]
            try:
                counts = bulk_upsert(conn, table, key, [values(i.row) for i in items], keep)
            except _REFUSALS as exc:
                refused = ReferenceDataError(portfolio.sources[kind], None, refusal(exc))
                raise PortfolioRefused([refused]) from None
            result.inserted, result.updated, result.unchanged = counts
        report.results.append(result)
    _source_ids(conn, portfolio)


def load_portfolio(conn: Conn, path: Path | str) -> PortfolioReport:
    """Check, then write a whole portfolio in one transaction (see the module docstring).
    Raises PortfolioRefused with every reason when any row is refused; nothing is written."""
    source = Path(path)
    portfolio = read_portfolio(source)
    report = PortfolioReport(str(source))
    with conn.transaction():
        # Serialise portfolio loads, so two cannot both pass the overlap check.
        conn.execute("LOCK TABLE supply_period, contract IN SHARE ROW EXCLUSIVE MODE")
        errors = check_portfolio(portfolio, stored_keys(conn))
        if errors:
            raise PortfolioRefused(errors)
        _write(conn, portfolio, report)
    return report


def source_ids_of(conn: Conn, kind: str, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """The source system's id of each of `ids` of table `kind` that a portfolio loaded."""
    rows = conn.execute(
        "SELECT id, source_id FROM source_id WHERE kind = %s AND id = ANY(%s)", (kind, list(ids))
    ).fetchall()
    return dict(rows)
