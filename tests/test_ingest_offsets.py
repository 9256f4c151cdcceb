"""Offsets that go backwards are an alarm, never a silent skip; an operator's reset decides."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from flows.feed import gsrn_for
from flows.offsets import OffsetError, parse_target
from flows.publisher import publish
from flows.runner import start_flow
from flows.source import EXIT_OFFSET_ALARM, PartitionState, resume_problem
from schemas.settings import Settings
from storage.db import connect
from tests.conftest import use_flow_topic
from tests.documents import constant, rsm012

DAY = datetime(2026, 10, 4, 22, tzinfo=UTC)


@pytest.mark.parametrize(
    ("state", "low", "high", "found", "problem"),
    [
        (PartitionState(), 0, 10, None, None),
        (PartitionState(offset=10, last=(9, "f9")), 0, 10, "f9", None),
        (PartitionState(offset=10, last=(9, "f9")), 0, 12, "f9", None),
        (PartitionState(offset=10, last=(9, "f9")), 0, 4, None, "beyond the log end 4"),
        (PartitionState(offset=10, last=(9, "f9")), 0, 12, "other", "offsets were reused"),
        (PartitionState(offset=10, last=(9, "f9")), 0, 12, None, "is gone"),
        (PartitionState(offset=10, last=(9, "f9")), 11, 12, None, "deleted before the flow read"),
        (PartitionState(offset=10, last=(9, "f9")), 10, 12, None, None),  # last one expired: fine
        (PartitionState(offset=10), 0, 12, None, None),  # a store written by plain KafkaSource
    ],
)
def test_resume_problems(
    state: PartitionState, low: int, high: int, found: str | None, problem: str | None
) -> None:
    said = resume_problem(state, low, high, found)
    assert (said is None) == (problem is None)
    if problem is not None:
        assert said is not None and problem in said


def test_reset_targets_are_parsed_or_refused_in_one_line() -> None:
    assert parse_target("earliest") == "earliest"
    assert parse_target("latest") == "latest"
    assert parse_target("0:120, 1:80") == {0: 120, 1: 80}
    with pytest.raises(OffsetError, match="expected earliest, latest or partition:offset"):
        parse_target("0=12")
    assert PartitionState.load(17) == PartitionState(offset=17)
    assert PartitionState.load(PartitionState(3, (2, "x"), 1).dump()) == PartitionState(
        3, (2, "x"), 1
    )


def _docs(prefix: str, count: int) -> list[tuple[bytes, bytes]]:
    return [
        (
            b"k",
            rsm012(
                f"{prefix}-{i}",
                DAY + timedelta(days=2),
                [
                    (
                        f"{prefix}-{i}-t",
                        gsrn_for(500 + i),
                        "PT1H",
                        DAY,
                        DAY + timedelta(days=1),
                        constant(24, "1.0"),
                    )
                ],
            ),
        )
        for i in range(count)
    ]


def _stored(url: str, prefix: str) -> int:
    with connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM processed_message_id WHERE message_id LIKE %s", (prefix + "-%",)
        ).fetchone()
    return int(row[0]) if row else 0


def _run(cfg: Settings, tmp_path: Path) -> tuple[int, str]:
    (proc,) = start_flow(cfg, until_end=True, log_dir=tmp_path)
    code = proc.wait(timeout=300)
    log = (tmp_path / "flow-0.log").read_text(errors="replace")
    (tmp_path / "flow-0.log").unlink()
    return code, log


@pytest.mark.services
def test_a_recreated_topic_is_an_alarm_until_the_operator_resets_the_offsets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    cfg = use_flow_topic(monkeypatch, db, tmp_path / "recovery", "offsets")
    topic = cfg.readings_topic
    publish(cfg, topic, _docs("old", 10), partitions=1)
    assert _run(cfg, tmp_path)[0] == 0
    assert _stored(db, "old") == 10

    # The topic is recreated (as when a broker loses what it acknowledged): 4 new messages.
    admin = AdminClient(cfg.kafka_client_config())
    admin.delete_topics([topic])[topic].result(timeout=30)
    publish(cfg, topic, _docs("new", 4), partitions=1)
    code, log = _run(cfg, tmp_path)
    assert code == EXIT_OFFSET_ALARM, log[-2000:]
    alarm = [line for line in log.splitlines() if "offset alarm" in line]
    assert len(alarm) == 1 and "beyond the log end 4" in alarm[0]
    assert _stored(db, "new") == 0

    # More messages arrive: the log end passes the stored offset, but offset 9 is not the
    # message the flow read there, so it is still an alarm (a plain KafkaSource would skip 0-9).
    publish(cfg, topic, _docs("newer", 8), partitions=1)
    code, log = _run(cfg, tmp_path)
    assert code == EXIT_OFFSET_ALARM and "offsets were reused" in log
    assert _stored(db, "new") == 0

    reset = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "flow", "reset-offsets", "--to", "earliest"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert reset.returncode == 0, reset.stderr
    assert f"{topic}[0]: resumes at offset 0" in reset.stdout
    code, log = _run(cfg, tmp_path)
    assert code == 0, log[-2000:]
    assert (_stored(db, "new"), _stored(db, "newer")) == (4, 8)
    # Applied once: the next start resumes where this run stopped, with no alarm.
    code, log = _run(cfg, tmp_path)
    assert code == 0 and "offset alarm" not in log and "offset reset" not in log
