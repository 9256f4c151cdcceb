"""Period close: one versioned, immutable settlement run per grid area.

A run of (billing period, grid area):

1. takes a session advisory lock on (period, grid area), so two runs of the same grid area
   serialise while runs of different grid areas go in parallel (separate processes);
2. marks runs of the same period and area still 'Running' as Failed "abandoned" — we hold the
   lock, so their process is gone;
3. inserts settlement_run (version = highest version that did not fail + 1, status Running)
   and commits it;
4. in ONE transaction computes every line (storage.settlement.compute_lines), the aconto
   settlements (settlement.aconto) and sets status Completed with the summary, so a failed or
   killed run never shows lines as completed; on error the run is set Failed with the error in
   a new transaction.

Lines are never changed afterwards: a re-run is a new version. Before the runs, the daily
summaries of the period are brought up to date from the readings (storage.summaries.
refresh_period) once per `settle` call, under a period lock so parallel processes do not
deadlock on the same summary rows (pass refresh=False when an orchestrator already did it).
A dry run computes everything in a transaction that is rolled back: no run, line or aconto
settlement is written (the summary refresh, being derived data, still is).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg

from schemas.bands import band_table
from schemas.calendar import BillingPeriod, format_day, local_midnight_utc
from schemas.errors import ElflowError
from schemas.settings import settings
from settlement import rules
from settlement.aconto import settle_aconto
from storage import settlement as sql
from storage import settlement_runs as runs
from storage.db import Conn, connect
from storage.periods import billing_period_id
from storage.summaries import refresh_period

Progress = Callable[[str], None]


class SettlementError(ElflowError):
    """A settlement run cannot be done or failed; the message is one line."""


log = logging.getLogger(__name__)


@dataclass
class RunReport:
    period: BillingPeriod
    grid_area: str
    run_id: uuid.UUID
    version: int
    status: str
    dry_run: bool
    settled: int = 0
    left_out: list[sql.LeftOut] = field(default_factory=list)
    totals: list[runs.ChargeTotal] = field(default_factory=list)
    supplied_days: dict[str, int] = field(default_factory=dict)
    aconto_settlements: int = 0
    # Settlement-method changes (Flex / NonProfiled) of this grid area's points in the period.
    method_changes: list[runs.MethodChange] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict[str, object]:
        """settlement_run.summary: amounts as decimal strings, never floats."""
        return {
            "period": self.period.label,
            "grid_area": self.grid_area,
            "settled_metering_points": self.settled,
            "left_out": [{"gsrn": x.gsrn, "reason": x.reason} for x in self.left_out],
            "totals": {
                t.charge_type: {
                    "lines": t.lines,
                    "kwh": str(t.kwh),
                    "amount": str(t.amount),
                    "vat": str(t.vat),
                }
                for t in self.totals
            },
            # Subscriptions carry total_kwh 0; their quantity is the supplied days.
            "supplied_days_per_contract": self.supplied_days,
            "aconto_settlements": self.aconto_settlements,
            "settlement_method_changes": [
                {"gsrn": m.gsrn, "date": m.day.isoformat(), "from": m.before, "to": m.after}
                for m in self.method_changes
            ],
            "duration_seconds": f"{self.seconds:.3f}",
        }

    def nobody(self) -> str:
        """The note on a run that settled no metering point ('' when it settled some)."""
        if self.settled:
            return ""
        if self.left_out:
            return f": settled nobody, all {len(self.left_out)} metering points left out"
        return ": settled nobody, no metering point of ours to settle in this grid area and period"

    def table(self) -> str:
        """The closing summary for a terminal."""
        mode = "DRY RUN, nothing written" if self.dry_run else self.status
        lines = [
            f"settlement {self.period.label} grid area {self.grid_area} version {self.version} "
            f"({mode}) in {self.seconds:.1f} s{self.nobody()}",
            f"  metering points settled  {self.settled}",
            f"  metering points left out {len(self.left_out)}",
        ]
        lines += [f"    {x.gsrn}  {x.reason}" for x in self.left_out[:50]]
        if len(self.left_out) > 50:
            lines.append(f"    … and {len(self.left_out) - 50} more (see settlement_run.summary)")
        if self.aconto_settlements:
            lines.append(f"  aconto settlements       {self.aconto_settlements}")
        for m in self.method_changes:
            lines.append(
                f"  settlement method        {m.gsrn} from {m.day}: {m.before} → {m.after}"
            )
        lines.append(
            f"  {'charge type':<22}{'lines':>7}{'kWh':>16}{'amount DKK':>18}{'VAT DKK':>16}"
        )
        amount = vat = Decimal(0)
        for t in self.totals:
            lines.append(f"  {t.charge_type:<22}{t.lines:>7}{t.kwh:>16}{t.amount:>18}{t.vat:>16}")
            amount += t.amount
            vat += t.vat
        lines.append(f"  {'total':<22}{'':>7}{'':>16}{amount:>18}{vat:>16}")
        return "\n".join(lines)


def _log(message: str) -> None:
    log.info(message)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def settle(
    period: BillingPeriod,
    grid_area: str | None = None,
    *,
    dry_run: bool = False,
    allow_open: bool = False,
    refresh: bool = True,
    url: str | None = None,
    now: datetime | None = None,
    progress: Progress = _log,
    on_report: Callable[[RunReport], None] | None = None,
) -> list[RunReport]:
    """Settle `period` for one grid area, or for every grid area with supplied metering points.

    Raises SettlementError (one line) for an open period, an unknown grid area, or when a run
    fails; with several grid areas the others are still run and the error names the failed ones.
    """
    cfg = settings()
    closes_at = local_midnight_utc(period.end, cfg.timezone)
    if not allow_open and (now or datetime.now(UTC)) < closes_at:
        raise SettlementError(
            f"period {period.label} is not closed: its last local day is "
            f"{format_day(period.end - timedelta(days=1))}"
        )
    with connect(url, autocommit=True) as conn:
        areas = _areas(conn, period, grid_area)
        if not areas:
            raise SettlementError(
                f"no metering point is supplied in {period.label} ({period.in_words})"
            )
        if refresh:
            started = time.perf_counter()
            progress(f"settle {period.label}: refreshing daily summaries …")
            with conn.transaction():
                runs.lock_refresh(conn, period.start, period.end)
                changed = refresh_period(
                    conn,
                    period.start,
                    period.end,
                    tz=cfg.timezone,
                    bands=list(band_table(cfg.bands)),
                )
            progress(
                f"settle {period.label}: {changed} daily summaries changed "
                f"({time.perf_counter() - started:.1f} s)"
            )
        reports: list[RunReport] = []
        failures: list[str] = []
        for number, area in enumerate(areas, start=1):
            progress(f"settle {period.label}: grid area {area} ({number}/{len(areas)})")
            try:
                report = settle_grid_area(
                    conn, period, area, tz=cfg.timezone, dry_run=dry_run, progress=progress
                )
            except SettlementError as exc:
                if len(areas) == 1:
                    raise
                failures.append(str(exc))
                continue
            reports.append(report)
            if on_report:
                on_report(report)
    if failures:
        raise SettlementError(
            f"{len(failures)} of {len(areas)} runs failed: " + " | ".join(failures)
        )
    return reports


def _areas(conn: Conn, period: BillingPeriod, grid_area: str | None) -> list[str]:
    """`grid_area` (refused when unknown), or every grid area supplied in `period`."""
    if grid_area is None:
        return runs.supplied_grid_areas(conn, period.start, period.end)
    if runs.price_area_of(conn, grid_area) is None:
        raise SettlementError(f"unknown grid area {grid_area}")
    return [grid_area]


def settle_grid_area(
    conn: Conn,
    period: BillingPeriod,
    grid_area: str,
    *,
    tz: str,
    dry_run: bool = False,
    progress: Progress = _log,
) -> RunReport:
    """One run (module docstring). `conn` must be in autocommit mode; the run lock is a session
    lock on it."""
    price_area = runs.price_area_of(conn, grid_area)
    if price_area is None:
        raise SettlementError(f"unknown grid area {grid_area}")
    prefix = f"settle {period.label} grid area {grid_area}"
    if not runs.try_lock_run(conn, period.start, period.end, grid_area):
        progress(f"{prefix}: waiting for another run of this grid area to finish …")
        runs.lock_run(conn, period.start, period.end, grid_area)
    try:
        if dry_run:
            with conn.transaction(force_rollback=True):
                billing_id = billing_period_id(
                    conn, period.start, period.end, period.frequency.value
                )
                run_id, version = runs.insert_run(conn, billing_id, grid_area)
                report = RunReport(period, grid_area, run_id, version, "Completed", True)
                _compute(conn, report, billing_id, price_area, tz, progress, prefix)
            return report
        with conn.transaction():
            billing_id = billing_period_id(conn, period.start, period.end, period.frequency.value)
            abandoned = runs.mark_abandoned(conn, billing_id, grid_area)
            run_id, version = runs.insert_run(conn, billing_id, grid_area)
        if abandoned:
            progress(f"{prefix}: marked {abandoned} abandoned run(s) Failed")
        report = RunReport(period, grid_area, run_id, version, "Running", False)
        try:
            with conn.transaction():
                _compute(conn, report, billing_id, price_area, tz, progress, prefix)
                report.status = "Completed"
                runs.complete_run(conn, run_id, json.dumps(report.summary()))
        except BaseException as exc:
            message = _one_line(exc)
            if isinstance(exc, KeyboardInterrupt):
                message = "interrupted"
            try:
                with conn.transaction():
                    runs.fail_run(conn, run_id, message)
            except psycopg.Error:
                pass  # the connection is gone; the next run marks this one abandoned
            if isinstance(exc, sql.SettlementDataError | psycopg.Error):
                raise SettlementError(f"{prefix} version {version} failed: {message}") from None
            raise
        progress(f"{prefix}: version {version} completed in {report.seconds:.1f} s")
        return report
    finally:
        if not conn.closed:
            runs.unlock_run(conn, period.start, period.end, grid_area)


def rule_parameters(conn: Conn, grid_area: str, start: date, end: date) -> dict[str, object]:
    """The money rules the settlement SQL receives (settlement.rules.SqlRuleParameters), with
    the energy price terms of every product contracted in the grid area and period."""
    products = tuple(
        rules.ProductTerms(
            p.product_id,
            rules.energy_price_terms(
                p.energy_model,
                margin_ore_per_kwh=p.margin_ore_per_kwh,
                supplement_ore_per_kwh=p.supplement_ore_per_kwh,
                fixed_price_ore_per_kwh=p.fixed_price_ore_per_kwh,
                spot_share=p.spot_share,
            ),
        )
        for p in sql.contracted_products(conn, grid_area, start, end)
    )
    return rules.SqlRuleParameters(products).as_params()


def _compute(
    conn: Conn,
    report: RunReport,
    billing_id: uuid.UUID,
    price_area: str,
    tz: str,
    progress: Progress,
    prefix: str,
) -> None:
    started = time.perf_counter()
    period = report.period
    progress(f"{prefix}: computing lines …")
    report.settled, report.left_out = sql.compute_lines(
        conn,
        report.run_id,
        grid_area=report.grid_area,
        price_area=price_area,
        start=period.start,
        end=period.end,
        tz=tz,
        rules=rule_parameters(conn, report.grid_area, period.start, period.end),
    )
    progress(
        f"{prefix}: {report.settled} metering points settled, {len(report.left_out)} left out "
        f"({time.perf_counter() - started:.1f} s){report.nobody()}"
    )
    if report.settled:
        report.supplied_days = sql.supplied_days_per_contract(conn)
        following = period.following()
        outcomes = settle_aconto(
            conn,
            report.run_id,
            billing_id,
            start=period.start,
            end=period.end,
            frequency=period.frequency.value,
            days_in_next_period=(following.end - following.start).days,
            supplied_days=report.supplied_days,
        )
        report.aconto_settlements = len(outcomes)
    report.method_changes = runs.settlement_method_changes(
        conn, report.grid_area, period.start, period.end, tz
    )
    report.totals = runs.charge_totals(conn, report.run_id)
    report.seconds = time.perf_counter() - started


def prepare(
    period: BillingPeriod,
    grid_area: str | None = None,
    *,
    url: str | None = None,
    progress: Progress = _log,
) -> dict[str, int]:
    """Bring the per-day charge sums (day_charge_sum) of `period` up to date for one grid area or
    every supplied one, without a run: every day whose summary is complete and whose tariffs are
    known is computed now, so the close reads one small row per metering point and day. Meant
    to run after ingest, e.g. nightly, also while the period is open; a day whose summary or
    rates change afterwards is recomputed by the close. Returns days prepared per grid area."""
    cfg = settings()
    prepared: dict[str, int] = {}
    with connect(url, autocommit=True) as conn:
        for area in _areas(conn, period, grid_area):
            price_area = runs.price_area_of(conn, area)
            if price_area is None:
                continue
            started = time.perf_counter()
            runs.lock_run(conn, period.start, period.end, area)
            try:
                with conn.transaction():
                    days, _ = sql.compute_lines(
                        conn,
                        None,
                        grid_area=area,
                        price_area=price_area,
                        start=period.start,
                        end=period.end,
                        tz=cfg.timezone,
                        rules=rule_parameters(conn, area, period.start, period.end),
                    )
            except sql.SettlementDataError as exc:
                raise SettlementError(f"prepare {period.label} grid area {area}: {exc}") from None
            finally:
                if not conn.closed:
                    runs.unlock_run(conn, period.start, period.end, area)
            prepared[area] = days
            progress(
                f"prepare {period.label} grid area {area}: {days} days' charge sums current "
                f"({time.perf_counter() - started:.1f} s)"
            )
    return prepared
