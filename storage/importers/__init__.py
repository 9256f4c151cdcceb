"""Import reference data files (prices, price lists, master data) into the database.

`import_file(conn, kind, path)` reads one file, parses it with `schemas.reference` and writes it
in ONE transaction: a refused row raises `ReferenceDataError` naming the file and the row in
words (values are bounded and checked before the database; a constraint the database still
enforces is reported by name, never with PostgreSQL's text), and nothing of the file is
written. Every write is an upsert on the row's natural key, so importing the same file again
changes nothing. Only a lost connection escapes as a psycopg error.

One module per kind: `spot` (spot, elspot), `pricelist`, `pricelist_cim` (pricelist-xml),
`masterdata` (the seven master-data kinds); `tariffs` and `common` are shared.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import psycopg

from schemas.reference.bounds import ReferenceDataError
from schemas.reference.masterdata import parse_master_data
from schemas.reference.pricelist import parse_datahub_pricelist
from schemas.reference.pricelist_cim import parse_price_list_document
from schemas.reference.spot import parse_day_ahead_prices, parse_elspot_prices
from storage.db import Conn
from storage.importers import masterdata
from storage.importers.common import ImportResult, Known, Outcome, RowError, refusal
from storage.importers.pricelist import write_price_list_row
from storage.importers.pricelist_cim import write_charge_item
from storage.importers.spot import write_spot_prices

__all__ = ["FILE_SIZE_MAX", "KINDS", "ImportResult", "import_file"]

FILE_SIZE_MAX = 256 * 1024 * 1024  # a year of 15-minute prices for both areas is ~10 MB

Parser = Callable[[bytes, str], Sequence[Any]]
Writer = Callable[[Conn, Any, Known], Outcome]

_SPOT: dict[str, Parser] = {"spot": parse_day_ahead_prices, "elspot": parse_elspot_prices}
_ROWS: dict[str, tuple[Parser, Writer]] = {
    "pricelist": (parse_datahub_pricelist, write_price_list_row),
    "pricelist-xml": (parse_price_list_document, write_charge_item),
    "grid_areas": (partial(parse_master_data, "grid_areas"), masterdata.write_grid_area),
    "customers": (partial(parse_master_data, "customers"), masterdata.write_customer),
    "products": (partial(parse_master_data, "products"), masterdata.write_product),
    "metering_points": (
        partial(parse_master_data, "metering_points"),
        masterdata.write_metering_point,
    ),
    "supply_periods": (
        partial(parse_master_data, "supply_periods"),
        masterdata.write_supply_period,
    ),
    "contracts": (partial(parse_master_data, "contracts"), masterdata.write_contract),
    "aconto_payments": (
        partial(parse_master_data, "aconto_payments"),
        masterdata.write_aconto_payment,
    ),
}
KINDS: tuple[str, ...] = (*_SPOT, *_ROWS)

_REFUSALS = (psycopg.errors.IntegrityError, psycopg.errors.DataError)


def read_file(path: Path) -> bytes:
    """The bytes of one reference file, at most FILE_SIZE_MAX."""
    try:
        with path.open("rb") as handle:
            data = handle.read(FILE_SIZE_MAX + 1)
    except OSError as exc:
        raise ReferenceDataError(path.name, None, f"cannot read file: {exc.strerror}") from None
    if len(data) > FILE_SIZE_MAX:
        raise ReferenceDataError(path.name, None, f"file is larger than {FILE_SIZE_MAX} bytes")
    return data


def import_file(conn: Conn, kind: str, path: Path | str) -> ImportResult:
    """Parse and write one file in one transaction (see the module docstring)."""
    file = Path(path)
    name = file.name
    if kind not in KINDS:
        raise ReferenceDataError(name, None, f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    data = read_file(file)
    result = ImportResult(kind, name)
    if kind in _SPOT:
        prices = _SPOT[kind](data, name)
        try:
            with conn.transaction():
                write_spot_prices(conn, prices, result)
        except _REFUSALS as exc:
            raise ReferenceDataError(name, None, refusal(exc)) from None
        return result
    parse, write = _ROWS[kind]
    rows = parse(data, name)
    known = Known(conn)
    with conn.transaction():
        for number, row in enumerate(rows, start=1):
            try:
                result.count(write(conn, row, known))
            except RowError as exc:
                raise ReferenceDataError(name, number, str(exc)) from None
            except _REFUSALS as exc:
                raise ReferenceDataError(name, number, refusal(exc)) from None
    return result
