"""Broker and database restarts while the flow runs: no reading lost, none counted twice."""

from __future__ import annotations

import subprocess
import sysconfig
import time
from datetime import date
from pathlib import Path

import pytest

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import Settings
from storage.db import connect
from tests.conftest import free_port, use_flow_topic
from tests.oracle import database_current, database_summaries, expected_from

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
SPEC = FeedSpec(metering_points=200, days=8, start=date(2026, 10, 1), seed=21, malformed_rate=0.02)
MESSAGES = [(m.key, m.value) for m in generate_feed(SPEC)]
HALF = len(MESSAGES) // 2


def _configure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, bootstrap: str
) -> Settings:
    monkeypatch.setenv("ELFLOW_KAFKA_BOOTSTRAP", bootstrap)
    return use_flow_topic(monkeypatch, url, tmp_path / "recovery", "fault")


def _start_broker(port: int, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    binary = Path(sysconfig.get_paths()["purelib"]) / "noida_db" / "noida-db"
    proc = subprocess.Popen(
        [
            str(binary),
            "start",
            "--only",
            "kafka",
            "--host",
            "127.0.0.1",
            "--kafka-port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    import socket

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"test broker did not listen on {port}: {log.read_text()[-2000:]}")


def _wait_for(url: str, count: int, timeout: float = 180) -> int:
    """Wait until `count` transactions plus dead letters are stored; return what is stored."""
    deadline = time.monotonic() + timeout
    done = 0
    while time.monotonic() < deadline:
        with connect(url) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM processed_message_id)"
                " + (SELECT count(*) FROM dead_letter_message)"
            ).fetchone()
        done = row[0] if row else 0
        if done >= count:
            return done
        time.sleep(0.2)
    return done


def _assert_exact(url: str) -> None:
    expected = expected_from(value for _key, value in MESSAGES)
    with connect(url) as conn:
        assert database_summaries(conn) == expected.summaries()
        assert database_current(conn) == {k: r.quantity for k, r in expected.current.items()}
        versions = conn.execute("SELECT count(*) FROM metering_data").fetchone()
        dead = conn.execute("SELECT count(*) FROM dead_letter_message").fetchone()
    assert versions == (expected.versions,)
    assert dead == (expected.dead_letters,)


def _goal() -> int:
    expected = expected_from(value for _key, value in MESSAGES)
    return len(expected.transactions) + expected.dead_letters


def test_a_broker_restart_mid_ingest_loses_and_doubles_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    # A broker of this test's own, so that restarting it disturbs no other test.
    port, data = free_port(), tmp_path / "broker"
    data.mkdir()
    broker = _start_broker(port, data, tmp_path / "broker.log")
    procs: list[subprocess.Popen[bytes]] = []
    try:
        cfg = _configure(monkeypatch, tmp_path, db, f"127.0.0.1:{port}")
        publish(cfg, cfg.readings_topic, MESSAGES[:HALF], partitions=2)
        procs = start_flow(cfg, until_end=False, log_dir=tmp_path)
        assert _wait_for(db, 10) >= 10
        broker.terminate()  # by PID; the data directory survives
        broker.wait(timeout=30)
        time.sleep(1)
        broker = _start_broker(port, data, tmp_path / "broker.log")
        publish(cfg, cfg.readings_topic, MESSAGES[HALF:], partitions=2)
        _wait_for(db, _goal())
        assert all(p.poll() is None for p in procs), "the flow died with the broker"
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)
        broker.terminate()
        broker.wait(timeout=30)
    _assert_exact(db)


@pytest.mark.exclusive  # restarts the stack's database, which every other test uses
def test_a_database_restart_mid_ingest_loses_and_doubles_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, kafka_bootstrap: str
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db, kafka_bootstrap)
    publish(cfg, cfg.readings_topic, MESSAGES, partitions=2)
    procs = start_flow(cfg, until_end=True, log_dir=tmp_path)
    try:
        assert _wait_for(db, 20) >= 20
        restart = subprocess.run(
            [str(ROOT / "deploy" / "stack.sh"), "restart-db"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert restart.returncode == 0, restart.stderr
        codes = [p.wait(timeout=300) for p in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    logs = "".join(p.read_text() for p in tmp_path.glob("flow-*.log"))
    assert codes == [0], logs[-3000:]
    assert "database unavailable" in logs  # the restart really hit the flow mid-ingest
    _assert_exact(db)
