"""Connections to elflow's PostgreSQL/TimescaleDB."""

from __future__ import annotations

from typing import Any

import psycopg

from schemas.settings import ConfigError, settings

# A connection whose rows are plain tuples.
Conn = psycopg.Connection[tuple[Any, ...]]


class DatabaseUnavailable(ConfigError):
    """The database cannot be reached or refused us; one line for the operator."""


def connect(url: str | None = None, *, autocommit: bool = False) -> Conn:
    """Open a connection; a bad URL or an unreachable server raises DatabaseUnavailable."""
    target = url or settings().database_url
    try:
        return psycopg.connect(target, autocommit=autocommit, connect_timeout=10)
    except (psycopg.OperationalError, psycopg.ProgrammingError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(
            f"cannot connect to ELFLOW_DATABASE_URL ({_redact(target)}): {first}"
        ) from None


def _redact(url: str) -> str:
    """Hide a password in a URL before it is printed."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        if ":" in creds:
            return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
