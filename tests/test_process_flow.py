"""The lifecycle through the real broker and real processes: the relay publishes each request
document exactly once across SIGKILLs, and DataHub's answers move requests on through the
master-data Bytewax flow (with dead letters for what cannot apply, and redelivery a no-op)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows import masterdata
from flows.process_relay import relay
from flows.publisher import publish
from schemas.calendar import local_midnight_utc
from schemas.process_codes import ProcessType
from schemas.settings import Settings, settings
from settlement import processes as run
from settlement.processes import StartRequest
from storage import processes as store
from storage.db import Conn, connect
from tests.process_docs import (
    CUSTOMERS,
    OTHER_SUPPLIER,
    POINTS,
    PRODUCT,
    answer,
    isolated_topics,
    notification,
    outbound_documents,
    portfolio,
)

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 10, 1, 8, tzinfo=UTC)


@pytest.fixture
def cfg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str) -> Iterator[Settings]:
    isolated_topics(monkeypatch, tmp_path, db)
    with connect(db, autocommit=True) as conn:
        portfolio(conn, supplied={POINTS[4]: (CUSTOMERS[4], date(2026, 1, 1))})
    yield settings()


def _switch(conn: Conn, gsrn: str, day: date) -> uuid.UUID:
    req = StartRequest(
        ProcessType.SUPPLIER_SWITCH, gsrn, local_midnight_utc(day), CUSTOMERS[0], PRODUCT
    )
    return run.start(conn, req, now=NOW)


def test_kill_9_of_the_relay_publishes_every_request_exactly_once(
    cfg: Settings, tmp_path: Path, db: str
) -> None:
    with connect(db, autocommit=True) as conn:
        expected = {
            _switch(conn, POINTS[n % 4], date(2026, 10, 2) + timedelta(days=n // 4))
            for n in range(160)
        }
    kills = 0
    for fraction in (0.2, 0.5, 0.8):
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows.process_relay", "--batch", "10"],
            cwd=ROOT,
            stdout=(tmp_path / "relay.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            with connect(db) as conn:
                done = conn.execute(
                    "SELECT count(*) FROM outbound_request WHERE status = 'Sent'"
                ).fetchone()
            if done and done[0] >= fraction * len(expected):
                break
            time.sleep(0.01)
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait(timeout=30)
    assert relay(settings(), until_empty=True, batch=10) >= 0
    assert kills >= 2
    published = Counter(request_id for request_id, _doc in outbound_documents(cfg))
    assert set(published) == expected
    assert max(published.values()) == 1, "a request document was published twice"
    with connect(db) as conn:
        sent_events = Counter(
            e.request_id for e in store.events(conn) if e.event_type == "SentToDataHub"
        )
        assert sent_events == Counter(expected)
        assert {r.status for r in store.requests(conn)} == {"SentToDataHub"}


def _run_flow(tmp_path: Path) -> None:
    (proc,) = masterdata.start(settings(), until_end=True, log_dir=tmp_path)
    assert proc.wait(timeout=300) == 0, (tmp_path / "masterdata-0.log").read_text()[-3000:]


def _state(conn: Conn) -> tuple[Any, ...]:
    requests = sorted((r.type, r.gsrn, r.status, r.initiator) for r in store.requests(conn))
    dead = sorted(conn.execute("SELECT reason_code, resolved FROM dead_letter_message").fetchall())
    inbound = sorted(conn.execute("SELECT data_hub_message_id, status FROM inbound_message"))
    return requests, dead, inbound, len(store.events(conn))


def test_answers_move_requests_on_through_the_broker_and_the_flow(
    cfg: Settings, tmp_path: Path, db: str
) -> None:
    with connect(db, autocommit=True) as conn:
        accepted = _switch(conn, POINTS[0], date(2026, 10, 15))
        refused = _switch(conn, POINTS[1], date(2026, 10, 15))
        waiting = _switch(conn, POINTS[2], date(2026, 10, 15))
    assert relay(settings(), until_empty=True) == 3
    documents = dict(outbound_documents(cfg))
    assert set(documents) == {accepted, refused, waiting}
    body = documents[accepted]["RequestChangeOfSupplier_MarketDocument"]
    assert body["MktActivityRecord"][0]["marketEvaluationPoint.mRID"]["value"] == POINTS[0]
    feed = [
        (POINTS[0].encode(), answer(accepted, accept=True, mrid="a-1")),
        (POINTS[1].encode(), answer(refused, accept=False, reasons=(("E16", "x"),), mrid="r-1")),
        (POINTS[0].encode(), notification(POINTS[0], date(2026, 10, 15), "E03",
                                          request_id=accepted, mrid="n-1")),
        (POINTS[4].encode(), notification(POINTS[4], date(2026, 10, 25), "E01",
                                          new_supplier=OTHER_SUPPLIER, mrid="n-2")),
        (b"x", answer(uuid.uuid4(), accept=True, mrid="u-1")),
        (b"y", b'{"ConfirmRequestChangeOfSupplier_MarketDocument": {"mRID": "bad-1"'),
    ]  # fmt: skip
    publish(settings(), settings().masterdata_topic, feed, partitions=2)
    _run_flow(tmp_path)
    with connect(db) as conn:
        status = {r.id: r.status for r in store.requests(conn)}
        assert status[accepted] == "EffectuationPending"
        assert status[refused] == "Rejected"
        assert status[waiting] == "SentToDataHub"
        forced = [r for r in store.requests(conn) if r.gsrn == POINTS[4]]
        assert [(r.type, r.status) for r in forced] == [
            ("ForcedEndOfSupply", "EffectuationPending")
        ]
        first = _state(conn)
    assert first[1] == [("unknown_request", False), ("unparseable", False)]
    publish(settings(), settings().masterdata_topic, feed, partitions=2)  # redelivered
    _run_flow(tmp_path)
    with connect(db) as conn:
        assert _state(conn) == first


def test_the_relay_runs_twice_in_one_process(cfg: Settings, db: str) -> None:
    """A second relay in the same process reads the tail of a topic whose partition holds one
    message at offset 0 (the recovery used to take offset 0 for "nothing read yet")."""
    with connect(db, autocommit=True) as conn:
        first = _switch(conn, POINTS[0], date(2026, 10, 15))
    assert relay(settings(), until_empty=True) == 1
    with connect(db, autocommit=True) as conn:
        second = _switch(conn, POINTS[1], date(2026, 10, 16))
    assert relay(settings(), until_empty=True) == 1
    assert relay(settings(), until_empty=True) == 0
    published = Counter(request_id for request_id, _doc in outbound_documents(cfg))
    assert published == Counter({first: 1, second: 1})
