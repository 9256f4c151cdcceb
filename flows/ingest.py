"""The ingest dataflow: Kafka (RSM-012 documents) → parse → key by GSRN → TimescaleDB.

Run it with `elflow flow run` (flows.runner starts `python -m bytewax.run
flows.stats:ingest_flow()`, this flow with its counts, with recovery on; SIGTERM stops it after
the batch in flight, flows.stopping). Offsets live in Bytewax's recovery store, not in a consumer group; after a
crash the flow resumes at its last snapshot and replays what followed, and the sink's
idempotent writes (storage.readings) absorb the replay. Where it resumes is checked against the
broker first (flows.source); how a failed write is handled is flows.sink.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Iterable
from types import FrameType
from typing import Any

import bytewax.operators as op
from bytewax.connectors.kafka import KafkaSourceMessage
from bytewax.dataflow import Dataflow
from confluent_kafka import Consumer, TopicPartition

from flows import metrics
from flows.parse import Item, message_items
from flows.sink import SINK_PARTITIONS, DatabaseSink
from flows.source import GuardedKafkaSource, request_stop, stop_requested
from schemas.printable import escape
from schemas.settings import configure_logging, settings
from storage.readings import DeadLetterItem

__all__ = ["CONSUMER_DEFAULTS", "SINK_PARTITIONS", "build_flow"]

log = logging.getLogger("flows.ingest")

# librdkafka prefetches up to 64 MB per partition by default, and one fetch may bring 50 MB, so
# the flow's memory grew with the backlog until those caps; 8 MB queued and 8 MB per fetch per
# partition keep it flat and still feed the sink faster than it writes (on a broker that honours
# the limits: flows.source). auto.offset.reset=error: a position the broker no longer has is an
# offset alarm (flows.source), never a silent jump. ELFLOW_KAFKA_CONFIG overrides each. Only the
# partitions' consumers get these (flows.source.client_only).
CONSUMER_DEFAULTS = {
    "queued.max.messages.kbytes": "8192",
    "fetch.max.bytes": str(8 * 2**20),
    "auto.offset.reset": "error",
}
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _stop_on_signal(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM/SIGINT: end the input at the next batch; Bytewax then writes what is in flight,
    snapshots and exits 0 (flows.source). Run by Python on the main thread, which Bytewax
    gives the interpreter between steps."""
    if not stop_requested():
        log.info("%s: stopping after the batch in flight", signal.Signals(signum).name)
    request_stop()


def _watch_lag(config: dict[str, str | int | float | bool], interval: float = 5.0) -> None:
    """Background thread: lag = high watermark − (last written offset + 1), per partition."""
    consumer = Consumer({**config, "group.id": "elflow-lag-probe", "enable.auto.commit": "false"})
    while True:
        for (topic, partition), offset in metrics.TRACKER.snapshot().items():
            try:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=5
                )
            except Exception:  # the broker may be restarting; try again next round
                continue
            metrics.CONSUMER_LAG.labels(topic, str(partition)).set(max(0, high - offset - 1))
        time.sleep(interval)


def _to_items(msg: KafkaSourceMessage[bytes | None, bytes | None]) -> Iterable[tuple[str, Item]]:
    items = message_items(msg.value, msg.topic or "", msg.partition or 0, msg.offset or 0)
    metrics.DOCUMENTS_CONSUMED.inc()
    metrics.READINGS_CONSUMED.inc(
        sum(len(item.readings) for _key, item in items if not isinstance(item, DeadLetterItem))
    )
    return items


def build_flow(until_end: bool = False) -> Dataflow:
    """The dataflow; `until_end` stops at the end of the topic instead of waiting for more."""
    for signum in STOP_SIGNALS:
        signal.signal(signum, _stop_on_signal)
    configure_logging()
    cfg = settings()
    metrics.serve(cfg.metrics_port)
    threading.Thread(target=_watch_lag, args=(cfg.kafka_client_config(),), daemon=True).start()

    flow = Dataflow("elflow_ingest")
    source = GuardedKafkaSource(cfg, CONSUMER_DEFAULTS, until_end=until_end)
    messages = op.input("datahub", flow, source)
    # Broker errors arrive as KafkaError items; log them, keep going (flows.source has already
    # turned an out-of-range position into an offset alarm).
    good = op.filter("no_errors", messages, _not_error)
    keyed = op.flat_map("parse", good, _to_items)
    op.output("timescaledb", keyed, DatabaseSink(cfg))
    return flow


def _not_error(msg: Any) -> bool:
    if isinstance(msg, KafkaSourceMessage):
        return True
    log.warning("kafka error: %s", escape(str(msg.err), 300))
    return False
