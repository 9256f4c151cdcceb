"""Fixtures for tests against the real local stack (deploy/stack.sh up).

Each database test gets its own freshly created database, so tests never see each other's rows.
Service tests fail loudly (not skip) when the stack is down: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from schemas.settings import LOCAL_KAFKA_PORT, LOCAL_PG_PORT

ADMIN_URL = os.environ.get(
    "ELFLOW_ADMIN_DATABASE_URL", f"postgresql://postgres@127.0.0.1:{LOCAL_PG_PORT}/postgres"
)
KAFKA_BOOTSTRAP = os.environ.get("ELFLOW_KAFKA_BOOTSTRAP", f"127.0.0.1:{LOCAL_KAFKA_PORT}")


def _admin() -> psycopg.Connection[tuple]:  # type: ignore[type-arg]
    try:
        return psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        pytest.fail(f"local stack is not running ({exc}); start it with deploy/stack.sh up")


def _database_url(name: str) -> str:
    base = ADMIN_URL.rsplit("/", 1)[0].replace("postgres@", "elflow@", 1)
    return f"{base}/{name}"


@contextmanager
def scratch_database(*, migrated: bool) -> Iterator[str]:
    """A new database with the timescaledb extension (and the schema if `migrated`), dropped
    afterwards; yields its URL for the elflow role."""
    name = f"elflow_test_{uuid.uuid4().hex[:12]}"
    with _admin() as admin:
        admin.execute(f'CREATE DATABASE "{name}" OWNER elflow')
    with psycopg.connect(ADMIN_URL.rsplit("/", 1)[0] + f"/{name}", autocommit=True) as conn:
        conn.execute("SET client_min_messages = error")
        conn.execute("CREATE EXTENSION timescaledb")
    url = _database_url(name)
    try:
        if migrated:
            from storage.db import connect
            from storage.migrate import migrate

            with connect(url) as conn:
                migrate(conn)
        yield url
    finally:
        with _admin() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point elflow's settings (in this process and the processes it starts) at `url`."""
    from schemas.settings import settings

    monkeypatch.setenv("ELFLOW_DATABASE_URL", url)
    settings.cache_clear()


@pytest.fixture
def empty_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new database with the timescaledb extension and nothing else; yields its URL."""
    from schemas.settings import settings

    with scratch_database(migrated=False) as url:
        use_database(monkeypatch, url)
        try:
            yield url
        finally:
            settings.cache_clear()


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, fully migrated database; yields its URL."""
    from schemas.settings import settings

    with scratch_database(migrated=True) as url:
        use_database(monkeypatch, url)
        try:
            yield url
        finally:
            settings.cache_clear()


@pytest.fixture
def topic() -> str:
    """A topic name no other test uses."""
    return f"test.{uuid.uuid4().hex[:12]}"


@pytest.fixture
def kafka_bootstrap() -> str:
    return KAFKA_BOOTSTRAP


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
