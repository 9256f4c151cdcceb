"""Where the flow resumes reading, and how an operator moves it.

The flow keeps its Kafka offsets in Bytewax's recovery store. On every start each partition
checks its stored position against the broker (flows.source); when the broker no longer has
what the flow read (its log end is below the stored offset, the message the flow last read is
not there any more, or the messages the flow had not read yet were deleted) the flow stops
reading with an offset alarm instead of skipping anything. The operator then decides with
`elflow flow reset-offsets --to earliest|latest|P:O,…`, which writes a reset request into the
recovery directory; the next start applies it once per partition (crash-safe: the request has
a generation number that the partition's snapshot records once applied).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import Consumer, TopicPartition

from schemas.settings import ConfigError, Settings

RESET_FILE = "offset-reset.json"
_EXPLICIT = re.compile(r"(\d{1,6}):(\d{1,19})")


class OffsetError(ConfigError):
    """A reset request that cannot be applied (one line for the operator)."""


@dataclass(frozen=True)
class ResetRequest:
    generation: int
    topic: str
    # "earliest", "latest", or explicit offsets per partition.
    to: str | dict[int, int]

    def offset_for(self, partition: int, low: int, high: int) -> int | None:
        """Where `partition` resumes under this request (None: the request leaves it alone)."""
        if self.to == "earliest":
            return low
        if self.to == "latest":
            return high
        assert isinstance(self.to, dict)
        return self.to.get(partition)


def parse_target(text: str) -> str | dict[int, int]:
    """`earliest`, `latest` or `0:120,1:80` (partition:offset pairs)."""
    value = text.strip()
    if value in ("earliest", "latest"):
        return value
    explicit: dict[int, int] = {}
    for part in value.split(","):
        match = _EXPLICIT.fullmatch(part.strip())
        if match is None:
            raise OffsetError(
                f"--to {text!r}: expected earliest, latest or partition:offset[,partition:offset…]"
            )
        explicit[int(match[1])] = int(match[2])
    return explicit


def pending_reset(recovery_dir: Path, topic: str) -> ResetRequest | None:
    path = recovery_dir / RESET_FILE
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("topic") != topic:
        return None
    to = data["to"]
    return ResetRequest(
        int(data["generation"]),
        topic,
        to if isinstance(to, str) else {int(k): int(v) for k, v in to.items()},
    )


def watermarks(cfg: Settings, topic: str) -> dict[int, tuple[int, int]]:
    """(earliest, log end) offset of each partition of `topic`."""
    consumer = Consumer(
        {
            **cfg.kafka_client_config(),
            "group.id": "elflow-offsets",
            "enable.auto.commit": "false",
            "log_level": 2,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=15).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise OffsetError(f"topic {topic} does not exist on {cfg.kafka_bootstrap}")
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
            for p in sorted(metadata.partitions)
        }
    finally:
        consumer.close()


def request_reset(cfg: Settings, target: str) -> tuple[ResetRequest, list[str]]:
    """Record a reset of the readings topic's offsets for the next start of the flow; returns
    the request and one line per partition saying where it will resume."""
    topic = cfg.readings_topic
    to = parse_target(target)
    marks = watermarks(cfg, topic)
    if isinstance(to, dict):
        for partition, offset in sorted(to.items()):
            if partition not in marks:
                raise OffsetError(f"topic {topic} has no partition {partition}")
            low, high = marks[partition]
            if not low <= offset <= high:
                raise OffsetError(
                    f"{topic}[{partition}]: offset {offset} is outside {low}..{high} "
                    "(earliest..log end)"
                )
    cfg.recovery_dir.mkdir(parents=True, exist_ok=True)
    path = cfg.recovery_dir / RESET_FILE
    previous = json.loads(path.read_text()).get("generation", 0) if path.exists() else 0
    request = ResetRequest(int(previous) + 1, topic, to)
    body = {
        "generation": request.generation,
        "topic": topic,
        "to": to if isinstance(to, str) else {str(k): v for k, v in to.items()},
        "requested_at": datetime.now(UTC).isoformat(),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(body, indent=2) + "\n")
    os.replace(tmp, path)  # atomic: a starting flow sees the old request or the new one
    lines = []
    for partition, (low, high) in marks.items():
        resume = request.offset_for(partition, low, high)
        where = "unchanged" if resume is None else f"resumes at offset {resume}"
        lines.append(f"{topic}[{partition}]: {where} (earliest {low}, log end {high})")
    return request, lines
