"""Loading a settlement scenario folder (tests/scenarios/<name>/given) into a database."""

from __future__ import annotations

import csv
from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from schemas.bands import DEFAULT_BANDS, band_table
from storage.db import Conn
from storage.importers import import_file
from storage.readings import TransactionItem, write_batch

SCENARIOS = Path(__file__).parent / "scenarios"

# Reference files load in dependency order; the file name (without extension) is the kind.
LOAD_ORDER = (
    "grid_areas",
    "customers",
    "products",
    "metering_points",
    "supply_periods",
    "contracts",
    "aconto_payments",
    "pricelist",
    "spot",
    "elspot",
)


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def readings_items(path: Path) -> list[TransactionItem]:
    """Readings CSV (gsrn;timestamp_utc;resolution;quantity_kwh;quality;document_id;
    transaction_id;created_utc) → one TransactionItem per (document, transaction)."""
    grouped: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for row in read_rows(path):
        grouped[(row["document_id"], row["transaction_id"])].append(row)
    items = []
    for offset, ((document_id, transaction_id), rows) in enumerate(sorted(grouped.items())):
        rows.sort(key=lambda r: r["timestamp_utc"])
        first = rows[0]
        items.append(
            TransactionItem(
                document_id=document_id,
                document_type="E66",
                created=datetime.fromisoformat(first["created_utc"]),
                transaction_id=transaction_id,
                gsrn=first["gsrn"],
                resolution=first["resolution"],
                readings=tuple(
                    (
                        datetime.fromisoformat(r["timestamp_utc"]),
                        Decimal(r["quantity_kwh"]) if r["quantity_kwh"] else None,
                        r["quality"],
                    )
                    for r in rows
                ),
                topic="scenario",
                partition=0,
                offset=offset,
            )
        )
    return items


def load_given(conn: Conn, given: Path) -> None:
    """Import every reference file of `given` in dependency order, then the readings."""
    files = {p.stem: p for p in given.iterdir() if p.suffix in (".csv", ".json", ".xml")}
    unknown = set(files) - set(LOAD_ORDER) - {"readings"}
    assert not unknown, f"unknown given files {unknown}"
    for kind in LOAD_ORDER:
        if kind in files:
            import_file(conn, kind, files[kind])
    if "readings" in files:
        write_batch(
            conn,
            readings_items(files["readings"]),
            tz="Europe/Copenhagen",
            bands=list(band_table(DEFAULT_BANDS)),
        )
