"""Handlers of `elflow process …` (customer service; to be wired in deploy/cli.py).

Every handler takes the argparse Namespace and returns the exit code; times shown to people are
local (schemas.calendar), rejection reasons are in words with DataHub's code.

    process start TYPE --gsrn G [--customer ID --product ID] [--effective YYYY-MM-DD]
                  [--billing-frequency Monthly|Quarterly] [--payment-model Aconto|PostPayment]
                  [--payment-term-days N] [--target REQUEST_ID]
    process cancel REQUEST_ID
    process list [--gsrn G] [--open] [--stuck]
    process show REQUEST_ID
    process relay [--until-empty]
    process advance
"""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, date, datetime, timedelta

from schemas.calendar import format_local, local_date, local_midnight_utc
from schemas.codelists import BillingFrequency, PaymentModel
from schemas.errors import ElflowError
from schemas.process_codes import OutboundStatus, ProcessStatus, ProcessType, reason_in_words

# `process start TYPE`: the CLI's names of the process types customer service starts.
START_TYPES: dict[str, ProcessType] = {
    "switch": ProcessType.SUPPLIER_SWITCH,
    "short-notice-switch": ProcessType.SHORT_NOTICE_SWITCH,
    "move-in": ProcessType.MOVE_IN,
    "end-of-supply": ProcessType.END_OF_SUPPLY,
    "move-out": ProcessType.MOVE_OUT,
    "incorrect-switch": ProcessType.INCORRECT_SWITCH,
    "incorrect-move": ProcessType.INCORRECT_MOVE,
}


class BadProcessArgument(ElflowError):
    """A process command's argument that is not what it must be (one line)."""


def _uuid(text: str | None, what: str) -> uuid.UUID | None:
    if text is None:
        return None
    try:
        return uuid.UUID(text)
    except ValueError:
        raise BadProcessArgument(f"{what} {text!r} is not a UUID") from None


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadProcessArgument(f"effective date {text!r} is not YYYY-MM-DD") from None


def process_start(args: argparse.Namespace) -> int:
    """`elflow process start TYPE …`: validate, then write request + event + document."""
    from settlement.processes import StartRequest, start
    from storage.db import connect

    kind = START_TYPES.get(args.type)
    if kind is None:
        raise BadProcessArgument(
            f"process type {args.type!r} is not one of {', '.join(START_TYPES)}"
        )
    day = _day(args.effective)
    req = StartRequest(
        type=kind,
        gsrn=args.gsrn or "",
        effective=local_midnight_utc(day) if day else None,
        customer_id=_uuid(args.customer, "customer"),
        product_id=_uuid(args.product, "product"),
        billing_frequency=BillingFrequency(args.billing_frequency or "Monthly"),
        payment_model=PaymentModel(args.payment_model or "PostPayment"),
        payment_term_days=args.payment_term_days if args.payment_term_days is not None else 14,
        target=_uuid(args.target, "target request"),
    )
    with connect(job="loader", autocommit=True) as conn:
        request_id = start(conn, req)
    print(f"{kind} {request_id} for {req.gsrn or 'the target'}: Pending, queued for DataHub")
    return 0


def process_cancel(args: argparse.Namespace) -> int:
    """`elflow process cancel REQUEST_ID`."""
    from settlement.processes import cancel
    from storage.db import connect

    request_id = _uuid(args.request, "request")
    assert request_id is not None
    with connect(job="loader", autocommit=True) as conn:
        done = cancel(conn, request_id)
    if done == request_id:
        print(f"{request_id} cancelled before it was sent")
    else:
        print(f"cancellation {done} of {request_id} queued for DataHub")
    return 0


def process_list(args: argparse.Namespace) -> int:
    """`elflow process list [--gsrn G] [--open] [--stuck]`."""
    from storage import processes as store
    from storage.db import connect

    with connect(job="loader") as conn:
        rows = store.requests(conn, gsrn=args.gsrn, open_only=args.open or args.stuck)
        outbound = {r[0]: r[1] for r in store.outbound_rows(conn)}
    now = datetime.now(UTC)
    if args.stuck:
        rows = [r for r in rows if _stuck(r.status, outbound.get(r.id), r.effective_date, now)]
    print(
        "request                               type                gsrn                status               effective   outbound"
    )
    for r in rows:
        effective = local_date(r.effective_date) if r.effective_date else "-"
        print(
            f"{r.id}  {r.type:<19} {r.gsrn}  {r.status:<20} {effective!s:<11} "
            f"{outbound.get(r.id, '-')}"
        )
    print(f"{len(rows)} process requests" + (" stuck" if args.stuck else ""))
    return 0


def _stuck(status: str, outbound: str | None, effective: datetime | None, now: datetime) -> bool:
    """No answer in time, or past its effective date by a day and still not completed."""
    if outbound == OutboundStatus.TIMED_OUT and status == ProcessStatus.SENT_TO_DATAHUB:
        return True
    late = effective is not None and now - effective > timedelta(days=1)
    return late and status in (ProcessStatus.ACKNOWLEDGED, ProcessStatus.EFFECTUATION_PENDING)


def process_show(args: argparse.Namespace) -> int:
    """`elflow process show REQUEST_ID`: the request and its event history in local time."""
    from storage import processes as store
    from storage.db import connect

    request_id = _uuid(args.request, "request")
    assert request_id is not None
    with connect(job="loader") as conn:
        req = store.request(conn, request_id)
        events = store.events(conn, request_id)
    if req is None:
        raise BadProcessArgument(f"no process request {request_id}")
    effective = local_date(req.effective_date) if req.effective_date else "-"
    print(
        f"{req.type} {req.id}  metering point {req.gsrn}  effective {effective}  {req.status}"
        f"  started by {req.initiator}"
        + (f"  target {req.target_request_id}" if req.target_request_id else "")
    )
    for event in events:
        line = f"  {format_local(event.occurred_at)}  {event.event_type}"
        for reason in event.payload.get("reasons", []):
            code = str(reason.get("code", ""))
            line += f"\n      {code}: {reason_in_words(code)}"
            if reason.get("text"):
                line += f" (DataHub: {reason['text']})"
        print(line)
    return 0


def process_relay(args: argparse.Namespace) -> int:
    """`elflow process relay [--until-empty]`: publish queued request documents."""
    from flows.process_relay import relay
    from schemas.settings import settings

    sent = relay(settings(), until_empty=args.until_empty)
    print(f"published {sent} request documents")
    return 0


def process_advance(args: argparse.Namespace) -> int:
    """`elflow process advance`: time out unanswered requests, complete due ones (run by cron)."""
    from settlement.processes import advance
    from storage.db import connect

    with connect(job="loader", autocommit=True) as conn:
        report = advance(conn)
    print(f"{report.timed_out} requests timed out, {report.completed} completed")
    return 0
