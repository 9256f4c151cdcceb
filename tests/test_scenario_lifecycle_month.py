"""Golden scenario (i): a month of the customer lifecycle, settled and invoiced, then a reversal.

tests/scenarios/i_lifecycle_month (its README computes every figure by hand): the reference
data and readings are loaded; then when.json's "month" steps run in order, each at its local
time: processes start and are cancelled through `settlement.processes` with that `now`, the real
process relay publishes their documents on a fresh topic, DataHub's answers (built with
`schemas.process_documents`) go through `settlement.process_answers` as the inbound flow sends
them, DataHub's RSM-022 to the new supplier through `settlement.masterdata` (a switch or move-in
completes on its master data and first reading), and `advance` is the clock. Nobody writes a supply period by hand: B and C come from the
portfolio files, A's supply comes from its switch. October 2026 is settled and invoiced (and
issued). The second test goes on with the "reversal" steps: an IncorrectSwitch of A, a new
settlement run and a credit note.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest

from flows import process_relay
from schemas.calendar import BillingPeriod, local_midnight_utc, wall_time_to_utc
from schemas.process_codes import DATAHUB, ProcessType
from schemas.process_documents import Envelope, answer_document, notification_document
from schemas.settings import settings
from settlement import processes as run
from settlement.invoice_run import run_invoicing
from settlement.masterdata import apply_batch, message_items
from settlement.process_answers import AnswerItem, answer_items, apply_answers
from settlement.processes import StartRequest
from settlement.rules import vat_amount
from settlement.run import settle
from storage import processes as store
from storage.db import Conn, connect
from storage.importers import import_file
from tests.masterdata_docs import rsm022
from tests.process_docs import isolated_topics
from tests.settlement_support import SCENARIOS, load_given, read_rows

pytestmark = pytest.mark.services

FOLDER = SCENARIOS / "i_lifecycle_month"
WHEN = json.loads((FOLDER / "when.json").read_text())
PERIOD = BillingPeriod.parse(WHEN["period"])
LETTER = {gsrn: letter for letter, gsrn in WHEN["points"].items()}
CUSTOMER = {uuid.UUID(c): letter for letter, c in WHEN["customers"].items()}


def _at(step: dict[str, Any]) -> datetime:
    return wall_time_to_utc(datetime.fromisoformat(step["at"]))


class Timeline:
    """Runs when.json steps against one database; remembers requests by their names."""

    def __init__(self, conn: Conn, db: str) -> None:
        self.conn, self.db = conn, db
        self.requests: dict[str, uuid.UUID] = {}
        self.runs: list[uuid.UUID] = []
        self.sent = 0
        self.documents = 0

    def play(self, steps: list[dict[str, Any]]) -> None:
        for step in steps:
            getattr(self, f"_{step['do']}")(step)

    def _start(self, step: dict[str, Any]) -> None:
        effective = step.get("effective")
        req = StartRequest(
            ProcessType(step["type"]),
            WHEN["points"].get(step.get("point", ""), ""),
            local_midnight_utc(date.fromisoformat(effective)) if effective else None,
            uuid.UUID(WHEN["customers"][step["customer"]]) if "customer" in step else None,
            uuid.UUID(WHEN["products"][step["product"]]) if "product" in step else None,
            target=self.requests[step["target"]] if "target" in step else None,
        )
        self.requests[step["name"]] = run.start(self.conn, req, now=_at(step))

    def _cancel(self, step: dict[str, Any]) -> None:
        cancellation = run.cancel(self.conn, self.requests[step["request"]], now=_at(step))
        self.requests[step["name"]] = cancellation

    def _relay(self, _step: dict[str, Any]) -> None:
        self.sent += process_relay.relay(settings(), until_empty=True)

    def _envelope(self, step: dict[str, Any], process: str, request_id: str) -> Envelope:
        cfg = settings()
        self.documents += 1
        document_id = f"dh-i-{self.documents:03d}"
        return Envelope(
            document_id, request_id, process, _at(step), cfg.datahub_gln, cfg.supplier_gln
        )

    def _answer(self, step: dict[str, Any], accept: bool) -> None:
        request_id = self.requests[step["request"]]
        req = store.request(self.conn, request_id)
        assert req is not None
        envelope = self._envelope(
            step, DATAHUB[ProcessType(req.type)].process_code, str(request_id)
        )
        reasons = tuple((code, text) for code, text in step.get("reasons", []))
        document = answer_document(
            envelope,
            accept=accept,
            reasons=reasons,
            document=step.get("document", "ChangeOfSupplier"),
        )
        self._deliver(document)

    def _confirm(self, step: dict[str, Any]) -> None:
        self._answer(step, True)

    def _reject(self, step: dict[str, Any]) -> None:
        self._answer(step, False)

    def _notify(self, step: dict[str, Any]) -> None:
        new = settings().supplier_gln if step["new_supplier"] == "us" else WHEN["other_supplier"]
        document = notification_document(
            self._envelope(step, step["process"], ""),
            gsrn=WHEN["points"][step["point"]],
            effective=local_midnight_utc(date.fromisoformat(step["effective"])),
            new_supplier_gln=new,
        )
        self._deliver(document)

    def _master_data(self, step: dict[str, Any]) -> None:
        """DataHub's RSM-022 to us as new supplier from the effective date (with the notice's
        point data): half of the completion trigger, the first reading being the other."""
        start = local_midnight_utc(date.fromisoformat(step["effective"]))
        raw = rsm022(step["process"], WHEN["points"][step["point"]], start,
                     mrid=f"md-i-{step['point']}", grid_area=WHEN["grid_areas"][0],
                     settlement="D01", supply_start=start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     created=_at(step).strftime("%Y-%m-%dT%H:%M:%SZ"))  # fmt: skip
        items = [i for _k, i in message_items(raw, "datahub.masterdata", 0, 0)]
        assert apply_batch(self.conn, items, topic="datahub.masterdata").applied == 1

    def _deliver(self, document: dict[str, Any]) -> None:
        raw = json.dumps(document).encode()
        items = [i for _k, i in answer_items(raw, "datahub.masterdata", 0, self.documents)]
        assert all(isinstance(i, AnswerItem) for i in items)
        outcome = apply_answers(self.conn, [i for i in items if isinstance(i, AnswerItem)])
        assert (outcome.applied, dict(outcome.dead_letters)) == (1, {})

    def _advance(self, step: dict[str, Any]) -> None:
        run.advance(self.conn, now=_at(step))

    def _settle(self, step: dict[str, Any]) -> None:
        reports = settle(PERIOD, url=self.db, now=_at(step), progress=lambda _line: None)
        left_out = sorted(step.get("left_out", []))  # points with supplied days unread
        assert [
            (r.grid_area, r.status, sorted(LETTER[x.gsrn] for x in r.left_out)) for r in reports
        ] == [(area, "Completed", left_out) for area in WHEN["grid_areas"]]
        self.runs = [r.run_id for r in reports]

    def _invoice(self, step: dict[str, Any]) -> None:
        run_invoicing(self.conn, PERIOD, _at(step), issue=step.get("issue", False))


@pytest.fixture
def timeline(db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Timeline]:
    """A fresh database with the given files loaded, its own topics, and a clock to play."""
    isolated_topics(monkeypatch, tmp_path, db)
    with connect(db, autocommit=True) as conn:
        load_given(conn, FOLDER / "given")
        yield Timeline(conn, db)


def _lines(conn: Conn, runs: list[uuid.UUID]) -> list[tuple[str, str, Decimal, Decimal]]:
    rows = conn.execute(
        """SELECT metering_point_id, charge_type, total_kwh, total_amount, vat_amount
           FROM settlement_line WHERE settlement_run_id = ANY(%s)""",
        (runs,),
    ).fetchall()
    assert all(vat == vat_amount(amount) for *_, amount, vat in rows)
    return sorted((LETTER[g], c, k, a) for g, c, k, a, _ in rows)


def _expected_lines(name: str) -> list[tuple[str, str, Decimal, Decimal]]:
    return sorted(
        (r["point"], r["charge_type"], Decimal(r["total_kwh"]), Decimal(r["total_amount"]))
        for r in read_rows(FOLDER / "then" / name)
    )


def _invoices(conn: Conn) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]]]:
    """(customer letter, type, charge, amount) of every line; (letter, type, totals) per invoice."""
    lines = conn.execute(
        """SELECT i.customer_id, i.type, l.charge_type, l.amount
           FROM invoice i JOIN invoice_line l ON l.invoice_id = i.id"""
    ).fetchall()
    totals = conn.execute(
        "SELECT customer_id, type, total_ex_vat, vat_amount, total_incl_vat FROM invoice"
    ).fetchall()
    return (
        sorted((CUSTOMER[c], t, k, str(a)) for c, t, k, a in lines),
        sorted((CUSTOMER[c], t, *(str(x) for x in rest)) for c, t, *rest in totals),
    )


def _expected_invoices(lines: str, totals: str) -> tuple[list[tuple[str, ...]], ...]:
    then = FOLDER / "then"
    return (
        sorted(tuple(r.values()) for r in read_rows(then / lines)),
        sorted(tuple(r.values()) for r in read_rows(then / totals)),
    )


def _supply(conn: Conn) -> list[tuple[str, ...]]:
    rows = conn.execute("SELECT gsrn, start_date, end_date, end_reason FROM supply_period")
    return sorted((LETTER[g], str(s), str(e or ""), r or "") for g, s, e, r in rows.fetchall())


def _expected_supply() -> list[tuple[str, ...]]:
    return sorted(tuple(r.values()) for r in read_rows(FOLDER / "then" / "supply_periods.csv"))


def test_the_month_of_switches_a_move_out_a_loss_a_rejection_and_a_cancellation(
    timeline: Timeline,
) -> None:
    timeline.play(WHEN["month"])
    conn = timeline.conn
    assert timeline.sent == 5  # A, D, E switches, B move-out, E's cancellation
    processes = sorted(
        (LETTER[r.gsrn], r.type, r.status, r.initiator) for r in store.requests(conn)
    )
    assert processes == sorted(
        tuple(r.values()) for r in read_rows(FOLDER / "then" / "processes.csv")
    )
    rejected = store.events(conn, timeline.requests["D switch"])[-1]
    assert [r["code"] for r in rejected.payload["reasons"]] == ["E16"]
    assert _supply(conn) == _expected_supply()
    assert run.rebuild(conn) == 0

    assert _lines(conn, timeline.runs) == _expected_lines("settlement_lines.csv")
    assert _invoices(conn) == _expected_invoices("invoices.csv", "invoice_totals.csv")

    # The portfolio files loaded again (a re-run of a migration) keep what the processes did.
    for kind in ("supply_periods", "contracts"):
        import_file(conn, kind, FOLDER / "given" / f"{kind}.csv")
    assert _supply(conn) == _expected_supply()
    report = run_invoicing(conn, PERIOD, _at({"at": "2026-11-03 09:00"}))
    assert (report.created, report.replaced, report.unchanged) == ([], [], 3)


def test_an_incorrect_switch_after_the_close_is_resettled_and_credited(
    timeline: Timeline,
) -> None:
    timeline.play(WHEN["month"])
    conn = timeline.conn
    first_runs = timeline.runs
    timeline.play(WHEN["reversal"])
    assert timeline.sent == 6
    versions = conn.execute(
        "SELECT version FROM settlement_run WHERE id = ANY(%s)", (timeline.runs,)
    ).fetchall()
    assert versions == [(2,)]
    assert _lines(conn, first_runs) == _expected_lines("settlement_lines.csv")  # kept as they were
    assert _lines(conn, timeline.runs) == _expected_lines("settlement_lines_after_reversal.csv")
    assert _invoices(conn) == _expected_invoices(
        "invoices_after_reversal.csv", "invoice_totals_after_reversal.csv"
    )


Row = TypeVar("Row", bound=tuple[Any, ...])


def _only(rows: list[Row], letter: str) -> list[Row]:
    return [row for row in rows if row[0] == letter]


def test_an_incorrect_move_in_is_resettled_and_credited(timeline: Timeline) -> None:
    """BRS-011: D moves in on the 18th (MoveIn), is settled and invoiced, then the move-in is
    found incorrect: version 2 has no line of D and D gets a credit note (README, "And BRS-011")."""
    conn = timeline.conn
    timeline.play(WHEN["move_in"])
    first_runs = timeline.runs
    expected = _expected_lines("move_in_lines.csv")
    assert _only(_lines(conn, first_runs), "D") == expected
    lines, totals = _expected_invoices("move_in_invoices.csv", "move_in_invoice_totals.csv")
    invoiced = _invoices(conn)
    assert _only(invoiced[0], "D") == [r for r in lines if r[1] == "Standard"]
    assert _only(invoiced[1], "D") == [r for r in totals if r[1] == "Standard"]

    timeline.play(WHEN["incorrect_move"])
    assert _only(_lines(conn, timeline.runs), "D") == []
    others = [line for line in _lines(conn, timeline.runs) if line[0] != "D"]
    assert others == [line for line in _lines(conn, first_runs) if line[0] != "D"]
    invoiced = _invoices(conn)
    assert (_only(invoiced[0], "D"), _only(invoiced[1], "D")) == (lines, totals)
    assert [row for row in invoiced[1] if row[0] != "D" and row[1] == "CreditNote"] == []
