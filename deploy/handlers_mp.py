"""Handlers of `elflow mp …` and the master-data flow (wired in deploy/cli.py).

Every handler takes the argparse Namespace and returns the exit code; dates shown to people are
local (schemas.calendar).
"""

from __future__ import annotations

import argparse
from datetime import date

from schemas.calendar import format_local, local_date
from schemas.errors import ElflowError


class BadServiceArgument(ElflowError):
    """A service request's argument that is not what it must be (one line)."""


class UnknownMeteringPoint(ElflowError):
    """No master data for a GSRN (one line)."""


def mp_show(args: argparse.Namespace) -> int:
    """`elflow mp show GSRN`: current master data, validity intervals, events, waiting records."""
    from storage import metering_points as store
    from storage.db import connect

    with connect(job="ingest") as conn:
        found = store.versions(conn, args.gsrn)
        events = store.event_rows(conn, args.gsrn)
        waiting = store.pending(conn, args.gsrn)
    if not found and not waiting:
        raise UnknownMeteringPoint(f"no master data for metering point {args.gsrn}")
    if found:
        now = found[-1]
        print(
            f"{now.gsrn}  type {now.type}  {now.connection_status}  grid area {now.grid_area_code or '-'}"
            f"  price area {now.price_area or '-'}  settlement {now.settlement_method or '-'}"
            f"  resolution {now.resolution or '-'}  supplier {now.supplier_gln or '-'}"
            + (f"  parent {now.parent_gsrn}" if now.parent_gsrn else "")
        )
        print(
            "valid from (local)        valid to (local)          status        grid area  settlement"
        )
        for v in found:
            until = format_local(v.valid_to) if v.valid_to else "-"
            print(
                f"{format_local(v.valid_from):<25} {until:<25} {v.connection_status:<13} "
                f"{v.grid_area_code or '-':<10} {v.settlement_method or '-'}"
            )
    if events:
        print("events: effective (local) · process · document/record · applied (local)")
        for effective, process, message_id, transaction_id, applied in events:
            print(
                f"  {format_local(effective)}  {process}  {message_id}/{transaction_id}"
                f"  {format_local(applied)}"
            )
    for p in waiting:
        print(
            f"waiting: {p.change.process_type} of {local_date(p.change.record.effective)} "
            f"({p.change.message_id}/{p.change.record.transaction_id}): {p.reason_code} {p.detail}"
        )
    return 0


def mp_list(args: argparse.Namespace) -> int:
    """`elflow mp list [--grid-area CODE]`: each metering point's latest master data."""
    from storage import metering_points as store
    from storage.db import connect

    with connect(job="ingest") as conn:
        rows = store.latest_versions(conn, args.grid_area)
    print("gsrn                type  status        grid area  settlement   since (local date)")
    for v in rows:
        print(
            f"{v.gsrn}  {v.type:<4}  {v.connection_status:<13} {v.grid_area_code or '-':<10} "
            f"{v.settlement_method or '-':<12} {local_date(v.valid_from)}"
        )
    print(f"{len(rows)} metering points")
    return 0


def mp_flow_run(args: argparse.Namespace) -> int:
    """`elflow mp flow run [--processes N] [--until-end]`: the master-data flow. SIGTERM/SIGINT
    reach its processes, which stop at once and resume from their last snapshot (the writes are
    idempotent); the command then exits 0."""
    from flows import masterdata
    from flows.stopping import FlowSupervisor
    from schemas.settings import settings

    supervisor = FlowSupervisor()
    procs = masterdata.start(settings(), processes=args.processes, until_end=args.until_end)
    return supervisor.wait(procs)


def mp_relay(args: argparse.Namespace) -> int:
    """`elflow mp relay [--until-empty]`: publish the outbox on the events topic."""
    from flows.outbox_relay import relay
    from schemas.settings import settings

    sent = relay(settings(), until_empty=args.until_empty)
    print(f"published {sent} metering-point events")
    return 0


def mp_replay(args: argparse.Namespace) -> int:
    """`elflow mp replay`: retry waiting records and unreadable master-data dead letters."""
    from schemas.settings import settings
    from settlement.masterdata import replay
    from storage.db import connect

    with connect(job="ingest") as conn:
        outcome = replay(conn, topic=settings().masterdata_topic)
    print(
        f"{outcome.applied} records applied, {outcome.still_waiting} still waiting; "
        f"{outcome.reparsed} dead letters parse now, {outcome.still_unreadable} still unreadable"
    )
    return 0


def service_request(args: argparse.Namespace) -> int:
    """`elflow service request --gsrn G --type disconnect|reconnect|close-down|meter-check|flex|
    non-profiled --effective YYYY-MM-DD`: queue a BRS-039 request to the grid access provider
    (refused with one line; `elflow process relay` publishes it, `elflow process show` follows it)."""
    from settlement.service_requests import ServiceRequest, request
    from storage.db import connect

    try:
        effective = date.fromisoformat(args.effective)
    except ValueError:
        raise BadServiceArgument(f"--effective {args.effective!r} is not YYYY-MM-DD") from None
    with connect(job="loader", autocommit=True) as conn:
        request_id = request(conn, ServiceRequest(args.gsrn, args.type, effective))
    print(f"queued {args.type} of {args.gsrn} from {effective} (local): request {request_id}")
    return 0
