"""Reading a whole Kafka topic back in tests (what a relay or connector published)."""

from __future__ import annotations

import uuid

from confluent_kafka import Consumer, TopicPartition

from schemas.settings import Settings


def read_topic(cfg: Settings, topic: str) -> list[tuple[int, bytes, bytes, dict[str, bytes]]]:
    """(partition, key, value, headers) of every message on `topic`."""
    consumer = Consumer(cfg.kafka_client_config(**{"group.id": f"read-{uuid.uuid4().hex}"}))
    found = []
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        for partition in partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            read = 0
            while read < high - low:
                msg = consumer.poll(10)
                assert msg is not None, f"{topic}[{partition}] ended early"
                if msg.error():
                    continue
                read += 1
                headers = {h[0]: h[1] for h in msg.headers() or [] if isinstance(h[1], bytes)}
                found.append((partition, msg.key() or b"", msg.value() or b"", headers))
    finally:
        consumer.close()
    return found
