"""The outbox relay publishes every applied event once, also when it is killed with SIGKILL."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest

from flows.masterdata import events_topic
from schemas.settings import Settings, settings
from settlement.masterdata import apply_batch, message_items
from storage.db import connect
from tests.conftest import use_database
from tests.masterdata_docs import month_feed
from tests.topics import read_topic

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]


def _events_on_topic(cfg: Settings) -> Counter[uuid.UUID]:
    return Counter(
        uuid.UUID(headers["event_id"].decode())
        for _partition, _key, _value, headers in read_topic(cfg, events_topic(cfg))
    )


def _relay(tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "flows.outbox_relay", "--batch", "25", *extra],
        cwd=ROOT,
        stdout=(tmp_path / "relay.log").open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_kill_9_of_the_relay_publishes_every_event_exactly_once(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    monkeypatch.setenv("ELFLOW_MASTERDATA_TOPIC", f"test.relay.{uuid.uuid4().hex[:12]}")
    use_database(monkeypatch, db)
    cfg = settings()
    items = [i for k, v in month_feed(120, seed=3) for _k, i in message_items(v, "t", 0, 0)]
    with connect(db) as conn:
        apply_batch(conn, items, topic="t")
        expected = {row[0] for row in conn.execute("SELECT event_id FROM metering_point_outbox")}
    assert len(expected) == 120 * 6
    kills = 0
    for fraction in (0.2, 0.5, 0.8):
        relay = _relay(tmp_path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and relay.poll() is None:
            with connect(db) as conn:
                done = conn.execute(
                    "SELECT count(*) FROM metering_point_outbox WHERE published_at IS NOT NULL"
                ).fetchone()
            if done and done[0] >= fraction * len(expected):
                break
            time.sleep(0.01)
        if relay.poll() is None:
            relay.kill()
            kills += 1
        relay.wait(timeout=30)
    final = _relay(tmp_path, "--until-empty")
    assert final.wait(timeout=120) == 0, (tmp_path / "relay.log").read_text()[-2000:]
    assert kills >= 2
    published = _events_on_topic(cfg)
    assert set(published) == expected
    assert max(published.values()) == 1, "an event was published twice"
    with connect(db) as conn:
        left = conn.execute(
            "SELECT count(*) FROM metering_point_outbox WHERE published_at IS NULL"
        ).fetchone()
    assert left == (0,)
