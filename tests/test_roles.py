"""Least privilege on the real database: each role does its job through the real code paths and
is refused, with PostgreSQL's exact error (SQLSTATE and message), everything outside it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest

from schemas.bands import DEFAULT_BANDS, band_table
from schemas.calendar import BillingPeriod
from settlement.invoice_run import run_invoicing
from settlement.run import settle
from storage.db import OWNER_ROLE, Conn, Job, connect, url_for, with_user
from storage.deadletters import list_dead_letters
from storage.importers import import_file
from storage.readings import write_batch
from storage.roles import ALL_ROLES, APP_ROLES, FINANCE, GRAFANA, INGEST, LOADER
from tests.settlement_support import LOAD_ORDER, SCENARIOS, readings_items

pytestmark = pytest.mark.services

GIVEN = SCENARIOS / "a_plain_month_pt15m_spot" / "given"
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
GRAFANA_CALL = "SELECT count(*) FROM grafana.grid_areas()"


@contextmanager
def as_role(db: str, role: str, *, autocommit: bool = True) -> Iterator[Conn]:
    with connect(with_user(db, role), autocommit=autocommit) as conn:
        yield conn


def refused(conn: Conn, statement: str, sqlstate: str, message: str) -> None:
    """`statement` fails with exactly this SQLSTATE and primary message."""
    with pytest.raises(psycopg.Error) as caught:
        conn.execute(statement.encode())
    assert (caught.value.sqlstate, caught.value.diag.message_primary) == (sqlstate, message)


def read_write(conn: Conn) -> None:
    """Grafana's sessions are read-only by default; switch that off to reach the privilege
    checks behind it (the role may do so, it changes nothing)."""
    conn.execute("SET default_transaction_read_only = off")


# ------------------------------------------------------------------ the roles themselves


def test_no_role_can_escalate_and_none_owns_what_it_writes(db: str) -> None:
    with connect(db) as owner:
        attributes = owner.execute(
            """SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
                      rolcanlogin
               FROM pg_roles WHERE rolname = ANY (%s) ORDER BY rolname""",
            (list(ALL_ROLES),),
        ).fetchall()
        memberships = owner.execute(
            """SELECT m.member::regrole::text, m.roleid::regrole::text FROM pg_auth_members m
               WHERE m.member::regrole::text = ANY (%s)""",
            (list(ALL_ROLES),),
        ).fetchall()
        owners = owner.execute(
            """SELECT DISTINCT pg_get_userbyid(c.relowner) FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('public', 'grafana', '_timescaledb_internal')
                 AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
                 AND pg_get_userbyid(c.relowner) LIKE 'elflow%%'"""
        ).fetchall()
        grafana_settings = owner.execute(
            """SELECT unnest(setconfig) FROM pg_db_role_setting
               WHERE setrole = 'elflow_grafana'::regrole AND setdatabase = 0 ORDER BY 1"""
        ).fetchall()
    assert attributes == [(r, False, False, False, False, False, True) for r in sorted(ALL_ROLES)]
    assert memberships == []
    assert owners == [(OWNER_ROLE,)]
    assert [s for (s,) in grafana_settings] == [
        "default_transaction_read_only=on",
        "idle_in_transaction_session_timeout=60s",
        "statement_timeout=30s",
    ]


def test_each_job_connects_as_its_own_role(db: str) -> None:
    jobs: list[tuple[Job, str]] = [("ingest", INGEST), ("finance", FINANCE), ("loader", LOADER)]
    for job, role in jobs:
        with connect(job=job) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (role,)
    with connect(job="migrate") as conn:
        assert conn.execute("SELECT current_user").fetchone() == (OWNER_ROLE,)
    assert url_for("migrate") == db


# ------------------------------------------------------------------ each role does its job


def test_loader_ingest_and_finance_close_a_period_each_with_its_own_privileges(db: str) -> None:
    files = {p.stem: p for p in GIVEN.iterdir()}
    with as_role(db, LOADER) as loader:
        for kind in LOAD_ORDER:
            if kind in files:
                import_file(loader, kind, files[kind])
    with as_role(db, INGEST, autocommit=False) as ingest:
        result = write_batch(
            ingest,
            readings_items(files["readings"]),
            tz="Europe/Copenhagen",
            bands=list(band_table(DEFAULT_BANDS)),
        )
        assert list_dead_letters(ingest, include_resolved=True, limit=10) == []
    assert result.readings_written > 0
    reports = settle(
        BillingPeriod.parse("2026-10"), "344", url=with_user(db, FINANCE), now=NOW, progress=print
    )
    assert [r.status for r in reports] == ["Completed"]
    with as_role(db, FINANCE, autocommit=False) as finance:
        invoicing = run_invoicing(finance, BillingPeriod.parse("2026-10"), NOW, issue=True)
        finance.commit()
    assert len(invoicing.issued) == 1


# ------------------------------------------------------------------ what each role is refused

EVERYONE = (OWNER_ROLE, *APP_ROLES)
ROLE_MESSAGE = 'must have admin option on role "pg_execute_server_program"'
PROGRAM_MESSAGE = (
    "must be superuser or have privileges of the pg_execute_server_program role to COPY to or "
    "from an external program"
)


@pytest.mark.parametrize("role", EVERYONE)
def test_no_role_reaches_a_shell_on_the_database_host(db: str, role: str) -> None:
    with as_role(db, role) as conn:
        read_write(conn)
        refused(conn, f"GRANT pg_execute_server_program TO {role}", "42501", ROLE_MESSAGE)
        refused(conn, "COPY grid_area FROM PROGRAM 'id'", "42501", PROGRAM_MESSAGE)
        refused(conn, "COPY (SELECT 1) TO PROGRAM 'id > /tmp/x'", "42501", PROGRAM_MESSAGE)


def test_grafana_creates_no_temporary_table_or_function(db: str) -> None:
    with as_role(db, GRAFANA) as conn:
        read_write(conn)
        temp = f'permission denied to create temporary tables in database "{_name(db)}"'
        refused(conn, "CREATE TEMP TABLE mine (a int)", "42501", temp)
        refused(
            conn,
            "CREATE FUNCTION pg_temp.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "42501",
            temp,
        )


@pytest.mark.parametrize("role", [r for r in EVERYONE if r != OWNER_ROLE])
def test_no_application_role_can_disable_the_invoice_guard_or_change_a_password(
    db: str, role: str
) -> None:
    with as_role(db, role) as conn:
        read_write(conn)
        refused(
            conn,
            "ALTER TABLE invoice DISABLE TRIGGER invoice_keep_issued",
            "42501",
            "must be owner of table invoice",
        )
        other = INGEST if role == GRAFANA else GRAFANA
        refused(conn, f"ALTER ROLE {other} PASSWORD 'taken'", "42501", "permission denied")
        refused(
            conn,
            "CREATE FUNCTION public.f() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            "42501",
            "permission denied for schema public",
        )
        refused(conn, "CREATE SCHEMA mine", "42501", f"permission denied for database {_name(db)}")


def test_the_owner_cannot_change_another_role_either(db: str) -> None:
    with as_role(db, OWNER_ROLE) as conn:
        refused(conn, "ALTER ROLE elflow_grafana PASSWORD 'taken'", "42501", "permission denied")
        refused(conn, "CREATE ROLE intruder", "42501", "permission denied to create role")


def _name(db: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(db)["dbname"])


TABLE_REFUSALS: list[tuple[str, str, str]] = [
    # ingest writes no invoice, settlement or reference data and changes no reading
    (INGEST, "INSERT INTO invoice (id) VALUES (gen_random_uuid())", "invoice"),
    (INGEST, "UPDATE metering_block SET wh = '{}'", "metering_block"),
    (INGEST, "DELETE FROM metering_block", "metering_block"),
    (INGEST, "DELETE FROM settlement_line", "settlement_line"),
    (INGEST, "UPDATE spot_price SET price_per_kwh = 0", "spot_price"),
    (INGEST, "SELECT name FROM customer", "customer"),
    # finance reads readings but never changes them, nor reference data or dead letters
    (FINANCE, "INSERT INTO metering_data (metering_point_id) VALUES ('1')", "metering_data"),
    (FINANCE, "UPDATE metering_block SET wh = '{}'", "metering_block"),
    (FINANCE, "DELETE FROM metering_block", "metering_block"),
    (FINANCE, "TRUNCATE metering_block", "metering_block"),
    (FINANCE, "UPDATE spot_price SET price_per_kwh = 0", "spot_price"),
    (FINANCE, "SELECT raw_payload FROM dead_letter_message", "dead_letter_message"),
    (FINANCE, "DELETE FROM settlement_line", "settlement_line"),
    # loader: reference data only
    (LOADER, "SELECT * FROM metering_data", "metering_data"),
    (LOADER, "SELECT * FROM metering_block", "metering_block"),
    (LOADER, "INSERT INTO invoice (id) VALUES (gen_random_uuid())", "invoice"),
    (LOADER, "UPDATE settlement_run SET status = 'Failed'", "settlement_run"),
    # grafana reads no table: invoices, contracts, personal data, payloads, settlement lines
    (GRAFANA, "SELECT * FROM invoice", "invoice"),
    (GRAFANA, "SELECT * FROM contract", "contract"),
    (GRAFANA, "SELECT name, cpr_cvr, email, phone FROM customer", "customer"),
    (GRAFANA, "SELECT id FROM customer", "customer"),
    (GRAFANA, "SELECT raw_payload FROM dead_letter_message", "dead_letter_message"),
    (GRAFANA, "SELECT * FROM settlement_line", "settlement_line"),
    (GRAFANA, "SELECT * FROM metering_data", "metering_data"),
    (GRAFANA, "SELECT * FROM metering_block", "metering_block"),
    (GRAFANA, "INSERT INTO grid_area VALUES ('999', '5790000000005', 'x', 'DK1')", "grid_area"),
]


@pytest.mark.parametrize(("role", "statement", "table"), TABLE_REFUSALS, ids=lambda v: str(v)[:40])
def test_a_role_is_refused_another_roles_tables(
    db: str, role: str, statement: str, table: str
) -> None:
    with as_role(db, role) as conn:
        read_write(conn)
        # metering_data is a view over the day blocks (migration 0031)
        kind = "view" if table == "metering_data" else "table"
        refused(conn, statement, "42501", f"permission denied for {kind} {table}")


@pytest.mark.parametrize("role", [INGEST, FINANCE])
@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("UPDATE metering_data SET quantity_kwh = 0", 'cannot update view "metering_data"'),
        ("DELETE FROM metering_data", 'cannot delete from view "metering_data"'),
    ],
)
def test_no_role_changes_a_reading_version_through_the_view(
    db: str, role: str, statement: str, message: str
) -> None:
    # The view has no update or delete path at all (the blocks' refusals are above).
    with as_role(db, role) as conn:
        refused(conn, statement, "55000", message)


def test_the_roles_see_only_their_grafana_functions(db: str) -> None:
    with as_role(db, INGEST) as conn:
        refused(conn, GRAFANA_CALL, "42501", "permission denied for schema grafana")


# ------------------------------------------------------------------ Grafana's timeout


def _grafana_refusal(value: str) -> tuple[str, str]:
    return (
        "42501",
        f"dashboard queries need statement_timeout between 1 ms and 30 s, not {value}",
    )


def test_grafana_cannot_escape_its_statement_timeout(db: str) -> None:
    with as_role(db, GRAFANA) as conn:
        assert conn.execute(GRAFANA_CALL).fetchone() == (0,)
        # The plain way: the functions refuse instead of running without a limit.
        conn.execute("SET statement_timeout = 0")
        refused(conn, GRAFANA_CALL, *_grafana_refusal("0"))
        conn.execute("SET statement_timeout = '1h'")
        refused(conn, GRAFANA_CALL, *_grafana_refusal("1h"))
        # Inside one statement (the timer was armed when it started): no set_config, no DO.
        conn.execute("SET statement_timeout = 0")
        refused(
            conn,
            "SELECT * FROM (SELECT set_config('statement_timeout', NULL, false)) s,"
            " LATERAL grafana.grid_areas()",
            "42501",
            "permission denied for function set_config",
        )
        refused(
            conn,
            "DO $$ BEGIN RESET statement_timeout; PERFORM grafana.grid_areas(); END $$",
            "42501",
            "permission denied for language plpgsql",
        )
        # Inside a transaction the timeout that counts is the one in force at each statement.
        conn.execute("RESET statement_timeout")
        with conn.transaction():
            conn.execute("SET LOCAL statement_timeout = 0")
            refused(conn, GRAFANA_CALL, *_grafana_refusal("0"))
        assert conn.execute(GRAFANA_CALL).fetchone() == (0,)
        # A shorter timeout is fine, and it does stop a query.
        conn.execute("SET statement_timeout = '10s'")
        assert conn.execute(GRAFANA_CALL).fetchone() == (0,)


def test_a_cursor_fetched_after_switching_the_timeout_off_is_refused(db: str) -> None:
    """The functions run (and check) when a statement fetches their rows, under the timeout
    PostgreSQL armed for that statement."""
    with as_role(db, GRAFANA, autocommit=False) as conn:
        conn.execute("DECLARE c CURSOR FOR SELECT * FROM grafana.grid_areas()")
        conn.execute("SET statement_timeout = 0")
        refused(conn, "FETCH ALL FROM c", *_grafana_refusal("0"))
        conn.rollback()
