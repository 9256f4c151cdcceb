"""elflow's database roles, created once per cluster by an administrator (`elflow db roles`),
never by migrations. Migrations (run as the owner) grant each role its table privileges.

| role | can |
| --- | --- |
| elflow (owner) | own the schema and every table; only `elflow db migrate` logs in as it |
| elflow_ingest | append readings, write daily summaries, claims, inbound messages, dead letters |
| elflow_finance | read readings, summaries and reference data; refresh summaries; write runs, lines, aconto settlements, billing periods, invoices |
| elflow_loader | write reference and master data (prices, tariffs, customers, contracts ...) |
| elflow_grafana | call the read-only dashboard functions in schema `grafana`, nothing else |
| elflow_datahub | the DataHub connector: dead-letter a too-large document; record DataHub's answer to a request |

No role has SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS or membership in another
role (this command revokes any). In each elflow database the administrator also revokes from
PUBLIC what would let Grafana change its statement timeout inside a statement (`set_config`,
`DO` blocks); see storage/migrations/0008_least_privilege.sql.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from storage.db import OWNER_ROLE, Conn, connect

INGEST, FINANCE, LOADER, GRAFANA, DATAHUB = (
    "elflow_ingest",
    "elflow_finance",
    "elflow_loader",
    "elflow_grafana",
    "elflow_datahub",
)
APP_ROLES = (INGEST, FINANCE, LOADER, GRAFANA, DATAHUB)
ALL_ROLES = (OWNER_ROLE, *APP_ROLES)

# Grafana's sessions: this timeout is set on the role, and the functions of schema `grafana`
# (migration 0008) refuse to run when a session's timeout is off or longer than 30 s.
GRAFANA_SETTINGS = {
    "statement_timeout": "30s",
    "default_transaction_read_only": "on",
    "idle_in_transaction_session_timeout": "60s",
}
GRAFANA_CONNECTION_LIMIT = 10

# INHERIT: the owner reaches schema public through the implicit role pg_database_owner.
_ATTRIBUTES = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT"


def ensure_roles(admin: Conn) -> list[str]:
    """Create the missing roles and (re)set every role's attributes, settings and memberships;
    returns the roles created now. Idempotent; `admin` must be a superuser connection."""
    admin.autocommit = True
    created: list[str] = []
    for role in ALL_ROLES:
        ident = sql.Identifier(role)
        if not _exists(admin, role):
            try:
                admin.execute(sql.SQL("CREATE ROLE {}").format(ident))
                created.append(role)
            except psycopg.errors.DuplicateObject:
                pass  # created by a concurrent run
        admin.execute(sql.SQL("ALTER ROLE {} " + _ATTRIBUTES).format(ident))
        for (granted,) in admin.execute(
            """SELECT r.rolname FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
               WHERE m.member = %s::regrole""",
            (role,),
        ).fetchall():
            admin.execute(sql.SQL("REVOKE {} FROM {}").format(sql.Identifier(granted), ident))
    grafana = sql.Identifier(GRAFANA)
    for name, value in GRAFANA_SETTINGS.items():
        admin.execute(
            sql.SQL("ALTER ROLE {} SET {} = {}").format(
                grafana, sql.Identifier(name), sql.Literal(value)
            )
        )
    admin.execute(
        sql.SQL("ALTER ROLE {} CONNECTION LIMIT {}").format(
            grafana, sql.Literal(GRAFANA_CONNECTION_LIMIT)
        )
    )
    return created


def _exists(conn: Conn, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def ensure_database(admin: Conn, name: str) -> bool:
    """Create database `name` owned by the owner role when it is missing; True when created."""
    admin.autocommit = True
    if admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
        return False
    admin.execute(
        sql.SQL("CREATE DATABASE {} OWNER {}").format(
            sql.Identifier(name), sql.Identifier(OWNER_ROLE)
        )
    )
    return True


def prepare_database(admin_db: Conn) -> None:
    """What only a superuser can do in one elflow database, before its migrations: the
    timescaledb extension, and no `set_config` or `DO` for anyone but elflow's own roles (so
    elflow_grafana cannot change its statement timeout in the middle of a statement)."""
    admin_db.autocommit = True
    admin_db.execute("SET client_min_messages = error")
    admin_db.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
    writers = sql.SQL(", ").join(sql.Identifier(r) for r in (OWNER_ROLE, INGEST, FINANCE, LOADER))
    set_config = sql.SQL("FUNCTION pg_catalog.set_config(text, text, boolean)")
    admin_db.execute(sql.SQL("REVOKE EXECUTE ON {} FROM PUBLIC").format(set_config))
    admin_db.execute(sql.SQL("GRANT EXECUTE ON {} TO {}").format(set_config, writers))
    admin_db.execute("REVOKE USAGE ON LANGUAGE plpgsql FROM PUBLIC")
    admin_db.execute(
        sql.SQL("GRANT USAGE ON LANGUAGE plpgsql TO {}").format(sql.Identifier(OWNER_ROLE))
    )


def database_of(conninfo: str) -> str:
    """The database a connection string names (libpq's default: the user name)."""
    params = conninfo_to_dict(conninfo)
    return str(params.get("dbname") or params.get("user") or OWNER_ROLE)


def on_database(conninfo: str, name: str) -> str:
    """`conninfo` pointed at database `name`."""
    return make_conninfo(conninfo, dbname=name)


def set_up(admin_url: str, database: str) -> list[str]:
    """`elflow db roles`: the roles, the database (owned by the owner role) and its superuser
    part; returns one line per thing done."""
    done: list[str] = []
    with connect(admin_url, job="admin", autocommit=True) as admin:
        created = ensure_roles(admin)
        done.append("roles: created " + ", ".join(created) if created else "roles: all present")
        if ensure_database(admin, database):
            done.append(f"database {database}: created, owned by {OWNER_ROLE}")
    with connect(on_database(admin_url, database), job="admin", autocommit=True) as admin_db:
        prepare_database(admin_db)
    done.append(f"database {database}: timescaledb, set_config and DO restricted")
    return done
