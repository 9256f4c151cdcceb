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

from bytewax.connectors.kafka import KafkaError, KafkaSource, KafkaSourceMessage
from bytewax.inputs import FixedPartitionedSource, StatefulSourcePartition
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka import KafkaError as ConfluentError

from flows import metrics
from flows.offsets import pending_reset
from schemas.settings import Settings

log = logging.getLogger(__name__)

EXIT_OFFSET_ALARM = 3
# Errors that mean "the position is not in the log any more".
_OUT_OF_RANGE = frozenset({ConfluentError._AUTO_OFFSET_RESET, ConfluentError.OFFSET_OUT_OF_RANGE})
_HALTED = threading.Event()


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
        {**config, "group.id": "elflow-offset-check", "enable.auto.commit": "false"}
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


class _GuardedPartition(StatefulSourcePartition[Any, dict[str, Any]]):
    def __init__(
        self, inner: Any, topic: str, partition: int, state: PartitionState, until_end: bool
    ) -> None:
        self._inner = inner
        self._topic = topic
        self._partition = partition
        self._state = state
        self._until_end = until_end

    def next_batch(self) -> list[Any]:
        if _HALTED.is_set():
            return []
        batch = self._inner.next_batch()
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
        return list(batch)

    def next_awake(self) -> datetime | None:
        if _HALTED.is_set():
            return datetime.now(UTC) + timedelta(seconds=5)
        awake: datetime | None = self._inner.next_awake()
        return awake

    def snapshot(self) -> dict[str, Any]:
        offset = self._inner.snapshot()
        if offset is None or offset < 0:
            # KafkaSource counts an error item's offset (-1001) as read; keep the real one.
            offset = self._state.offset
        return replace(self._state, offset=offset).dump()

    def close(self) -> None:
        self._inner.close()


class GuardedKafkaSource(FixedPartitionedSource[Any, dict[str, Any]]):
    """KafkaSource over one topic whose partitions check where they resume."""

    def __init__(
        self,
        cfg: Settings,
        brokers: list[str],
        add_config: dict[str, str],
        *,
        until_end: bool,
        batch_size: int = 500,
    ) -> None:
        self._topic = cfg.readings_topic
        self._recovery_dir = Path(cfg.recovery_dir)
        self._client_config: dict[str, Any] = {
            "bootstrap.servers": ",".join(brokers),
            "log_level": 2,
            **add_config,
        }
        self._until_end = until_end
        self._inner = KafkaSource(
            brokers,
            [self._topic],
            tail=not until_end,
            add_config=add_config,
            batch_size=batch_size,
            raise_on_errors=False,
        )

    def list_parts(self) -> list[str]:
        parts: list[str] = self._inner.list_parts()
        return parts

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
        inner = self._inner.build_part(step_id, for_part, offset)
        return _GuardedPartition(inner, topic, partition, state, self._until_end)
