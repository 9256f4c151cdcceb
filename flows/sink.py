"""The flow's database sink: a message can fail only itself.

Each sink batch is written in one transaction (storage.readings.write_batch). What happens when
that fails depends on why:

- the connection is lost (or the server is shutting down, or the transaction lost a deadlock):
  the same batch is written again after a reconnect, for up to RECONNECT_PATIENCE_SECONDS, then
  the flow stops and resumes from its recovery store when restarted. Logged as "database
  unavailable";
- anything else (a value the database refuses, a bug in our day arithmetic): the batch is
  written again one Kafka message at a time, each in its own transaction, and a message that
  still fails becomes a `database_rejected` dead letter with the error, its exact bytes fetched
  back from the broker. Logged as "batch rejected". The flow goes on.

Dead letters also go to the dead-letter topic, after the database has them. A payload too large
for the topic is cut to ELFLOW_DEADLETTER_MAX_BYTES with a `truncated` header; the table keeps
it whole.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import psycopg
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from flows import health, metrics
from flows.parse import Item
from schemas.bands import band_table
from schemas.printable import escape
from schemas.settings import Settings
from storage.db import Conn, DatabaseUnavailable, Job, connect
from storage.readings import BatchResult, DeadLetterItem, TransactionItem, write_batch

log = logging.getLogger(__name__)
T = TypeVar("T")

# Sink partitions: the unit of write parallelism. Fixed, because the GSRN → partition mapping must
# not change between runs (one metering point, one writer).
SINK_PARTITIONS = 4
# How long a sink keeps retrying a batch while the database is unreachable before the flow stops.
RECONNECT_PATIENCE_SECONDS = 300.0
DATABASE_REJECTED = "database_rejected"

Failure = Literal["connection", "transient", "rejected"]
# SQLSTATEs that say nothing about the data: the server is going away or refused us for now, or
# the transaction lost a race and may simply be run again.
_TRANSIENT_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "40001", "40P01"})
# Room for the record's key, the headers' names and Kafka's framing in a dead-letter copy.
_HEADROOM = 2048
# A dead-letter copy the broker refused as too large even so is sent again at this size.
_FALLBACK_COPY_BYTES = 16_384


class RejectedBatch(Exception):
    """The database refused the batch for its content (not for a lost connection)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(describe_error(cause))
        self.cause = cause


def classify_failure(exc: BaseException, conn: Conn | None) -> Failure:
    """Why a write failed: a lost connection (retry), a transient refusal (retry), or the
    content of the batch (isolate the message). psycopg files "index row too large" (54000)
    and "out of memory" under OperationalError too, so the class alone does not decide."""
    if isinstance(exc, DatabaseUnavailable):
        return "connection"
    if not isinstance(exc, psycopg.Error):
        return "rejected"
    if conn is None or conn.closed or conn.broken:
        return "connection"
    state = exc.sqlstate or ""
    if state.startswith("08"):
        return "connection"
    if state in _TRANSIENT_STATES:
        return "transient"
    if isinstance(exc, psycopg.OperationalError) and not state:
        return "connection"  # raised by the client itself: the socket is gone
    return "rejected"


def describe_error(exc: BaseException) -> str:
    """One printable line: the SQLSTATE when there is one, the first line of the message."""
    state = getattr(exc, "sqlstate", None)
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else type(exc).__name__
    prefix = f"{type(exc).__name__} {state}" if state else type(exc).__name__
    return escape(f"{prefix}: {first}", 300)


def group_by_message(values: Sequence[Item]) -> list[list[Item]]:
    """The batch's items per Kafka message (topic, partition, offset), in batch order."""
    groups: dict[tuple[str, int | None, int | None], list[Item]] = {}
    for index, item in enumerate(values):
        key = (item.topic, item.partition, item.offset)
        if item.partition is None or item.offset is None:
            key = (item.topic, None, -index - 1)  # no position: a message of its own
        groups.setdefault(key, []).append(item)
    return list(groups.values())


def merge_results(total: BatchResult, part: BatchResult) -> None:
    total.transactions_written += part.transactions_written
    total.readings_written += part.readings_written
    total.duplicates += part.duplicates
    total.corrections += part.corrections
    total.documents += part.documents
    total.summaries_changed += part.summaries_changed
    total.dead_letters.update(part.dead_letters)
    if part.newest_reading is not None and (
        total.newest_reading is None or part.newest_reading > total.newest_reading
    ):
        total.newest_reading = part.newest_reading


Header = tuple[str, str | bytes | None]


def dead_letter_copy(item: DeadLetterItem, max_bytes: int) -> tuple[bytes, list[Header]]:
    """The dead-letter topic's record for `item`: value and headers, at most `max_bytes` in
    all. A larger payload is cut and a `truncated` header gives its size and SHA-256 (the
    dead_letter_message row holds it whole)."""
    headers: list[Header] = [
        ("reason", item.reason_code.encode()),
        ("detail", escape(item.detail, 1000).encode()),
    ]
    room = max_bytes - _HEADROOM - sum(len(v or b"") for _k, v in headers)
    payload = item.payload
    if len(payload) <= room:
        return payload, headers
    digest = hashlib.sha256(payload).hexdigest()
    note = (
        f"first {max(room, 0)} of {len(payload)} bytes; sha256 {digest}; "
        "the whole payload is in dead_letter_message"
    )
    return payload[: max(room, 0)], [*headers, ("truncated", note.encode())]


def fetch_payload(cfg: Settings, topic: str, partition: int, offset: int) -> bytes | None:
    """The exact bytes of one Kafka message, read back for a dead letter (None if gone)."""
    consumer = Consumer(
        {
            **cfg.kafka_client_config(),
            "group.id": "elflow-dead-letter-fetch",
            "enable.auto.commit": "false",
            "log_level": 2,
        }
    )
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None or message.error() is not None:
                continue
            if message.offset() == offset:
                value = message.value()
                return b"" if value is None else bytes(value)
            return None
        return None
    finally:
        consumer.close()


class RetryingConnection:
    """A job's connection that runs a write again while the database is unreachable (a restart,
    a failover) or the transaction was aborted (deadlock, serialization), for up to
    RECONNECT_PATIENCE_SECONDS; a failure for the content of the write raises RejectedBatch at
    once. Safe for writes that are idempotent and atomic."""

    def __init__(self, job: Job) -> None:
        self._job: Job = job
        self._conn: Conn | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def run(self, write: Callable[[Conn], T]) -> T:
        delay = 0.5
        deadline = time.monotonic() + RECONNECT_PATIENCE_SECONDS
        while True:
            try:
                if self._conn is None or self._conn.closed:
                    self._conn = connect(job=self._job)
                result = write(self._conn)
                health.RETRIES.leave(self)
                return result
            except Exception as exc:
                kind = classify_failure(exc, self._conn)
                if kind == "rejected":
                    health.RETRIES.leave(self)
                    raise RejectedBatch(exc) from exc
                if time.monotonic() > deadline:
                    raise
                what = "database unavailable" if kind == "connection" else "transaction aborted"
                health.RETRIES.enter(self, f"{self._job} writer: {what}")
                log.warning("%s (%s); retrying in %.1f s", what, describe_error(exc), delay)
                if kind == "connection":
                    self.close()
                time.sleep(delay)
                delay = min(delay * 2, 10.0)


class DatabaseWriter:
    """Writes batches: retries while the connection is lost, isolates a message the database
    refuses (see the module docstring)."""

    def __init__(
        self,
        cfg: Settings,
        fetch: Callable[[str, int, int], bytes | None] | None = None,
    ) -> None:
        self._cfg = cfg
        self._bands = list(band_table(cfg.bands))
        self._db = RetryingConnection("ingest")
        self._fetch = fetch or (lambda t, p, o: fetch_payload(cfg, t, p, o))
        self.isolated: list[DeadLetterItem] = []  # dead letters made by the last write

    def close(self) -> None:
        self._db.close()

    def write(self, values: Sequence[Item]) -> BatchResult:
        self.isolated = []
        try:
            return self._write_retrying(values)
        except RejectedBatch as exc:
            log.warning(
                "batch rejected by the database (%s); writing its %d messages one at a time",
                exc,
                len(group_by_message(values)),
            )
        total = BatchResult()
        for message in group_by_message(values):
            try:
                merge_results(total, self._write_retrying(message))
            except RejectedBatch as exc:
                merge_results(total, self._dead_letter(message, exc))
        return total

    def _write_retrying(self, values: Sequence[Item]) -> BatchResult:
        return self._db.run(
            lambda conn: write_batch(conn, values, tz=self._cfg.timezone, bands=self._bands)
        )

    def _dead_letter(self, message: list[Item], exc: RejectedBatch) -> BatchResult:
        """One message the database refuses: its dead letter, with the exact bytes."""
        first = message[0]
        where = f"{first.topic}[{first.partition}]@{first.offset}"
        if isinstance(first, DeadLetterItem):
            # Storing the dead letter itself failed: keep its reason, add the database's.
            item = DeadLetterItem(
                reason_code=first.reason_code,
                detail=escape(f"{first.detail}; storing it failed: {exc}", 400),
                payload=first.payload,
                document_id=first.document_id,
                topic=first.topic,
                partition=first.partition,
                offset=first.offset,
            )
        else:
            transactions = ", ".join(
                f"{escape(i.transaction_id, 40)} ({i.gsrn})"
                for i in message
                if isinstance(i, TransactionItem)
            )
            payload = None
            if first.partition is not None and first.offset is not None:
                payload = self._fetch(first.topic, first.partition, first.offset)
            if payload is None:
                payload = f"elflow: the bytes of {where} were no longer on the broker".encode()
            item = DeadLetterItem(
                reason_code=DATABASE_REJECTED,
                detail=escape(f"{where}: transaction {transactions} refused: {exc}", 400),
                payload=payload,
                document_id=first.document_id,
                topic=first.topic,
                partition=first.partition,
                offset=first.offset,
            )
        log.warning("dead-lettered %s (%s): %s", where, item.reason_code, exc)
        try:
            result = self._write_retrying([item])
        except RejectedBatch as again:
            # Last resort: the dead letter without its payload, so it is at least listed.
            log.error(
                "storing the dead letter of %s failed (%s); storing it without payload",
                where,
                again,
            )
            item = DeadLetterItem(
                reason_code=item.reason_code,
                detail=escape(f"{item.detail}; payload not storable: {again}", 400),
                payload=f"elflow: payload of {where} not storable".encode(),
                document_id=None,
                topic=item.topic,
                partition=item.partition,
                offset=item.offset,
            )
            result = self._write_retrying([item])
        if isinstance(first, TransactionItem):
            self.isolated.append(item)  # a new dead letter: the topic gets a copy too
        return result


class DeadLetterTopic:
    """Copies of dead letters on the dead-letter topic (at least once; the table is exact)."""

    def __init__(self, cfg: Settings, producer: Producer) -> None:
        self._topic = cfg.deadletter_topic
        self._max_bytes = cfg.deadletter_max_bytes
        self._producer = producer
        self._too_large: list[DeadLetterItem] = []

    def publish(self, items: Sequence[DeadLetterItem]) -> None:
        if not items:
            return
        for item in items:
            self._produce(item, self._max_bytes)
        self._producer.flush(30)
        retry, self._too_large = self._too_large, []
        for item in retry:
            log.warning(
                "dead-letter copy of %s[%s]@%s too large for the broker; sending %d bytes",
                item.topic,
                item.partition,
                item.offset,
                _FALLBACK_COPY_BYTES,
            )
            self._produce(item, _FALLBACK_COPY_BYTES)
        if retry:
            self._producer.flush(30)

    def _produce(self, item: DeadLetterItem, max_bytes: int) -> None:
        value, headers = dead_letter_copy(item, max_bytes)

        def delivered(err: KafkaError | None, _msg: object) -> None:
            if err is None:
                return
            if err.code() == KafkaError.MSG_SIZE_TOO_LARGE and max_bytes > _FALLBACK_COPY_BYTES:
                self._too_large.append(item)
            else:
                log.warning(
                    "dead-letter copy of %s[%s]@%s not delivered: %s",
                    item.topic,
                    item.partition,
                    item.offset,
                    escape(str(err), 200),
                )

        key = (item.document_id or "").encode()
        for _attempt in range(2):
            try:
                self._producer.produce(
                    self._topic, key=key, value=value, headers=headers, on_delivery=delivered
                )
                return
            except BufferError:
                self._producer.flush(30)
            except KafkaException as exc:
                delivered(exc.args[0], None)
                return


class _DatabasePartition(StatefulSinkPartition[Item, None]):
    """Writes each batch in one database transaction (or message by message, see above);
    stateless across restarts because the writes themselves are idempotent."""

    def __init__(self, cfg: Settings, producer: Producer) -> None:
        self._writer = DatabaseWriter(cfg)
        self._dead_letters = DeadLetterTopic(cfg, producer)

    def write_batch(self, values: list[Item]) -> None:
        started = time.perf_counter()
        result = self._writer.write(values)
        metrics.BATCH_WRITE_SECONDS.observe(time.perf_counter() - started)
        dead = [v for v in values if isinstance(v, DeadLetterItem)]
        self._dead_letters.publish([*dead, *self._writer.isolated])
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
                metrics.TRACKER.record(value.topic, value.partition, value.offset)

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._writer.close()


class DatabaseSink(FixedPartitionedSink[Item, None]):
    def __init__(self, cfg: Settings) -> None:
        self._cfg = cfg

    def list_parts(self) -> list[str]:
        return [f"db-{i}" for i in range(SINK_PARTITIONS)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _DatabasePartition:
        return _DatabasePartition(self._cfg, Producer(self._cfg.kafka_client_config()))
