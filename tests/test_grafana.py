"""The Grafana provisioning in deploy/grafana against the real TimescaleDB.

There is no Grafana here, so the tests do what Grafana would: read the provisioned data sources,
expand each SQL panel's macros and variables (deploy/grafana_macros.py) and run the result as the
read-only `elflow_grafana` role on a database filled through the ingest write path. Every SQL
panel must return its columns, rows, and values equal to an independent model of the data
(tests/oracle.py); every PromQL panel may only name metrics that flows/metrics.py exports.
(Over 400 lines on purpose: one fixture database serves every panel, and each panel's check sits
beside the model it is checked against.)
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from prometheus_client.metrics import MetricWrapperBase

import flows.metrics
from deploy.grafana_macros import (
    MacroError,
    TimeRange,
    Variable,
    expand_macros,
    interpolate_variables,
    parse_interval,
    render,
)
from flows.feed import gsrn_for
from flows.parse import Item, message_items
from schemas.bands import DEFAULT_BANDS, band_table
from schemas.calendar import day_bounds_utc, expected_slots
from schemas.settings import LOCAL_PG_PORT
from storage.db import connect, with_user
from storage.readings import write_batch
from tests.conftest import scratch_database
from tests.documents import constant, rsm012
from tests.oracle import Expected, expected_from

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "live-consumption.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "elflow.yaml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "elflow.yaml"

TZ = "Europe/Copenhagen"
BANDS = list(band_table(DEFAULT_BANDS))
PG_TYPE = "grafana-postgresql-datasource"


# ------------------------------------------------------------------ provisioning files

_YAML_INT = re.compile(r"^-?\d+$")


@dataclass
class _Line:
    indent: int
    text: str


def read_yaml(text: str) -> Any:
    """The block-style YAML subset the provisioning files use (mappings, lists of mappings,
    plain/quoted scalars, comments); no PyYAML in this project. Anything else raises."""
    lines: list[_Line] = []
    for raw in text.splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ValueError(f"tab indentation: {raw!r}")
        body = re.sub(r"\s+#.*$", "", raw) if "'" not in raw and '"' not in raw else raw
        lines.append(_Line(len(raw) - len(raw.lstrip(" ")), body.strip()))
    if not lines:
        return None
    value, end = _yaml_block(lines, 0, lines[0].indent)
    if end != len(lines):
        raise ValueError(f"unexpected indentation at {lines[end].text!r}")
    return value


def _yaml_block(lines: list[_Line], i: int, indent: int) -> tuple[Any, int]:
    if lines[i].text.startswith("- "):
        items: list[Any] = []
        while i < len(lines) and lines[i].indent == indent and lines[i].text.startswith("- "):
            lines[i] = _Line(indent + 2, lines[i].text[2:].strip())
            item, i = _yaml_block(lines, i, indent + 2)
            items.append(item)
        return items, i
    mapping: dict[str, Any] = {}
    while i < len(lines) and lines[i].indent == indent and not lines[i].text.startswith("- "):
        key, colon, rest = lines[i].text.partition(":")
        if not colon or not key or key in mapping:
            raise ValueError(f"not a new mapping key: {lines[i].text!r}")
        i += 1
        if rest.strip():
            mapping[key] = _yaml_scalar(rest.strip())
        elif i < len(lines) and (
            lines[i].indent > indent
            or (lines[i].indent == indent and lines[i].text.startswith("- "))
        ):
            mapping[key], i = _yaml_block(lines, i, lines[i].indent)
        else:
            mapping[key] = None
    return mapping, i


def _yaml_scalar(text: str) -> Any:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if _YAML_INT.match(text):
        return int(text)
    if text[0] in "[{&*!|>%@`":
        raise ValueError(f"unsupported YAML value {text!r}")
    return text


def _datasources() -> dict[str, dict[str, Any]]:
    document = read_yaml(DATASOURCES.read_text())
    assert document["apiVersion"] == 1
    return {ds["uid"]: ds for ds in document["datasources"]}


def _dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def _panels() -> list[dict[str, Any]]:
    return [p for p in _dashboard()["panels"] if p["type"] != "row"]


def _sql_panels() -> list[dict[str, Any]]:
    return [p for p in _panels() if p["datasource"]["type"] == PG_TYPE]


def _prom_panels() -> list[dict[str, Any]]:
    return [p for p in _panels() if p["datasource"]["type"] == "prometheus"]


def _variable_defs() -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _dashboard()["templating"]["list"]}


def test_the_provisioned_data_sources_point_at_the_local_stack() -> None:
    sources = _datasources()
    assert set(sources) == {"elflow-timescaledb", "elflow-prometheus"}
    pg = sources["elflow-timescaledb"]
    assert pg["type"] == PG_TYPE
    assert pg["url"] == f"127.0.0.1:{LOCAL_PG_PORT}"
    assert pg["user"] == "elflow_grafana"
    assert pg["jsonData"]["database"] == "elflow"
    assert pg["jsonData"]["sslmode"] == "disable"
    assert pg["jsonData"]["timescaledb"] is True
    assert pg["jsonData"]["postgresVersion"] == 1500
    assert "secureJsonData" not in pg  # no password in the repository
    prom = sources["elflow-prometheus"]
    assert (prom["type"], prom["url"]) == ("prometheus", "http://127.0.0.1:9090")


def test_the_dashboard_provider_loads_the_dashboards_directory() -> None:
    providers = read_yaml(PROVIDERS.read_text())["providers"]
    assert len(providers) == 1
    provider = providers[0]
    assert provider["type"] == "file"
    assert (ROOT / provider["options"]["path"]).resolve() == DASHBOARD.parent
    assert sorted(p.name for p in DASHBOARD.parent.iterdir()) == ["live-consumption.json"]


def test_every_panel_and_variable_uses_a_provisioned_data_source() -> None:
    sources = _datasources()
    dashboard = _dashboard()
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            assert "targets" not in panel and "datasource" not in panel
            continue
        uid = panel["datasource"]["uid"]
        assert uid in sources, panel["title"]
        assert panel["datasource"]["type"] == sources[uid]["type"], panel["title"]
        assert panel["targets"], panel["title"]
        assert panel.get("description"), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"], panel["title"]
            if panel["datasource"]["type"] == PG_TYPE:
                assert target["rawQuery"] is True and target["editorMode"] == "code"
                assert target["format"] in ("time_series", "table"), panel["title"]
            else:
                assert target["expr"], panel["title"]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] in sources
        else:
            assert variable["type"] == "textbox", variable["name"]
    assert {p["title"] for p in _sql_panels()} == set(PANEL_CHECKS)


def test_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in _dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


# ------------------------------------------------------------------ macros

RANGE = TimeRange(
    datetime(2026, 11, 20, 23, tzinfo=UTC), datetime(2026, 11, 23, 11, 5, 7, tzinfo=UTC)
)


def test_macros_expand_as_grafana_expands_them() -> None:
    def expand(sql: str, timescaledb: bool = True) -> str:
        return expand_macros(sql, RANGE, timescaledb=timescaledb)

    assert expand('$__timeFilter("timestamp")') == (
        "\"timestamp\" BETWEEN '2026-11-20T23:00:00Z' AND '2026-11-23T11:05:07Z'"
    )
    assert expand("$__timeFrom() < $__timeTo()") == (
        "'2026-11-20T23:00:00Z' < '2026-11-23T11:05:07Z'"
    )
    assert expand("$__timeGroupAlias(ts, '15m')") == "time_bucket('900s',ts) AS \"time\""
    assert expand("$__timeGroup(ts, 1h)", timescaledb=False) == (
        "floor(extract(epoch from ts)/3600)*3600"
    )
    # Grafana's pre-5.3 rule: $__timeGroup followed by a comma is aliased.
    assert expand("SELECT $__timeGroup(ts, 5m), v", timescaledb=False) == (
        'SELECT floor(extract(epoch from ts)/300)*300 AS "time", v'
    )
    assert expand("$__timeGroup(ts, 1h, 0)") == "time_bucket('3600s',ts)"
    assert expand("$__unixEpochFilter(t)") == "t >= 1795215600 AND t <= 1795431907"
    assert expand("$__unixEpochGroupAlias(t, 1d)") == 'floor(t/86400)*86400 AS "time"'
    assert expand("$__time(ts)") == 'ts AS "time"'
    with pytest.raises(MacroError, match="unknown macro"):
        expand("$__timeFliter(ts)")
    with pytest.raises(MacroError, match="not expanded"):
        expand("$__timeFilter")


def test_variables_are_quoted_like_grafana_sql_data_sources_do() -> None:
    variables = {
        "area": Variable("area", ["791", "131"], multi=True, include_all=True),
        "one": Variable("one", ["o'brien"]),
        "pick": Variable("pick", ["x"], multi=True),
    }
    sql = "IN ($area) ${area} [[area]] '$one' ($pick) $__interval $__interval_ms $__timeFrom()"
    assert interpolate_variables(sql, variables, parse_interval("15m")) == (
        "IN ('791','131') '791','131' '791','131' 'o''brien' ('x') 15m 900000 $__timeFrom()"
    )
    with pytest.raises(MacroError, match="unknown template variable"):
        interpolate_variables("$grid_areas", variables)


# ------------------------------------------------------------------ PromQL panels

_PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool"}
_PROMQL_OPERATORS = {"and", "or", "unless", "offset"}


def promql_names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names used in by/without/on/ignoring and {{legend}}) of an expr."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    labels: set[str] = set()
    for clause in re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", text):
        labels.update(name.strip() for name in clause.split(",") if name.strip())
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    metrics = set()
    for name, call in re.findall(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        if not call and name not in _PROMQL_KEYWORDS | _PROMQL_OPERATORS:
            metrics.add(name)
    return metrics, labels


def exported_metrics() -> dict[str, set[str]]:
    """Every series name flows/metrics.py can export → its label names."""
    suffixes = {
        "counter": ("_total", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_count", "_sum", "_created"),
        "summary": ("", "_count", "_sum", "_created"),
    }
    names: dict[str, set[str]] = {}
    for collector in vars(flows.metrics).values():
        if not isinstance(collector, MetricWrapperBase):
            continue
        labels = set(collector._labelnames)
        for family in collector.describe():
            for suffix in suffixes[family.type]:
                extra = {"le"} if suffix == "_bucket" else set()
                names[family.name + suffix] = labels | extra
    return names


def test_promql_panels_use_only_metrics_the_flow_exports() -> None:
    exported = exported_metrics()
    assert "elflow_readings_written_total" in exported  # the reader itself works
    seen: set[str] = set()
    panels = _prom_panels()
    assert len(panels) >= 4
    for panel in panels:
        for target in panel["targets"]:
            metrics, labels = promql_names(target["expr"])
            assert metrics, target["expr"]
            assert metrics <= set(exported), f"{panel['title']}: {metrics - set(exported)}"
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
            available = set().union(*(exported[m] for m in metrics))
            assert labels | legend <= available, f"{panel['title']}: {labels | legend}"
            seen |= metrics
    assert {
        "elflow_readings_written_total",
        "elflow_consumer_lag_messages",
        "elflow_batch_write_seconds_bucket",
        "elflow_newest_reading_timestamp_seconds",
    } <= seen


def test_the_promql_reader_finds_names_and_skips_functions() -> None:
    assert promql_names(
        'histogram_quantile(0.95, sum by (le) (rate(x_bucket{job="a"}[5m]))) / on (job) y'
    ) == ({"x_bucket", "y"}, {"le", "job"})
    assert promql_names("time() - max(z)") == ({"z"}, set())


# ------------------------------------------------------------------ the read-only role


def _as_grafana(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    """Connect as the provisioned data source does: its user and sslmode, the test database."""
    pg = _datasources()["elflow-timescaledb"]
    return psycopg.connect(
        with_user(url, pg["user"]), sslmode=pg["jsonData"]["sslmode"], autocommit=True
    )


def test_the_grafana_role_reads_only_through_its_functions(db: str) -> None:
    """No table, view or schema of its own: only the functions of schema `grafana`, which need
    the role's statement timeout (tests/test_roles.py tries the ways around it)."""
    with connect(db, autocommit=True) as owner:
        owner.execute("CREATE TABLE later_table (a int)")  # as a later migration would
        # A reading, so the hypertable has a chunk (chunks carry their own privileges).
        owner.execute(
            """INSERT INTO metering_data (metering_point_id, "timestamp", resolution, quantity_kwh,
                   quality, source_message_id, transaction_id, created_at)
               VALUES (%s, date_bin('15 minutes', now(), timestamptz '2000-01-01'), 'PT15M',
                       0.250, 'A04', 'd', 't', now())""",
            (gsrn_for(1),),
        )
        role = owner.execute(
            """SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication
               FROM pg_roles WHERE rolname = 'elflow_grafana'"""
        ).fetchone()
        readable = owner.execute(
            """SELECT n.nspname, c.relname FROM pg_class c
               JOIN pg_namespace n ON n.oid = c.relnamespace
               WHERE n.nspname IN ('public', '_timescaledb_internal', 'grafana')
                 AND c.relkind IN ('r', 'p', 'v', 'm')
                 AND c.relowner = 'elflow'::regrole  -- TimescaleDB's job statistics aside
                 AND (has_table_privilege('elflow_grafana', c.oid,
                          'SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER')
                      OR has_any_column_privilege('elflow_grafana', c.oid, 'SELECT'))"""
        ).fetchall()
        functions = owner.execute(
            """SELECT p.proname, p.prosecdef FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace
               WHERE n.nspname = 'grafana' AND p.proname <> 'require_statement_timeout'
                 AND has_function_privilege('elflow_grafana', p.oid, 'EXECUTE')"""
        ).fetchall()
        chunks = len(owner.execute("SELECT show_chunks('metering_block')").fetchall())
    assert role == (True, False, False, False, False)
    assert readable == []
    assert chunks >= 1
    assert {name for name, _ in functions} >= {"grid_areas", "consumption_by_area"}
    assert all(definer for _, definer in functions)
    with _as_grafana(db) as conn:
        for table in (
            "later_table",
            "metering_data",
            "metering_block",
            "customer",
            "dead_letter_message",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied"):
                conn.execute(f'SELECT 1 FROM "{table}" LIMIT 1')
        assert conn.execute("SELECT count(*) FROM grafana.grid_areas()").fetchone() == (0,)
        timeout = conn.execute("SHOW statement_timeout").fetchone()
    assert timeout == ("30s",)


# ------------------------------------------------------------------ the data the panels read

WEST, EAST = "791", "131"  # grid areas
P_WEST_1 = gsrn_for(101)  # PT15M, 0.250 kWh per quarter, corrected on the second day
P_WEST_2 = gsrn_for(102)  # PT15M, 0.100 kWh, one missing (A02) quarter on the third day
P_EAST = gsrn_for(103)  # PT1H, 1.200 kWh per hour
P_UNKNOWN = gsrn_for(104)  # PT15M, 0.050 kWh, no master data, an incomplete second day
AREA_OF = {P_WEST_1: WEST, P_WEST_2: WEST, P_EAST: EAST}
OPERATORS = {WEST: ("5790000610099", "Vestnet"), EAST: ("5790000705689", "Østnet")}


@dataclass
class Filled:
    url: str
    days: list[date]
    time_range: TimeRange
    expected: Expected


def _messages(days: list[date]) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(originals, corrections, bad input) for three local days."""
    quarter = timedelta(minutes=15)
    originals: list[bytes] = []
    for n, day in enumerate(days):
        start, end = day_bounds_utc(day, TZ)
        created = end + timedelta(hours=6)
        quarters = expected_slots(day, "PT15M", TZ)
        hours = expected_slots(day, "PT1H", TZ)
        west_2: list[str | None] = constant(quarters, "0.100")
        if n == 2:
            west_2[4] = None  # 01:00-01:15 local: DataHub sends it as missing (A02)
        # The unknown point's second day lacks its last two hours (not sent at all).
        unknown = constant(quarters - 8 if n == 1 else quarters, "0.050")
        originals += [
            rsm012(
                f"W-{day}",
                created,
                [
                    (f"W1-{day}", P_WEST_1, "PT15M", start, end, constant(quarters, "0.250")),
                    (f"W2-{day}", P_WEST_2, "PT15M", start, end, west_2),
                ],
            ),
            rsm012(
                f"E-{day}",
                created,
                [(f"E-{day}", P_EAST, "PT1H", start, end, constant(hours, "1.200"))],
            ),
            rsm012(
                f"U-{day}",
                created,
                [(f"U-{day}", P_UNKNOWN, "PT15M", start, start + len(unknown) * quarter, unknown)],
            ),
        ]
    # DataHub corrects the first two hours of the second day for P_WEST_1: 0.400 per quarter.
    start, end = day_bounds_utc(days[1], TZ)
    fix_end = start + timedelta(hours=2)
    correction = rsm012(
        f"W-{days[1]}-fix",
        end + timedelta(hours=9),
        [(f"W1-{days[1]}-fix", P_WEST_1, "PT15M", start, fix_end, constant(8, "0.400"))],
    )
    too_precise = rsm012(
        "BAD-1",
        end + timedelta(hours=9),
        [("BAD-1-t", P_WEST_2, "PT15M", start, start + 4 * quarter, constant(4, "0.1234"))],
    )
    return originals, [correction], [b"\x00 not a document", too_precise]


def _items(values: Sequence[bytes], first_offset: int) -> list[Item]:
    items: list[Item] = []
    for offset, value in enumerate(values, start=first_offset):
        items.extend(item for _key, item in message_items(value, "readings", 0, offset))
    return items


@pytest.fixture(scope="module")
def filled() -> Iterator[Filled]:
    """One migrated database for all panel tests (each panel query only reads it): master data
    for two grid areas, three local days of readings for four metering points, a correction, a
    missing quantity, an incomplete day, a point without master data and two dead letters."""
    # The documents are created 6 to 9 hours after the day they carry and ingest refuses a
    # document created in the future: end the days before yesterday, whatever the hour now.
    today = datetime.now(ZoneInfo(TZ)).date()
    days = [today - timedelta(days=n) for n in (4, 3, 2)]
    originals, corrections, bad = _messages(days)
    with scratch_database(migrated=True) as url:
        # Written as production writes it: master data as the loader, readings as ingest.
        with connect(with_user(url, "elflow_loader")) as conn, conn.transaction():
            for code, (gln, name) in OPERATORS.items():
                conn.execute(
                    "INSERT INTO grid_area VALUES (%s, %s, %s, %s)",
                    (code, gln, name, "DK1" if code == WEST else "DK2"),
                )
            for gsrn, area in AREA_OF.items():
                conn.execute(
                    """INSERT INTO metering_point (gsrn, type, settlement_method,
                               connection_status, grid_area_code, grid_operator_gln)
                           VALUES (%s, 'E17_Consumption', 'Flex', 'Connected', %s, %s)""",
                    (gsrn, area, OPERATORS[area][0]),
                )
        with connect(with_user(url, "elflow_ingest")) as conn:
            write_batch(conn, _items(originals, 0), tz=TZ, bands=BANDS)
            write_batch(conn, _items(corrections + bad, 100), tz=TZ, bands=BANDS)
        end = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=1)
        yield Filled(
            url=url,
            days=days,
            time_range=TimeRange(day_bounds_utc(days[0], TZ)[0], end),
            expected=expected_from(originals + corrections + bad),
        )


# ------------------------------------------------------------------ running the panels


@dataclass
class Result:
    columns: list[str]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class Case:
    timescaledb: bool
    interval: str
    grid_areas: tuple[str, ...] | None  # None: "All"


CASES = [
    Case(True, "1h", None),
    Case(True, "15m", (EAST,)),
    Case(False, "1h", None),
    Case(False, "1d", (WEST,)),
]


def _variables(
    conn: psycopg.Connection[tuple[Any, ...]], case: Case, tr: TimeRange
) -> dict[str, Variable]:
    """Resolve the dashboard's variables in order, each from its own query, as Grafana does."""
    resolved: dict[str, Variable] = {}
    interval = parse_interval(case.interval)
    for name, definition in _variable_defs().items():
        if definition["type"] == "textbox":
            # What a person types: the GSRNs of the selected grid areas, comma-separated.
            areas = resolved["grid_area"].values
            typed = ", ".join(sorted(g for g, area in AREA_OF.items() if area in areas))
            resolved[name] = Variable(name, [typed])
            continue
        sql = render(definition["query"], tr, interval, resolved, timescaledb=case.timescaledb)
        options = [str(r[0]) for r in conn.execute(sql.encode()).fetchall()]
        selected = options
        if name == "grid_area" and case.grid_areas is not None:
            selected = [o for o in options if o in case.grid_areas]
        resolved[name] = Variable(
            name, selected, multi=definition["multi"], include_all=definition["includeAll"]
        )
    return resolved


def _run_panels(filled: Filled, case: Case) -> dict[str, Result]:
    results: dict[str, Result] = {}
    interval = parse_interval(case.interval)
    with _as_grafana(filled.url) as conn:
        variables = _variables(conn, case, filled.time_range)
        for panel in _sql_panels():
            (target,) = panel["targets"]
            sql = render(
                target["rawSql"],
                filled.time_range,
                interval,
                variables,
                timescaledb=case.timescaledb,
            )
            cur = conn.execute(sql.encode())
            assert cur.description is not None
            results[panel["title"]] = Result(
                [c.name for c in cur.description], [tuple(r) for r in cur.fetchall()]
            )
    return results


def test_the_grid_area_variable_lists_areas_and_metering_points_are_typed(
    filled: Filled,
) -> None:
    """80 000 metering points are no drop-down: the GSRN variable is a text box (issue 12)."""
    with _as_grafana(filled.url) as conn:
        every = _variables(conn, Case(True, "1h", None), filled.time_range)
    assert list(every["grid_area"].values) == sorted([WEST, EAST])
    assert _variable_defs()["gsrn"]["type"] == "textbox"
    assert "query" not in _variable_defs()["gsrn"] or not _variable_defs()["gsrn"]["query"]


@pytest.mark.parametrize(
    "case",
    CASES,
    ids=lambda c: f"{'tsdb' if c.timescaledb else 'plain'}-{c.interval}-{c.grid_areas or 'all'}",
)
def test_every_sql_panel_returns_the_data_that_was_written(filled: Filled, case: Case) -> None:
    results = _run_panels(filled, case)
    formats = {p["title"]: p["targets"][0]["format"] for p in _sql_panels()}
    for title, result in results.items():
        columns, check = PANEL_CHECKS[title]
        assert result.columns == columns, title
        assert result.rows, f"{title}: no rows"
        if formats[title] == "time_series":
            assert result.columns[0] == "time", title
            times = [_epoch(r[0]) for r in result.rows]
            assert times == sorted(times), f"{title}: not sorted by time"
        check(result, filled, case)


# ------------------------------------------------------------------ what each panel must show


def _epoch(value: Any) -> int:
    if isinstance(value, datetime):
        return int(value.timestamp())
    return int(value)


def _areas(case: Case) -> set[str]:
    return set(case.grid_areas) if case.grid_areas else {WEST, EAST}


def _current(filled: Filled, case: Case) -> Iterator[tuple[str, datetime, Decimal | None]]:
    """Current readings in the time range of the metering points in the selected grid areas."""
    tr = filled.time_range
    for (gsrn, ts), reading in filled.expected.current.items():
        if AREA_OF.get(gsrn) in _areas(case) and tr.start <= ts <= tr.end:
            yield gsrn, ts, reading.quantity


def _buckets(
    filled: Filled, case: Case, key: Callable[[str], str]
) -> dict[tuple[int, str], Decimal | None]:
    width = int(parse_interval(case.interval).total_seconds())
    sums: dict[tuple[int, str], Decimal | None] = {}
    for gsrn, ts, quantity in _current(filled, case):
        bucket = (int(ts.timestamp()) // width * width, key(gsrn))
        previous = sums.get(bucket)
        if quantity is not None:
            sums[bucket] = quantity if previous is None else previous + quantity
        else:
            sums.setdefault(bucket, None)
    return sums


def _series(result: Result) -> dict[tuple[int, str], Decimal | None]:
    return {(_epoch(r[0]), r[1]): r[2] for r in result.rows}


def _quarters(filled: Filled, case: Case) -> dict[tuple[datetime, str], list[Decimal | None]]:
    """Per (quarter start, grid area): the quantities in it, an hourly reading as a quarter of
    its kWh in each of its quarters (the totals ingest keeps, migration 0035)."""
    quarter = timedelta(minutes=15)
    tr = filled.time_range
    out: dict[tuple[datetime, str], list[Decimal | None]] = defaultdict(list)
    for (gsrn, ts), reading in filled.expected.current.items():
        if AREA_OF.get(gsrn) not in _areas(case):
            continue
        hourly = reading.resolution == "PT1H"
        for part in range(4 if hourly else 1):
            start = ts + part * quarter
            if not tr.start <= start <= tr.end:
                continue
            q = reading.quantity
            out[(start, AREA_OF[gsrn])].append(
                None if q is None else q * Decimal("0.25") if hourly else q
            )
    return out


def _check_per_area(result: Result, filled: Filled, case: Case) -> None:
    width = int(parse_interval(case.interval).total_seconds())
    expected: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for (start, area), values in _quarters(filled, case).items():
        bucket = (int(start.timestamp()) // width * width, area)
        expected[bucket] += sum((v for v in values if v is not None), Decimal(0))
    assert _series(result) == expected
    # The corrected first hour of the second day: 4 x 0.400 (corrected) + 4 x 0.100 in the west.
    if WEST in _areas(case) and case.interval == "1h":
        corrected = int(day_bounds_utc(filled.days[1], TZ)[0].timestamp())
        assert _series(result)[(corrected, WEST)] == Decimal("2.000")
    # The east's hourly 1.200 kWh is 0.300 in each quarter: no jump every fourth quarter.
    if case.grid_areas == (EAST,) and case.interval == "15m":
        assert {kwh for kwh in _series(result).values()} == {Decimal("0.300")}


def _check_totals(result: Result, filled: Filled, case: Case) -> None:
    totals: dict[str, Decimal] = defaultdict(lambda: Decimal("0.000"))
    points: dict[str, int] = defaultdict(int)
    missing: dict[str, int] = defaultdict(int)
    for (_start, area), values in _quarters(filled, case).items():
        present = [v for v in values if v is not None]
        points[area] = max(points[area], len(present))
        totals[area] += sum(present, Decimal(0))
    for gsrn, _ts, quantity in _current(filled, case):
        if quantity is None:
            missing[AREA_OF[gsrn]] += 1
    assert result.rows == [
        (area, OPERATORS[area][1], points[area], totals[area], missing[area])
        for area in sorted(_areas(case))
    ]
    if WEST in _areas(case):
        # Every quarter x (0.250 + 0.100); the correction adds 8 x 0.150; one 0.100 is missing.
        quarters = sum(expected_slots(day, "PT15M", TZ) for day in filled.days)
        west = Decimal("0.350") * quarters + 8 * Decimal("0.150") - Decimal("0.100")
        assert {r[0]: r[3] for r in result.rows}[WEST] == west


def _check_per_point(result: Result, filled: Filled, case: Case) -> None:
    assert _series(result) == _buckets(filled, case, lambda gsrn: gsrn)


def _check_bands(result: Result, filled: Filled, case: Case) -> None:
    summaries = filled.expected.summaries()
    expected = []
    for day in filled.days:
        chosen = [
            s
            for (gsrn, d), s in summaries.items()
            if d == day and AREA_OF.get(gsrn) in _areas(case)
        ]
        expected.append(
            (
                int(day_bounds_utc(day, TZ)[0].timestamp()),
                sum((s.off_peak_kwh for s in chosen), Decimal("0.000")),
                sum((s.peak_kwh for s in chosen), Decimal("0.000")),
                sum((s.super_peak_kwh for s in chosen), Decimal("0.000")),
            )
        )
    assert [(_epoch(r[0]), *r[1:]) for r in result.rows] == expected
    if case.grid_areas == (EAST,):
        # 4 hours 17-21 local x 1.200 kWh.
        assert {r[3] for r in result.rows} == {Decimal("4.800")}


def _check_received(result: Result, filled: Filled, case: Case) -> None:
    by_kind: dict[str, int] = defaultdict(int)
    for row in result.rows:
        by_kind[row[1]] += row[2]
    # Every version counts, the correction's 8 readings too.
    assert sum(by_kind.values()) == filled.expected.versions
    assert by_kind == {"measured": filled.expected.versions - 1, "missing": 1}


def _check_dead_per_reason(result: Result, filled: Filled, case: Case) -> None:
    by_reason: dict[str, int] = defaultdict(int)
    for row in result.rows:
        by_reason[row[1]] += row[2]
    assert by_reason == {"unparseable": 1, "too_many_decimals": 1}


def _check_open_dead(result: Result, filled: Filled, case: Case) -> None:
    assert [(r[0], r[1]) for r in result.rows] == [("too_many_decimals", 1), ("unparseable", 1)]
    assert all(
        filled.time_range.start <= r[2] <= r[3] <= filled.time_range.end for r in result.rows
    )


def _check_incomplete(result: Result, filled: Filled, case: Case) -> None:
    summaries = filled.expected.summaries()
    expected = []
    for (gsrn, day), s in summaries.items():
        if s.missing_count and (gsrn not in AREA_OF or AREA_OF[gsrn] in _areas(case)):
            area = AREA_OF.get(gsrn, "(no master data)")
            row = (
                day,
                gsrn,
                area,
                s.points_received,
                s.points_expected,
                s.missing_count,
                0,
                s.total_kwh,
            )
            expected.append(row)
    expected.sort(key=lambda r: (-r[0].toordinal(), r[1]))
    assert result.rows == expected
    q1, q2 = (expected_slots(day, "PT15M", TZ) for day in filled.days[1:])
    unknown = (filled.days[1], P_UNKNOWN, "(no master data)", q1 - 8, q1, 8, 0, (q1 - 8) * FIVE)
    assert unknown in result.rows
    if WEST in _areas(case):
        missing_one = (filled.days[2], P_WEST_2, WEST, q2, q2, 1, 0, (q2 - 1) * TEN)
        assert missing_one in result.rows


FIVE, TEN = Decimal("0.050"), Decimal("0.100")


def _check_orphans(result: Result, filled: Filled, case: Case) -> None:
    assert result.rows == [(1,)]


PanelCheck = Callable[[Result, Filled, Case], None]

# Panel title → (columns it returns, value check). A new SQL panel needs an entry here.
PANEL_CHECKS: dict[str, tuple[list[str], PanelCheck]] = {
    "Consumption per grid area": (["time", "metric", "kwh"], _check_per_area),
    "Consumption in range per grid area": (
        ["grid area", "grid operator", "metering points", "kWh", "missing readings"],
        _check_totals,
    ),
    "Consumption per metering point": (["time", "metric", "kwh"], _check_per_point),
    "Daily consumption by tariff band": (
        ["time", "off-peak", "peak", "super-peak"],
        _check_bands,
    ),
    "Readings received": (["time", "metric", "readings"], _check_received),
    "Dead letters per reason": (["time", "metric", "dead_letters"], _check_dead_per_reason),
    "Open dead letters": (["reason", "open", "oldest", "newest"], _check_open_dead),
    "Incomplete days": (
        ["date", "gsrn", "grid area", "received", "expected", "missing", "estimated", "kWh so far"],
        _check_incomplete,
    ),
    "Metering points without master data": (["metering points"], _check_orphans),
}
