"""What every importer shares: the per-file result, idempotent upserts, referential look-ups,
and the mapping of a database refusal to one line in our words (never PostgreSQL's own text,
which quotes the whole failing row)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import psycopg

from storage.db import Conn

Outcome = Literal["inserted", "updated", "unchanged", "skipped"]


@dataclass
class ImportResult:
    kind: str
    name: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0

    def count(self, outcome: Outcome) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def line(self) -> str:
        text = (
            f"{self.name}: {self.kind}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )
        return text + (f", {self.skipped} skipped" if self.skipped else "")


class RowError(Exception):
    """A row refused while writing; the caller adds file and row number."""


def combined(outcomes: Sequence[Outcome]) -> Outcome:
    """One outcome for a row written as several database rows."""
    for outcome in ("inserted", "updated"):
        if outcome in outcomes:
            return outcome
    return "unchanged"


def upsert(
    conn: Conn, table: str, key: Sequence[str], values: dict[str, object]
) -> Literal["inserted", "updated", "unchanged"]:
    """INSERT … ON CONFLICT (key) DO UPDATE only when a non-key column differs. A surrogate
    `id` outside the key is only set on insert."""
    columns = list(values)
    others = [c for c in columns if c not in key and c != "id"]
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'%({c})s' for c in columns)}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in others)
        + f" WHERE ({', '.join(f'{table}.{c}' for c in others)}) IS DISTINCT FROM "
        f"({', '.join(f'EXCLUDED.{c}' for c in others)}) "
        "RETURNING (xmax = 0)"
    )
    row = conn.execute(sql, values).fetchone()
    if row is None:
        return "unchanged"
    return "inserted" if row[0] else "updated"


class Known:
    """Keys already stored in other tables, loaded once per file, so that a row pointing at a
    missing one is refused in words before the database refuses it."""

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self._keys: dict[str, set[object]] = {}

    def require(self, table: str, column: str, value: object, field: str, kind: str) -> None:
        name = f"{table}.{column}"
        if name not in self._keys:
            rows = self._conn.execute(f"SELECT {column} FROM {table}").fetchall()
            self._keys[name] = {key for (key,) in rows}
        if value not in self._keys[name]:
            raise RowError(
                f"{field} {value} is not a known {table.replace('_', ' ')}; load {kind} first"
            )


_WORDS = {
    "23505": "duplicates a row already stored",
    "23503": "refers to a row that does not exist",
    "23514": "breaks a rule of the table",
    "23502": "leaves a required value empty",
    "22003": "has a number too large for its column",
    "22001": "has a text too long for its column",
    "22P05": "has a character the database cannot store",
    "22021": "has a character the database cannot store",
}


def refusal(exc: psycopg.Error) -> str:
    """A database refusal in one line of our words: what kind, and which constraint/column."""
    diag = exc.diag
    words = _WORDS.get(exc.sqlstate or "", f"was refused by the database ({exc.sqlstate})")
    where = [
        f"{label} {value}"
        for label, value in (("constraint", diag.constraint_name), ("column", diag.column_name))
        if value
    ]
    return f"the row {words}" + (f" ({', '.join(where)})" if where else "")
