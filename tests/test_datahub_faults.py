"""kill -9 of `elflow datahub pull` at every step of the cycle: each peeked document ends up in
the database exactly once (fake DataHub, real broker, real readings flow, real database)."""

from __future__ import annotations

import itertools
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from deploy.fake_datahub import FakeDataHub
from flows.feed import FeedSpec, generate_feed
from flows.runner import start_flow
from schemas.settings import settings
from storage.db import connect
from tests.datahub_support import ACTOR, fake_hub, read_topic

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
SPEC = FeedSpec(
    metering_points=4,
    days=3,
    start=date(2026, 10, 1),
    correction_rate=0.0,
    duplicate_rate=0.0,
    malformed_rate=0.0,
)
DOCUMENTS = [m.value for m in itertools.islice(generate_feed(SPEC), 12)]


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str) -> Iterator[FakeDataHub]:
    yield from fake_hub(monkeypatch, tmp_path)


def _connector(tmp_path: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "deploy.cli", "datahub", "pull", "--until-empty"],
        cwd=ROOT,
        stdout=(tmp_path / "pull.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


@pytest.mark.parametrize(
    ("stall", "copies_on_topic"),
    [
        ("peek", 12),  # killed while DataHub answers the 5th peek: nothing published yet
        ("dequeue", 13),  # killed after the broker acknowledged, before the dequeue arrived
        ("dequeued", 12),  # killed after DataHub dequeued, before its answer arrived
    ],
)
def test_kill_9_at_each_step_stores_every_document_exactly_once(
    hub: FakeDataHub, tmp_path: Path, db: str, stall: str, copies_on_topic: int
) -> None:
    for body in DOCUMENTS:
        hub.enqueue(ACTOR, "MeasureData", body)
    reached, release = hub.stall(stall, 5)
    proc = _connector(tmp_path)
    assert reached.wait(120), (tmp_path / "pull.log").read_text()[-2000:]
    proc.kill()
    proc.wait(30)
    release.set()
    again = _connector(tmp_path)
    assert again.wait(120) == 0, (tmp_path / "pull.log").read_text()[-2000:]
    assert hub.waiting(ACTOR, "MeasureData") == 0

    cfg = settings()
    assert len(read_topic(cfg, cfg.readings_topic)) == copies_on_topic
    (flow,) = start_flow(cfg, until_end=True, log_dir=tmp_path)
    assert flow.wait(300) == 0, (tmp_path / "flow-0.log").read_text()[-3000:]

    expected_readings = sum(body.count(b'"position"') for body in DOCUMENTS)
    with connect(db) as conn:
        readings, distinct = conn.execute(
            """SELECT count(*), count(DISTINCT (metering_point_id, "timestamp"))
               FROM metering_data"""
        ).fetchone() or (0, 0)
        documents = conn.execute("SELECT count(*) FROM inbound_message").fetchone()
    assert readings == distinct == expected_readings
    assert documents == (len(DOCUMENTS),)
