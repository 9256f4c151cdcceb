"""The flow's Kafka source: Bytewax's KafkaSource, with the resume position checked.

Bytewax's KafkaSource stores only the next offset per partition and resumes there. If the broker
lost messages it had acknowledged and reused their offsets (noida-db after a hard stop; Kafka
after an unclean leader election), or the topic was recreated, or retention deleted messages the
flow had not read yet, it would silently skip or re-read other messages. This source keeps, per
partition, the next offset and a fingerprint of the last message read, and on every start
compares them with the broker. A mismatch is an offset alarm: one log line, the gauge
`elflow_offset_alarm{topic,partition}` = 1, and the flow reads nothing more — it exits with
status 3 when run with --until-end, or stays up (serving /metrics) when tailing. While running,
an out-of-range fetch (the log end fell below the position) raises the same alarm, because the
consumer runs with auto.offset.reset=error. `elflow flow reset-offsets` decides (flows.offsets).

As a service: `request_stop()` (the flow's SIGTERM/SIGINT handler, flows.ingest) makes every
partition end at its next batch, as at the end of the topic with --until-end, so Bytewax writes
what is in flight, snapshots the offsets and exits 0. A partition with nothing to read asks to
be woken again after IDLE_WAKE_SECONDS instead of polling every millisecond.

Memory: each partition has its own consumer; librdkafka stops fetching once it holds
queued.max.messages.kbytes, and a fetch is at most fetch.max.bytes, so a broker that honours the
fetch limits (Kafka, Redpanda) bounds the flow whatever the backlog. The local noida broker does
not: it answers every fetch with the rest of the partition (see README, Latest figures).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bytewax.connectors.kafka import KafkaError, KafkaSourceMessage
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition
from confluent_kafka import KafkaError as ConfluentError
from confluent_kafka.admin import AdminClient

from flows import metrics
from flows.offsets import pending_reset
from schemas.settings import Settings

log = logging.getLogger(__name__)

EXIT_OFFSET_ALARM = 3
# Errors that mean "the position is not in the log any more".
_OUT_OF_RANGE = frozenset({ConfluentError._AUTO_OFFSET_RESET, ConfluentError.OFFSET_OUT_OF_RANGE})
_HALTED = threading.Event()
_STOP = threading.Event()
# A tailing partition that found nothing unassigns its consumer and asks the broker for the log
# end every IDLE_WAKE_SECONDS (one round trip), assigning it again at the next unread offset
# when the log has grown (librdkafka takes up to a second to fetch again after resume(), an
# assign fetches at once): Bytewax would
# otherwise poll every millisecond, and a broker that answers an empty fetch at once instead of
# waiting fetch.wait.max.ms (noida) keeps the client's fetch loop spinning. Costs at most
# IDLE_WAKE_SECONDS of latency after a quiet spell. While fetched messages are due, the
# partition is read every FETCH_WINDOW_SECONDS.
IDLE_WAKE_SECONDS = 0.3
FETCH_WINDOW_SECONDS = 0.02
WATERMARK_TIMEOUT_SECONDS = 2.0

# librdkafka settings that only a consumer understands; every other client (the admin client
# listing partitions, producers) gets the plain client settings, so librdkafka has no CONFWARN.
CONSUMER_ONLY = frozenset(
    {
        "queued.max.messages.kbytes",
        "queued.min.messages",
        "fetch.max.bytes",
        "fetch.message.max.bytes",
        "max.partition.fetch.bytes",
        "fetch.wait.max.ms",
        "fetch.min.bytes",
        "fetch.error.backoff.ms",
        "auto.offset.reset",
        "enable.partition.eof",
        "enable.auto.commit",
        "group.id",
        "isolation.level",
        "check.crcs",
    }
)


def request_stop() -> None:
    """End every partition of this process at its next batch (a graceful stop)."""
    _STOP.set()


def stop_requested() -> bool:
    return _STOP.is_set()


def client_only(config: dict[str, Any]) -> dict[str, Any]:
    """`config` without the consumer-only settings."""
    return {k: v for k, v in config.items() if k not in CONSUMER_ONLY}


@dataclass(frozen=True)
class PartitionState:
    """What a partition snapshots: the next offset to read, the (offset, fingerprint) of the last
    message read, and the generation of the last reset request applied."""

    offset: int | None = None
    last: tuple[int, str] | None = None
    reset: int = 0

    @classmethod
    def load(cls, resume_state: object) -> PartitionState:
        if isinstance(resume_state, int):  # a recovery store written by plain KafkaSource
            return cls(offset=resume_state)
        if isinstance(resume_state, dict):
            last = resume_state.get("last")
            return cls(
                offset=resume_state.get("offset"),
                last=(int(last[0]), str(last[1])) if last else None,
                reset=int(resume_state.get("reset", 0)),
            )
        return cls()

    def dump(self) -> dict[str, Any]:
        return {"offset": self.offset, "last": self.last, "reset": self.reset}


def fingerprint(key: bytes | None, value: bytes | None) -> str:
    digest = hashlib.blake2b(digest_size=12)
    digest.update(len(key or b"").to_bytes(8, "big"))
    digest.update(key or b"")
    digest.update(value or b"")
    return digest.hexdigest()


def resume_problem(
    state: PartitionState, low: int, high: int, found_at_last: str | None
) -> str | None:
    """Why the stored position cannot be trusted, or None. `found_at_last` is the fingerprint of
    the message now at the last-read offset (None when that offset is not in the log)."""
    offset = state.offset
    if offset is None or offset < 0:
        return None  # never read anything: starts at the beginning
    if offset > high:
        return (
            f"stored offset {offset} is beyond the log end {high}: the broker lost messages "
            "or the topic was recreated"
        )
    if offset < low:
        return f"offsets {offset}..{low - 1} were deleted before the flow read them"
    if state.last is not None and state.last[0] >= low:
        if found_at_last is None:
            return f"the message the flow last read (offset {state.last[0]}) is gone"
        if found_at_last != state.last[1]:
            return (
                f"offset {state.last[0]} now holds another message than the flow read there: "
                "offsets were reused (lost messages or a recreated topic)"
            )
    return None


def _fetch_fingerprint(
    config: dict[str, Any], topic: str, partition: int, offset: int
) -> str | None:
    consumer = Consumer(
        {
            **config,
            "group.id": "elflow-offset-check",
            "enable.auto.commit": "false",
            "auto.offset.reset": "error",
        }
    )
    try:
        consumer.assign([TopicPartition(topic, partition, offset)])
        for _ in range(30):
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is not None:
                if error.code() in _OUT_OF_RANGE:
                    return None
                continue
            return (
                fingerprint(message.key(), message.value()) if message.offset() == offset else None
            )
        return None
    finally:
        consumer.close()


def raise_alarm(topic: str, partition: int, problem: str, until_end: bool) -> None:
    """Log the alarm in one line, set the gauge, stop reading (see the module docstring)."""
    metrics.OFFSET_ALARM.labels(topic, str(partition)).set(1)
    log.error(
        "offset alarm on %s[%d]: %s; nothing more is read. Check the broker, then run "
        "`elflow flow reset-offsets --to earliest|latest|PARTITION:OFFSET` and start the flow",
        topic,
        partition,
        problem,
    )
    _HALTED.set()
    if until_end:
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_OFFSET_ALARM)


Item = KafkaSourceMessage[bytes | None, bytes | None] | KafkaError[bytes | None, bytes | None]


class PartitionReader:
    """One Kafka partition read by a consumer of its own (assigned, no consumer group): what the
    client has fetched, at most `batch_size` messages at a time, without waiting. When tailing,
    a read that finds nothing fetched and nothing newer on the broker lets go of the partition
    until the log grows; `wake_after` says when to read again."""

    def __init__(
        self,
        config: dict[str, Any],
        topic: str,
        partition: int,
        offset: int | None,
        size: int,
        *,
        tail: bool,
    ) -> None:
        self._consumer = Consumer(config)
        self._tp = TopicPartition(topic, partition)
        self._next = offset if offset is not None else OFFSET_BEGINNING
        self._assign()
        self._size = size
        self._tail = tail
        self._known_end = -1  # the highest log end the broker has told of
        self.ended = False
        self.wake_after: float | None = None  # seconds; None: at once

    def read(self) -> list[Item]:
        """The next messages (maybe none); sets `ended` at the end of the partition when the
        consumer reports it (enable.partition.eof, --until-end)."""
        if self._released:
            if not self._log_grew():
                self.wake_after = IDLE_WAKE_SECONDS
                return []
            self._assign()
        batch: list[Item] = []
        for message in self._consumer.consume(self._size, 0):
            error = message.error()
            if error is not None and error.code() == ConfluentError._PARTITION_EOF:
                self.ended = True
                break
            item = _source_message(message)
            batch.append(item if error is None else KafkaError(error, item))
            offset = message.offset()
            if error is None and offset is not None:
                self._next = offset + 1
        self.wake_after = None if batch or not self._tail else self._idle()
        return batch

    def _position(self, low: int) -> int:
        return self._next if self._next >= 0 else low

    def _log_grew(self) -> bool:
        """Ask the broker (one round trip) whether the log end is past what was read."""
        try:
            low, high = self._consumer.get_watermark_offsets(
                self._tp, timeout=WATERMARK_TIMEOUT_SECONDS, cached=False
            )
        except KafkaException:
            return True  # let the consumer meet the broker's trouble and report it
        self._known_end = max(self._known_end, high)
        return bool(high > self._position(low))

    def _idle(self) -> float:
        """Nothing fetched: let go, unless messages are known to be there but not fetched yet
        (or no fetch has answered yet)."""
        low, high = self._consumer.get_watermark_offsets(self._tp, cached=True)
        self._known_end = max(self._known_end, high)
        if self._known_end < 0 or self._known_end > self._position(low):
            return FETCH_WINDOW_SECONDS
        self._consumer.unassign()
        self._released = True
        return IDLE_WAKE_SECONDS

    def _assign(self) -> None:
        """Fetch from the next unread offset (the beginning when nothing was read)."""
        self._consumer.assign([TopicPartition(self._tp.topic, self._tp.partition, self._next)])
        self._released = False

    def close(self) -> None:
        self._consumer.close()


def _source_message(message: Message) -> KafkaSourceMessage[bytes | None, bytes | None]:
    return KafkaSourceMessage(
        key=message.key(),
        value=message.value(),
        topic=message.topic(),
        headers=list(message.headers() or []),  # type: ignore[arg-type]
        offset=message.offset(),
        partition=message.partition(),
        timestamp=message.timestamp(),
    )


class _GuardedPartition(StatefulSourcePartition[Item, dict[str, Any]]):
    def __init__(
        self,
        reader: PartitionReader,
        topic: str,
        partition: int,
        state: PartitionState,
        until_end: bool,
    ) -> None:
        self._reader = reader
        self._topic = topic
        self._partition = partition
        self._state = state
        self._until_end = until_end

    def next_batch(self) -> list[Item]:
        if _STOP.is_set() or self._reader.ended:
            raise StopIteration  # Bytewax writes what is in flight, snapshots, ends the flow
        if _HALTED.is_set():
            return []
        batch = self._reader.read()
        for item in batch:
            if isinstance(item, KafkaError) and item.err.code() in _OUT_OF_RANGE:
                raise_alarm(
                    self._topic,
                    self._partition,
                    f"the broker's log no longer holds the flow's position ({item.err.str()})",
                    self._until_end,
                )
                return []
        for item in reversed(batch):
            if isinstance(item, KafkaSourceMessage) and item.offset is not None:
                self._state = replace(
                    self._state,
                    offset=item.offset + 1,
                    last=(item.offset, fingerprint(item.key, item.value)),
                )
                break
        return batch

    def next_awake(self) -> datetime | None:
        if _HALTED.is_set():
            return datetime.now(UTC) + timedelta(seconds=5)
        wake_after = self._reader.wake_after
        if wake_after is None or self._reader.ended:
            return None  # at once: there may be more
        return datetime.now(UTC) + timedelta(seconds=wake_after)

    def snapshot(self) -> dict[str, Any]:
        return self._state.dump()

    def close(self) -> None:
        self._reader.close()


class GuardedKafkaSource(FixedPartitionedSource[Any, dict[str, Any]]):
    """One topic, one consumer per partition; each partition checks where it resumes.

    `consumer_defaults` are consumer-only settings (fetch and queue limits, offset reset) under
    ELFLOW_KAFKA_CONFIG, which wins; clients that are not consumers never see them."""

    def __init__(
        self,
        cfg: Settings,
        consumer_defaults: dict[str, str],
        *,
        until_end: bool,
        batch_size: int = 500,
    ) -> None:
        self._topic = cfg.readings_topic
        self._recovery_dir = Path(cfg.recovery_dir)
        client = cfg.kafka_client_config()
        self._client_config: dict[str, Any] = {"log_level": 2, **client_only(client)}
        self._consumer_config: dict[str, Any] = {
            **consumer_defaults,
            **client,
            "group.id": "elflow-ingest",  # never joined: partitions are assigned, not subscribed
            "enable.auto.commit": "false",
            "enable.partition.eof": str(until_end).lower(),
        }
        self._until_end = until_end
        self._batch_size = batch_size

    def list_parts(self) -> list[str]:
        metadata = AdminClient(self._client_config).list_topics(self._topic, timeout=15)
        topic = metadata.topics[self._topic]
        if topic.error is not None:
            raise RuntimeError(f"cannot list the partitions of {self._topic}: {topic.error.str()}")
        return [f"{index}-{self._topic}" for index in sorted(topic.partitions)]

    def build_part(
        self, step_id: str, for_part: str, resume_state: dict[str, Any] | int | None
    ) -> _GuardedPartition:
        index, topic = for_part.split("-", 1)
        partition = int(index)
        state = PartitionState.load(resume_state)
        probe = Consumer(
            {
                **self._client_config,
                "group.id": "elflow-offset-check",
                "enable.auto.commit": "false",
            }
        )
        try:
            low, high = probe.get_watermark_offsets(TopicPartition(topic, partition), timeout=15)
        finally:
            probe.close()
        request = pending_reset(self._recovery_dir, topic)
        if request is not None and request.generation > state.reset:
            target = request.offset_for(partition, low, high)
            if target is not None:
                log.warning(
                    "%s[%d]: offset reset %d applied: resuming at %d (was %s)",
                    topic,
                    partition,
                    request.generation,
                    target,
                    state.offset,
                )
                state = PartitionState(offset=target)
            state = replace(state, reset=request.generation)
        else:
            found = None
            if state.last is not None and low <= state.last[0] < high:
                found = _fetch_fingerprint(self._client_config, topic, partition, state.last[0])
            problem = resume_problem(state, low, high, found)
            if problem is not None:
                raise_alarm(topic, partition, problem, self._until_end)
        if not _HALTED.is_set():
            metrics.OFFSET_ALARM.labels(topic, str(partition)).set(0)
        offset = state.offset if state.offset is not None and state.offset >= 0 else None
        metrics.observe_resume(topic, partition, low if offset is None else offset, high)
        reader = PartitionReader(
            self._consumer_config,
            topic,
            partition,
            offset,
            self._batch_size,
            tail=not self._until_end,
        )
        return _GuardedPartition(reader, topic, partition, state, self._until_end)
