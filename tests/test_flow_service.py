"""`elflow flow run` stops like a service: SIGTERM mid-ingest ends it with exit code 0, the
offsets it snapshots are exactly what the database holds, and a restart completes the feed with
every reading once. Real broker, real Bytewax processes, real TimescaleDB."""

from __future__ import annotations

import os
import pickle
import pty
import select
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import date
from pathlib import Path

import pytest

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import Settings
from storage.db import connect
from tests.conftest import use_flow_topic
from tests.oracle import database_current, database_summaries, expected_from

pytestmark = pytest.mark.services

# Distinct documents only (corrections are documents of their own): every message read is one
# message_id in processed_message_id, so the database can be compared with the offsets.
SPEC = FeedSpec(
    metering_points=150,
    days=8,
    start=date(2026, 10, 21),
    seed=5,
    correction_rate=0.05,
    duplicate_rate=0.0,
    malformed_rate=0.0,
)
MESSAGES = [(m.key, m.value) for m in generate_feed(SPEC)]
ELFLOW = str(Path(sys.executable).with_name("elflow"))


def _configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str) -> Settings:
    return use_flow_topic(monkeypatch, url, tmp_path / "recovery", "stop")


def _processed(url: str) -> int:
    with connect(url) as conn:
        row = conn.execute("SELECT count(DISTINCT message_id) FROM processed_message_id").fetchone()
    return int(row[0]) if row else 0


def _snapshot_offsets(recovery_dir: Path) -> dict[str, int]:
    """The source's latest snapshot per Kafka partition in Bytewax's recovery store."""
    latest: dict[str, tuple[int, int]] = {}
    for path in recovery_dir.glob("*.sqlite3"):
        with sqlite3.connect(path) as store:
            rows = store.execute(
                "SELECT state_key, snap_epoch, ser_change FROM snaps "
                "WHERE step_id = 'elflow_ingest.datahub'"
            ).fetchall()
        for key, epoch, blob in rows:
            state = pickle.loads(blob) if blob else {}
            offset = int(state.get("offset") or 0)
            if key not in latest or epoch > latest[key][0]:
                latest[key] = (epoch, offset)
    return {key: offset for key, (_epoch, offset) in latest.items()}


def test_sigterm_mid_ingest_exits_0_with_offsets_at_the_database_and_a_restart_completes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db)
    publish(cfg, cfg.readings_topic, MESSAGES, partitions=2)
    log = (tmp_path / "run.log").open("wb")
    command = subprocess.Popen(
        [ELFLOW, "flow", "run"], stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and _processed(db) < 0.3 * len(MESSAGES):
            assert command.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.05)
        command.send_signal(signal.SIGTERM)
        code = command.wait(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
    output = (tmp_path / "run.log").read_text(errors="replace")
    assert code == 0, output
    assert "SIGTERM: stopping after the batch in flight" in output
    assert "CONFWARN" not in output  # consumer-only settings reach consumers only
    stopped_at = _processed(db)
    assert 0 < stopped_at < len(MESSAGES), "stopped before or after the feed: make it longer"
    # What was in flight was written and snapshotted: the stored offsets are exactly the
    # documents in the database (a kill -9 leaves the database ahead of them).
    offsets = _snapshot_offsets(cfg.recovery_dir)
    assert len(offsets) == 2
    assert sum(offsets.values()) == stopped_at

    procs = start_flow(cfg, until_end=True, log_dir=tmp_path)
    assert [p.wait(timeout=300) for p in procs] == [0]
    expected = expected_from(value for _key, value in MESSAGES)
    with connect(db) as conn:
        versions = conn.execute("SELECT count(*) FROM metering_data").fetchone()
        assert database_summaries(conn) == expected.summaries()
        assert database_current(conn) == {k: r.quantity for k, r in expected.current.items()}
    assert versions == (expected.versions,)
    assert _processed(db) == len(MESSAGES)


def _wait_for(url: str, count: int, command: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while _processed(url) < count:
        assert command.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"{_processed(url)} of {count} documents after 120 s"
        time.sleep(0.05)


def test_a_tailing_flow_that_went_quiet_reads_what_arrives_later(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    """Idle partitions pause their consumers (flows.source): documents published after a quiet
    spell, to both partitions, still arrive, every one."""
    cfg = _configure(monkeypatch, tmp_path, db)
    first, later = MESSAGES[:200], MESSAGES[200:400]
    publish(cfg, cfg.readings_topic, first, partitions=2)
    log = tmp_path / "run.log"
    command = subprocess.Popen(
        [ELFLOW, "flow", "run"], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        _wait_for(db, len(first), command, log)
        time.sleep(1.5)  # quiet: both partitions have paused
        publish(cfg, cfg.readings_topic, later, partitions=2)
        _wait_for(db, len(first) + len(later), command, log)
        command.send_signal(signal.SIGINT)
        assert command.wait(timeout=60) == 0, log.read_text(errors="replace")
    finally:
        if command.poll() is None:
            command.kill()
    assert sum(_snapshot_offsets(cfg.recovery_dir).values()) == len(first) + len(later)


_STUBBORN = """
import signal, subprocess, sys, os
from flows.stopping import FlowSupervisor
supervisor = FlowSupervisor(grace_seconds=float(sys.argv[1]))
child = subprocess.Popen([sys.executable, "-c", sys.argv[2]])
import time; time.sleep(1.0)
os.kill(os.getpid(), signal.SIGTERM)
sys.exit(supervisor.wait([child]))
"""


@pytest.mark.parametrize(
    ("child", "code", "line"),
    [
        # Ends on the forwarded signal by itself: a clean stop.
        ("import time; time.sleep(60)", 0, ""),
        # Ignores it: killed after the grace period, said in one line.
        (
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
            1,
            "elflow: the flow had not stopped after 1 s (SIGTERM); killed 1 process(es)",
        ),
    ],
)
def test_the_command_forwards_the_signal_and_kills_what_does_not_stop(
    child: str, code: int, line: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _STUBBORN, "1", child],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.returncode == code, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines == ([f"{line}: it resumes from its last snapshot"] if line else [])


def _children(pid: int) -> list[int]:
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(child) for child in text.split()]


def test_the_master_data_flow_command_stops_with_its_process_on_sigterm(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    """`elflow mp flow run` forwards SIGTERM: its Bytewax process ends too (none is left
    behind reading the topic), and the command exits 0."""
    _configure(monkeypatch, tmp_path, db)
    monkeypatch.setenv("ELFLOW_MASTERDATA_TOPIC", f"test.mpstop.{uuid.uuid4().hex[:12]}")
    log = tmp_path / "mp.log"
    command = subprocess.Popen(
        [ELFLOW, "mp", "flow", "run"], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 60
        while not _children(command.pid):
            assert command.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, "no flow process after 60 s"
            time.sleep(0.1)
        (child,) = _children(command.pid)
        time.sleep(2.0)  # the process is up and reading
        command.send_signal(signal.SIGTERM)
        assert command.wait(timeout=60) == 0, log.read_text(errors="replace")
    finally:
        if command.poll() is None:
            command.kill()
    assert not Path(f"/proc/{child}").exists() or "zombie" in Path(
        f"/proc/{child}/status"
    ).read_text(errors="replace")


def _run_for(command: list[str], seconds: float, *, terminal: bool) -> tuple[int, str]:
    """Run `command` for `seconds`, then SIGTERM it; its exit code and what it printed, on a
    pseudo-terminal when `terminal` (stdout.isatty() is true there) else through a pipe."""
    if terminal:
        main, side = pty.openpty()
        proc = subprocess.Popen(command, stdout=side, stderr=subprocess.DEVNULL)
        os.close(side)
    else:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        main = os.dup(proc.stdout.fileno()) if proc.stdout else -1
    out = b""
    deadline = time.monotonic() + seconds
    signalled = False
    while True:
        if not signalled and time.monotonic() > deadline:
            proc.send_signal(signal.SIGTERM)
            signalled = True
        ready, _w, _x = select.select([main], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the terminal closed with its last writer
                chunk = b""
            if not chunk and proc.poll() is not None:
                break
            out += chunk
        elif proc.poll() is not None and signalled:
            break
    os.close(main)
    return proc.wait(timeout=60), out.decode(errors="replace")


def test_flow_run_prints_progress_on_a_terminal_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db)
    publish(cfg, cfg.readings_topic, MESSAGES[:100], partitions=2)
    code, shown = _run_for([ELFLOW, "flow", "run"], 12.0, terminal=True)
    assert code == 0, shown
    lines = [line.strip() for line in shown.splitlines()]
    assert lines[0].startswith(f"flow start: topic {cfg.readings_topic} (2 partitions"), shown
    progress = [line for line in lines if line.startswith("flow: ")]
    assert progress, shown
    assert progress[-1].startswith("flow: 100 documents, "), shown
    assert lines[-1].startswith("flow done: 100 documents, "), shown
    code, piped = _run_for([ELFLOW, "flow", "run"], 8.0, terminal=False)
    assert code == 0, piped
    assert [line.split(":")[0] for line in piped.splitlines()] == ["flow start", "flow done"]
