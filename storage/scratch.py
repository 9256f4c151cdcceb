"""Throw-away databases for tests and benchmarks, set up as production's: created through the
admin connection, owned by the owner role, prepared by storage.roles (extension, restrictions)
and migrated as the owner, so every role has exactly its production privileges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from schemas.errors import ElflowError
from storage.db import OWNER_ROLE, connect, failure_line, url_for, with_user
from storage.migrate import migrate
from storage.roles import ensure_database, ensure_roles, on_database, prepare_database


class ScratchDatabaseError(ElflowError):
    """A scratch database for a test or benchmark cannot be made (one line)."""


def admin_url() -> str:
    return url_for("admin")


_roles_ready: set[str] = set()


@contextmanager
def scratch_database(
    prefix: str = "elflow_scratch", *, migrated: bool = True, keep: bool = False
) -> Iterator[str]:
    """A new database owned by the owner role; yields the owner's connection string to it
    (each job's role reaches it through storage.db.url_for with ELFLOW_DATABASE_URL set to it)
    and drops it afterwards (unless `keep`)."""
    admin = admin_url()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            if admin not in _roles_ready:
                ensure_roles(conn)
                _roles_ready.add(admin)
            ensure_database(conn, name)
    except psycopg.Error as exc:
        raise ScratchDatabaseError(
            failure_line(
                "cannot create a scratch database via ELFLOW_ADMIN_DATABASE_URL", exc, admin
            )
        ) from None
    try:
        with psycopg.connect(on_database(admin, name), autocommit=True) as conn:
            prepare_database(conn)
        url = with_user(on_database(admin, name), OWNER_ROLE)
        if migrated:
            with connect(url) as conn:
                migrate(conn)
        yield url
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
