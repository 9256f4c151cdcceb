"""Connections to elflow's PostgreSQL/TimescaleDB, each as the role of its job.

| job | role | setting (default: ELFLOW_DATABASE_URL with the role as user, no password) |
| --- | --- | --- |
| migrate | elflow (owner) | ELFLOW_MIGRATE_DATABASE_URL (default: ELFLOW_DATABASE_URL as it is) |
| ingest | elflow_ingest | ELFLOW_INGEST_DATABASE_URL |
| finance | elflow_finance | ELFLOW_FINANCE_DATABASE_URL |
| loader | elflow_loader | ELFLOW_LOADER_DATABASE_URL |
| grafana | elflow_grafana | (Grafana's data source; tests only) |
| datahub | elflow_datahub | ELFLOW_DATAHUB_DATABASE_URL |
| admin | a superuser | ELFLOW_ADMIN_DATABASE_URL |

The roles are created by `elflow db roles` (storage.roles).
"""

from __future__ import annotations

from typing import Any, Literal

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from schemas.errors import ElflowError
from schemas.secrets import redact, secret_fragments
from schemas.settings import ConfigError, settings

# A connection whose rows are plain tuples.
Conn = psycopg.Connection[tuple[Any, ...]]

Job = Literal["migrate", "ingest", "finance", "loader", "grafana", "datahub", "admin"]

OWNER_ROLE = "elflow"
ROLE_OF_JOB: dict[Job, str] = {
    "migrate": OWNER_ROLE,
    "ingest": "elflow_ingest",
    "finance": "elflow_finance",
    "loader": "elflow_loader",
    "grafana": "elflow_grafana",
    "datahub": "elflow_datahub",
}


class DatabaseUnavailable(ElflowError):
    """The database cannot be reached or refused us; one line for the operator."""


def setting_name(job: Job | None) -> str:
    """The environment variable an operator sets to change the URL of `job`."""
    if job is None or job == "grafana":
        return "ELFLOW_DATABASE_URL"
    if job == "migrate" and not settings().migrate_database_url:
        return "ELFLOW_DATABASE_URL"
    return f"ELFLOW_{job.upper()}_DATABASE_URL"


def with_user(url: str, user: str) -> str:
    """`url` (URL or key=value) with another user and without a password."""
    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ConfigError(failure_line("bad setting ELFLOW_DATABASE_URL", exc, url)) from None
    params.pop("password", None)
    params["user"] = user
    return make_conninfo("", **params)


def url_for(job: Job) -> str:
    """The connection string of `job`: its own setting, else ELFLOW_DATABASE_URL with the
    job's role as user (the owner's URL as it is for `migrate`)."""
    cfg = settings()
    if job == "admin":
        return cfg.admin_database_url
    own: str | None = getattr(cfg, f"{job}_database_url", None)
    if own:
        return own
    if job == "migrate":
        return cfg.database_url
    return with_user(cfg.database_url, ROLE_OF_JOB[job])


def connect(url: str | None = None, *, job: Job | None = None, autocommit: bool = False) -> Conn:
    """Open a connection to `url`, else to the URL of `job` (url_for), else to
    ELFLOW_DATABASE_URL; a bad URL or an unreachable server raises DatabaseUnavailable with
    one line that shows no password."""
    if url is not None:
        target = url
    elif job is not None:
        target = url_for(job)
    else:
        target = settings().database_url
    try:
        conn = psycopg.connect(target, autocommit=autocommit, connect_timeout=10)
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        where = f"cannot connect to {setting_name(job)} ({target})"
        raise DatabaseUnavailable(failure_line(where, exc, target)) from None
    zone = settings().timezone
    if zone not in _zones_checked:
        try:
            check_time_zone(conn, zone)
        except ConfigError:
            conn.close()
            raise
        _zones_checked.add(zone)
    return conn


# The zones the database has accepted in this process: checked once, on the first connection.
_zones_checked: set[str] = set()


def check_time_zone(conn: Conn, zone: str) -> None:
    """ConfigError unless the database knows `zone` (ELFLOW_TIMEZONE) the way the settlement
    SQL uses it (`… AT TIME ZONE %(tz)s`); leaves no transaction open. Python's tz database
    and PostgreSQL's can differ, and a zone only Python knows would fail mid-settlement."""
    try:
        conn.execute("SELECT now() AT TIME ZONE %s", [zone])
    except psycopg.errors.InvalidParameterValue:
        raise ConfigError(
            f"bad setting ELFLOW_TIMEZONE={zone!r}: the database does not know this time zone;"
            f" expected a name in PostgreSQL's pg_timezone_names, e.g. Europe/Copenhagen"
        ) from None
    finally:
        if not conn.autocommit:
            conn.rollback()


def failure_line(where: str, exc: Exception, conninfo: str) -> str:
    """`where: <first line of exc>` with every secret of `conninfo` hidden."""
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return redact(f"{where}: {first}", secret_fragments(conninfo))
