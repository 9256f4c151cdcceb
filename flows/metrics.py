"""Prometheus metrics of the ingest flow, served with /healthz and /readyz by each flow process
on ELFLOW_METRICS_ADDRESS:port (flows.health).

Two gauges are filled at start-up instead of waiting for the first batch: the consumer lag of
each partition as soon as the source knows where it resumes (`observe_resume`, from
flows.source), and the newest reading already in the database (a background thread that asks
until the database answers or the sink has written something newer).
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg
from prometheus_client import Counter, Gauge, Histogram

from flows import health
from flows.health import one_line
from schemas.calendar import local_midnight_utc
from schemas.settings import Settings, settings
from storage.db import DatabaseUnavailable, connect
from storage.health import newest_reading_date, newest_reading_start

log = logging.getLogger(__name__)

DOCUMENTS_CONSUMED = Counter(
    "elflow_documents_consumed_total", "Kafka messages (DataHub documents) read by the flow"
)
READINGS_CONSUMED = Counter(
    "elflow_readings_consumed_total", "Reading points parsed from consumed documents"
)
READINGS_WRITTEN = Counter(
    "elflow_readings_written_total", "Reading versions appended (day blocks in metering_block)"
)
TRANSACTIONS_WRITTEN = Counter(
    "elflow_transactions_written_total", "DataHub transactions (Series) applied"
)
DUPLICATES = Counter(
    "elflow_duplicates_total", "Transactions already applied and skipped (redelivery, replay)"
)
CORRECTIONS = Counter(
    "elflow_corrections_total", "Transactions that replace values of an earlier transaction"
)
DEAD_LETTERS = Counter("elflow_dead_letters_total", "Messages dead-lettered, by reason", ["reason"])
BATCH_WRITE_SECONDS = Histogram(
    "elflow_batch_write_seconds",
    "Time to write one batch to the database (one transaction)",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
CONSUMER_LAG = Gauge(
    "elflow_consumer_lag_messages",
    "Messages in the partition after the last one this process has written",
    ["topic", "partition"],
)
NEWEST_READING = Gauge(
    "elflow_newest_reading_timestamp_seconds", "Start time of the newest reading written (Unix)"
)

OFFSET_ALARM = Gauge(
    "elflow_offset_alarm",
    "1 when the broker no longer holds the flow's stored position (see flows.source)",
    ["topic", "partition"],
)

_newest_seen = 0.0


def observe_newest_reading(unix_seconds: float) -> None:
    global _newest_seen
    if unix_seconds > _newest_seen:
        _newest_seen = unix_seconds
        NEWEST_READING.set(unix_seconds)


def serve(port: int) -> None:
    """Serve /metrics, /healthz and /readyz on ELFLOW_METRICS_ADDRESS:port (0 = don't serve) and
    fill the newest-reading gauge from the database in the background."""
    if not port:
        return
    cfg = settings()
    health.serve(cfg.metrics_address, port, health.flow_readiness(cfg, {"offsets": offset_alarms}))
    threading.Thread(
        target=fill_newest_reading, args=(cfg,), daemon=True, name="newest-reading"
    ).start()


def offset_alarms() -> str | None:
    """Readiness: no offset alarm is raised (flows.source stops reading on one)."""
    raised = [
        f"{sample.labels['topic']}[{sample.labels['partition']}]"
        for metric in OFFSET_ALARM.collect()
        for sample in metric.samples
        if sample.value
    ]
    return f"offset alarm on {', '.join(sorted(raised))}" if raised else None


def newest_in_database(cfg: Settings) -> float | None:
    """The start of the newest reading stored (Unix seconds), None when there is none."""
    with connect(job="ingest") as conn:
        day = newest_reading_date(conn)
        if day is None:
            return None
        newest = newest_reading_start(conn, day, local_midnight_utc(day, cfg.timezone))
    return newest.timestamp() if newest is not None else None


def fill_newest_reading(cfg: Settings, retry_seconds: float = 5.0) -> None:
    """Set the newest-reading gauge from the database; while the database does not answer, try
    again every `retry_seconds` until it does or the sink has written a reading."""
    while not _newest_seen:
        try:
            newest = newest_in_database(cfg)
        except (DatabaseUnavailable, psycopg.OperationalError) as exc:
            log.warning("newest reading not read at start (%s); trying again", one_line(exc))
            time.sleep(retry_seconds)
            continue
        except psycopg.Error as exc:
            log.error("newest reading not read at start: %s", one_line(exc))
            return
        if newest is not None:
            observe_newest_reading(newest)
        return


def observe_resume(topic: str, partition: int, resume: int, high: int) -> None:
    """The source resumes `partition` at offset `resume`; the broker's log ends at `high`."""
    CONSUMER_LAG.labels(topic, str(partition)).set(max(0, high - resume))
    TRACKER.record(topic, partition, resume - 1)


class OffsetTracker:
    """Last offset this process has written per Kafka partition, for the consumer-lag gauge."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.written: dict[tuple[str, int], int] = {}

    def record(self, topic: str, partition: int, offset: int) -> None:
        with self._lock:
            key = (topic, partition)
            if offset > self.written.get(key, -1):
                self.written[key] = offset

    def snapshot(self) -> dict[tuple[str, int], int]:
        with self._lock:
            return dict(self.written)


TRACKER = OffsetTracker()
