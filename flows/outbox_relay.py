"""Publish the metering-point outbox on `<ELFLOW_MASTERDATA_TOPIC>.events`, each event once.

Events are written to metering_point_outbox in the transaction that applies them. The relay
sends unpublished rows in order (key = GSRN, header `event_id`), waits until the broker has
them, then marks them published. A crash between the two would send a batch again, so on
start the relay reads the tail of the events topic (more than one batch per partition) and
marks what is already there as published first. One relay runs at a time (an advisory lock).

    python -m flows.outbox_relay [--until-empty] [--batch N]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
import uuid
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition

from flows.masterdata import events_topic
from flows.runner import ensure_topic, quiet_client_config
from schemas.errors import ElflowError
from schemas.settings import Settings, configure_logging, settings
from storage import metering_points as store
from storage.db import Conn, connect

log = logging.getLogger(__name__)

DEFAULT_BATCH = 200
_LOCK = 7_231_011


def already_on_topic(
    cfg: Settings, topic: str, window: int, header_name: str = "event_id"
) -> set[uuid.UUID]:
    """The uuids in header `header_name` of the last `window` messages of each partition of a topic
    (also used by flows.process_relay)."""
    consumer = Consumer(
        quiet_client_config(
            cfg, **{"group.id": "elflow-outbox-recovery", "enable.auto.commit": "false"}
        )
    )
    found: set[uuid.UUID] = set()
    try:
        metadata = consumer.list_topics(topic, timeout=15).topics[topic]
        for partition in metadata.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=15)
            start = max(low, high - window)
            if start >= high:
                continue
            consumer.assign([TopicPartition(topic, partition, start)])
            offset = start - 1
            while offset < high - 1:
                msg = consumer.poll(10)
                if msg is None:
                    raise KafkaException(f"{topic}[{partition}] gave nothing before offset {high}")
                if msg.error():
                    continue
                read = msg.offset()
                offset = offset if read is None else read  # offset 0 is falsy
                for header in msg.headers() or []:
                    value = header[1]
                    if header[0] == header_name and isinstance(value, bytes):
                        found.add(uuid.UUID(value.decode()))
    finally:
        consumer.close()
    return found


class RelayBusy(ElflowError):
    """Another relay of the same outbox holds its lock (one line)."""


def run_relay(
    cfg: Settings,
    *,
    topic: str,
    lock_key: int,
    header_name: str,
    recover: Callable[[Conn, list[uuid.UUID]], int],
    send_batch: Callable[[Conn], int],
    until_empty: bool,
    batch: int,
) -> int:
    """The loop every outbox relay shares: take the relay's advisory lock; first mark as sent
    what the tail of the topic already holds (`recover`: a crash between sending and
    committing); then, one transaction per batch, `send_batch` (send, wait for the broker's
    acknowledgement, mark). Returns how many were sent; runs forever unless `until_empty`."""
    ensure_topic(cfg, topic, partitions=2)
    sent = 0
    with connect(job="ingest") as conn:
        held = conn.execute("SELECT pg_try_advisory_lock(%s)", (lock_key,)).fetchone()
        conn.commit()
        if held != (True,):
            raise RelayBusy(f"another relay of {topic} is running")
        on_topic = sorted(already_on_topic(cfg, topic, 2 * batch, header_name=header_name))
        with conn.transaction():
            recovered = recover(conn, on_topic)
        if recovered:
            log.info("%d messages were on %s already; marked sent", recovered, topic)
        while True:
            with conn.transaction():
                sent_now = send_batch(conn)
            sent += sent_now
            if sent_now == 0:
                if until_empty:
                    return sent
                time.sleep(0.5)


def relay_producer(cfg: Settings) -> Producer:
    """An idempotent producer that waits for every replica (acks=all)."""
    return Producer(
        quiet_client_config(cfg, **{"acks": "all", "enable.idempotence": "true", "linger.ms": "10"})
    )


def relay(cfg: Settings, *, until_empty: bool, batch: int = DEFAULT_BATCH) -> int:
    """Publish until the outbox is empty (`until_empty`) or forever; returns events sent."""
    topic = events_topic(cfg)
    producer = relay_producer(cfg)
    return run_relay(
        cfg,
        topic=topic,
        lock_key=_LOCK,
        header_name="event_id",
        recover=store.mark_published,
        send_batch=lambda conn: _send_batch(conn, producer, topic, batch),
        until_empty=until_empty,
        batch=batch,
    )


def _send_batch(conn: Conn, producer: Producer, topic: str, batch: int) -> int:
    rows = store.unpublished(conn, batch)
    if not rows:
        return 0
    send_all(
        producer,
        topic,
        [
            (
                gsrn.encode(),
                json.dumps(payload, sort_keys=True).encode(),
                [("event_id", str(event_id).encode()), ("event_type", kind.encode())],
            )
            for _seq, event_id, gsrn, kind, payload in rows
        ],
    )
    store.mark_published(conn, [row[1] for row in rows])
    return len(rows)


def send_all(
    producer: Producer,
    topic: str,
    messages: list[tuple[bytes, bytes, list[tuple[str, str | bytes | None]]]],
) -> None:
    """Send (key, value, headers) messages and wait until the broker has every one of them."""
    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    for key, value, headers in messages:
        producer.produce(topic, key=key, value=value, headers=headers, on_delivery=on_delivery)
    if producer.flush(60) or errors:
        raise KafkaException(f"messages not delivered to {topic}: {errors[:3]}")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.outbox_relay")
    parser.add_argument("--until-empty", action="store_true")
    parser.add_argument("--batch", type=int, default=DEFAULT_BATCH)
    args = parser.parse_args()
    configure_logging()
    sent = relay(settings(), until_empty=args.until_empty, batch=args.batch)
    log.info("published %d events", sent)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
