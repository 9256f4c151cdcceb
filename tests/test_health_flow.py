"""/healthz, /readyz and the start-up gauges of a running ingest flow (real Bytewax processes,
the real broker and TimescaleDB): ready when everything answers, 503 naming the database or the
broker while it is down, ready again when it is back."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest

from flows.feed import FeedSpec, generate_feed
from flows.publisher import publish
from flows.runner import start_flow
from schemas.settings import Settings, settings
from storage.db import connect
from tests.conftest import free_port, use_flow_topic
from tests.test_health_http import http_get
from tests.test_ingest_faults import _start_broker

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
FIRST = [(m.key, m.value) for m in generate_feed(FeedSpec(metering_points=6, days=2, seed=5))]
LATER = [
    (m.key, m.value)
    for m in generate_feed(FeedSpec(metering_points=4, days=1, start=date(2026, 10, 9), seed=6))
]


def _configure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, bootstrap: str | None = None
) -> Settings:
    if bootstrap is not None:
        monkeypatch.setenv("ELFLOW_KAFKA_BOOTSTRAP", bootstrap)
    return use_flow_topic(monkeypatch, url, tmp_path / "recovery", "health")


def _with_metrics_port(monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, str]:
    port = free_port()
    monkeypatch.setenv("ELFLOW_METRICS_PORT", str(port))
    settings.cache_clear()
    return settings(), f"http://127.0.0.1:{port}"


def _until(
    url: str, wanted: Callable[[int, str], bool], procs: list[subprocess.Popen[bytes]]
) -> tuple[int, str]:
    """GET `url` until `wanted(status, text)` or 90 s have passed; the last answer."""
    deadline = time.monotonic() + 90
    answer = http_get(url)
    while not wanted(*answer) and time.monotonic() < deadline:
        assert all(p.poll() is None for p in procs), "the flow stopped"
        time.sleep(0.3)
        answer = http_get(url)
    return answer


def _sample(text: str, name: str) -> dict[str, float]:
    """Every sample of `name` in a scrape: labels text (or "") → value."""
    found = {}
    for line in text.splitlines():
        if line.startswith(f"{name}{{") or line.startswith(f"{name} "):
            head, value = line.rsplit(" ", 1)
            found[head[len(name) :]] = float(value)
    return found


def _consumed(scrape: str) -> float:
    return _sample(scrape, "elflow_documents_consumed_total").get("", 0.0)


@contextmanager
def _flow(cfg: Settings, tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    procs = start_flow(cfg, until_end=False, log_dir=tmp_path)
    try:
        yield procs
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(timeout=30)


def _logs(tmp_path: Path) -> str:
    return "".join(p.read_text(errors="replace")[-3000:] for p in tmp_path.glob("flow-*.log"))


def test_a_restarted_flow_is_ready_and_has_both_gauges_before_any_batch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db)
    publish(cfg, cfg.readings_topic, FIRST, partitions=2)
    procs = start_flow(cfg, until_end=True, log_dir=tmp_path)
    assert [p.wait(timeout=300) for p in procs] == [0], _logs(tmp_path)
    with connect(db) as conn:
        row = conn.execute('SELECT max("timestamp") FROM metering_data').fetchone()
    assert row is not None and row[0] is not None
    newest = row[0].timestamp()

    # Caught up: the restarted flow has nothing to write, so both gauges come from the start.
    cfg, base = _with_metrics_port(monkeypatch)
    with _flow(cfg, tmp_path) as procs:
        status, text = _until(
            f"{base}/metrics",
            lambda s, t: (
                len(_sample(t, "elflow_consumer_lag_messages")) == 2
                and bool(_sample(t, "elflow_newest_reading_timestamp_seconds").get(""))
            ),
            procs,
        )
        assert http_get(f"{base}/healthz") == (200, "ok\n")
        ready = _until(f"{base}/readyz", lambda s, t: s == 200, procs)
    assert status == 200, _logs(tmp_path)
    assert ready == (200, "ready\n"), _logs(tmp_path)
    assert _sample(text, "elflow_newest_reading_timestamp_seconds") == {"": newest}
    lag = _sample(text, "elflow_consumer_lag_messages")
    assert lag == {f'{{partition="{p}",topic="{cfg.readings_topic}"}}': 0.0 for p in (0, 1)}, text
    assert _sample(text, "elflow_readings_written_total") == {"": 0.0}


def test_a_flow_without_its_database_is_unready_and_shows_the_waiting_lag(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db)
    count = publish(cfg, cfg.readings_topic, LATER, partitions=2)
    # The ingest role's URL points at a port nobody listens on: the sink retries for ever.
    monkeypatch.setenv(
        "ELFLOW_INGEST_DATABASE_URL", f"postgresql://x:s3cr3tpw@127.0.0.1:{free_port()}/x"
    )
    cfg, base = _with_metrics_port(monkeypatch)
    with _flow(cfg, tmp_path) as procs:
        status, text = _until(
            f"{base}/readyz",
            lambda s, t: s == 503 and "database:" in t and "retrying:" in t,
            procs,
        )
        health = http_get(f"{base}/healthz")
        scrape = http_get(f"{base}/metrics")[1]
    assert status == 503, (text, _logs(tmp_path))
    lines = text.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["database", "retrying"], text
    assert lines[0].startswith("database: unreachable: ")
    assert lines[1] == "retrying: ingest writer: database unavailable"
    assert "s3cr3tpw" not in text
    assert health == (200, "ok\n")
    lag = _sample(scrape, "elflow_consumer_lag_messages")
    assert sum(lag.values()) == count, scrape  # nothing written, so everything is still lag


@pytest.mark.exclusive  # stops the stack's database, which every other test uses
def test_readyz_follows_the_database_down_and_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    cfg = _configure(monkeypatch, tmp_path, db)
    publish(cfg, cfg.readings_topic, FIRST[:4], partitions=2)
    cfg, base = _with_metrics_port(monkeypatch)
    stack = str(ROOT / "deploy" / "stack.sh")
    with _flow(cfg, tmp_path) as procs:
        _until(f"{base}/metrics", lambda s, t: _consumed(t) == 4, procs)
        before = _until(f"{base}/readyz", lambda s, t: s == 200, procs)
        stopped = subprocess.run([stack, "stop-db"], capture_output=True, text=True, timeout=120)
        try:
            down = _until(f"{base}/readyz", lambda s, t: s == 503, procs)
            alive = http_get(f"{base}/healthz")
        finally:
            started = subprocess.run(
                [stack, "start-db"], capture_output=True, text=True, timeout=120
            )
        assert (stopped.returncode, started.returncode) == (0, 0), stopped.stderr + started.stderr
        after = _until(f"{base}/readyz", lambda s, t: s == 200, procs)
    assert before == (200, "ready\n"), _logs(tmp_path)
    assert down[0] == 503
    assert down[1].startswith("database: unreachable: "), down
    assert alive == (200, "ok\n")
    assert after == (200, "ready\n"), _logs(tmp_path)


def test_readyz_follows_the_broker_down_and_up(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    # A broker of this test's own, so that stopping it disturbs no other test.
    port, data = free_port(), tmp_path / "broker"
    data.mkdir()
    broker = _start_broker(port, data, tmp_path / "broker.log")
    try:
        cfg = _configure(monkeypatch, tmp_path, db, f"127.0.0.1:{port}")
        publish(cfg, cfg.readings_topic, FIRST[:4], partitions=2)
        cfg, base = _with_metrics_port(monkeypatch)
        with _flow(cfg, tmp_path) as procs:
            # Past start-up (a broker lost while the source checks where it resumes stops the
            # flow, see flows.source): the four documents are read.
            _until(f"{base}/metrics", lambda s, t: _consumed(t) == 4, procs)
            before = _until(f"{base}/readyz", lambda s, t: s == 200, procs)
            broker.terminate()  # by PID; the data directory survives
            broker.wait(timeout=30)
            down = _until(f"{base}/readyz", lambda s, t: s == 503, procs)
            alive = http_get(f"{base}/healthz")
            broker = _start_broker(port, data, tmp_path / "broker.log")
            after = _until(f"{base}/readyz", lambda s, t: s == 200, procs)
    finally:
        broker.terminate()
        broker.wait(timeout=30)
    assert before == (200, "ready\n"), _logs(tmp_path)
    assert down[0] == 503
    assert down[1].startswith("broker: unreachable"), down
    assert alive == (200, "ok\n")
    assert after == (200, "ready\n"), _logs(tmp_path)
