"""Soak: a long ingest through two flow processes, killed with SIGKILL again and again and with
a database restart in the middle, must end exactly where the oracle says. Slow (minutes):
run with `deploy/test.sh -m slow`."""

from __future__ import annotations

import random
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import start_flow
from storage.db import connect
from tests.oracle import database_current, database_summaries, expected_from
from tests.test_ingest_faults import ROOT, _configure

pytestmark = [pytest.mark.services, pytest.mark.slow]

SPEC = FeedSpec(
    metering_points=1000,
    days=10,
    start=date(2026, 10, 20),  # spans the 25-hour day
    seed=99,
    correction_rate=0.05,
    duplicate_rate=0.05,
    malformed_rate=0.01,
)


def test_repeated_kills_and_a_database_restart_during_a_long_ingest(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str, kafka_bootstrap: str
) -> None:
    messages = [(m.key, m.value) for m in generate_feed(SPEC)]
    cfg = _configure(monkeypatch, tmp_path, db, kafka_bootstrap)
    publish(cfg, cfg.readings_topic, messages, partitions=2)
    rng = random.Random(1)
    interruptions = 0
    for round_ in range(8):
        procs = start_flow(cfg, processes=2, until_end=True, log_dir=tmp_path)
        time.sleep(rng.uniform(3, 8))
        if round_ == 3:
            restart = subprocess.run(
                [str(ROOT / "deploy" / "stack.sh"), "restart-db"], capture_output=True, timeout=120
            )
            assert restart.returncode == 0
            time.sleep(2)
        if all(p.poll() is not None for p in procs):
            break
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)
        interruptions += 1
    final = start_flow(cfg, processes=2, until_end=True, log_dir=tmp_path)
    assert [p.wait(timeout=900) for p in final] == [0, 0]

    expected = expected_from(value for _key, value in messages)
    with connect(db) as conn:
        assert database_summaries(conn) == expected.summaries()
        assert database_current(conn) == {k: r.quantity for k, r in expected.current.items()}
        versions = conn.execute("SELECT count(*) FROM metering_data").fetchone()
        processed = conn.execute("SELECT count(*) FROM processed_message_id").fetchone()
    assert interruptions >= 3
    assert versions == (expected.versions,)
    assert processed == (len(expected.transactions),)
