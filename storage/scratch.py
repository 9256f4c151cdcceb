"""Throw-away databases for tests and benchmarks: created through the admin connection, with
the timescaledb extension (which only a superuser may create) and optionally the schema."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from schemas.settings import LOCAL_PG_PORT, ConfigError
from storage.db import connect
from storage.migrate import migrate

DEFAULT_ADMIN_URL = f"postgresql://postgres@127.0.0.1:{LOCAL_PG_PORT}/postgres"


def admin_url() -> str:
    return os.environ.get("ELFLOW_ADMIN_DATABASE_URL", DEFAULT_ADMIN_URL)


@contextmanager
def scratch_database(
    prefix: str = "elflow_scratch", *, migrated: bool = True, keep: bool = False
) -> Iterator[str]:
    """A new database owned by the elflow role; yields its URL and drops it afterwards (unless
    `keep`)."""
    admin = admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER elflow')
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"cannot create a scratch database via ELFLOW_ADMIN_DATABASE_URL: {first}"
        ) from None
    base = admin.rsplit("/", 1)[0]
    try:
        with psycopg.connect(f"{base}/{name}", autocommit=True) as conn:
            conn.execute("SET client_min_messages = error")
            conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        url = f"{base.replace('postgres@', 'elflow@', 1)}/{name}"
        if migrated:
            with connect(url) as conn:
                migrate(conn)
        yield url
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
