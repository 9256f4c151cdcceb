"""`elflow exporter`: serves on /metrics whether the latest settlement run of each billing
period and grid area failed, so Prometheus can alert on it (deploy/prometheus/alerts.yml).

A settle job is short-lived and may run anywhere, so it does not serve metrics itself; the run's
outcome is already in `settlement_run` (storage/settlement_runs.py). This small process reads it
on every scrape through `grafana.settlement_run_status()` (migration 0043) as elflow_grafana
(read-only sessions, 30 s timeout), so it holds no write privilege and no role of its own.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
from collections.abc import Iterator
from types import FrameType

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from flows.health import Readiness, one_line
from flows.health import serve as serve_http
from schemas.calendar import BillingPeriod
from schemas.codelists import BillingFrequency
from storage.db import connect
from storage.run_status import LatestRun, latest_runs

log = logging.getLogger(__name__)

DEFAULT_PORT = 9484


def period_label(run: LatestRun) -> str:
    return BillingPeriod(BillingFrequency(run.frequency), run.period_start).label


def why(exc: BaseException) -> str:
    """The error in one printable line without a password (flows.health.one_line), or its type."""
    return one_line(exc) or type(exc).__name__


class SettlementRunCollector(Collector):
    """Reads the latest runs at each scrape; a database it cannot read gives status_up 0."""

    def collect(self) -> Iterator[Metric]:
        failed = GaugeMetricFamily(
            "elflow_settlement_run_failed",
            "1 when the latest settlement run of the period and grid area failed",
            labels=["period", "grid_area"],
        )
        running = GaugeMetricFamily(
            "elflow_settlement_run_running",
            "1 while the latest settlement run of the period and grid area is running",
            labels=["period", "grid_area"],
        )
        up = GaugeMetricFamily(
            "elflow_settlement_status_up",
            "1 when the exporter could read the settlement runs at this scrape",
        )
        try:
            with connect(job="grafana") as conn:
                runs = latest_runs(conn)
        except Exception as exc:  # whatever it is, a 0 and one line: the exporter keeps serving
            log.warning("cannot read settlement runs: %s", why(exc))
            up.add_metric([], 0)
            yield up
            return
        for run in runs:
            labels = [period_label(run), run.grid_area or ""]
            failed.add_metric(labels, 1 if run.status == "Failed" else 0)
            running.add_metric(labels, 1 if run.status == "Running" else 0)
        up.add_metric([], 1)
        yield from (failed, running, up)


def runs_unreadable() -> str | None:
    """Readiness check: None when the settlement runs can be read, else why."""
    try:
        with connect(job="grafana") as conn:
            latest_runs(conn)
    except Exception as exc:
        return why(exc)
    return None


def readiness() -> Readiness:
    """/readyz: ready when the runs can be read (checked at most every 3 s, bounded in time)."""
    return Readiness({"database": runs_unreadable})


def serve(address: str, port: int) -> None:
    """/metrics, /healthz and /readyz on address:port (flows.health), in a daemon thread."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SettlementRunCollector())
    serve_http(
        address,
        port,
        readiness(),
        name="exporter",
        settings_named="--address, --port",
        registry=registry,
    )


def run(args: argparse.Namespace) -> int:
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    serve(args.address, args.port)
    log.info("exporter: settlement run status on http://%s:%d/metrics", args.address, args.port)
    stop.wait()
    return 0
