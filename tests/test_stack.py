"""The local stack: schema migrations, the TimescaleDB build, the broker, configuration errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from storage.db import connect
from storage.edition import timescaledb_edition
from storage.migrate import Migration, MigrationError, available_migrations, migrate
from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[1]
SEED_DIAGRAM = ROOT / "tests" / "fixtures" / "class_diagram.md"

pytestmark = pytest.mark.services


def _diagram_classes() -> dict[str, list[str]]:
    """Class name -> attribute names, read from the class diagram's mermaid blocks."""
    classes: dict[str, list[str]] = {}
    current: str | None = None
    for line in SEED_DIAGRAM.read_text("utf-8").splitlines():
        head = re.match(r"\s*class (\w+) \{", line)
        if head:
            current = head.group(1)
            classes.setdefault(current, [])
            continue
        if current and line.strip() == "}":
            current = None
            continue
        attr = re.match(r"\s*\+[\w?<>\[\]]+ (\w+)$", line)
        if current and attr and not line.strip().startswith("<<"):
            classes[current].append(attr.group(1))
    return {name: attrs for name, attrs in classes.items() if attrs}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_migrations_apply_once_and_a_second_run_changes_nothing(empty_db: str) -> None:
    with connect(empty_db) as conn:
        first = migrate(conn)
        before = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        second = migrate(conn)
        after = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = 'public' ORDER BY 1, 2"
        ).fetchall()
        recorded = conn.execute(
            "SELECT filename FROM schema_migrations ORDER BY version"
        ).fetchall()
    assert first == [m.filename for m in available_migrations()]
    assert second == []
    assert before == after
    assert [r[0] for r in recorded] == first


def test_a_migration_edited_after_it_was_applied_is_refused(empty_db: str) -> None:
    originals = available_migrations()
    with connect(empty_db) as conn:
        migrate(conn)
        edited = [
            Migration(m.version, m.filename, m.sql + "\n-- edited\n") if i == 0 else m
            for i, m in enumerate(originals)
        ]
        with pytest.raises(
            MigrationError, match=r"0001_domain\.sql was changed after it was applied"
        ):
            migrate(conn, edited)


def test_a_failing_migration_leaves_no_trace(db: str) -> None:
    broken = Migration(9999, "9999_broken.sql", "CREATE TABLE half_done (x int); SELECT 1/0;")
    with connect(db) as conn:
        with pytest.raises(MigrationError, match=r"9999_broken\.sql: division by zero"):
            migrate(conn, [*available_migrations(), broken])
        assert conn.execute("SELECT to_regclass('half_done')").fetchone() == (None,)
        assert conn.execute(
            "SELECT count(*) FROM schema_migrations WHERE version = 9999"
        ).fetchone() == (0,)


def test_every_class_of_the_diagram_is_a_table_with_its_columns(db: str) -> None:
    classes = _diagram_classes()
    # Diagram classes that are projections of another class, not tables of their own.
    assert {"Customer", "MeteringData", "SettlementLine", "DeadLetterMessage"} <= set(classes)
    with connect(db) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public'"
        ).fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(table, set()).add(column)
    missing = []
    for cls, attrs in classes.items():
        table = _snake(cls)
        if table not in columns:
            missing.append(table)
            continue
        for attr in attrs:
            column = _snake(attr)
            # MeteringData.Timestamp is a quoted column; DailySummary.Date likewise keeps its name.
            if column not in columns[table]:
                missing.append(f"{table}.{column}")
    assert missing == []


def test_enum_values_are_the_diagrams_names(db: str) -> None:
    with connect(db) as conn, pytest.raises(psycopg.errors.CheckViolation):
        conn.execute(
            "INSERT INTO grid_area VALUES ('344', '5790000610976', 'N1', 'DK1');"
            "INSERT INTO metering_point (gsrn, type, settlement_method, connection_status, grid_area_code,"
            " grid_operator_gln) VALUES ('571313000000000001', 'Consumption', 'Flex', 'Connected', '344',"
            " '5790000610976')"
        )
    with connect(db) as conn:
        conn.execute("INSERT INTO grid_area VALUES ('344', '5790000610976', 'N1', 'DK1')")
        conn.execute(
            "INSERT INTO metering_point (gsrn, type, settlement_method, connection_status, grid_area_code,"
            " grid_operator_gln) VALUES ('571313000000000001', 'E17_Consumption', 'Flex', 'Connected',"
            " '344', '5790000610976')"
        )


def test_no_float_columns_anywhere(db: str) -> None:
    with connect(db) as conn:
        floats = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('real', 'double precision')"
        ).fetchall()
        kwh = conn.execute(
            "SELECT numeric_precision, numeric_scale FROM information_schema.columns "
            "WHERE table_name = 'metering_data' AND column_name = 'quantity_kwh'"
        ).fetchone()
        amount = conn.execute(
            "SELECT numeric_scale FROM information_schema.columns "
            "WHERE table_name = 'settlement_line' AND column_name = 'total_amount'"
        ).fetchone()
    assert floats == []
    assert kwh == (18, 3)
    assert amount is not None and amount[0] >= 6


def test_the_day_blocks_are_a_hypertable_with_monthly_chunks(db: str) -> None:
    with connect(db) as conn:
        dims = conn.execute(
            "SELECT column_name, time_interval::text FROM timescaledb_information.dimensions "
            "WHERE hypertable_name = 'metering_block'"
        ).fetchall()
        index = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'metering_block'"
        ).fetchall()
    assert len(dims) == 1
    assert dims[0][0] == "day_start"
    # TimescaleDB 2.19 stores a 1-month interval as a fixed 30-day chunk width.
    assert dims[0][1] == "30 days"
    assert [row[0].split(" USING ")[1] for row in index] == ["btree (metering_point_id, day_start)"]


def test_the_timescaledb_edition_is_detected(db: str) -> None:
    with connect(db) as conn:
        edition = timescaledb_edition(conn)
        license_ = conn.execute("SHOW timescaledb.license").fetchone()
    assert (
        edition == {"apache": "apache", "timescale": "community"}[license_[0] if license_ else ""]
    )


def test_kafka_round_trip(kafka_bootstrap: str, topic: str) -> None:
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    futures[topic].result(timeout=15)
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    sent = {f"key-{i}".encode(): f"value-{i}".encode() for i in range(50)}
    for k, v in sent.items():
        producer.produce(topic, key=k, value=v)
    assert producer.flush(15) == 0
    consumer = Consumer(
        {
            "bootstrap.servers": kafka_bootstrap,
            "group.id": f"g-{topic}",
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
        }
    )
    consumer.subscribe([topic])
    received: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 30
    while len(received) < len(sent) and time.monotonic() < deadline:
        for msg in consumer.consume(100, timeout=1.0):
            assert msg.error() is None
            key, value = msg.key(), msg.value()
            assert key is not None and value is not None
            received[key] = value
    consumer.close()
    assert received == sent


def _elflow(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a clean environment (only `env` and PATH), as an operator would run it."""
    return subprocess.run(
        [sys.executable, "-m", "deploy.cli", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_bad_database_url_gives_one_clear_line() -> None:
    result = _elflow(
        {"ELFLOW_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, "db", "migrate"
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("elflow: cannot connect to ELFLOW_DATABASE_URL")
    assert "Traceback" not in result.stderr


def test_a_malformed_database_url_gives_one_clear_line() -> None:
    result = _elflow({"ELFLOW_DATABASE_URL": "mysql://x"}, "db", "migrate")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "elflow: bad setting ELFLOW_DATABASE_URL: mysql:// is not postgresql://; expected a "
        "postgresql:// URL or a libpq key=value string"
    )


def test_the_stack_script_run_again_is_a_no_op() -> None:
    result = subprocess.run(
        [str(ROOT / "deploy" / "stack.sh"), "up"], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    assert "already running" in result.stderr
    assert "starting" not in result.stderr
    assert "installing" not in result.stderr and "building" not in result.stderr


def test_an_unreachable_broker_gives_one_clear_line() -> None:
    result = _elflow(
        {"ELFLOW_KAFKA_BOOTSTRAP": "127.0.0.1:1"}, "feed", "--metering-points", "1", "--days", "1"
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("elflow: Kafka at ELFLOW_KAFKA_BOOTSTRAP=127.0.0.1:1: ")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs PostgreSQL as another user")
def test_a_data_dir_the_postgres_user_cannot_reach_is_named(tmp_path: Path) -> None:
    """A checkout under a 0700 directory (what mktemp -d makes): `stack.sh up` says which
    directory the postgres user cannot enter instead of a bare initdb failure."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o700)
    tmp_path.chmod(0o711)  # only `locked` is out of reach below tmp_path
    result = subprocess.run(
        [str(ROOT / "deploy" / "stack.sh"), "up"],
        env={
            **os.environ,
            "ELFLOW_LOCAL_DIR": str(locked / "local"),
            "ELFLOW_PG_PORT": str(free_port()),
            "ELFLOW_KAFKA_PORT": str(free_port()),
        },
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 1, result.stderr
    error = result.stderr.strip().splitlines()[-1]
    assert error.startswith(f"[stack] error: the postgres user cannot reach {locked}/local/"), error
    assert "is not searchable by it" in error and "ELFLOW_LOCAL_DIR" in error, error
