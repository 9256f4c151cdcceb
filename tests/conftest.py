"""Fixtures for tests against the real local stack (deploy/stack.sh up).

Each database test gets its own freshly created database, so tests never see each other's rows.
Service tests fail loudly (not skip) when the stack is down: CI must run them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import psycopg
import pytest

from schemas.settings import LOCAL_KAFKA_PORT, Settings
from storage.scratch import admin_url
from storage.scratch import scratch_database as create_scratch_database

# Tests run in parallel (pytest-xdist): no process a test starts may claim the default metrics
# ports. A test that needs a metrics server sets its own free port.
os.environ["ELFLOW_METRICS_PORT"] = "0"
os.environ["ELFLOW_DATAHUB_METRICS_PORT"] = "0"

ADMIN_URL = admin_url()
KAFKA_BOOTSTRAP = os.environ.get("ELFLOW_KAFKA_BOOTSTRAP", f"127.0.0.1:{LOCAL_KAFKA_PORT}")


def scratch_database(*, migrated: bool) -> AbstractContextManager[str]:
    """A new database for one test (see storage.scratch), dropped afterwards."""
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=5).close()
    except psycopg.OperationalError as exc:
        pytest.fail(f"local stack is not running ({exc}); start it with deploy/stack.sh up")
    return create_scratch_database("elflow_test", migrated=migrated)


def use_database(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Point elflow's settings (in this process and the processes it starts) at `url`."""
    from schemas.settings import settings

    monkeypatch.setenv("ELFLOW_DATABASE_URL", url)
    settings.cache_clear()


def use_flow_topic(
    monkeypatch: pytest.MonkeyPatch,
    url: str,
    recovery_dir: Path,
    name: str,
    *,
    metrics_port: int = 0,
) -> Settings:
    """The ingest flow's settings for one test: a topic no earlier run has written to
    (`test.<name>.<random>`, dead letters on `<topic>.dlq`), its recovery store in
    `recovery_dir`, metrics on `metrics_port` (0: off) and the database `url`. Other settings
    set before the call are kept."""
    from schemas.settings import settings

    topic = f"test.{name}.{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("ELFLOW_READINGS_TOPIC", topic)
    monkeypatch.setenv("ELFLOW_DEADLETTER_TOPIC", f"{topic}.dlq")
    monkeypatch.setenv("ELFLOW_RECOVERY_DIR", str(recovery_dir))
    monkeypatch.setenv("ELFLOW_METRICS_PORT", str(metrics_port))
    use_database(monkeypatch, url)
    return settings()


def _database_fixture(monkeypatch: pytest.MonkeyPatch, *, migrated: bool) -> Iterator[str]:
    from schemas.settings import settings

    with scratch_database(migrated=migrated) as url:
        use_database(monkeypatch, url)
        try:
            yield url
        finally:
            settings.cache_clear()


@pytest.fixture
def empty_db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new database with the timescaledb extension and nothing else; yields its URL."""
    yield from _database_fixture(monkeypatch, migrated=False)


@pytest.fixture
def db(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, fully migrated database; yields its URL."""
    yield from _database_fixture(monkeypatch, migrated=True)


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
