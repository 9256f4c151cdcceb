"""The demo's customer lifecycle: real process requests for four of the demo's customers, sent
by the process relay, answered by DataHub on the master-data topic, applied by the master-data
flow, and completed by `advance`, before the period close, so the close shows their effect.

The demo's clock for these steps is a local time inside the demo month (processes are started
and cancelled with that `now`; DataHub's documents carry it as createdDateTime):
- switch in: a customer who left us on the 16th (every 40th point of the portfolio) is won back
  from the 26th; confirmed, start of supply notified, DataHub's RSM-022 names us from the 26th,
  completed by that master data and its first reading;
- move-out: a monthly customer moves out on the 20th; their October invoice is a FinalSettlement;
- rejected: a switch on the 22nd that DataHub rejects with E16;
- cancelled: a switch on the 28th, confirmed and then cancelled on the 15th (a CancelSwitch to
  DataHub, confirmed).
Re-running the demo starts nothing new: the requests are there already.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from time import perf_counter

from deploy.demo_data import PRODUCTS
from deploy.demo_data import _id as demo_id
from deploy.demo_masterdata import run_masterdata_flow, supply_documents
from flows import process_relay
from flows.feed import gsrn_for
from flows.publisher import publish
from schemas.calendar import (
    BillingPeriod,
    add_months,
    local_date,
    local_midnight_utc,
    wall_time_to_utc,
)
from schemas.process_codes import DATAHUB, ProcessType, reason_in_words
from schemas.process_documents import Envelope, answer_document, notification_document
from schemas.settings import Settings
from settlement import processes as run
from settlement.processes import StartRequest
from storage import invoices
from storage import processes as store
from storage.db import Conn, connect

Say = Callable[[str], None]
REJECTION = ("E16", "Leverandøren kan ikke overtage målepunktet")


@dataclass(frozen=True)
class DemoCustomer:
    role: str  # "switch in", "move-out", "rejected", "cancelled"
    index: int  # the demo portfolio's metering point / customer index
    day: int  # effective day of the month

    @property
    def gsrn(self) -> str:
        return gsrn_for(self.index)

    @property
    def customer(self) -> uuid.UUID:
        return uuid.UUID(demo_id("customer", self.index))


def demo_customers(metering_points: int) -> list[DemoCustomer]:
    """Three customers who leave us on the 16th (index % 40 == 39) and the last monthly,
    post-paid customer of the portfolio (the demo's master-data processes take the first)."""
    leavers = [i for i in range(39, metering_points, 40)][:3]
    usual = [i for i in range(metering_points) if i % 40 != 39 and i % 5 != 4 and i % 7 != 6]
    if len(leavers) < 3 or not usual:
        return []
    won, rejected, cancelled = leavers
    return [
        DemoCustomer("switch in", won, 26),
        DemoCustomer("move-out", usual[-1], 20),
        DemoCustomer("rejected", rejected, 22),
        DemoCustomer("cancelled", cancelled, 28),
    ]


class _Lifecycle:
    """One run of the demo's processes (the state between its steps)."""

    def __init__(
        self, cfg: Settings, conn: Conn, month_start: date, say: Say, grid_areas: dict[str, str]
    ) -> None:
        self.cfg, self.conn, self.month, self.say = cfg, conn, month_start, say
        self.grid_areas = grid_areas
        self.requests: dict[str, uuid.UUID] = {}
        self.outbox: list[tuple[bytes, bytes]] = []

    def at(self, day: int, hour: int) -> datetime:
        return wall_time_to_utc(datetime.combine(self.month.replace(day=day), time(hour)))

    def start(self, who: DemoCustomer, kind: ProcessType, now: datetime) -> None:
        effective = local_midnight_utc(self.month + timedelta(days=who.day - 1))
        product = uuid.UUID(demo_id("product", who.index % len(PRODUCTS)))
        gains = kind is ProcessType.SUPPLIER_SWITCH
        req = StartRequest(
            kind,
            who.gsrn,
            effective,
            who.customer if gains else None,
            product if gains else None,
        )
        self.requests[who.role] = run.start(self.conn, req, now=now)

    def answer(self, key: str, gsrn: str, now: datetime, *, accept: bool = True) -> None:
        request_id = self.requests[key]
        req = store.request(self.conn, request_id)
        assert req is not None
        process = DATAHUB[ProcessType(req.type)].process_code
        reasons = () if accept else (REJECTION,)
        document = answer_document(self._envelope(request_id, process, now), accept=accept,
                                   reasons=reasons)  # fmt: skip
        self.outbox.append((gsrn.encode(), json.dumps(document).encode()))

    def start_of_supply(self, who: DemoCustomer, now: datetime) -> None:
        request_id = self.requests[who.role]
        document = notification_document(
            self._envelope(request_id, "E03", now),
            gsrn=who.gsrn,
            effective=local_midnight_utc(self.month + timedelta(days=who.day - 1)),
            new_supplier_gln=self.cfg.supplier_gln,
        )
        self.outbox.append((who.gsrn.encode(), json.dumps(document).encode()))
        effective = local_midnight_utc(self.month + timedelta(days=who.day - 1))
        self.outbox += supply_documents(who.index, self.month, effective, self.grid_areas)

    def _envelope(self, request_id: uuid.UUID, process: str, now: datetime) -> Envelope:
        document_id = f"DEMO-DH-{self.month:%Y%m}-{len(self.outbox) + 1:03d}-{str(request_id)[:8]}"
        return Envelope(
            document_id, str(request_id), process, now, self.cfg.datahub_gln, self.cfg.supplier_gln
        )

    def exchange(self) -> None:
        """Relay our queued requests, then publish DataHub's answers and let the flow apply them."""
        sent = process_relay.relay(self.cfg, until_empty=True)
        self.say(f"  process relay: {sent} request document(s) on {self.cfg.outbound_topic}")
        if self.outbox:
            publish(self.cfg, self.cfg.masterdata_topic, self.outbox, partitions=2)
            self.say(f"  DataHub: {len(self.outbox)} answers on {self.cfg.masterdata_topic}")
            self.outbox = []
            run_masterdata_flow(self.cfg, self.say)


def run_demo_processes(
    cfg: Settings,
    month_start: date,
    metering_points: int,
    say: Say,
    grid_areas: dict[str, str],
) -> None:
    """Start, answer and complete the demo's processes (module docstring); print their states.
    `grid_areas` maps code → grid company GLN (the master data of the point won back)."""
    customers = demo_customers(metering_points)
    if not customers:
        say("customer lifecycle: the portfolio is too small for the demo's processes")
        return
    by_role = {c.role: c for c in customers}
    started = perf_counter()
    with connect(job="loader", autocommit=True) as conn:
        if any(store.requests(conn, gsrn=c.gsrn) for c in customers):
            say("customer lifecycle: the demo's processes were started by an earlier run")
        else:
            say("customer lifecycle (issue 10), the demo's clock inside the month:")
            _play(_Lifecycle(cfg, conn, month_start, say, grid_areas), by_role)
            say(f"  done in {perf_counter() - started:.1f} s")
        _print_states(conn, customers, say)


def _play(life: _Lifecycle, who: dict[str, DemoCustomer]) -> None:
    switch, move, reject, cancel = (
        who[r] for r in ("switch in", "move-out", "rejected", "cancelled")
    )
    for person in (switch, reject, cancel):
        life.start(person, ProcessType.SUPPLIER_SWITCH, life.at(2, 10))
    life.start(move, ProcessType.MOVE_OUT, life.at(5, 11))
    life.answer(switch.role, switch.gsrn, life.at(3, 9))
    life.answer(reject.role, reject.gsrn, life.at(3, 9), accept=False)
    life.answer(cancel.role, cancel.gsrn, life.at(3, 9))
    life.answer(move.role, move.gsrn, life.at(6, 9))
    life.exchange()
    life.requests["cancellation"] = run.cancel(
        life.conn, life.requests[cancel.role], now=life.at(15, 10)
    )
    life.answer("cancellation", cancel.gsrn, life.at(15, 14))
    life.start_of_supply(switch, life.at(24, 7))
    life.exchange()
    next_month = add_months(life.month, 1)
    report = run.advance(life.conn, now=local_midnight_utc(next_month) + timedelta(hours=6))
    life.say(f"  advance on {next_month}: {report.completed} processes completed")


def _print_states(conn: Conn, customers: list[DemoCustomer], say: Say) -> None:
    for c in customers:
        for req in store.requests(conn, gsrn=c.gsrn):
            day = local_date(req.effective_date) if req.effective_date else "-"
            note = ""
            events = store.events(conn, req.id)
            reasons = events[-1].payload.get("reasons", []) if events else []
            if reasons:
                code = str(reasons[0].get("code", ""))
                note = f"  {code}: {reason_in_words(code)}"
            say(f"  {c.role:<10} {req.type:<15} {req.gsrn}  {day!s:<10}  {req.status}{note}")
        say(f"  {'':<10} supply of {c.gsrn}: {_supply(conn, c.gsrn)}")


def _supply(conn: Conn, gsrn: str) -> str:
    periods = []
    for start, end, reason, created_by, ended_by in store.supply_periods(conn, gsrn):
        source = f"request {str(created_by)[:8]}" if created_by else "portfolio file"
        why = f" {reason}" if reason else ""
        if ended_by:
            why += f" by request {str(ended_by)[:8]}"
        periods.append(f"{start} to {end or 'open'}{why} (from {source})")
    return "; ".join(periods) or "none"


def print_process_invoices(metering_points: int, period: BillingPeriod, say: Say) -> None:
    """After the close: the invoices of the customers the demo's processes touched."""
    customers = demo_customers(metering_points)
    with connect(job="finance") as conn:
        period_id = invoices.find_billing_period(conn, period)
        found = invoices.existing_invoices(conn, period_id) if period_id else {}
    say(f"invoices of {period.label} of the customers of the demo's processes:")
    for c in customers:
        for invoice in found.get(c.customer, []):
            net = sum((line.amount for line in invoice.lines), Decimal(0))
            number = invoice.number or "Draft"
            say(f"  {c.role:<10} customer of {c.gsrn}: {invoice.type} {number}, {net} DKK ex VAT")
        if not found.get(c.customer):
            say(f"  {c.role:<10} customer of {c.gsrn}: no invoice")
    say("  (the rejected and cancelled switches were for customers who left us on the 16th:")
    say("   their invoice covers the 1st-15th only; the won-back customer's also the 26th-31st)")
