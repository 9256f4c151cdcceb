"""The master-data dataflow: Kafka (RSM-022 documents) → parse → key by GSRN → apply.

A second flow beside the readings flow, not the same flow routed by document type: master data
needs a per-metering-point order and a lock across all of a point's history, readings need
throughput; separate topics, recovery stores and processes keep a burst of one from delaying
the other, and either can be restarted alone. The logic is in plain functions
(`settlement.masterdata`); this module is wiring.

Topics, all derived from `ELFLOW_MASTERDATA_TOPIC` (default `datahub.masterdata`, key = GSRN so
a point's documents keep their order): the documents; `<topic>.deadletter` (copies of dead
letters, headers `reason`, `detail`); `<topic>.events` (domain events, published by
`flows.outbox_relay`). Offsets live in `<ELFLOW_RECOVERY_DIR>-masterdata`.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSource, KafkaSourceMessage
from bytewax.dataflow import Dataflow
from bytewax.outputs import FixedPartitionedSink, StatefulSinkPartition
from confluent_kafka import Producer

from flows.runner import ensure_recovery, ensure_topic, flow_commands, start_processes
from flows.sink import DATABASE_REJECTED, RejectedBatch, RetryingConnection
from schemas.printable import escape
from schemas.process_documents import is_lifecycle_document
from schemas.rsm028 import is_customer_document
from schemas.settings import Settings, configure_logging, settings
from settlement.customer_data import CustomerItem, customer_items
from settlement.masterdata import BatchOutcome, Item, UnreadableItem, apply_batch, message_items
from settlement.process_answers import AnswerItem, answer_items, apply_answers
from storage.db import Conn

log = logging.getLogger(__name__)

# Fixed: the GSRN → partition mapping must not change between runs (one point, one writer).
SINK_PARTITIONS = 4


def events_topic(cfg: Settings) -> str:
    return f"{cfg.masterdata_topic}.events"


def deadletter_topic(cfg: Settings) -> str:
    return f"{cfg.masterdata_topic}.deadletter"


def recovery_dir(cfg: Settings) -> Path:
    return Path(f"{cfg.recovery_dir}-masterdata")


# Lifecycle answers, notifications and RSM-028 customer data (issue 10) share the topic: they
# concern metering points and must keep their order with the point's master data.
FlowItem = Item | AnswerItem | CustomerItem


class _Partition(StatefulSinkPartition[FlowItem, None]):
    """Applies each batch in one transaction; no state of its own, the writes are idempotent."""

    def __init__(self, cfg: Settings) -> None:
        self._cfg = cfg
        self._db = RetryingConnection("ingest")
        self._producer = Producer(cfg.kafka_client_config())

    def _apply(self, values: list[FlowItem]) -> BatchOutcome:
        """Apply the batch in one transaction; retried while the database is unreachable. If
        the database refuses the batch for its content, apply it one Kafka message at a time and
        dead-letter (`database_rejected`) only the message it still refuses."""
        topic = self._cfg.masterdata_topic

        def write(conn: Conn, items: list[FlowItem]) -> BatchOutcome:
            answers = [v for v in items if isinstance(v, AnswerItem | CustomerItem)]
            others = [v for v in items if not isinstance(v, AnswerItem | CustomerItem)]
            outcome = apply_batch(conn, others, topic=topic)
            if answers:
                outcome.new_dead_letters += apply_answers(conn, answers).new_dead_letters
            return outcome

        def apply(items: list[FlowItem]) -> BatchOutcome:
            return self._db.run(lambda conn: write(conn, items))

        try:
            return apply(values)
        except RejectedBatch as exc:
            log.warning("batch rejected by the database (%s); applying it message by message", exc)
        total = BatchOutcome()
        for message in _by_message(values):
            try:
                part = apply(message)
            except RejectedBatch as exc:
                first = message[0]
                where = f"{first.topic}[{first.partition}]@{first.offset}"
                log.warning("dead-lettered %s (%s): %s", where, DATABASE_REJECTED, exc)
                refused = UnreadableItem(
                    DATABASE_REJECTED,
                    escape(f"{where}: refused by the database: {exc}", 400),
                    first.payload,
                    None,
                    first.topic,
                    first.partition,
                    first.offset,
                )
                part = apply([refused])
            total.merge(part)
        return total

    def write_batch(self, values: list[FlowItem]) -> None:
        outcome = self._apply(values)
        # The topic copy is at-least-once; dead_letter_message is exactly-once.
        for reason, detail, payload, message_id in outcome.new_dead_letters:
            self._producer.produce(
                deadletter_topic(self._cfg),
                key=(message_id or "").encode(),
                value=payload,
                headers=[("reason", reason.encode()), ("detail", detail.encode())],
            )
        if outcome.new_dead_letters:
            self._producer.flush(30)

    def snapshot(self) -> None:
        return None

    def close(self) -> None:
        self._db.close()


def _by_message(values: list[FlowItem]) -> list[list[FlowItem]]:
    """The batch's items grouped by the Kafka message they came from, in order."""
    groups: dict[tuple[str, int | None, int | None], list[FlowItem]] = {}
    for item in values:
        groups.setdefault((item.topic, item.partition, item.offset), []).append(item)
    return list(groups.values())


class MasterDataSink(FixedPartitionedSink[FlowItem, None]):
    def __init__(self, cfg: Settings) -> None:
        self._cfg = cfg

    def list_parts(self) -> list[str]:
        return [f"mp-{i}" for i in range(SINK_PARTITIONS)]

    def build_part(self, step_id: str, for_part: str, resume_state: None) -> _Partition:
        return _Partition(self._cfg)


def _to_items(
    msg: KafkaSourceMessage[bytes | None, bytes | None],
) -> list[tuple[str, FlowItem]]:
    where = (msg.topic or "", msg.partition or 0, msg.offset or 0)
    if is_customer_document(msg.value):
        return list(customer_items(msg.value, *where))
    if is_lifecycle_document(msg.value):
        return list(answer_items(msg.value, *where))
    return list(message_items(msg.value, *where))


def _not_error(msg: Any) -> bool:
    if isinstance(msg, KafkaSourceMessage):
        return True
    log.warning("kafka error: %s", msg.err)
    return False


def build_flow(until_end: bool = False) -> Dataflow:
    """The dataflow; `until_end` stops at the end of the topic instead of waiting for more."""
    configure_logging()
    cfg = settings()
    kafka_config = cfg.kafka_client_config()
    brokers = str(kafka_config.pop("bootstrap.servers")).split(",")
    flow = Dataflow("elflow_masterdata")
    source: Any = KafkaSource(
        brokers,
        [cfg.masterdata_topic],
        tail=not until_end,
        add_config={k: str(v) for k, v in kafka_config.items()},
        batch_size=200,
        raise_on_errors=False,
    )
    messages = op.filter("no_errors", op.input("datahub", flow, source), _not_error)
    op.output("timescaledb", op.flat_map("parse", messages, _to_items), MasterDataSink(cfg))
    return flow


def start(
    cfg: Settings,
    *,
    processes: int = 1,
    until_end: bool = False,
    log_dir: Path | None = None,
) -> list[subprocess.Popen[bytes]]:
    """Start the flow's Bytewax processes (recovery on); the caller waits or stops them by PID."""
    ensure_topic(cfg, cfg.masterdata_topic, partitions=max(2, processes))
    ensure_topic(cfg, deadletter_topic(cfg), partitions=1)
    store = recovery_dir(cfg)
    ensure_recovery(store)
    commands = flow_commands(
        f"flows.masterdata:build_flow(until_end={until_end})", store, processes
    )
    return start_processes(commands, log_name="masterdata", log_dir=log_dir)
