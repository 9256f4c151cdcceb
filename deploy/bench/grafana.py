"""`elflow bench grafana`: every SQL panel of the dashboard as Grafana would run it, timed.

On a scratch database (or `--reuse URL` of a database `bench settle --keep` left) holding a
month of PT15M readings of N metering points with their daily summaries (built through
storage.summaries, so the triggers of migration 0035 keep the grid-area totals as ingest would),
it reads deploy/grafana/dashboards/live-consumption.json, resolves the variables as Grafana does
(grid area "All" from its own query; the GSRN text box with one metering point typed), expands
each panel's macros for the dashboard's default range (deploy/grafana_macros.py) and runs it as
the read-only `elflow_grafana` role (30 s statement timeout). "now" is the end of the generated
data, as if the dashboard were opened right after ingest caught up. Prints panel, range, rows,
first and best of three times.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from deploy.bench.settle import _generate as generate  # one generator for both benches
from deploy.grafana_macros import TimeRange, Variable, parse_interval, render
from schemas.bands import band_table
from schemas.calendar import BillingPeriod, local_midnight_utc
from schemas.settings import settings
from storage.db import connect, with_user
from storage.migrate import migrate
from storage.scratch import scratch_database

DASHBOARD = Path(__file__).resolve().parents[1] / "grafana" / "dashboards" / "live-consumption.json"
PG_TYPE = "grafana-postgresql-datasource"
# Grafana's maxDataPoints default is the panel's width in pixels; a 1000-pixel panel.
MAX_DATA_POINTS = 1000
# Grafana's rounding of range / max data points to a readable interval (upper bound → interval).
_ROUNDED = [
    (timedelta(seconds=1.5), "1s"),
    (timedelta(seconds=3.5), "2s"),
    (timedelta(seconds=7.5), "5s"),
    (timedelta(seconds=12.5), "10s"),
    (timedelta(seconds=17.5), "15s"),
    (timedelta(seconds=25), "20s"),
    (timedelta(seconds=45), "30s"),
    (timedelta(seconds=90), "1m"),
    (timedelta(seconds=210), "2m"),
    (timedelta(seconds=450), "5m"),
    (timedelta(seconds=750), "10m"),
    (timedelta(seconds=1050), "15m"),
    (timedelta(seconds=1500), "20m"),
    (timedelta(seconds=2700), "30m"),
    (timedelta(seconds=5400), "1h"),
    (timedelta(seconds=9000), "2h"),
    (timedelta(seconds=16200), "3h"),
    (timedelta(seconds=32400), "6h"),
    (timedelta(seconds=86400), "12h"),
    (timedelta(days=7), "1d"),
]


@dataclass(frozen=True)
class GrafanaBenchSpec:
    metering_points: int
    period: str = "2026-10"
    keep: bool = False
    reuse: str | None = None
    extra_ranges: tuple[str, ...] = ()  # e.g. ("30d",): also "now-30d" → "now"


def interval_for(span: timedelta, minimum: str | None) -> timedelta:
    """$__interval for a range: span / max data points, rounded as Grafana rounds it."""
    raw = span / MAX_DATA_POINTS
    chosen = next((parse_interval(text) for bound, text in _ROUNDED if raw <= bound), None)
    interval = chosen or timedelta(days=7)
    return max(interval, parse_interval(minimum)) if minimum else interval


def relative(text: str, now: datetime) -> datetime:
    """'now', 'now-2d' → an instant (the forms a dashboard's default range uses)."""
    if text == "now":
        return now
    if text.startswith("now-"):
        return now - parse_interval(text[4:])
    raise ValueError(f"unsupported relative time {text!r}")


def run_bench(spec: GrafanaBenchSpec, progress: Callable[[str], None]) -> str:
    if spec.metering_points < 1:
        raise ValueError("--metering-points must be at least 1")
    if spec.reuse:
        with connect(spec.reuse) as conn:
            migrate(conn)  # a kept database from before 0035 gets the totals backfilled here
        return _bench(spec, spec.reuse, progress)
    with scratch_database("elflow_bench", keep=spec.keep) as url:
        if spec.keep:
            progress(f"keeping the scratch database {url}")
        period = BillingPeriod.parse(spec.period)
        cfg = settings()
        with connect(url, autocommit=True) as conn:
            conn.execute("SET client_min_messages = warning")
            start, end = local_midnight_utc(period.start), local_midnight_utc(period.end)
            started = time.perf_counter()
            # The generator writes day blocks and daily summaries; the summaries' triggers keep
            # the grid-area totals (migration 0035), as ingest does.
            bands = list(band_table(cfg.bands))
            generate(conn, spec.metering_points, start, end, cfg.timezone, bands, progress)
            progress(f"bench: data and grid-area totals in {time.perf_counter() - started:.1f} s")
            conn.execute("ANALYZE")
        return _bench(spec, url, progress)


def _bench(spec: GrafanaBenchSpec, url: str, progress: Callable[[str], None]) -> str:
    dashboard: dict[str, Any] = json.loads(DASHBOARD.read_text())
    with connect(url, autocommit=True) as owner:
        row = owner.execute(
            """SELECT (SELECT max("timestamp") FROM metering_data),
                      (SELECT count(*) FROM metering_point),
                      (SELECT min(gsrn) FROM metering_point)"""
        ).fetchone()
    if row is None or row[0] is None:
        raise ValueError("the database holds no readings")
    now: datetime = row[0] + timedelta(minutes=15)
    points, typed = int(row[1]), str(row[2])
    default = dashboard["time"]
    ranges = [(f"{default['from']}..{default['to']}", default["from"], default["to"])]
    ranges += [(f"now-{r}..now", f"now-{r}", "now") for r in spec.extra_ranges]
    lines = [
        f"bench grafana: {points} metering points, now = {now:%Y-%m-%d %H:%M} UTC "
        "(the end of the data), as elflow_grafana",
        f"  {'panel':40} {'range':16} {'rows':>7} {'first':>9} {'best of 3':>10}",
    ]
    with psycopg.connect(with_user(url, "elflow_grafana"), autocommit=True) as conn:
        for label, t_from, t_to in ranges:
            time_range = TimeRange(relative(t_from, now), relative(t_to, now))
            variables = _variables(conn, dashboard, time_range, typed)
            for panel in dashboard["panels"]:
                if panel.get("datasource", {}).get("type") != PG_TYPE:
                    continue
                interval = interval_for(time_range.end - time_range.start, panel.get("interval"))
                sql = render(
                    panel["targets"][0]["rawSql"], time_range, interval, variables, timescaledb=True
                )
                progress(f"bench: {panel['title']} ({label}) …")
                rows, times = _timed(conn, sql)
                first = f"{times[0]:8.3f}s" if times else "timeout"
                best = f"{min(times):9.3f}s" if len(times) == 3 else "-"
                lines.append(
                    f"  {panel['title'][:40]:40} {label:16} {rows:>7} {first:>9} {best:>10}"
                )
    return "\n".join(lines)


def _timed(conn: psycopg.Connection[tuple[Any, ...]], sql: str) -> tuple[int, list[float]]:
    times: list[float] = []
    rows = 0
    for _ in range(3):
        started = time.perf_counter()
        try:
            rows = len(conn.execute(sql.encode()).fetchall())
        except psycopg.errors.QueryCanceled:
            return rows, times  # the role's 30 s statement timeout
        times.append(time.perf_counter() - started)
    return rows, times


def _variables(
    conn: psycopg.Connection[tuple[Any, ...]],
    dashboard: dict[str, Any],
    time_range: TimeRange,
    typed: str,
) -> dict[str, Variable]:
    """Grid area "All" from its own query; the GSRN text box with one metering point typed."""
    resolved: dict[str, Variable] = {}
    for definition in dashboard["templating"]["list"]:
        name = definition["name"]
        if definition["type"] == "textbox":
            resolved[name] = Variable(name, [typed])
            continue
        sql = render(
            definition["query"], time_range, timedelta(minutes=1), resolved, timescaledb=True
        )
        options = [str(r[0]) for r in conn.execute(sql.encode()).fetchall()]
        resolved[name] = Variable(
            name, options, multi=definition["multi"], include_all=definition["includeAll"]
        )
    return resolved
