"""Service requests to the grid access provider (BRS-039) against the real database, broker and
master-data flow: refused up front, published once by the process relay, moved on by the grid
access provider's confirm / reject, TimedOut when no answer comes."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from deploy.handlers_mp import BadServiceArgument, service_request
from flows.process_relay import relay
from flows.publisher import publish
from schemas.settings import Settings, settings
from settlement import processes as run
from settlement.processes import ProcessRefused
from settlement.service_requests import ServiceRequest, request
from storage import processes as store
from storage.db import Conn, connect
from tests.process_docs import (
    CUSTOMERS,
    POINTS,
    answer,
    isolated_topics,
    outbound_documents,
    portfolio,
)
from tests.test_process_flow import _run_flow

pytestmark = pytest.mark.services

NOW = datetime(2026, 10, 1, 8, tzinfo=UTC)
DAY = date(2026, 10, 5)
# POINTS[0..3] are supplied by us; [1] is Disconnected, [2] ClosedDown; POINTS[5] is not ours.
STATUS = {POINTS[1]: "Disconnected", POINTS[2]: "ClosedDown"}


def _portfolio(conn: Conn) -> None:
    portfolio(conn, supplied={POINTS[n]: (CUSTOMERS[n], date(2026, 1, 1)) for n in range(4)})
    for gsrn, status in STATUS.items():
        conn.execute(
            "UPDATE metering_point SET connection_status = %s WHERE gsrn = %s", (status, gsrn)
        )


@pytest.fixture
def cfg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str) -> Iterator[Settings]:
    isolated_topics(monkeypatch, tmp_path, db)
    with connect(db, autocommit=True) as conn:
        _portfolio(conn)
    yield settings()


@pytest.mark.parametrize(
    ("gsrn", "service", "message"),
    [
        (POINTS[5], "disconnect", "E16 we do not supply the metering point"),
        (POINTS[5], "meter-check", "E16 we do not supply the metering point"),
        (POINTS[2], "meter-check", "D16 the metering point is closed down"),
        (POINTS[2], "reconnect", "D16 the metering point is closed down"),
        (POINTS[1], "disconnect", "D16 the metering point is already Disconnected"),
        (POINTS[0], "reconnect", "D16 the metering point is already Connected"),
        (POINTS[0], "switch-off", "unknown service 'switch-off'"),
    ],
)
def test_refused_up_front_in_one_line_and_nothing_written(
    cfg: Settings, db: str, gsrn: str, service: str, message: str
) -> None:
    with connect(db, autocommit=True) as conn:
        with pytest.raises(ProcessRefused) as refused:
            request(conn, ServiceRequest(gsrn, service, DAY), now=NOW)
        assert message in str(refused.value)
        assert "\n" not in str(refused.value)
        assert store.requests(conn) == []
        assert store.outbound_rows(conn) == []


@pytest.mark.parametrize(
    ("gsrn", "service"),
    [(POINTS[0], "disconnect"), (POINTS[1], "reconnect"), (POINTS[3], "flex")],
)
def test_allowed_requests_are_queued_with_their_event(
    cfg: Settings, db: str, gsrn: str, service: str
) -> None:
    with connect(db, autocommit=True) as conn:
        request_id = request(conn, ServiceRequest(gsrn, service, DAY), now=NOW)
        (row,) = store.requests(conn)
        assert (row.id, row.type, row.gsrn, row.status) == (
            request_id,
            "RequestService",
            gsrn,
            "Pending",
        )
        assert [(r[0], r[1]) for r in store.outbound_rows(conn)] == [(request_id, "Queued")]
        (event,) = store.events(conn, request_id)
        assert event.event_type == "Requested"
        assert event.payload["service"] == service


def test_request_relay_answers_and_timeout_through_the_broker_and_the_flow(
    cfg: Settings, db: str, tmp_path: Path
) -> None:
    with connect(db, autocommit=True) as conn:
        confirmed = request(conn, ServiceRequest(POINTS[0], "disconnect", DAY), now=NOW)
        rejected = request(conn, ServiceRequest(POINTS[1], "reconnect", DAY), now=NOW)
        unanswered = request(conn, ServiceRequest(POINTS[3], "non-profiled", DAY), now=NOW)
    assert relay(settings(), until_empty=True) == 3
    published = outbound_documents(cfg)
    assert sorted(r for r, _ in published) == sorted([confirmed, rejected, unanswered])
    documents = dict(published)
    body = documents[rejected]["RequestService_MarketDocument"]
    assert body["type"]["value"] == "D03"
    assert body["process.processType"]["value"] == "D22"
    (record,) = body["MktActivityRecord"]
    assert record["mRID"] == str(rejected)
    assert record["marketEvaluationPoint.mRID"]["value"] == POINTS[1]
    assert record["serviceRequest.type"]["value"] == "D03"
    assert record["start_DateAndOrTime.dateTime"] == "2026-10-04T22:00:00Z"
    codes = {
        r: d["RequestService_MarketDocument"]["MktActivityRecord"][0]["serviceRequest.type"]
        for r, d in documents.items()
    }
    assert codes == {confirmed: {"value": "D01"}, rejected: {"value": "D03"},
                     unanswered: {"value": "D07"}}  # fmt: skip
    feed = [
        (POINTS[0].encode(), answer(confirmed, accept=True, document="Service", mrid="s-ok")),
        (
            POINTS[1].encode(),
            answer(rejected, accept=False, reasons=(("D16", "not disconnected"),),
                   document="Service", mrid="s-no"),
        ),
    ]  # fmt: skip
    publish(settings(), settings().masterdata_topic, feed, partitions=2)
    _run_flow(tmp_path)
    later = NOW + timedelta(hours=cfg.process_answer_timeout_hours, minutes=1)
    with connect(db, autocommit=True) as conn:
        status = {r.id: r.status for r in store.requests(conn)}
        assert status == {confirmed: "Completed", rejected: "Rejected", unanswered: "SentToDataHub"}
        (reject_event,) = [e for e in store.events(conn, rejected) if e.event_type == "Rejected"]
        assert reject_event.payload["reasons"] == [{"code": "D16", "text": "not disconnected"}]
        report = run.advance(conn, now=datetime.now(UTC) + (later - NOW))
        assert report.timed_out == 1
        outbound = {r[0]: r[1] for r in store.outbound_rows(conn)}
        assert outbound == {confirmed: "AcknowledgedOk", rejected: "AcknowledgedError",
                            unanswered: "TimedOut"}  # fmt: skip
        overdue = [e.event_type for e in store.events(conn, unanswered)]
        assert overdue == ["Requested", "SentToDataHub", "AnswerOverdue"]
        assert run.advance(conn, now=datetime.now(UTC) + (later - NOW)).timed_out == 0


def test_the_cli_handler_queues_or_refuses_in_one_line(
    cfg: Settings, db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = argparse.Namespace(gsrn=POINTS[0], type="meter-check", effective="2026-12-01")
    assert service_request(args) == 0
    out = capsys.readouterr().out
    assert f"queued meter-check of {POINTS[0]} from 2026-12-01 (local)" in out
    with connect(db) as conn:
        (row,) = store.requests(conn)
        assert row.effective_date == datetime(2026, 11, 30, 23, tzinfo=UTC)  # local midnight
    with pytest.raises(ProcessRefused, match=r"^disconnect of .* refused: D16 .* Disconnected$"):
        service_request(
            argparse.Namespace(gsrn=POINTS[1], type="disconnect", effective="2026-12-01")
        )
    with pytest.raises(BadServiceArgument, match="not YYYY-MM-DD"):
        service_request(argparse.Namespace(gsrn=POINTS[0], type="flex", effective="1/12/2026"))
