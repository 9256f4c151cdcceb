"""Throw-away databases for tests and benchmarks, set up as production's: created through the
admin connection, owned by the owner role, prepared by storage.roles (extension, restrictions)
and migrated as the owner, so every role has exactly its production privileges.

A migrated scratch database is a copy of a template database that was prepared and migrated
exactly that way once per set of migrations (`elflow_template_<hash>`): copying takes a fraction
of running every migration again, which matters when each of a thousand tests gets its own
database. The database-level grants (CONNECT, TEMPORARY), which a copy does not inherit, are
copied from the template."""

from __future__ import annotations

import hashlib
import inspect
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from schemas.errors import ElflowError
from storage.db import OWNER_ROLE, Conn, connect, failure_line, url_for, with_user
from storage.migrate import available_migrations, migrate
from storage.roles import ensure_database, ensure_roles, on_database, prepare_database


class ScratchDatabaseError(ElflowError):
    """A scratch database for a test or benchmark cannot be made (one line)."""


def admin_url() -> str:
    return url_for("admin")


_roles_ready: set[str] = set()

TEMPLATE_PREFIX = "elflow_template_"
_TEMPLATE_LOCK_KEY = 7_231_005  # storage.migrate uses 7_231_004


def _template_name() -> str:
    """Changes whenever a migration or the preparation of a database changes."""
    digest = hashlib.sha256(inspect.getsource(prepare_database).encode())
    for migration in available_migrations():
        digest.update(f"{migration.filename}:{migration.checksum}".encode())
    return TEMPLATE_PREFIX + digest.hexdigest()[:16]


def _ensure_template(admin: Conn, admin_url: str) -> str:
    """The migrated template for today's migrations, built once (under a lock, so parallel test
    workers build it once between them); templates of older migrations are dropped."""
    name = _template_name()
    admin.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK_KEY,))
    try:
        if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return name
        old = admin.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (TEMPLATE_PREFIX + "%",)
        ).fetchall()
        for (stale,) in old:
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(stale)))
        building = f"{name}_building"
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(building))
        )
        ensure_database(admin, building)
        with psycopg.connect(on_database(admin_url, building), autocommit=True) as conn:
            prepare_database(conn)
        with connect(with_user(on_database(admin_url, building), OWNER_ROLE)) as conn:
            migrate(conn)
        # No one (not even TimescaleDB's scheduler) may be connected to a database being copied.
        admin.execute(
            sql.SQL("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false").format(
                sql.Identifier(building)
            )
        )
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
            (building,),
        )
        admin.execute(
            sql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                sql.Identifier(building), sql.Identifier(name)
            )
        )
        return name
    finally:
        admin.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK_KEY,))


def _copy_of_template(admin: Conn, template: str, name: str) -> None:
    admin.execute(
        sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(template), sql.Identifier(OWNER_ROLE)
        )
    )
    grants = admin.execute(
        "SELECT a.privilege_type, a.grantee::regrole::text, a.grantee = 0"
        " FROM pg_database d, aclexplode(d.datacl) a"
        " WHERE d.datname = %s AND a.grantee <> d.datdba",
        (template,),
    ).fetchall()
    target = sql.Identifier(name)
    admin.execute(sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(target))
    for privilege, grantee, public in grants:
        who = sql.SQL("PUBLIC") if public else sql.Identifier(grantee)
        admin.execute(
            sql.SQL("GRANT {} ON DATABASE {} TO {}").format(sql.SQL(privilege), target, who)
        )


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
                # Parallel test workers start together: one at a time alters the roles.
                conn.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK_KEY,))
                try:
                    ensure_roles(conn)
                finally:
                    conn.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK_KEY,))
                _roles_ready.add(admin)
            if migrated:
                _copy_of_template(conn, _ensure_template(conn, admin), name)
            else:
                ensure_database(conn, name)
    except psycopg.Error as exc:
        raise ScratchDatabaseError(
            failure_line(
                "cannot create a scratch database via ELFLOW_ADMIN_DATABASE_URL", exc, admin
            )
        ) from None
    try:
        url = with_user(on_database(admin, name), OWNER_ROLE)
        if not migrated:
            with psycopg.connect(on_database(admin, name), autocommit=True) as conn:
                prepare_database(conn)
        yield url
    finally:
        if not keep:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
