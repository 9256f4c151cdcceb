"""The Bytewax ingest flow end to end: real broker, real Bytewax processes, real TimescaleDB.

The reference for every run is an uninterrupted single-process run of the same feed; the
oracle (tests/oracle.py) independently checks that reference."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from confluent_kafka import Consumer, TopicPartition

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import Settings, settings
from storage.db import connect
from tests.conftest import free_port, scratch_database, use_flow_topic
from tests.oracle import database_current, database_state, database_summaries, expected_from

pytestmark = pytest.mark.services

SPEC = FeedSpec(
    metering_points=150,
    days=8,
    start=date(2026, 10, 21),  # spans the 25-hour day
    seed=11,
    correction_rate=0.05,
    duplicate_rate=0.05,
    malformed_rate=0.02,
)
MESSAGES = [(m.key, m.value) for m in generate_feed(SPEC)]


def _configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, name: str) -> Settings:
    return use_flow_topic(monkeypatch, url, tmp_path / f"recovery-{name}", name)


def _run_to_end(cfg: Settings, tmp_path: Path, processes: int = 1) -> None:
    procs = start_flow(cfg, processes=processes, until_end=True, log_dir=tmp_path)
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0] * processes, _logs(tmp_path)


def _logs(tmp_path: Path) -> str:
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("flow-*.log"))


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[object, ...]]:
    """database_state after an uninterrupted one-process run of MESSAGES."""
    tmp_path = tmp_path_factory.mktemp("reference")
    monkeypatch = pytest.MonkeyPatch()
    with scratch_database(migrated=True) as url:
        cfg = _configure(monkeypatch, tmp_path, url, "reference")
        publish(cfg, cfg.readings_topic, MESSAGES, partitions=2)
        _run_to_end(cfg, tmp_path)
        with connect(url) as conn:
            yield database_state(conn)
    monkeypatch.undo()
    settings.cache_clear()


def test_an_uninterrupted_run_stores_what_the_oracle_expects(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, reference: tuple[object, ...]
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db, "oracle")
    publish(cfg, cfg.readings_topic, MESSAGES, partitions=2)
    _run_to_end(cfg, tmp_path)
    expected = expected_from(value for _key, value in MESSAGES)
    with connect(db) as conn:
        summaries = database_summaries(conn)
        current = database_current(conn)
        versions = conn.execute("SELECT count(*) FROM metering_data").fetchone()
        processed = set(conn.execute("SELECT message_id, transaction_id FROM processed_message_id"))
        dead = conn.execute("SELECT count(*) FROM dead_letter_message").fetchone()
        state = database_state(conn)
    assert summaries == expected.summaries()
    assert current == {key: r.quantity for key, r in expected.current.items()}
    assert versions == (expected.versions,)
    assert processed == expected.transactions
    assert dead == (expected.dead_letters,)
    assert state == reference
    assert _dead_letter_topic_count(cfg) == expected.dead_letters


def _dead_letter_topic_count(cfg: Settings) -> int:
    consumer = Consumer(cfg.kafka_client_config(**{"group.id": "count-dlq"}))
    total = 0
    for partition in (
        consumer.list_topics(cfg.deadletter_topic, timeout=10)
        .topics[cfg.deadletter_topic]
        .partitions
    ):
        low, high = consumer.get_watermark_offsets(
            TopicPartition(cfg.deadletter_topic, partition), timeout=10
        )
        total += high - low
    consumer.close()
    return total


def test_kill_9_at_several_points_then_restart_equals_an_uninterrupted_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, reference: tuple[object, ...]
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db, "kill")
    publish(cfg, cfg.readings_topic, MESSAGES, partitions=2)
    total = len({(k, v) for k, v in MESSAGES})
    kills = 0
    for fraction in (0.15, 0.4, 0.7):
        (proc,) = start_flow(cfg, until_end=True, log_dir=tmp_path)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with connect(db) as conn:
                done = conn.execute(
                    "SELECT (SELECT count(DISTINCT message_id) FROM processed_message_id)"
                    " + (SELECT count(*) FROM dead_letter_message)"
                ).fetchone()
            if done and done[0] >= fraction * total:
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()  # SIGKILL: no cleanup, no flush, mid-batch
            kills += 1
        proc.wait(timeout=30)
    _run_to_end(cfg, tmp_path)
    with connect(db) as conn:
        state = database_state(conn)
    assert kills >= 2, "the flow finished before it could be killed; make the feed longer"
    assert state == reference


def test_two_processes_keyed_by_gsrn_equal_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, reference: tuple[object, ...]
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db, "two")
    publish(cfg, cfg.readings_topic, MESSAGES, partitions=2)
    _run_to_end(cfg, tmp_path, processes=2)
    with connect(db) as conn:
        state = database_state(conn)
    assert state == reference


def test_metrics_are_scraped_while_the_flow_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db, "metrics")
    port = free_port()
    monkeypatch.setenv("ELFLOW_METRICS_PORT", str(port))
    settings.cache_clear()
    cfg = settings()
    small = [(m.key, m.value) for m in generate_feed(FeedSpec(metering_points=5, days=2, seed=2))]
    bad = [(b"bad", b"not a document")]
    publish(cfg, cfg.readings_topic, [*small, *bad], partitions=2)
    expected_docs = len(small) + 1
    procs = start_flow(cfg, until_end=False, log_dir=tmp_path)  # tailing: runs until stopped
    try:
        text = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                text = (
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
                    .read()
                    .decode()
                )
            except OSError:
                text = ""
            if (
                _value(text, "elflow_documents_consumed_total") >= expected_docs
                and _value(text, 'elflow_dead_letters_total{reason="unparseable"}')
                and _value(text, "elflow_readings_written_total")
            ):
                break
            time.sleep(0.3)
        assert all(p.poll() is None for p in procs), _logs(tmp_path)
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=30)
    assert _value(text, "elflow_documents_consumed_total") == expected_docs
    assert _value(text, 'elflow_dead_letters_total{reason="unparseable"}') == 1
    assert _value(text, "elflow_readings_written_total") > 0
    assert _value(text, "elflow_batch_write_seconds_count") >= 1
    assert _value(text, "elflow_newest_reading_timestamp_seconds") > 1.7e9
    for name in (
        "elflow_duplicates_total",
        "elflow_corrections_total",
        "elflow_readings_consumed_total",
    ):
        assert f"\n{name} " in text


def _value(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return 0.0


def test_the_flow_keeps_running_after_bad_input(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db, "bad")
    good = [(m.key, m.value) for m in generate_feed(FeedSpec(metering_points=3, days=1, seed=4))]
    garbage = [(b"x", bytes(range(256))), (b"y", b""), (b"z", b"{}"), (b"w", b"<a/>")]
    publish(cfg, cfg.readings_topic, [*garbage, *good], partitions=2)
    _run_to_end(cfg, tmp_path)
    with connect(db) as conn:
        reasons = conn.execute(
            "SELECT reason_code, count(*) FROM dead_letter_message GROUP BY 1 ORDER BY 1"
        ).fetchall()
        docs = conn.execute(
            "SELECT count(*) FROM inbound_message WHERE status = 'Processed'"
        ).fetchone()
    assert sum(n for _reason, n in reasons) == 4
    assert docs == (len({k for k, _v in good}),)
