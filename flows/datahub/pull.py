"""`elflow datahub pull`: DataHub's queues → Kafka, nothing lost, nothing dequeued too early.

Per configured category, in turn: peek (Content-Type = ELFLOW_DATAHUB_FORMAT); 204 = empty;
200 = one document and its MessageId. The document goes to the topic its type names (RSM-012 and
anything unreadable → ELFLOW_READINGS_TOPIC, whose flow dead-letters what it cannot read; RSM-022
master data and lifecycle answers/notifications → ELFLOW_MASTERDATA_TOPIC, partition 0, so the
master-data flow sees them in DataHub's order), key = document mRID (else the MessageId),
headers `category`, `datahub_message_id`, `content_type`. Only when the broker has acknowledged
it (idempotent producer, acks=all) is it dequeued. A crash anywhere publishes the same document
again at the next peek, and the flows' claims on (document, transaction) absorb the copy.

A document larger than ELFLOW_DATAHUB_MAX_MESSAGE_BYTES is stored whole as a dead letter
(reason `too_large`, queue `datahub:<category>`) and then dequeued, so it never blocks the queue.

    python -m flows.datahub.pull [--until-empty]
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import KafkaException, Producer

from flows.datahub import metrics
from flows.datahub.client import DataHubClient
from flows.outbox_relay import relay_producer
from flows.runner import ensure_topic
from schemas.datahub import CONTENT_TYPES, DEQUEUE_PATH, MAX_MESSAGE_ID, PEEK_PATHS, route_document
from schemas.errors import ElflowError
from schemas.printable import escape
from schemas.settings import Settings, configure_logging, settings
from storage import datahub as store
from storage.db import connect

log = logging.getLogger(__name__)


class UnusableMessageId(ElflowError):
    """DataHub gave a MessageId that dequeue would refuse: the queue would stall (one line)."""


@dataclass
class PullStats:
    peeked: int = 0
    published: int = 0
    dequeued: int = 0
    too_large: int = 0
    readings_bytes: int = 0
    first_peeked: dict[str, tuple[str, float]] = field(default_factory=dict)


class Puller:
    def __init__(self, cfg: Settings, client: DataHubClient, producer: Producer) -> None:
        self.cfg = cfg
        self.client = client
        self.producer = producer
        self.content_type = CONTENT_TYPES[cfg.datahub_format]
        self.stats = PullStats()

    def once(self, category: str) -> bool:
        """Peek one document of `category`, publish it, dequeue it; False when the queue is empty."""
        answer = self.client.call(
            "GET", PEEK_PATHS[category], what=f"peek {category}", content_type=self.content_type
        )
        if answer.status_code == 204:
            metrics.EMPTY_POLLS.labels(category).inc()
            metrics.OLDEST_AGE.labels(category).set(0)
            return False
        message_id = answer.headers.get("MessageId", "")
        if answer.status_code != 200 or not 0 < len(message_id) <= MAX_MESSAGE_ID:
            raise UnusableMessageId(
                f"DataHub peek {category}: HTTP {answer.status_code} with MessageId "
                f"{escape(message_id[:80])!r}; stopped"
            )
        body = answer.content
        metrics.PEEKED.labels(category).inc()
        self.stats.peeked += 1
        self._age(category, message_id)
        if len(body) > self.cfg.datahub_max_message_bytes:
            self._too_large(category, message_id, body)
        else:
            self._publish(category, message_id, body, answer.headers.get("Content-Type", ""))
        dequeued = self.client.call(
            "DELETE",
            DEQUEUE_PATH + message_id,
            what=f"dequeue {category}",
            content_type=self.content_type,
        )
        if dequeued.status_code != 200:
            # 400: DataHub does not know the id any more (another connector dequeued it); the
            # document is on the topic, so nothing is lost. Logged, not fatal.
            log.warning(
                "DataHub dequeue %s %s: HTTP %d", category, message_id, dequeued.status_code
            )
        else:
            metrics.DEQUEUED.labels(category).inc()
            self.stats.dequeued += 1
        return True

    def _age(self, category: str, message_id: str) -> None:
        first = self.stats.first_peeked.get(category)
        if first is None or first[0] != message_id:
            first = (message_id, time.monotonic())
            self.stats.first_peeked[category] = first
        metrics.OLDEST_AGE.labels(category).set(time.monotonic() - first[1])

    def _publish(self, category: str, message_id: str, body: bytes, content_type: str) -> None:
        routing = route_document(body)
        topic = self.cfg.readings_topic
        partition = -1  # the producer's partitioner (by key)
        if routing.route == "masterdata":
            topic, partition = self.cfg.masterdata_topic, 0
        errors: list[str] = []

        def delivered(err: object, _msg: object) -> None:
            if err is not None:
                errors.append(str(err))

        headers: list[tuple[str, str | bytes | None]] = [
            ("category", category.encode()),
            ("datahub_message_id", message_id.encode()),
            ("content_type", (content_type or self.content_type).encode()),
        ]
        key = (routing.mrid or message_id).encode()
        self.producer.produce(
            topic, key=key, value=body, headers=headers, partition=partition, on_delivery=delivered
        )
        if self.producer.flush(60) or errors:
            raise KafkaException(f"document {message_id} not acknowledged by {topic}: {errors[:1]}")
        metrics.PUBLISHED.labels(category, topic).inc()
        self.stats.published += 1
        if routing.route == "readings":
            self.stats.readings_bytes += len(body)

    def _too_large(self, category: str, message_id: str, body: bytes) -> None:
        limit = self.cfg.datahub_max_message_bytes
        detail = (
            f"DataHub {category} document {message_id}: {len(body)} bytes, over the broker's "
            f"limit of {limit} (ELFLOW_DATAHUB_MAX_MESSAGE_BYTES); stored, not published"
        )
        with connect(job="datahub") as conn:
            store.store_too_large(
                conn,
                queue_name=f"datahub:{category}",
                message_id=message_id,
                detail=detail,
                payload=body,
            )
            conn.commit()
        metrics.TOO_LARGE.labels(category).inc()
        self.stats.too_large += 1
        log.warning("%s", detail)


def broker_reachable(producer: Producer) -> bool:
    try:
        producer.list_topics(timeout=5)
    except KafkaException:
        return False
    return True


def run(cfg: Settings, *, until_empty: bool) -> PullStats:
    """Pull every configured category until all are empty (`until_empty`) or for ever."""
    for topic in (cfg.readings_topic, cfg.masterdata_topic):
        ensure_topic(cfg, topic, partitions=2)
    producer = relay_producer(cfg)
    client = DataHubClient(cfg)
    puller = Puller(cfg, client, producer)
    health = metrics.Health(lambda: client.last_ok, lambda: broker_reachable(producer))
    server = metrics.serve(cfg.datahub_metrics_port, health)
    categories = cfg.datahub_category_list()
    try:
        while True:
            busy = False
            for category in categories:
                busy = puller.once(category) or busy
            if not busy:
                if until_empty:
                    return puller.stats
                time.sleep(cfg.datahub_poll_seconds)
    finally:
        client.close()
        if server is not None:
            server.shutdown()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m flows.datahub.pull")
    parser.add_argument("--until-empty", action="store_true")
    args = parser.parse_args()
    configure_logging()
    stats = run(settings(), until_empty=args.until_empty)
    log.info("peeked %d, published %d, dequeued %d", stats.peeked, stats.published, stats.dequeued)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
