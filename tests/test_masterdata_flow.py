"""The master-data flow end to end: real broker, real Bytewax processes, real TimescaleDB.

The reference is an uninterrupted one-process run of the same feed; redelivery, kill -9 and two
processes must end in the same history, projection, waiting records and outbox."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows import masterdata
from flows.publisher import publish
from schemas.settings import Settings, settings
from storage.db import connect
from tests.conftest import scratch_database, use_database
from tests.masterdata_docs import month_feed, state

pytestmark = pytest.mark.services

POINTS = 60
FEED = month_feed(POINTS, seed=5)
BAD_RECONNECTS = len(range(0, POINTS, 10))


def _configure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, name: str) -> Settings:
    monkeypatch.setenv("ELFLOW_MASTERDATA_TOPIC", f"test.md.{name}.{uuid.uuid4().hex[:12]}")
    monkeypatch.setenv("ELFLOW_RECOVERY_DIR", str(tmp_path / f"recovery-{name}"))
    use_database(monkeypatch, url)
    return settings()


def _grid_areas(url: str) -> None:
    with connect(url) as conn:
        conn.execute(
            """INSERT INTO grid_area VALUES ('031', '5790001333421', 'Net 031', 'DK1'),
                                            ('344', '5790000610976', 'Net 344', 'DK2')"""
        )


def _run_to_end(cfg: Settings, tmp_path: Path, processes: int = 1) -> None:
    procs = masterdata.start(cfg, processes=processes, until_end=True, log_dir=tmp_path)
    codes = [p.wait(timeout=300) for p in procs]
    assert codes == [0] * processes, _logs(tmp_path)


def _logs(tmp_path: Path) -> str:
    return "\n".join(
        p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("masterdata-*.log")
    )


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp_path = tmp_path_factory.mktemp("reference")
    monkeypatch = pytest.MonkeyPatch()
    with scratch_database(migrated=True) as url:
        _grid_areas(url)
        cfg = _configure(monkeypatch, tmp_path, url, "reference")
        publish(cfg, cfg.masterdata_topic, FEED, partitions=2)
        _run_to_end(cfg, tmp_path)
        with connect(url) as conn:
            yield state(conn)
    monkeypatch.undo()
    settings.cache_clear()


def test_an_uninterrupted_run_applies_every_valid_document_in_effective_date_order(
    reference: dict[str, Any],
) -> None:
    assert len(reference["events"]) == POINTS * 6
    assert len(reference["outbox"]) == POINTS * 6
    assert len(reference["versions"]) == POINTS * 6
    assert Counter(v[11] for v in reference["versions"]) == {
        "New": POINTS,
        "Connected": 3 * POINTS,
        "Disconnected": POINTS,
        "ClosedDown": POINTS,
    }
    assert [p[2] for p in reference["pending"]] == ["D16"] * BAD_RECONNECTS
    assert {c[3] for c in reference["current"]} == {"ClosedDown"}
    assert len(reference["current"]) == POINTS
    dead = reference["dead"]
    assert sum(n for (_m, reason, _r), n in dead.items() if reason == "unparseable") == 1
    assert sum(n for (_m, reason, _r), n in dead.items() if reason == "schema_violation") == 1
    assert (
        sum(n for (_m, _reason, resolved), n in dead.items() if not resolved) == 2 + BAD_RECONNECTS
    )


def test_redelivery_of_the_whole_feed_changes_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, reference: dict[str, Any]
) -> None:
    _grid_areas(db)
    cfg = _configure(monkeypatch, tmp_path, db, "redeliver")
    publish(cfg, cfg.masterdata_topic, [*FEED, *FEED], partitions=2)
    _run_to_end(cfg, tmp_path)
    with connect(db) as conn:
        assert state(conn) == reference


def test_two_processes_equal_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, reference: dict[str, Any]
) -> None:
    _grid_areas(db)
    cfg = _configure(monkeypatch, tmp_path, db, "two")
    publish(cfg, cfg.masterdata_topic, FEED, partitions=2)
    _run_to_end(cfg, tmp_path, processes=2)
    with connect(db) as conn:
        assert state(conn) == reference


def test_kill_9_mid_run_then_restart_equals_an_uninterrupted_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, reference: dict[str, Any]
) -> None:
    _grid_areas(db)
    cfg = _configure(monkeypatch, tmp_path, db, "kill")
    publish(cfg, cfg.masterdata_topic, FEED, partitions=2)
    kills = 0
    for fraction in (0.2, 0.6):
        (proc,) = masterdata.start(cfg, until_end=True, log_dir=tmp_path)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            with connect(db) as conn:
                done = conn.execute("SELECT count(*) FROM inbound_message").fetchone()
            if done and done[0] >= fraction * len(FEED):
                break
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()  # SIGKILL: mid-batch, no cleanup
            kills += 1
        proc.wait(timeout=30)
    _run_to_end(cfg, tmp_path)
    assert kills >= 1, "the flow finished before it could be killed; make the feed longer"
    with connect(db) as conn:
        assert state(conn) == reference
