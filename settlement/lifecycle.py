"""The customer lifecycle as pure functions: the fold of events into a status, the allowed
transitions, and one function per business rule of (request, metering point, calendar).

A request's status is never set: it is the fold of its immutable events. The transitions are the
class diagram's BRS-001 state diagram plus three of elflow's (marked below). A rule returns a
Rejection (DataHub's reason code and one line) or None; `RULES` says which rules each process
type runs and whether MARKET_PROCESSES.md confirms the rule or it is elflow's choice.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from schemas.calendar import local_date, to_local
from schemas.errors import ElflowError
from schemas.holidays import working_days_before
from schemas.process_codes import (
    ENDS_SUPPLY,
    GAINS_SUPPLY,
    TARGETS,
    ProcessEventType,
    ProcessStatus,
    ProcessType,
)

S = ProcessStatus
E = ProcessEventType

# (status before, event) → status after. None before = the request does not exist yet.
TRANSITIONS: dict[tuple[ProcessStatus | None, ProcessEventType], ProcessStatus] = {
    (None, E.REQUESTED): S.PENDING,
    (S.PENDING, E.SENT_TO_DATAHUB): S.SENT_TO_DATAHUB,
    (S.SENT_TO_DATAHUB, E.CONFIRMED): S.ACKNOWLEDGED,
    (S.SENT_TO_DATAHUB, E.REJECTED): S.REJECTED,
    (S.ACKNOWLEDGED, E.EFFECTUATION_SCHEDULED): S.EFFECTUATION_PENDING,
    (S.EFFECTUATION_PENDING, E.COMPLETED): S.COMPLETED,
    (S.PENDING, E.CANCELLED): S.CANCELLED,
    (S.ACKNOWLEDGED, E.CANCELLED): S.CANCELLED,
    # elflow's: a process DataHub starts (forced end of supply) begins waiting for its date;
    # a late answer is noted and changes nothing; a cancellation can still arrive while the
    # request waits for its effective date.
    (None, E.NOTIFIED): S.EFFECTUATION_PENDING,
    (S.SENT_TO_DATAHUB, E.ANSWER_OVERDUE): S.SENT_TO_DATAHUB,
    (S.EFFECTUATION_PENDING, E.CANCELLED): S.CANCELLED,
}


class IllegalTransition(ElflowError):
    """An event the request's status does not allow (one line)."""


def next_status(
    request_id: uuid.UUID, status: ProcessStatus | None, event: ProcessEventType
) -> ProcessStatus:
    after = TRANSITIONS.get((status, event))
    if after is None:
        now = "new" if status is None else str(status)
        raise IllegalTransition(f"process request {request_id} is {now}: {event} is not allowed")
    return after


def fold(request_id: uuid.UUID, events: Iterable[ProcessEventType]) -> ProcessStatus:
    """The status after the events, in order; an illegal step raises IllegalTransition."""
    status: ProcessStatus | None = None
    for event in events:
        status = next_status(request_id, status, event)
    if status is None:
        raise IllegalTransition(f"process request {request_id} has no events")
    return status


# --- what the rules look at --------------------------------------------------------------------


@dataclass(frozen=True)
class OtherRequest:
    """Another request of the same metering point (or the target of a cancel/correction)."""

    id: uuid.UUID
    type: ProcessType
    status: ProcessStatus
    effective: datetime | None


@dataclass(frozen=True)
class PointFacts:
    """What elflow knows of a metering point at the request's effective date."""

    gsrn: str
    type: str | None = None  # DataHub's code (E17, E18, …); None = unknown metering point
    connection_status: str | None = None
    supplier_known: bool = False  # DataHub's master data names the supplier (or none)
    supplier_gln: str | None = None
    our_customer: uuid.UUID | None = None  # our contract's customer then; None = we do not supply
    others: tuple[OtherRequest, ...] = ()


@dataclass(frozen=True)
class NewRequest:
    type: ProcessType
    gsrn: str
    requested_at: datetime
    effective: datetime | None
    customer_id: uuid.UUID | None = None
    target: OtherRequest | None = None  # of CancelSwitch, CancelEndOfSupply, Incorrect*


@dataclass(frozen=True)
class Rejection:
    code: str
    detail: str


Check = Callable[[NewRequest, PointFacts, str], Rejection | None]


def _today(req: NewRequest) -> date:
    return local_date(req.requested_at)


def _effective_day(req: NewRequest) -> date:
    if req.effective is None:
        raise ValueError(f"{req.type} needs an effective date")
    return local_date(req.effective)


def accounting_point(req: NewRequest, point: PointFacts, _gln: str) -> Rejection | None:
    if point.type not in ("E17", "E18"):
        what = "unknown" if point.type is None else f"of type {point.type}"
        return Rejection("E10", f"metering point {req.gsrn} is {what}, not an accounting point")
    return None


def not_closed_down(req: NewRequest, point: PointFacts, _gln: str) -> Rejection | None:
    if point.connection_status == "ClosedDown":
        return Rejection("D16", f"metering point {req.gsrn} is closed down")
    return None


def has_a_supplier(req: NewRequest, point: PointFacts, _gln: str) -> Rejection | None:
    if point.supplier_known and point.supplier_gln is None:
        return Rejection("D36", f"metering point {req.gsrn} has no supplier to switch from")
    return None


def not_our_customer_already(req: NewRequest, point: PointFacts, gln: str) -> Rejection | None:
    if point.our_customer is not None or point.supplier_gln == gln:
        return Rejection("E16", f"we already supply metering point {req.gsrn} then")
    return None


def not_in_the_past(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    if _effective_day(req) < _today(req):
        return Rejection("E17", f"effective date {_effective_day(req)} is in the past")
    return None


def at_local_midnight(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    if req.effective is not None and to_local(req.effective).time() != time(0):
        return Rejection("D66", f"effective time {to_local(req.effective)} is not local midnight")
    return None


def no_other_switch_or_move_in(req: NewRequest, point: PointFacts, _gln: str) -> Rejection | None:
    day = _effective_day(req)
    for other in point.others:
        live = other.status not in (S.REJECTED, S.CANCELLED)
        same_day = other.effective is not None and local_date(other.effective) == day
        if live and same_day and other.type in GAINS_SUPPLY:
            return Rejection("E22", f"{other.type} {other.id} is already on {day}")
    return None


def move_in_window(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    today, day = _today(req), _effective_day(req)
    if not today - timedelta(days=16) <= day <= today + timedelta(days=60):
        return Rejection("E17", f"move-in date {day} is not within 16 days back, 60 ahead")
    return None


def new_customer(req: NewRequest, point: PointFacts, _gln: str) -> Rejection | None:
    if req.customer_id is not None and req.customer_id == point.our_customer:
        return Rejection("D17", f"customer {req.customer_id} is already the customer")
    return None


def we_supply_then(req: NewRequest, point: PointFacts, _gln: str) -> Rejection | None:
    if point.our_customer is None:
        day = _effective_day(req)
        return Rejection("E16", f"we do not supply metering point {req.gsrn} on {day}")
    return None


def end_of_supply_notice(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    today, day = _today(req), _effective_day(req)
    latest = working_days_before(day, 3)
    if not day - timedelta(days=60) <= today <= latest:
        return Rejection(
            "E17",
            f"end of supply on {day} must be asked between {day - timedelta(days=60)} "
            f"and {latest} (3 working days before)",
        )
    return None


def move_out_window(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    today, day = _today(req), _effective_day(req)
    if not today + timedelta(days=1) <= day <= today + timedelta(days=60):
        return Rejection("E17", f"move-out date {day} is not from tomorrow to 60 days ahead")
    return None


def _target_status(req: NewRequest, wanted: set[ProcessStatus], what: str) -> Rejection | None:
    target = req.target
    if target is None or target.type not in TARGETS[req.type]:
        return Rejection("D02", f"{req.type} needs one of our {_names(TARGETS[req.type])}")
    if target.status not in wanted:
        return Rejection("D02", f"{target.type} {target.id} is {target.status}, not {what}")
    return None


def target_open(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    return _target_status(req, set(S) - {S.REJECTED, S.COMPLETED, S.CANCELLED}, "open")


def before_target_effective(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    target = req.target
    if target is None or target.effective is None:
        return None
    day = local_date(target.effective)
    if _today(req) >= day:
        return Rejection("E17", f"{target.type} {target.id} takes effect on {day}, not later")
    return None


def target_completed(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    return _target_status(req, {S.COMPLETED}, "Completed")


def within_60_days_after(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    target = req.target
    if target is not None and target.effective is not None:
        day = local_date(target.effective)
        if not day <= _today(req) <= day + timedelta(days=60):
            return Rejection("E17", f"{target.type} of {day} is not within the last 60 days")
    return None


def started_by_datahub(req: NewRequest, _point: PointFacts, _gln: str) -> Rejection | None:
    return Rejection("D02", f"{req.type} is started by DataHub, not by us")


def _names(types: Iterable[ProcessType]) -> str:
    return " or ".join(sorted(types))


@dataclass(frozen=True)
class Rule:
    check: Check
    confirmed: bool  # by MARKET_PROCESSES.md (else: elflow's choice)


_SWITCH = (
    Rule(accounting_point, True),
    Rule(not_closed_down, True),
    Rule(has_a_supplier, True),
    Rule(not_our_customer_already, True),
    Rule(not_in_the_past, True),
    Rule(at_local_midnight, False),
    Rule(no_other_switch_or_move_in, True),
)
RULES: dict[ProcessType, tuple[Rule, ...]] = {
    ProcessType.SUPPLIER_SWITCH: _SWITCH,
    ProcessType.SHORT_NOTICE_SWITCH: _SWITCH,  # "as 001" [U]
    ProcessType.MOVE_IN: (
        Rule(accounting_point, True),
        Rule(not_closed_down, False),
        Rule(move_in_window, True),
        Rule(at_local_midnight, True),
        Rule(new_customer, True),
        Rule(no_other_switch_or_move_in, True),
    ),
    ProcessType.END_OF_SUPPLY: (
        Rule(accounting_point, False),
        Rule(we_supply_then, False),
        Rule(end_of_supply_notice, True),
        Rule(at_local_midnight, False),
    ),
    ProcessType.MOVE_OUT: (
        Rule(accounting_point, False),
        Rule(we_supply_then, False),
        Rule(move_out_window, False),
        Rule(at_local_midnight, False),
    ),
    ProcessType.CANCEL_SWITCH: (Rule(target_open, True), Rule(before_target_effective, True)),
    ProcessType.CANCEL_END_OF_SUPPLY: (
        Rule(target_open, True),
        Rule(before_target_effective, False),
    ),
    ProcessType.INCORRECT_SWITCH: (
        Rule(target_completed, True),
        Rule(within_60_days_after, True),
    ),
    ProcessType.INCORRECT_MOVE: (
        Rule(target_completed, False),
        Rule(within_60_days_after, False),
    ),
    ProcessType.FORCED_END_OF_SUPPLY: (Rule(started_by_datahub, False),),
    ProcessType.REQUEST_SERVICE: (),  # refused by settlement.service_requests.refusal
}


def rejections(req: NewRequest, point: PointFacts, our_gln: str) -> list[Rejection]:
    """Every rule of the request's type that refuses it, in the table's order."""
    found = (rule.check(req, point, our_gln) for rule in RULES[req.type])
    return [r for r in found if r is not None]


# --- what a process does to supply --------------------------------------------------------------


@dataclass(frozen=True)
class StartSupply:
    start_date: date


@dataclass(frozen=True)
class EndSupply:
    end_date: date
    end_reason: str  # supply_period.end_reason (the diagram's EndReason)


@dataclass(frozen=True)
class Reverse:
    """Undo the supply and contract the target request created."""

    target: uuid.UUID


@dataclass(frozen=True)
class CancelTarget:
    target: uuid.UUID


Effect = StartSupply | EndSupply | Reverse | CancelTarget

# The diagram's EndReason has three values; EndOfSupply by the supplier is, in practice, for
# non-payment (elflow's choice); a forced end means another supplier took over.
END_REASONS = {
    ProcessType.END_OF_SUPPLY: "NonPayment",
    ProcessType.MOVE_OUT: "MoveOut",
    ProcessType.FORCED_END_OF_SUPPLY: "SupplierSwitch",
}


def effect(
    kind: ProcessType, effective: datetime | None, target: uuid.UUID | None
) -> Effect | None:
    """What completing a request of `kind` does to supply periods and contracts."""
    if kind in GAINS_SUPPLY and effective is not None:
        return StartSupply(local_date(effective))
    if kind in ENDS_SUPPLY and effective is not None:
        return EndSupply(local_date(effective), END_REASONS[kind])
    if target is not None and kind in (ProcessType.INCORRECT_SWITCH, ProcessType.INCORRECT_MOVE):
        return Reverse(target)
    if target is not None:
        return CancelTarget(target)
    return None


def takes_effect_on_confirmation(kind: ProcessType) -> bool:
    """Cancellations, corrections and service requests complete as soon as they are confirmed
    (what the grid access provider then does arrives as master data, settlement.masterdata)."""
    return kind in TARGETS or kind is ProcessType.REQUEST_SERVICE


def due(
    kind: ProcessType,
    effective: datetime | None,
    now: datetime,
    first_reading: bool,
    master_data: bool,
) -> bool:
    """Whether a request waiting for effectuation completes now: its effective instant has
    come and, when we gain supply, BOTH the master data for the effective date (RSM-022 naming
    us as supplier from then) AND the first reading from that instant have arrived (the
    diagram's trigger: "RSM-007 + RSM-012 modtaget"), in whichever order they came."""
    if effective is None or effective > now:
        return False
    return (first_reading and master_data) or kind not in GAINS_SUPPLY


def answer_overdue(sent_at: datetime, now: datetime, timeout: timedelta) -> bool:
    return now - sent_at >= timeout
