"""Prometheus metrics of the ingest flow (served over HTTP by each flow process)."""

from __future__ import annotations

import threading

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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
    """Expose /metrics on 127.0.0.1:port (0 = don't serve)."""
    if port:
        start_http_server(port, addr="127.0.0.1")


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
