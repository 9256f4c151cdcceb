"""The ingest dataflow: Kafka (RSM-012 documents) → parse → key by GSRN → TimescaleDB.

Run it with `elflow flow run` (which starts `python -m bytewax.run flows.ingest:build_flow()`
with recovery on). Offsets live in Bytewax's recovery store, not in a consumer group; after a
crash the flow resumes at its last snapshot and replays what followed, and the sink's
idempotent writes (storage.readings) absorb the replay.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import bytewax.operators as op
import psycopg
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import Consumer, Producer, TopicPartition

from flows import metrics
from flows.parse import Item, message_items
from schemas.bands import band_table
from schemas.settings import Settings, settings
from storage.db import Conn, DatabaseUnavailable, connect
from storage.readings import BatchResult, DeadLetterItem, write_batch

# Sink partitions: the unit of write parallelism. Fixed, because the GSRN → partition mapping must
# not change between runs (one metering point, one writer).
SINK_PARTITIONS = 4
# librdkafka prefetches up to 64 MB per partition by default, so the flow's memory grew with the
# backlog until that cap; 8 MB per partition keeps it flat and still feeds the sink faster than
# it writes. ELFLOW_KAFKA_CONFIG overrides it.
_CONSUMER_DEFAULTS = {"queued.max.messages.kbytes": "8192"}
# How long a sink keeps retrying a batch while the database is unreachable before the flow stops.
RECONNECT_PATIENCE_SECONDS = 300.0


class _OffsetTracker:
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


_TRACKER = _OffsetTracker()


def _watch_lag(config: dict[str, str | int | float | bool], interval: float = 5.0) -> None:
    """Background thread: lag = high watermark − (last written offset + 1), per partition."""
    consumer = Consumer({**config, "group.id": "elflow-lag-probe", "enable.auto.commit": "false"})
    while True:
        for (topic, partition), offset in _TRACKER.snapshot().items():
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=5
                )
            except Exception:  # the broker may be restarting; try again next round
                continue
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(max(0, high - offset - 1))
        time.sleep(interval)


class _DatabasePartition(StatefulSinkPartition[Item, None]):
    """Writes each batch in one database transaction; stateless across restarts because the
    writes themselves are idempotent."""

    def __init__(self, cfg: Settings, dead_letter_producer: Producer) -> None:
        self._cfg = cfg
        self._conn: Conn | None = connect(job="ingest")
        self._bands = list(band_table(cfg.bands))
        self._producer = dead_letter_producer

    def _write(self, values: list[Item]) -> BatchResult:
        """Write the batch; while the database is unreachable (a restart, a failover), reconnect
        and write the same batch again. Safe because the write is idempotent and atomic."""
        delay = 0.5
        deadline = time.monotonic() + RECONNECT_PATIENCE_SECONDS
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = connect(job="ingest")
                return write_batch(self._conn, values, tz=self._cfg.timezone, bands=self._bands)
            except (psycopg.OperationalError, DatabaseUnavailable) as exc:
                if time.monotonic() > deadline:
                    raise
                print(
                    f"database unavailable ({str(exc).strip().splitlines()[0]}); retrying in {delay:.1f} s",
                    flush=True,
                )
                if self._conn is not None:
                    self._conn.close()
                self._conn = None
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def write_batch(self, values: list[Item]) -> None:
        dead = [v for v in values if isinstance(v, DeadLetterItem)]
        for item in dead:
            # The topic copy is at-least-once; the table below is exactly-once.
            self._producer.produce(
                self._cfg.deadletter_topic,
                key=(item.document_id or "").encode(),
                value=item.payload,
                headers=[("reason", item.reason_code.encode()), ("detail", item.detail.encode())],
            )
        if dead:
            self._producer.flush(30)
        started = time.perf_counter()
        result = self._write(values)
        metrics.BATCH_WRITE_SECONDS.observe(time.perf_counter() - started)
        metrics.READINGS_WRITTEN.inc(result.readings_written)
        metrics.TRANSACTIONS_WRITTEN.inc(result.transactions_written)
        metrics.DUPLICATES.inc(result.duplicates)
        metrics.CORRECTIONS.inc(result.corrections)
        for reason, count in result.dead_letters.items():
            metrics.DEAD_LETTERS.labels(reason).inc(count)
        if result.newest_reading is not None:
            metrics.observe_newest_reading(result.newest_reading.timestamp())
        for value in values:
            if value.partition is not None and value.offset is not None:
                _TRACKER.record(value.topic, value.partition, value.offset)

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class DatabaseSink(FixedPartitionedSink[Item, None]):
    def __init__(self, cfg: Settings) -> None:
        self._cfg = cfg

    def list_parts(self) -> list[str]:
        return [f"db-{i}" for i in range(SINK_PARTITIONS)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _DatabasePartition:
        producer = Producer(self._cfg.kafka_client_config())
        return _DatabasePartition(self._cfg, producer)


def _to_items(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> Iterable[tuple[str, Item]]:
    items = message_items(msg.value, msg.topic or "", msg.partition or 0, msg.offset or 0)
    metrics.DOCUMENTS_CONSUMED.inc()
    metrics.READINGS_CONSUMED.inc(
        sum(len(item.readings) for _key, item in items if not isinstance(item, DeadLetterItem))
    )
    return items


def build_flow(until_end: bool = False) -> Dataflow:
    """The dataflow; `until_end` stops at the end of the topic instead of waiting for more."""
    cfg = settings()
    metrics.serve(int(os.environ.get("ELFLOW_METRICS_PORT", cfg.metrics_port)))
    kafka_config = cfg.kafka_client_config()
    brokers = str(kafka_config.pop("bootstrap.servers")).split(",")
    threading.Thread(target=_watch_lag, args=(cfg.kafka_client_config(),), daemon=True).start()

    flow = Dataflow("elflow_ingest")
    source: Any = KafkaSource(
        brokers,
        [cfg.readings_topic],
        tail=not until_end,
        add_config={**_CONSUMER_DEFAULTS, **{k: str(v) for k, v in kafka_config.items()}},
        batch_size=500,
        raise_on_errors=False,
    )
    messages = op.input("datahub", flow, source)
    # raise_on_errors=False: a broker error arrives as a KafkaError item; log it, keep going.
    good = op.filter("no_errors", messages, _not_error)
    keyed = op.flat_map("parse", good, _to_items)
    op.output("timescaledb", keyed, DatabaseSink(cfg))
    return flow


def _not_error(msg: Any) -> bool:
    if isinstance(msg, KafkaSourceMessage):
        return True
    print(f"{datetime.now(UTC).isoformat()} kafka error: {msg.err}", flush=True)
    return False
