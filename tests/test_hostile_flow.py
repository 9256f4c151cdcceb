"""The hostile-input suite: every kind of tests/hostile.py, mixed with a valid feed, through the
real broker into a real Bytewax flow and the real TimescaleDB. The flow must never exit early,
every hostile message must be one dead letter with its reason, every valid reading must be
stored exactly once, and the summaries must equal a recomputation."""

from __future__ import annotations

import random
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import start_flow
from schemas.bands import band_table
from schemas.settings import Settings
from storage.db import connect
from storage.summaries import refresh_period
from tests.conftest import use_flow_topic
from tests.hostile import hostile_messages, valid_extras
from tests.oracle import database_current, database_summaries, expected_from

pytestmark = pytest.mark.services

DEADLETTER_MAX_BYTES = 100_000  # below the 600 KB hostile message: its topic copy is cut


def _configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> Settings:
    monkeypatch.setenv("ELFLOW_DEADLETTER_MAX_BYTES", str(DEADLETTER_MAX_BYTES))
    return use_flow_topic(monkeypatch, url, tmp_path / "recovery", "hostile")


def _mixed(instances: int, spec: FeedSpec) -> tuple[list[tuple[bytes, bytes]], dict[bytes, str]]:
    """The messages in a deterministic shuffle, and the reason each hostile payload must get."""
    hostile = list(hostile_messages(instances))
    valid = [(m.key, m.value) for m in generate_feed(spec)]
    valid += [(b"extra", raw) for i in range(instances) for raw in valid_extras(i)]
    messages = [(b"hostile", raw) for _name, _reason, raw in hostile] + valid
    random.Random(instances).shuffle(messages)
    return messages, {raw: reason for _name, reason, raw in hostile}


def _dead_letter_copies(cfg: Settings) -> list[tuple[int, dict[str, str | bytes | None]]]:
    consumer = Consumer(
        cfg.kafka_client_config(**{"group.id": "hostile-dlq", "enable.partition.eof": "true"})
    )
    consumer.assign([TopicPartition(cfg.deadletter_topic, 0, 0)])
    copies = []
    while True:
        message = consumer.poll(10)
        if message is None:
            break
        error = message.error()
        if error is not None:
            if error.code() == error._PARTITION_EOF:
                break
            continue
        copies.append((len(message.value() or b""), dict(message.headers() or [])))
    consumer.close()
    return copies


def _run_suite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, instances: int, spec: FeedSpec
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db)
    messages, reasons = _mixed(instances, spec)
    publish(cfg, cfg.readings_topic, messages, partitions=2)

    (proc,) = start_flow(cfg, until_end=True, log_dir=tmp_path)
    code = proc.wait(timeout=600)
    log = (tmp_path / "flow-0.log").read_text(errors="replace")
    assert code == 0, log[-3000:]

    expected = expected_from(value for _key, value in messages)
    with connect(db) as conn:
        stored: dict[bytes, str] = dict(
            conn.execute("SELECT raw_payload, reason_code FROM dead_letter_message").fetchall()
        )
        assert all(stored.get(raw) == reason for raw, reason in reasons.items()), [
            (raw[:60], reason, stored.get(raw))
            for raw, reason in reasons.items()
            if stored.get(raw) != reason
        ][:5]
        assert len(stored) == expected.dead_letters
        assert database_current(conn) == {k: r.quantity for k, r in expected.current.items()}
        versions = conn.execute("SELECT count(*) FROM metering_data").fetchone()
        assert versions == (expected.versions,)
        assert database_summaries(conn) == expected.summaries()
        with conn.transaction():
            changed = refresh_period(
                conn,
                date(2020, 1, 1),
                date(2030, 1, 1),
                tz=cfg.timezone,
                bands=list(band_table(cfg.bands)),
                full=True,
            )
        assert changed == 0
    assert "database unavailable" not in log and "batch rejected" not in log

    copies = _dead_letter_copies(cfg)
    assert len(copies) >= expected.dead_letters
    assert all(size <= DEADLETTER_MAX_BYTES for size, _headers in copies)
    truncated = [n for _size, h in copies if isinstance(n := h.get("truncated"), bytes)]
    assert any(re.match(rb"first \d+ of 60\d{4} bytes", note) for note in truncated), truncated

    listed = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "deadletters", "list", "--all", "--limit", "100000"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == 2 * len(stored)  # no payload added a line of its own
    assert all(line.isprintable() for line in lines)


def test_hostile_messages_mixed_with_a_feed_fail_only_themselves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    spec = FeedSpec(metering_points=12, days=3, start=date(2026, 10, 24), seed=8)
    _run_suite(monkeypatch, tmp_path, db, instances=1, spec=spec)


@pytest.mark.slow
def test_thousands_of_hostile_messages_fail_only_themselves(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    spec = FeedSpec(
        metering_points=100, days=5, start=date(2026, 10, 23), seed=9, malformed_rate=0.02
    )
    _run_suite(monkeypatch, tmp_path, db, instances=20, spec=spec)
