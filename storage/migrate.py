"""Versioned SQL migrations: storage/migrations/NNNN_name.sql, applied once each, in order.

`schema_migrations` keeps each applied file's SHA-256; a file changed after it was applied makes
every later run refuse to proceed, because the database no longer matches the code's history.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources

import psycopg

from schemas.calendar import zone_name
from storage.db import Conn

# Serialises concurrent `elflow db migrate` runs (an arbitrary, fixed advisory-lock key).
_LOCK_KEY = 7_231_004
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    """A migration cannot be applied; the message names the file."""


@dataclass(frozen=True)
class Migration:
    version: int
    filename: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    found = []
    for entry in resources.files("storage.migrations").iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migrations share a version number: {versions}")
    return found


def migrate(conn: Conn, migrations: list[Migration] | None = None) -> list[str]:
    """Apply what is not yet applied; return the filenames applied now (empty when up to date)."""
    todo = available_migrations() if migrations is None else migrations
    conn.autocommit = True
    conn.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version    integer PRIMARY KEY,
               filename   text NOT NULL,
               checksum   text NOT NULL,
               applied_at timestamptz NOT NULL DEFAULT now())"""
    )
    applied_now: list[str] = []
    # The local day readings are cut into (0031_day_blocks reads it).
    conn.execute("SELECT set_config('elflow.timezone', %s, false)", (zone_name(),))
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        applied = {
            row[0]: (row[1], row[2])
            for row in conn.execute("SELECT version, filename, checksum FROM schema_migrations")
        }
        for migration in todo:
            if migration.version in applied:
                filename, checksum = applied[migration.version]
                if checksum != migration.checksum:
                    raise MigrationError(
                        f"{migration.filename} was changed after it was applied as {filename} "
                        f"(checksum {checksum[:12]} in the database, {migration.checksum[:12]} on disk); "
                        "add a new migration instead of editing an applied one"
                    )
                continue
            try:
                with conn.transaction():
                    conn.execute(migration.sql.encode())
                    conn.execute(
                        "INSERT INTO schema_migrations (version, filename, checksum) VALUES (%s, %s, %s)",
                        (migration.version, migration.filename, migration.checksum),
                    )
            except psycopg.Error as exc:
                raise MigrationError(
                    f"{migration.filename}: {str(exc).strip().splitlines()[0]}"
                ) from None
            applied_now.append(migration.filename)
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return applied_now
