"""The lifecycle against the real TimescaleDB: start (one transaction), answers, the clock, supply
following the processes, and statuses that are the fold of the events."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import psycopg
import pytest

from schemas.calendar import BillingPeriod, local_midnight_utc, zone_name
from schemas.codelists import InvoiceType
from schemas.process_codes import ProcessEventType, ProcessStatus, ProcessType
from settlement import processes as run
from settlement.invoicing import invoice_type
from settlement.lifecycle import IllegalTransition
from settlement.process_answers import AnswerItem, answer_items, apply_answers
from settlement.processes import ProcessRefused, StartRequest
from storage import invoices
from storage import processes as store
from storage.db import Conn, connect
from tests.process_docs import (
    CUSTOMERS,
    OTHER_SUPPLIER,
    POINTS,
    PRODUCT,
    answer,
    notification,
    portfolio,
    reading,
    supply_master_data,
)

pytestmark = pytest.mark.services

T = ProcessType
NOW = datetime(2026, 10, 1, 8, tzinfo=UTC)
SUPPLIED = {
    POINTS[1]: (CUSTOMERS[1], date(2026, 1, 1)),
    POINTS[2]: (CUSTOMERS[2], date(2026, 1, 1)),
}


@pytest.fixture
def conn(db: str) -> Iterator[Conn]:
    with connect(db, autocommit=True) as c:
        portfolio(c, supplied=SUPPLIED)
        yield c


def _switch(conn: Conn, gsrn: str = POINTS[0], day: date = date(2026, 10, 15)) -> uuid.UUID:
    req = StartRequest(T.SUPPLIER_SWITCH, gsrn, local_midnight_utc(day), CUSTOMERS[0], PRODUCT)
    return run.start(conn, req, now=NOW)


def _sent(conn: Conn, request_id: uuid.UUID) -> None:
    with conn.transaction():
        store.mark_sent(conn, request_id, NOW)
        req = store.request(conn, request_id, lock=True)
        assert req is not None
        run.record(conn, req, ProcessEventType.SENT_TO_DATAHUB, NOW, {})


def _apply(conn: Conn, *documents: bytes) -> tuple[int, list[str]]:
    items = [
        i
        for n, raw in enumerate(documents)
        for _k, i in answer_items(raw, "datahub.masterdata", 0, n)
        if isinstance(i, AnswerItem)
    ]
    outcome = apply_answers(conn, items)
    return outcome.applied, sorted(outcome.dead_letters.elements())


def _status(conn: Conn, request_id: uuid.UUID) -> str:
    req = store.request(conn, request_id)
    assert req is not None
    return req.status


def test_start_writes_request_event_and_document_in_one_transaction(conn: Conn) -> None:
    request_id = _switch(conn)
    assert _status(conn, request_id) == ProcessStatus.PENDING
    assert [e.event_type for e in store.events(conn, request_id)] == ["Requested"]
    [(queued_id, gsrn, _mrid, document)] = store.queued(conn, 10)
    body = document["RequestChangeOfSupplier_MarketDocument"]
    assert (queued_id, gsrn) == (request_id, POINTS[0])
    assert body["type"]["value"] == "392" and body["process.processType"]["value"] == "E03"
    assert body["sender_MarketParticipant.mRID"]["value"] == "5799999933318"
    [record] = body["MktActivityRecord"]
    assert record["mRID"] == str(request_id)
    assert record["start_DateAndOrTime.dateTime"] == "2026-10-14T22:00:00Z"
    assert record["marketEvaluationPoint.customer_MarketParticipant.mRID"]["value"] == "0101901231"


@pytest.mark.parametrize(
    ("req", "message"),
    [
        (StartRequest(T.SUPPLIER_SWITCH, "571313180400000070", local_midnight_utc(date(2026, 10, 15)),
                      CUSTOMERS[0], PRODUCT), "E10"),
        (StartRequest(T.SUPPLIER_SWITCH, POINTS[1], local_midnight_utc(date(2026, 10, 15)),
                      CUSTOMERS[0], PRODUCT), "E16 we already supply"),
        (StartRequest(T.SUPPLIER_SWITCH, POINTS[0], local_midnight_utc(date(2026, 9, 30)),
                      CUSTOMERS[0], PRODUCT), "E17 effective date 2026-09-30 is in the past"),
        (StartRequest(T.END_OF_SUPPLY, POINTS[1], local_midnight_utc(date(2026, 10, 5))),
         "E17 end of supply on 2026-10-05 must be asked between"),
        (StartRequest(T.MOVE_IN, POINTS[0], local_midnight_utc(date(2026, 10, 15)),
                      uuid.uuid4(), PRODUCT), "D64 customer"),
    ],
)  # fmt: skip
def test_a_refused_start_writes_nothing_and_says_why_in_one_line(
    conn: Conn, req: StartRequest, message: str
) -> None:
    with pytest.raises(ProcessRefused) as caught:
        run.start(conn, req, now=NOW)
    assert message in str(caught.value) and "\n" not in str(caught.value)
    assert store.requests(conn) == [] and store.outbound_rows(conn) == []


def test_an_illegal_transition_is_refused_and_appends_nothing(conn: Conn) -> None:
    request_id = _switch(conn)
    req = store.request(conn, request_id)
    assert req is not None
    with pytest.raises(IllegalTransition, match=f"{request_id} is Pending: Confirmed"):
        run.record(conn, req, ProcessEventType.CONFIRMED, NOW, {})
    assert [e.event_type for e in store.events(conn, request_id)] == ["Requested"]
    with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
        conn.execute("DELETE FROM process_event")


def test_switch_confirmed_then_completed_by_master_data_and_first_reading_creates_supply(
    conn: Conn,
) -> None:
    request_id = _switch(conn)
    _sent(conn, request_id)
    assert _apply(conn, answer(request_id, accept=True)) == (1, [])
    assert _status(conn, request_id) == ProcessStatus.ACKNOWLEDGED
    assert _apply(
        conn, notification(POINTS[0], date(2026, 10, 15), "E03", new_supplier="5799999933318")
    ) == (1, [])
    assert _status(conn, request_id) == ProcessStatus.EFFECTUATION_PENDING
    later = local_midnight_utc(date(2026, 10, 16))
    assert run.advance(conn, now=later) == run.AdvanceReport(0, 0)  # no reading yet
    reading(conn, POINTS[0], date(2026, 10, 15))
    supply_master_data(conn, POINTS[0], date(2026, 10, 15))
    assert run.advance(conn, now=later) == run.AdvanceReport(0, 1)
    assert _status(conn, request_id) == ProcessStatus.COMPLETED
    rows = conn.execute(
        "SELECT customer_id, start_date, end_date, process_request_id FROM contract WHERE gsrn = %s",
        (POINTS[0],),
    ).fetchall()
    assert rows == [(CUSTOMERS[0], date(2026, 10, 15), None, request_id)]
    outbound = {r[0]: r[1] for r in store.outbound_rows(conn)}
    assert outbound[request_id] == "AcknowledgedOk"


def test_a_rejection_keeps_datahubs_reasons_and_creates_nothing(conn: Conn) -> None:
    request_id = _switch(conn)
    _sent(conn, request_id)
    rejected = answer(request_id, accept=False, reasons=(("E16", "Ukendt leverandør"),))
    assert _apply(conn, rejected) == (1, [])
    assert _status(conn, request_id) == ProcessStatus.REJECTED
    last = store.events(conn, request_id)[-1]
    assert last.payload["reasons"] == [{"code": "E16", "text": "Ukendt leverandør"}]
    assert conn.execute(
        "SELECT count(*) FROM contract WHERE gsrn = %s", (POINTS[0],)
    ).fetchone() == (0,)


def test_an_answer_for_an_unknown_request_or_out_of_order_is_a_dead_letter(conn: Conn) -> None:
    request_id = _switch(conn)
    stranger = answer(uuid.uuid4(), accept=True, mrid="stranger-1")
    too_early = answer(request_id, accept=True, mrid="too-early-1")  # still Pending
    assert _apply(conn, stranger, too_early) == (0, ["illegal_transition", "unknown_request"])
    assert _apply(conn, stranger) == (0, [])  # redelivered: claimed once, nothing new
    rows = conn.execute(
        "SELECT data_hub_message_id, status FROM inbound_message ORDER BY 1"
    ).fetchall()
    assert rows == [("stranger-1", "DeadLettered"), ("too-early-1", "DeadLettered")]
    assert _status(conn, request_id) == ProcessStatus.PENDING


def test_end_of_supply_ends_supply_and_contract_and_the_invoice_is_final(conn: Conn) -> None:
    gsrn = POINTS[1]
    req = StartRequest(T.END_OF_SUPPLY, gsrn, local_midnight_utc(date(2026, 10, 20)))
    request_id = run.start(conn, req, now=NOW)
    _sent(conn, request_id)
    _apply(conn, answer(request_id, accept=True))
    assert run.advance(conn, now=local_midnight_utc(date(2026, 10, 19))).completed == 0
    assert run.advance(conn, now=local_midnight_utc(date(2026, 10, 20))).completed == 1
    row = conn.execute(
        "SELECT end_date, end_reason FROM supply_period WHERE gsrn = %s", (gsrn,)
    ).fetchone()
    assert row == (date(2026, 10, 20), "NonPayment")
    terms = [
        c
        for c in invoices.contracts_for_period(conn, BillingPeriod.parse("2026-10"), zone_name())
        if c.gsrn == gsrn
    ]
    assert invoice_type(terms, BillingPeriod.parse("2026-10")) is InvoiceType.FINAL_SETTLEMENT


def test_a_stop_of_supply_notification_loses_the_customer_on_its_date(conn: Conn) -> None:
    gsrn = POINTS[2]
    stop = notification(gsrn, date(2026, 10, 25), "E01", new_supplier=OTHER_SUPPLIER)
    assert _apply(conn, stop) == (1, [])
    [forced] = store.requests(conn, gsrn=gsrn)
    assert (forced.type, forced.status, forced.initiator) == (
        "ForcedEndOfSupply",
        "EffectuationPending",
        "DataHub",
    )
    run.advance(conn, now=local_midnight_utc(date(2026, 10, 25)))
    row = conn.execute(
        "SELECT end_date, end_reason FROM supply_period WHERE gsrn = %s", (gsrn,)
    ).fetchone()
    assert row == (date(2026, 10, 25), "SupplierSwitch")
    not_ours = notification(POINTS[3], date(2026, 10, 25), "E01", new_supplier=OTHER_SUPPLIER)
    assert _apply(conn, not_ours) == (0, ["not_our_customer"])


def test_cancel_withdraws_a_pending_request_and_asks_datahub_for_a_sent_one(conn: Conn) -> None:
    first = _switch(conn)
    assert run.cancel(conn, first, now=NOW) == first
    assert _status(conn, first) == ProcessStatus.CANCELLED
    assert store.queued(conn, 10) == []
    second = _switch(conn)
    _sent(conn, second)
    _apply(conn, answer(second, accept=True))
    cancellation = run.cancel(conn, second, now=NOW + timedelta(days=1))
    _sent(conn, cancellation)
    assert _apply(conn, answer(cancellation, accept=True)) == (1, [])
    assert _status(conn, cancellation) == ProcessStatus.COMPLETED
    assert _status(conn, second) == ProcessStatus.CANCELLED


def test_an_incorrect_switch_reverses_the_supply_it_created(conn: Conn) -> None:
    switch = _switch(conn)
    _sent(conn, switch)
    _apply(conn, answer(switch, accept=True))
    reading(conn, POINTS[0], date(2026, 10, 15))
    supply_master_data(conn, POINTS[0], date(2026, 10, 15))
    run.advance(conn, now=local_midnight_utc(date(2026, 10, 16)))
    fix = run.start(conn, StartRequest(T.INCORRECT_SWITCH, POINTS[0], target=switch),
                    now=NOW + timedelta(days=20))  # fmt: skip
    _sent(conn, fix)
    _apply(conn, answer(fix, accept=True))
    assert _status(conn, fix) == ProcessStatus.COMPLETED
    rows = conn.execute(
        "SELECT start_date, end_date FROM contract WHERE process_request_id = %s", (switch,)
    ).fetchall()
    assert rows == [(date(2026, 10, 15), date(2026, 10, 15))]  # empty: supplies no day


def test_no_answer_in_time_is_timed_out_and_a_late_answer_still_counts(conn: Conn) -> None:
    request_id = _switch(conn)
    _sent(conn, request_id)
    assert run.advance(conn, now=NOW + timedelta(hours=23)).timed_out == 0
    assert run.advance(conn, now=NOW + timedelta(hours=24)).timed_out == 1
    assert {r[0]: r[1] for r in store.outbound_rows(conn)}[request_id] == "TimedOut"
    assert _status(conn, request_id) == ProcessStatus.SENT_TO_DATAHUB
    _apply(conn, answer(request_id, accept=True))
    assert _status(conn, request_id) == ProcessStatus.ACKNOWLEDGED


def test_every_status_is_rebuilt_from_the_events_alone(conn: Conn) -> None:
    test_cancel_withdraws_a_pending_request_and_asks_datahub_for_a_sent_one(conn)
    test_a_stop_of_supply_notification_loses_the_customer_on_its_date(conn)
    assert run.rebuild(conn) == 0
    conn.execute("UPDATE process_request SET status = 'Pending'")
    assert run.rebuild(conn) == len(store.requests(conn)) == 4
    statuses = {r.id: r.status for r in store.requests(conn)}
    assert sorted(statuses.values()) == ["Cancelled", "Cancelled", "Completed", "Completed"]


def test_a_confirmation_overtaken_by_the_start_of_supply_changes_nothing(conn: Conn) -> None:
    """Answers of one request arrive in either order: the notification implies the
    confirmation, which then only marks the outbound request answered."""
    request_id = _switch(conn)
    _sent(conn, request_id)
    start = notification(POINTS[0], date(2026, 10, 15), "E03", request_id=request_id)
    assert _apply(conn, start) == (1, [])
    assert _apply(conn, answer(request_id, accept=True)) == (1, [])
    kinds = [e.event_type for e in store.events(conn, request_id)]
    assert kinds == ["Requested", "SentToDataHub", "Confirmed", "EffectuationScheduled"]
    assert {r[0]: r[1] for r in store.outbound_rows(conn)}[request_id] == "AcknowledgedOk"
    late_reject = answer(request_id, accept=False, reasons=(("E16", "x"),))
    assert _apply(conn, late_reject) == (0, ["illegal_transition"])


@pytest.mark.parametrize("master_data_first", [True, False])
def test_a_gain_completes_only_when_master_data_and_first_reading_have_both_arrived(
    conn: Conn, master_data_first: bool
) -> None:
    """The diagram's trigger, in both orders of arrival; the date alone is not enough."""
    day = date(2026, 10, 15)
    move_in = StartRequest(T.MOVE_IN, POINTS[0], local_midnight_utc(day), CUSTOMERS[0], PRODUCT)
    request_id = run.start(conn, move_in, now=NOW)
    _sent(conn, request_id)
    _apply(conn, answer(request_id, accept=True))
    later = local_midnight_utc(day + timedelta(days=1))
    arrivals = [
        lambda: supply_master_data(conn, POINTS[0], day, process="E65"),
        lambda: reading(conn, POINTS[0], day),
    ]
    if not master_data_first:
        arrivals.reverse()
    assert run.advance(conn, now=later).completed == 0  # the date alone
    arrivals[0]()
    assert run.advance(conn, now=later).completed == 0  # one of the two
    assert _status(conn, request_id) == ProcessStatus.ACKNOWLEDGED
    arrivals[1]()
    assert run.advance(conn, now=local_midnight_utc(day) - timedelta(hours=1)).completed == 0
    assert run.advance(conn, now=later).completed == 1
    assert _status(conn, request_id) == ProcessStatus.COMPLETED
    assert conn.execute(
        "SELECT start_date FROM supply_period WHERE process_request_id = %s", (request_id,)
    ).fetchall() == [(day,)]


def test_master_data_naming_another_supplier_or_another_date_does_not_complete(
    conn: Conn,
) -> None:
    from settlement.masterdata import apply_batch, message_items
    from tests.masterdata_docs import rsm022

    request_id = _switch(conn)
    _sent(conn, request_id)
    _apply(conn, answer(request_id, accept=True))
    reading(conn, POINTS[0], date(2026, 10, 15))
    day_before = local_midnight_utc(date(2026, 10, 14))
    early = rsm022("E03", POINTS[0], day_before, mrid="md-early", grid_area="344")
    on_day = rsm022(
        "E32", POINTS[0], local_midnight_utc(date(2026, 10, 15)), mrid="md-other", grid_area="344"
    ).replace(
        b">5799999933318</cim:energySupplier", f">{OTHER_SUPPLIER}</cim:energySupplier".encode()
    )
    for raw in (early, on_day):
        outcome = apply_batch(conn, [i for _k, i in message_items(raw, "t", 0, 0)], topic="t")
        assert outcome.applied == 1
    assert run.advance(conn, now=local_midnight_utc(date(2026, 10, 16))).completed == 0
    assert _status(conn, request_id) == ProcessStatus.ACKNOWLEDGED
