"""`elflow process …` handlers as customer service uses them, each job as its own role."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from deploy.handlers_process import (
    BadProcessArgument,
    process_advance,
    process_cancel,
    process_list,
    process_show,
    process_start,
)
from schemas.calendar import local_date
from schemas.process_codes import ProcessEventType
from settlement import processes as run
from settlement.process_answers import AnswerItem, answer_items, apply_answers
from storage import processes as store
from storage.db import connect
from tests.process_docs import CUSTOMERS, POINTS, PRODUCT, answer, portfolio

pytestmark = pytest.mark.services


def _start(**kw: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "type": "switch",
        "gsrn": POINTS[0],
        "customer": str(CUSTOMERS[0]),
        "product": str(PRODUCT),
        "effective": None,
        "billing_frequency": None,
        "payment_model": None,
        "payment_term_days": None,
        "target": None,
    }
    return argparse.Namespace(**{**base, **kw})


def test_start_show_list_and_cancel(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    with connect(db, autocommit=True) as conn:
        portfolio(conn, supplied={})
    in_ten_days = local_date(datetime.now(UTC)) + timedelta(days=10)
    assert process_start(_start(effective=str(in_ten_days))) == 0
    assert process_start(_start(gsrn=POINTS[1], effective=str(in_ten_days))) == 0
    with connect(db, autocommit=True) as conn:
        first, second = [r.id for r in store.requests(conn)]
        store.mark_sent(conn, second, store.requests(conn)[1].requested_at)
        req = store.request(conn, second)
        assert req is not None
        run.record(conn, req, ProcessEventType.SENT_TO_DATAHUB, req.requested_at, {})
        rejected = answer(second, accept=False, reasons=(("E16", "Leverandør ukendt"),))
        items = [i for _k, i in answer_items(rejected, "t", 0, 0) if isinstance(i, AnswerItem)]
        apply_answers(conn, items)
    capsys.readouterr()
    assert process_show(argparse.Namespace(request=str(second))) == 0
    shown = capsys.readouterr().out
    assert (
        "Rejected" in shown and "E16: unauthorised supplier (DataHub: Leverandør ukendt)" in shown
    )
    assert f"effective {in_ten_days}" in shown
    assert process_cancel(argparse.Namespace(request=str(first))) == 0
    assert "cancelled before it was sent" in capsys.readouterr().out
    assert process_list(argparse.Namespace(gsrn=None, open=False, stuck=False)) == 0
    assert "2 process requests" in capsys.readouterr().out
    assert process_list(argparse.Namespace(gsrn=None, open=False, stuck=True)) == 0
    assert "0 process requests stuck" in capsys.readouterr().out
    assert process_advance(argparse.Namespace()) == 0


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"type": "teleport"}, "process type 'teleport' is not one of switch"),
        ({"effective": "15-10-2026"}, "effective date '15-10-2026' is not YYYY-MM-DD"),
        ({"customer": "nobody", "effective": "2026-10-15"}, "customer 'nobody' is not a UUID"),
    ],
)
def test_bad_arguments_are_one_line(kw: dict[str, object], message: str) -> None:
    with pytest.raises(BadProcessArgument, match=message):
        process_start(_start(**kw))


def test_unknown_request_is_one_line(db: str) -> None:
    missing = uuid.uuid4()
    with pytest.raises(BadProcessArgument, match=f"no process request {missing}"):
        process_show(argparse.Namespace(request=str(missing)))


def test_back_dated_move_in_from_the_command_line(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Customer service registers a move-in that happened last week (BRS-009 allows 16 days
    back); 17 days back is refused in one line naming the local date."""
    with connect(db, autocommit=True) as conn:
        portfolio(conn, supplied={})
    today = local_date(datetime.now(UTC))
    ten_days_ago, too_early = today - timedelta(days=10), today - timedelta(days=17)
    assert process_start(_start(type="move-in", effective=str(ten_days_ago))) == 0
    assert "MoveIn" in capsys.readouterr().out
    with pytest.raises(run.ProcessRefused, match=f"move-in date {too_early} is not within 16"):
        process_start(_start(type="move-in", gsrn=POINTS[1], effective=str(too_early)))
    with connect(db, autocommit=True) as conn:
        (only,) = store.requests(conn)
    assert only.type == "MoveIn" and only.effective_date is not None
    assert local_date(only.effective_date) == ten_days_ago
