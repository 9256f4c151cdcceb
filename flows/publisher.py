"""Publish documents to Kafka (the feed, the demo, tests, dead-letter replays)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from confluent_kafka import KafkaException, Producer

from flows.feed import FeedSpec, generate_feed
from flows.runner import ensure_topic, quiet_client_config
from schemas.settings import Settings


def publish(
    cfg: Settings, topic: str, messages: Iterable[tuple[bytes, bytes]], *, partitions: int = 2
) -> int:
    """Produce (key, value) pairs and wait until the broker has them all; returns the count."""
    ensure_topic(cfg, topic, partitions)
    producer = Producer(
        quiet_client_config(cfg, **{"linger.ms": "20", "acks": "all", "enable.idempotence": "true"})
    )
    errors: list[str] = []

    def on_delivery(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    count = 0
    for key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.5)
        count += 1
        if count % 1000 == 0:
            producer.poll(0)
    remaining = producer.flush(120)
    if remaining or errors:
        raise KafkaException(
            f"{remaining} messages undelivered, {len(errors)} errors: {errors[:3]}"
        )
    return count


def publish_feed(
    cfg: Settings, topic: str, spec: FeedSpec, *, partitions: int = 2
) -> tuple[int, Counter[str]]:
    """Publish a generated feed; returns the count and how many of each kind (original,
    correction, duplicate, malformed) were sent."""
    kinds: Counter[str] = Counter()

    def messages() -> Iterator[tuple[bytes, bytes]]:
        for message in generate_feed(spec):
            kinds[message.kind] += 1
            yield message.key, message.value

    return publish(cfg, topic, messages(), partitions=partitions), kinds


def describe_kinds(kinds: Counter[str]) -> str:
    return ", ".join(f"{kind} {count}" for kind, count in sorted(kinds.items()))
