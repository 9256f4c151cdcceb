"""What every importer shares: the per-file result, idempotent upserts, referential look-ups,
and the mapping of a database refusal to one line in our words (never PostgreSQL's own text,
which quotes the whole failing row)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import psycopg

from storage.db import Conn


@dataclass(frozen=True)
class Skipped:
    """A row deliberately not written, and why in words (rows skipped for the same reason are
    counted together)."""

    reason: str


Outcome = Literal["inserted", "updated", "unchanged"] | Skipped


@dataclass
class ImportResult:
    kind: str
    name: str
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)

    def count(self, outcome: Outcome) -> None:
        if isinstance(outcome, Skipped):
            self.skipped += 1
            self.skip_reasons[outcome.reason] += 1
        else:
            setattr(self, outcome, getattr(self, outcome) + 1)

    def line(self) -> str:
        """One line; skipped rows always with their reasons."""
        text = (
            f"{self.name}: {self.kind}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged"
        )
        return text + self.skipped_text()

    def skipped_text(self) -> str:
        """`, N skipped: n1 reason1; n2 reason2`, or nothing when no row was skipped."""
        if not self.skipped:
            return ""
        reasons = "; ".join(f"{count} × {why}" for why, count in self.skip_reasons.most_common())
        return f", {self.skipped} skipped: {reasons}"


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


def bulk_upsert(
    conn: Conn,
    table: str,
    key: Sequence[str],
    rows: Sequence[dict[str, object]],
    keep: dict[str, str] | None = None,
) -> tuple[int, int, int]:
    """`upsert` of many rows in three statements (COPY into a staging table, one INSERT … ON
    CONFLICT): (inserted, updated, unchanged). `keep` gives, per column, the SQL expression
    over `t` (the stored row) and EXCLUDED written instead of the new value, e.g. to keep an end
    a process set. Keys must be unique within `rows`."""
    if not rows:
        return 0, 0, 0
    columns = list(rows[0])
    names = ", ".join(columns)
    stage = f"stage_{table}"
    conn.execute(
        f"CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {names} FROM {table} WITH NO DATA"
    )
    with conn.cursor().copy(f"COPY {stage} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[column] for column in columns])
    new = {c: (keep or {}).get(c, f"EXCLUDED.{c}") for c in columns if c not in key and c != "id"}
    returned = conn.execute(
        f"INSERT INTO {table} AS t ({names}) SELECT {names} FROM {stage} "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET "
        + ", ".join(f"{c} = {value}" for c, value in new.items())
        + f" WHERE ({', '.join(f't.{c}' for c in new)}) IS DISTINCT FROM "
        f"({', '.join(new.values())}) RETURNING (xmax = 0)"
    ).fetchall()
    conn.execute(f"DROP TABLE {stage}")
    inserted = sum(1 for (fresh,) in returned if fresh)
    return inserted, len(returned) - inserted, len(rows) - len(returned)
