"""`elflow datahub send`: our outbound requests → the fake DataHub's request endpoints."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from deploy.fake_datahub import FakeDataHub
from flows.datahub.send import run_sender
from flows.process_relay import relay
from schemas.calendar import local_midnight_utc
from schemas.process_codes import ProcessType
from schemas.settings import settings
from settlement import processes as run
from settlement.processes import StartRequest
from storage import processes as store
from storage.db import connect
from tests.datahub_support import fake_hub
from tests.process_docs import CUSTOMERS, POINTS, PRODUCT, portfolio

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 10, 1, 8, tzinfo=UTC)


@pytest.fixture
def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str) -> Iterator[FakeDataHub]:
    with connect(db, autocommit=True) as conn:
        portfolio(conn, supplied={})
    yield from fake_hub(monkeypatch, tmp_path)


def _switches(db: str, count: int) -> list[uuid.UUID]:
    with connect(db, autocommit=True) as conn:
        ids = [
            run.start(
                conn,
                StartRequest(
                    ProcessType.SUPPLIER_SWITCH,
                    POINTS[n % 4],
                    local_midnight_utc(date(2026, 10, 2 + n // 4)),
                    CUSTOMERS[0],
                    PRODUCT,
                ),
                now=NOW,
            )
            for n in range(count)
        ]
    assert relay(settings(), until_empty=True) == count
    return ids


def _outbound(db: str) -> dict[uuid.UUID, tuple[object, ...]]:
    with connect(db) as conn:
        rows = conn.execute(
            """SELECT process_request_id, status, datahub_http_status, datahub_error_code,
                      datahub_error_message FROM outbound_request"""
        ).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_a_400_ends_as_acknowledged_error_with_datahubs_code_the_rest_are_accepted(
    hub: FakeDataHub, db: str
) -> None:
    ids = _switches(db, 3)
    hub.reject_next("E10", "Metering point not identifiable")  # the first request sent
    hub.fail_next(3, 503)  # and a storm before it
    assert run_sender(settings(), until_empty=True) == {"accepted": 2, "refused": 1}
    rows = _outbound(db)
    refused = [i for i in ids if rows[i][0] == "AcknowledgedError"]
    assert len(refused) == 1
    assert rows[refused[0]] == (
        "AcknowledgedError",
        400,
        "E10",
        "Metering point not identifiable",
    )
    assert sorted(rows[i] for i in ids if i not in refused) == [("Sent", 202, None, None)] * 2
    with connect(db) as conn:
        req = store.request(conn, refused[0])
        events = store.events(conn, refused[0])
    assert req is not None and req.status == "Rejected"
    assert events[-1].event_type == "Rejected"
    assert events[-1].payload["reasons"] == [
        {"code": "E10", "text": "Metering point not identifiable"}
    ]
    # what DataHub received: each document once, under its own mRID as MessageId
    received = {
        json.loads(b)["RequestChangeOfSupplier_MarketDocument"]["mRID"]
        for b in hub.state.received.values()
    }
    assert len(received) == 3
    # a second sender sends nothing again
    assert run_sender(settings(), until_empty=True) == {}
    assert len(hub.state.received) == 3


def test_a_request_datahub_already_has_counts_as_accepted(hub: FakeDataHub, db: str) -> None:
    """A sender killed between DataHub's 202 and recording it sends again; DataHub answers
    00101 (duplicate MessageId), which is recorded as accepted, not as an error."""
    (request_id,) = _switches(db, 1)
    with connect(db) as conn:
        (document,) = conn.execute(
            "SELECT document FROM outbound_request WHERE process_request_id = %s", (request_id,)
        ).fetchone() or (None,)
    mrid = document["RequestChangeOfSupplier_MarketDocument"]["mRID"]
    hub.state.received[mrid] = b"sent before the crash"
    assert run_sender(settings(), until_empty=True) == {"duplicate": 1}
    assert _outbound(db)[request_id] == ("Sent", 202, None, None)


def test_process_show_prints_datahubs_code(hub: FakeDataHub, db: str) -> None:
    (request_id,) = _switches(db, 1)
    hub.reject_next("00002", "Sender does not match")
    assert run_sender(settings(), until_empty=True) == {"refused": 1}
    shown = subprocess.run(
        [sys.executable, "-m", "deploy.cli", "process", "show", str(request_id)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Rejected" in shown and "00002" in shown and "Sender does not match" in shown
