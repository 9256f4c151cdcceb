"""RSM-028 customer characteristics applied: against the real database (whose customer, CPR/CVR
conflicts, older documents, a BRS-044 transfer without CPR, unknown points) and through the real
broker and master-data flow, which runs as elflow_ingest (no read access to customers)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from flows.publisher import publish
from schemas.calendar import local_midnight_utc
from schemas.process_codes import ProcessType
from schemas.settings import settings
from settlement import processes as run
from settlement.customer_data import CustomerItem, customer_items
from settlement.process_answers import AnswerItem, answer_items, apply_answers
from settlement.processes import StartRequest
from storage import processes as store
from storage.db import Conn, connect
from tests.process_docs import (
    CUSTOMERS,
    POINTS,
    PRODUCT,
    customer_data,
    isolated_topics,
    notification,
    portfolio,
)
from tests.test_process_flow import _run_flow

pytestmark = pytest.mark.services

NOW = datetime(2026, 10, 1, 8, tzinfo=UTC)
DAY = date(2026, 10, 15)
OUR_CPR = "0101901231"  # CUSTOMERS[0] in the portfolio
SUPPLIED = {POINTS[1]: (CUSTOMERS[1], date(2026, 1, 1))}


@pytest.fixture
def conn(db: str) -> Iterator[Conn]:
    with connect(db, autocommit=True) as c:
        portfolio(c, supplied=SUPPLIED)
        yield c


def _apply(conn: Conn, *documents: bytes) -> tuple[int, list[str], list[str]]:
    """(applied, dead-letter reasons, dead-letter texts) of applying the documents."""
    items = [
        i
        for n, raw in enumerate(documents)
        for _k, i in customer_items(raw, "datahub.masterdata", 0, n)
        if isinstance(i, CustomerItem)
    ]
    outcome = apply_answers(conn, items)
    texts = [detail for _r, detail, _p, _m in outcome.new_dead_letters]
    return outcome.applied, sorted(outcome.dead_letters.elements()), texts


def _customer(conn: Conn, customer_id: uuid.UUID) -> tuple[object, ...] | None:
    return conn.execute(
        """SELECT name, cpr_cvr, contact_type, email, phone, address FROM customer
           WHERE id = %s""",
        (customer_id,),
    ).fetchone()


def _switch(conn: Conn) -> uuid.UUID:
    req = StartRequest(
        ProcessType.SUPPLIER_SWITCH, POINTS[0], local_midnight_utc(DAY), CUSTOMERS[0], PRODUCT
    )
    return run.start(conn, req, now=NOW)


JAN = ("Jan Hansen", OUR_CPR, "Private", "jan@example.dk", "25361498",
       "Vestergade 16, 2 10, 5500 Middelfart, DK")  # fmt: skip


def test_customer_data_of_our_switch_updates_our_customer(conn: Conn) -> None:
    request_id = _switch(conn)
    named = customer_data(POINTS[0], DAY, request_id=request_id, number=OUR_CPR, mrid="c-1")
    assert _apply(conn, named) == (1, [], [])
    assert _customer(conn, CUSTOMERS[0]) == JAN
    assert _apply(conn, named) == (0, [], [])  # redelivered: claimed once
    # Matched by point and date when it names no request; an older document changes nothing.
    older = customer_data(POINTS[0], DAY, number=OUR_CPR, name="Old Name", mrid="c-2",
                          created=NOW - timedelta(days=1))  # fmt: skip
    assert _apply(conn, older) == (1, [], [])
    assert _customer(conn, CUSTOMERS[0]) == JAN
    newer = customer_data(POINTS[0], DAY, number=OUR_CPR, name="Jan Holm", mrid="c-3",
                          created=NOW + timedelta(days=1))  # fmt: skip
    assert _apply(conn, newer) == (1, [], [])
    assert _customer(conn, CUSTOMERS[0]) == ("Jan Holm", *JAN[1:])


def test_another_cpr_changes_nothing_and_is_a_dead_letter_without_the_number(conn: Conn) -> None:
    request_id = _switch(conn)
    before = _customer(conn, CUSTOMERS[0])
    other = customer_data(POINTS[0], DAY, request_id=request_id, number="0303030303")
    applied, reasons, texts = _apply(conn, other)
    assert (applied, reasons) == (0, ["customer_mismatch"])
    assert "another CPR/CVR" in texts[0]
    assert "0303030303" not in texts[0] and OUR_CPR not in texts[0]
    assert _customer(conn, CUSTOMERS[0]) == before


def test_the_customer_of_our_supply_is_updated_without_a_request(conn: Conn) -> None:
    later = customer_data(POINTS[1], DAY, number="0101901232", email="ny@example.dk")
    assert _apply(conn, later) == (1, [], [])
    row = _customer(conn, CUSTOMERS[1])
    assert row is not None and row[3] == "ny@example.dk"


def test_a_forced_transfer_to_us_gets_its_customer_from_the_customer_data(conn: Conn) -> None:
    transfer = notification(POINTS[2], DAY, "D31", new_supplier="5799999933318")
    apply_answers(conn, [i for _k, i in answer_items(transfer, "t", 0, 0)
                         if isinstance(i, AnswerItem)])  # fmt: skip
    [forced] = store.requests(conn, gsrn=POINTS[2])
    assert forced.customer_id is None
    no_cpr = customer_data(POINTS[2], DAY, number=None, process="D31", name="Ny Kunde")
    assert _apply(conn, no_cpr) == (1, [], [])
    [forced] = store.requests(conn, gsrn=POINTS[2])
    assert forced.customer_id == store.row_id(forced.id, "customer")
    assert _customer(conn, forced.customer_id) == (
        "Ny Kunde",
        "",
        "Private",
        "jan@example.dk",
        "25361498",
        JAN[5],
    )


@pytest.mark.parametrize(
    ("document", "text"),
    [
        (customer_data(POINTS[3], DAY), "matches no request or supply of ours"),
        (customer_data(POINTS[3], DAY, request_id=uuid.uuid4()), "names no request of ours"),
        (customer_data(POINTS[1], DAY, process="E03", created=NOW,
                       request_id=uuid.UUID(int=7)), "names no request of ours"),
    ],
)  # fmt: skip
def test_customer_data_matching_nothing_of_ours_is_a_dead_letter(
    conn: Conn, document: bytes, text: str
) -> None:
    applied, reasons, texts = _apply(conn, document)
    assert (applied, reasons) == (0, ["unknown_request"]) and text in texts[0]
    assert conn.execute("SELECT count(*) FROM customer").fetchone() == (len(CUSTOMERS),)


def test_customer_data_through_the_broker_and_the_flow(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    isolated_topics(monkeypatch, tmp_path, db)
    with connect(db, autocommit=True) as c:
        portfolio(c, supplied=SUPPLIED)
        request_id = _switch(c)
    feed = [
        (POINTS[0].encode(), customer_data(POINTS[0], DAY, request_id=request_id,
                                           number=OUR_CPR, mrid="ok-1")),
        (POINTS[0].encode(), customer_data(POINTS[0], DAY, request_id=request_id,
                                           number="0303030303", mrid="other-1")),
        (POINTS[3].encode(), customer_data(POINTS[3], DAY, mrid="unknown-1")),
        (POINTS[0].encode(), customer_data(POINTS[0], DAY, number="030303030", mrid="bad-1")),
    ]  # fmt: skip
    publish(settings(), settings().masterdata_topic, feed, partitions=2)
    _run_flow(tmp_path)
    with connect(db) as c:
        assert _customer(c, CUSTOMERS[0]) == JAN
        dead = sorted(
            c.execute(
                "SELECT original_message_id, reason_code, error_reason FROM dead_letter_message"
            )
        )
        inbound = sorted(c.execute("SELECT data_hub_message_id, status FROM inbound_message"))
    assert [(m, r) for m, r, _t in dead] == [
        ("bad-1", "schema_violation"),
        ("other-1", "customer_mismatch"),
        ("unknown-1", "unknown_request"),
    ]
    assert ("ok-1", "Processed") in inbound and ("other-1", "DeadLettered") in inbound
    log = (tmp_path / "masterdata-0.log").read_text()
    for secret in ("0303030303", "030303030", OUR_CPR):
        assert all(secret not in text for _m, _r, text in dead)
        assert secret not in log
