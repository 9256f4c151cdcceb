"""Every state of the BRS-001 diagram and each of the ten process types through the real path:
start (outbox) → process relay → outbound topic (the published document checked) → DataHub's
answer on the master-data topic → the real master-data Bytewax flow → the request's status, its
event history and the supply periods and contracts in the database.

A switch or move-in completes when DataHub's RSM-022 for its effective date (published on the
same topic, applied by the same flow) and its first reading have arrived. Table-driven: one row
per case; all cases share two flow runs (the requests DataHub answers
first, then the cancellations and corrections of phase 1's requests)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.process_relay import relay
from flows.publisher import publish
from schemas.calendar import local_midnight_utc
from schemas.process_codes import DATAHUB, ProcessType
from schemas.settings import Settings, settings
from settlement import processes as run
from settlement.processes import StartRequest
from storage import processes as store
from storage.db import Conn, connect
from tests.masterdata_docs import gsrn, rsm022
from tests.process_docs import (
    CUSTOMERS,
    OTHER_SUPPLIER,
    PRODUCT,
    answer,
    isolated_topics,
    notification,
    outbound_documents,
    portfolio,
    reading,
)
from tests.test_process_flow import _run_flow

pytestmark = pytest.mark.services

T = ProcessType
NOW = datetime(2026, 10, 1, 8, tzinfo=UTC)
DAY = date(2026, 10, 6)  # the effective date of the processes that complete
LATER = date(2026, 10, 25)  # of those cancelled before they take effect
JAN = date(2026, 1, 1)
OURS = "5799999933318"

REQUESTED = ["Requested", "SentToDataHub", "Confirmed"]
DONE = [*REQUESTED, "EffectuationScheduled", "Completed"]


@dataclass(frozen=True)
class Case:
    """One metering point, what happens to it, and what must be true at the end."""

    name: str
    kind: T | None  # what customer service starts in phase 1 (None: DataHub starts it)
    effective: date
    supplied: bool  # we supply the point from a portfolio file since JAN
    answer: str | None  # "confirm", "reject" or None (no answer)
    notify: str | None  # the RSM-004 GenericNotification's process code, if one comes
    arrives: bool  # RSM-022 naming us from the effective date, and a reading of that date
    final_type: T
    events: list[str]
    outbound: str | None
    supply: list[tuple[date, date | None, str | None]]
    contracts: list[tuple[date, date | None]]


CASES = [
    Case("switch, later found incorrect", T.SUPPLIER_SWITCH, DAY, False, "confirm", "E03", True,
         T.SUPPLIER_SWITCH, DONE, "AcknowledgedOk", [(DAY, DAY, None)], [(DAY, DAY)]),
    Case("short-notice switch", T.SHORT_NOTICE_SWITCH, DAY, False, "confirm", "D30", True,
         T.SHORT_NOTICE_SWITCH, DONE, "AcknowledgedOk", [(DAY, None, None)], [(DAY, None)]),
    Case("move-in, later found incorrect", T.MOVE_IN, DAY, False, "confirm", "E65", True,
         T.MOVE_IN, DONE, "AcknowledgedOk", [(DAY, DAY, None)], [(DAY, DAY)]),
    Case("switch rejected E16", T.SUPPLIER_SWITCH, DAY, False, "reject", None, False,
         T.SUPPLIER_SWITCH, ["Requested", "SentToDataHub", "Rejected"], "AcknowledgedError",
         [], []),
    Case("switch never answered", T.SUPPLIER_SWITCH, DAY, False, None, None, False,
         T.SUPPLIER_SWITCH, ["Requested", "SentToDataHub", "AnswerOverdue"], "TimedOut",
         [], []),
    Case("switch withdrawn while Pending", T.SUPPLIER_SWITCH, DAY, False, None, None, False,
         T.SUPPLIER_SWITCH, ["Requested", "Cancelled"], "Withdrawn", [], []),
    Case("end of supply", T.END_OF_SUPPLY, DAY, True, "confirm", None, False,
         T.END_OF_SUPPLY, DONE, "AcknowledgedOk", [(JAN, DAY, "NonPayment")], [(JAN, DAY)]),
    Case("move-out", T.MOVE_OUT, DAY, True, "confirm", None, False,
         T.MOVE_OUT, DONE, "AcknowledgedOk", [(JAN, DAY, "MoveOut")], [(JAN, DAY)]),
    Case("stop of supply E01 (lost to another supplier)", None, DAY, True, None, "E01", False,
         T.FORCED_END_OF_SUPPLY, ["Notified", "Completed"], None,
         [(JAN, DAY, "SupplierSwitch")], [(JAN, DAY)]),
    Case("BRS-044 D31 forced transfer to us", None, DAY, False, None, "D31", True,
         T.SUPPLIER_SWITCH, ["Notified", "Completed"], None, [(DAY, None, None)], []),
    Case("BRS-044 D31 forced transfer away from us", None, DAY, True, None, "D31", False,
         T.FORCED_END_OF_SUPPLY, ["Notified", "Completed"], None,
         [(JAN, DAY, "SupplierSwitch")], [(JAN, DAY)]),
    Case("switch cancelled while EffectuationPending", T.SUPPLIER_SWITCH, LATER, False,
         "confirm", "E03", False, T.SUPPLIER_SWITCH, [*REQUESTED, "EffectuationScheduled",
         "Cancelled"], "AcknowledgedOk", [], []),
    Case("end of supply cancelled while Acknowledged", T.END_OF_SUPPLY, LATER, True, "confirm",
         None, False, T.END_OF_SUPPLY, [*REQUESTED, "Cancelled"], "AcknowledgedOk",
         [(JAN, None, None)], [(JAN, None)]),
]  # fmt: skip
POINT = {case.name: gsrn(700 + n) for n, case in enumerate(CASES)}
CUSTOMER = {case.name: CUSTOMERS[n % len(CUSTOMERS)] for n, case in enumerate(CASES)}

# Phase 2: (process, the case whose request it acts on). Each completes on DataHub's confirmation.
PHASE_2 = [
    (T.INCORRECT_SWITCH, "switch, later found incorrect"),
    (T.INCORRECT_MOVE, "move-in, later found incorrect"),
    (T.CANCEL_SWITCH, "switch cancelled while EffectuationPending"),
    (T.CANCEL_END_OF_SUPPLY, "end of supply cancelled while Acknowledged"),
]


@pytest.fixture
def cfg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str) -> Iterator[Settings]:
    isolated_topics(monkeypatch, tmp_path, db)
    supplied = {POINT[c.name]: (CUSTOMER[c.name], JAN) for c in CASES if c.supplied}
    with connect(db, autocommit=True) as conn:
        portfolio(conn, supplied=supplied, points=list(POINT.values()))
    yield settings()


def _published(cfg: Settings) -> dict[uuid.UUID, dict[str, Any]]:
    """request id → the document on the outbound topic; fails on a document seen twice."""
    found = outbound_documents(cfg)
    assert len({request_id for request_id, _doc in found}) == len(found), "published twice"
    return dict(found)


def _check_document(
    document: dict[str, Any], kind: T, gsrn_: str, request_id: uuid.UUID, target: uuid.UUID | None
) -> None:
    body = document["RequestChangeOfSupplier_MarketDocument"]
    assert body["type"]["value"] == "392"
    assert body["process.processType"]["value"] == DATAHUB[kind].process_code
    assert body["sender_MarketParticipant.mRID"]["value"] == OURS
    assert body["sender_MarketParticipant.marketRole.type"]["value"] == "DDQ"
    assert body["receiver_MarketParticipant.marketRole.type"]["value"] == "DDZ"
    [record] = body["MktActivityRecord"]
    assert record["mRID"] == str(request_id)
    assert record["marketEvaluationPoint.mRID"]["value"] == gsrn_
    assert record.get("originalTransactionIDReference_MktActivityRecord.mRID") == (
        str(target) if target else None
    )


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _phase_1_feed(requests: dict[str, uuid.UUID]) -> list[tuple[bytes, bytes]]:
    feed = []
    for case in CASES:
        point, request_id = POINT[case.name], requests.get(case.name)
        if case.answer is not None:
            assert request_id is not None
            reasons = (("E16", "Ukendt leverandør"),) if case.answer == "reject" else ()
            feed.append(
                (point.encode(), answer(request_id, accept=case.answer == "confirm",
                                        reasons=reasons))
            )  # fmt: skip
        if case.arrives:  # DataHub's master data to the new supplier, through the same flow
            assert case.notify is not None
            start = local_midnight_utc(case.effective)
            feed.append(
                (point.encode(), rsm022(case.notify, point, start, mrid=f"md-{point}",
                                        grid_area="344", supply_start=_z(start)))
            )  # fmt: skip
        if case.notify is not None:
            supplier = OURS if case.kind is not None or not case.supplied else OTHER_SUPPLIER
            feed.append(
                (point.encode(), notification(point, case.effective, case.notify,
                                              new_supplier=supplier, request_id=request_id))
            )  # fmt: skip
    return feed


def _supply(conn: Conn, point: str) -> tuple[list[Any], list[Any]]:
    periods = conn.execute(
        "SELECT start_date, end_date, end_reason FROM supply_period WHERE gsrn = %s ORDER BY 1",
        (point,),
    ).fetchall()
    contracts = conn.execute(
        "SELECT start_date, end_date FROM contract WHERE gsrn = %s ORDER BY 1", (point,)
    ).fetchall()
    return periods, contracts


def test_every_state_and_process_type_through_the_relay_the_broker_and_the_flow(
    cfg: Settings, tmp_path: Path, db: str
) -> None:
    requests: dict[str, uuid.UUID] = {}
    with connect(db, autocommit=True) as conn:
        for case in CASES:
            if case.kind is None:
                continue
            gains = case.kind in (T.SUPPLIER_SWITCH, T.SHORT_NOTICE_SWITCH, T.MOVE_IN)
            start = StartRequest(
                case.kind,
                POINT[case.name],
                local_midnight_utc(case.effective),
                CUSTOMER[case.name] if gains else None,
                PRODUCT if gains else None,
            )
            requests[case.name] = run.start(conn, start, now=NOW)
        run.cancel(conn, requests["switch withdrawn while Pending"], now=NOW)
    assert relay(settings(), until_empty=True) == len(requests) - 1

    # Phase 1: DataHub answers and notifies; the flow applies it; the clock passes DAY.
    publish(settings(), settings().masterdata_topic, _phase_1_feed(requests), partitions=2)
    _run_flow(tmp_path)
    with connect(db, autocommit=True) as conn:
        for case in CASES:
            if case.arrives:
                reading(conn, POINT[case.name], case.effective)
        run.advance(conn, now=local_midnight_utc(DAY + timedelta(days=1)))

    # Phase 2: cancellations and corrections of phase 1's requests, confirmed through the flow.
    targets: dict[uuid.UUID, tuple[T, str, uuid.UUID]] = {}
    with connect(db, autocommit=True) as conn:
        later = local_midnight_utc(DAY + timedelta(days=2)) + timedelta(hours=9)
        for kind, name in PHASE_2:
            target = requests[name]
            if kind in (T.CANCEL_SWITCH, T.CANCEL_END_OF_SUPPLY):
                request_id = run.cancel(conn, target, now=later)
            else:
                request_id = run.start(conn, StartRequest(kind, POINT[name], target=target),
                                       now=later)  # fmt: skip
            targets[request_id] = (kind, name, target)
    assert relay(settings(), until_empty=True) == len(PHASE_2)
    feed = [(POINT[name].encode(), answer(rid, accept=True)) for rid, (_k, name, _t) in
            targets.items()]  # fmt: skip
    publish(settings(), settings().masterdata_topic, feed, partitions=2)
    _run_flow(tmp_path)
    with connect(db, autocommit=True) as conn:  # the unanswered switch times out
        run.advance(conn, now=datetime.now(UTC) + timedelta(hours=25))

    published = _published(cfg)
    sent = {n: r for n, r in requests.items() if n != "switch withdrawn while Pending"}
    assert set(published) == set(sent.values()) | set(targets)
    for name, request_id in sent.items():
        case = next(c for c in CASES if c.name == name)
        assert case.kind is not None
        _check_document(published[request_id], case.kind, POINT[name], request_id, None)
    for request_id, (kind, name, target) in targets.items():
        _check_document(published[request_id], kind, POINT[name], request_id, target)

    with connect(db) as conn:
        outbound = {r[0]: r[1] for r in store.outbound_rows(conn)}
        dead = conn.execute("SELECT reason_code, error_reason FROM dead_letter_message").fetchall()
        assert dead == []
        for case in CASES:
            [req] = [r for r in store.requests(conn, gsrn=POINT[case.name]) if r.id not in targets]
            got = (
                req.type,
                [e.event_type for e in store.events(conn, req.id)],
                outbound.get(req.id),
                *_supply(conn, POINT[case.name]),
            )
            want = (case.final_type, case.events, case.outbound, case.supply, case.contracts)
            assert got == want, case.name
            assert req.initiator == ("Elflow" if case.kind else "DataHub"), case.name
        for request_id in targets:
            assert [e.event_type for e in store.events(conn, request_id)] == DONE
            assert outbound[request_id] == "AcknowledgedOk"
        assert run.rebuild(conn) == 0
