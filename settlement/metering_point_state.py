"""The metering point's connection-state machine and master data, as pure functions.

DataHub's rules (MARKET_PROCESSES.md section 3) applied to RSM-022 records in effective-date
order: New → Connected (D15), Connected ↔ Disconnected (E79), any → ClosedDown (D14, final;
a closed-down GSRN accepts nothing more and is never reused), master data (E32, D17, D39) not on
a closed-down point. A record that contradicts the state gives a `Rejection` with DataHub's
reason code and one line naming local dates.

`admit` decides which newly received records join a metering point's accepted history. Accepted
events never change; a record is admitted only if the whole history, folded in effective-date
order with it, stays valid. So records that arrive out of order but are valid in effective-date
order all end up applied, whatever order they arrived in. (Slightly over 400 lines: the rules,
the history fold that uses them and the projection they define are read together.)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final

from schemas.calendar import local_date
from schemas.rsm022 import SUPPLY_PROCESSES, MasterDataChange

SCHEMA_VERSION: Final = 1
SETTLEMENT_METHODS: Final = {"D01": "Flex", "E02": "NonProfiled"}
# The order of records that take effect at the same instant.
_RANK: Final = {
    "E02": 0,
    "D15": 1,
    "E32": 2,
    "D17": 2,
    "D39": 2,
    **{code: 2 for code in SUPPLY_PROCESSES},
    "E79": 3,
    "D14": 9,
}
# The connection state a supply process's master data may name for a point new to us.
_SUPPLY_STATES: Final = {"D03": "New", "E22": "Connected", "E23": "Disconnected"}
# Children DataHub creates connected; children that must be physical to connect.
_CREATED_CONNECTED: Final = frozenset({"D04", "D15"})
_MUST_BE_PHYSICAL: Final = frozenset({"D05", "D06", "D07"})
_ACCOUNTING_POINTS: Final = frozenset({"E17", "E18"})
_SETTLED_TYPES: Final = frozenset({"E17", "D13"})  # a settlement method is mandatory


@dataclass(frozen=True)
class MasterData:
    """The metering point from one effective instant on."""

    gsrn: str
    type: str
    created_at: datetime
    connection_status: str
    parent_gsrn: str | None = None
    grid_area: str | None = None
    grid_operator_gln: str | None = None
    resolution: str | None = None
    settlement_method: str | None = None
    metering_method: str | None = None
    production_obligation: bool | None = None
    supplier_gln: str | None = None
    supply_start: datetime | None = None
    net_settlement_group: str | None = None
    meter_id: str | None = None
    connected_at: datetime | None = None
    closed_down_at: datetime | None = None


@dataclass(frozen=True)
class Rejection:
    code: str
    detail: str


def order_key(change: MasterDataChange) -> tuple[datetime, int, datetime, str, str]:
    """Effective-date order; same instant: create, connect, master data, dis/reconnect, close."""
    record = change.record
    return (
        record.effective,
        _RANK[change.process_type],
        change.created,
        change.message_id,
        record.transaction_id,
    )


def _day(ts: datetime) -> str:
    return local_date(ts).isoformat()


def apply(
    state: MasterData | None, change: MasterDataChange, created_later: datetime | None = None
) -> MasterData | Rejection:
    """The state after `change`, or why DataHub's rules refuse it; `created_later` is when a
    create of the point takes effect after this record, if one is known."""
    process, record = change.process_type, change.record
    gsrn, when = record.gsrn, record.effective
    if process == "E02":
        if state is not None:
            return Rejection(
                "D16", f"{gsrn} already exists ({state.connection_status}); a GSRN is never reused"
            )
        return _create(change)
    if state is None and process in SUPPLY_PROCESSES and created_later is None:
        return _first_known(change)
    if state is None:
        if created_later is not None:
            return Rejection(
                "E17",
                f"{gsrn}: effective {_day(when)} is before its creation on {_day(created_later)}",
            )
        return Rejection("E10", f"{gsrn} is not known: no create (E02) applied before it")
    if state.connection_status == "ClosedDown":
        closed = state.closed_down_at or state.created_at
        return Rejection(
            "D16", f"{gsrn} was closed down on {_day(closed)} and accepts nothing more"
        )
    merged = _merge(state, change)
    if isinstance(merged, Rejection):
        return merged
    if process == "D15":
        return _connect(merged, change)
    if process == "E79":
        return _disconnect_or_reconnect(merged, change)
    if process == "D14":
        return replace(merged, connection_status="ClosedDown", closed_down_at=when)
    if process == "D17" and record.settlement_method is None:
        return Rejection("D15", f"{gsrn}: change of settlement method without a settlement method")
    if process == "D39" and record.production_obligation is None:
        return Rejection("D64", f"{gsrn}: update of production obligation without the obligation")
    return merged


def _settlement_method(mp_type: str, code: str | None, gsrn: str) -> str | Rejection | None:
    if mp_type not in _SETTLED_TYPES:
        return (
            None
            if code is None
            else Rejection(
                "D15", f"{gsrn}: a {mp_type} metering point has no settlement method ({code} sent)"
            )
        )
    if code not in SETTLEMENT_METHODS:
        return Rejection(
            "D15", f"{gsrn}: settlement method {code or 'missing'}; {mp_type} needs D01 or E02"
        )
    return SETTLEMENT_METHODS[code]


def _create(change: MasterDataChange) -> MasterData | Rejection:
    record = change.record
    gsrn, mp_type = record.gsrn, record.metering_point_type
    if mp_type is None:
        return Rejection("D64", f"{gsrn}: create without a metering point type")
    if record.grid_area is None:
        return Rejection("D64", f"{gsrn}: create without a grid area")
    method = _settlement_method(mp_type, record.settlement_method, gsrn)
    if isinstance(method, Rejection):
        return method
    status = "New"
    if record.connection_state == "E22" and mp_type in _CREATED_CONNECTED:
        status = "Connected"
    elif record.connection_state not in (None, "D03"):
        return Rejection(
            "D16",
            f"{gsrn}: a {mp_type} metering point is created New, not {record.connection_state}",
        )
    parent = record.parent_gsrn if mp_type.startswith("D") else None
    if parent == gsrn:
        return Rejection("D18", f"{gsrn}: a metering point cannot be its own parent")
    return MasterData(
        gsrn=gsrn,
        type=mp_type,
        created_at=record.effective,
        connection_status=status,
        parent_gsrn=parent,
        grid_area=record.grid_area,
        grid_operator_gln=record.grid_operator_gln,
        resolution=record.resolution,
        settlement_method=method,
        metering_method=record.metering_method,
        production_obligation=record.production_obligation,
        supplier_gln=record.supplier_gln,
        supply_start=record.supply_start,
        net_settlement_group=record.net_settlement_group,
        meter_id=record.meter_id,
        connected_at=record.effective if status == "Connected" else None,
    )


def _first_known(change: MasterDataChange) -> MasterData | Rejection:
    """A point DataHub first tells us about with the process that makes us its supplier: its
    RSM-022 carries the whole master data, in the connection state it names."""
    record = change.record
    status = _SUPPLY_STATES.get(record.connection_state or "")
    if status is None:
        return Rejection(
            "D16",
            f"{record.gsrn}: supply master data in connection state "
            f"{record.connection_state or 'missing'}",
        )
    plain = record.model_copy(update={"connection_state": None})
    known = _create(change.model_copy(update={"record": plain}))
    if isinstance(known, Rejection):
        return known
    connected = record.effective if status != "New" else None
    return replace(known, connection_status=status, connected_at=connected)


def _merge(state: MasterData, change: MasterDataChange) -> MasterData | Rejection:
    """The record's master data over the state's: what the record leaves out stays."""
    record = change.record
    if record.metering_point_type not in (None, state.type):
        return Rejection(
            "D18",
            f"{state.gsrn}: type {record.metering_point_type} differs from its {state.type}; "
            "a type is never changed",
        )
    method = state.settlement_method
    if record.settlement_method is not None:
        found = _settlement_method(state.type, record.settlement_method, state.gsrn)
        if isinstance(found, Rejection):
            return found
        method = found
    parent = state.parent_gsrn
    if state.type.startswith("D") and record.parent_gsrn is not None:
        parent = record.parent_gsrn

    def keep(new: Any, old: Any) -> Any:
        return old if new is None else new

    return replace(
        state,
        parent_gsrn=parent,
        grid_area=keep(record.grid_area, state.grid_area),
        grid_operator_gln=keep(record.grid_operator_gln, state.grid_operator_gln),
        resolution=keep(record.resolution, state.resolution),
        settlement_method=method,
        metering_method=keep(record.metering_method, state.metering_method),
        production_obligation=keep(record.production_obligation, state.production_obligation),
        supplier_gln=keep(record.supplier_gln, state.supplier_gln),
        supply_start=keep(record.supply_start, state.supply_start),
        net_settlement_group=keep(record.net_settlement_group, state.net_settlement_group),
        meter_id=keep(record.meter_id, state.meter_id),
    )


def _supplier_rule(state: MasterData, when: datetime, what: str) -> Rejection | None:
    if state.type not in _ACCOUNTING_POINTS:
        return None
    if state.supplier_gln is None or state.supply_start is None or state.supply_start > when:
        return Rejection(
            "D36", f"{state.gsrn}: no energy supplier with supply start by {_day(when)} to {what}"
        )
    return None


def _connect(state: MasterData, change: MasterDataChange) -> MasterData | Rejection:
    gsrn, when = state.gsrn, change.record.effective
    if state.connection_status != "New":
        return Rejection(
            "D16", f"{gsrn} is {state.connection_status}; only a New point is connected"
        )
    if state.type in _MUST_BE_PHYSICAL and state.metering_method != "D01":
        return Rejection("D37", f"{gsrn}: a {state.type} point must be physical to be connected")
    if state.type == "D20" and state.parent_gsrn is None:
        return Rejection("D36", f"{gsrn}: a D20 point cannot be connected without a parent")
    refused = _supplier_rule(state, when, "connect")
    if refused is not None:
        return refused
    return replace(state, connection_status="Connected", connected_at=when)


def _disconnect_or_reconnect(state: MasterData, change: MasterDataChange) -> MasterData | Rejection:
    gsrn, target = state.gsrn, change.record.connection_state
    wanted = {"E23": ("Connected", "Disconnected"), "E22": ("Disconnected", "Connected")}
    if target not in wanted:
        return Rejection("D16", f"{gsrn}: E79 needs connection state E22 or E23, not {target}")
    before, after = wanted[target]
    if state.connection_status != before:
        verb = "disconnected" if after == "Disconnected" else "reconnected"
        return Rejection(
            "D16", f"{gsrn} is {state.connection_status}; only a {before} point is {verb}"
        )
    refused = _supplier_rule(state, change.record.effective, verb_for(after))
    if refused is not None:
        return refused
    return replace(state, connection_status=after)


def verb_for(status: str) -> str:
    return "disconnect" if status == "Disconnected" else "reconnect"


# --- histories ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    change: MasterDataChange
    outcome: MasterData | Rejection


def fold(changes: Iterable[MasterDataChange]) -> list[Step]:
    """Every change in effective-date order with its outcome; a rejected one changes nothing."""
    ordered = sorted(changes, key=order_key)
    create = next((c.record.effective for c in ordered if c.process_type == "E02"), None)
    state: MasterData | None = None
    steps = []
    for change in ordered:
        outcome = apply(state, change, create)
        if isinstance(outcome, MasterData):
            state = outcome
        steps.append(Step(change, outcome))
    return steps


@dataclass(frozen=True)
class Admission:
    admitted: list[MasterDataChange]
    rejected: dict[tuple[str, str], Rejection]


def admit(
    accepted: Sequence[MasterDataChange], candidates: Sequence[MasterDataChange]
) -> Admission:
    """Which candidates join the accepted history (which is valid and never changes)."""
    pool = {c.key: c for c in candidates if c.key not in {a.key for a in accepted}}
    steps = fold([*accepted, *pool.values()])
    if all(isinstance(s.outcome, MasterData) for s in steps if s.change.key not in pool):
        # Together they fit: every candidate that applies in effective-date order is admitted.
        admitted = [s.change for s in steps if s.change.key in pool and _ok(s)]
        rejected = {
            s.change.key: s.outcome
            for s in steps
            if s.change.key in pool and isinstance(s.outcome, Rejection)
        }
        return Admission(admitted, rejected)
    # Some candidate would invalidate an accepted event: admit one at a time.
    history = list(accepted)
    admitted = []
    rejected = {}
    progress = True
    while progress:
        progress = False
        for key, change in sorted(pool.items(), key=lambda kv: order_key(kv[1])):
            if any(a.key == key for a in admitted):
                continue
            failure = _first_failure(fold([*history, change]), change)
            if failure is None:
                history.append(change)
                admitted.append(change)
                rejected.pop(key, None)
                progress = True
            else:
                rejected[key] = failure
    return Admission(admitted, rejected)


def _ok(step: Step) -> bool:
    return isinstance(step.outcome, MasterData)


def _first_failure(steps: list[Step], candidate: MasterDataChange) -> Rejection | None:
    for step in steps:
        if isinstance(step.outcome, Rejection):
            if step.change.key == candidate.key:
                return step.outcome
            return Rejection(
                step.outcome.code,
                f"{step.outcome.detail} (if {candidate.process_type} of "
                f"{_day(candidate.record.effective)} were applied before it)",
            )
    return None


# --- projection and domain events -----------------------------------------------------------


@dataclass(frozen=True)
class Version:
    valid_from: datetime
    valid_to: datetime | None
    state: MasterData
    change: MasterDataChange


def versions(history: Iterable[MasterDataChange]) -> list[Version]:
    """Validity intervals of an accepted history; the last record at an instant wins it."""
    steps = [s for s in fold(history) if isinstance(s.outcome, MasterData)]
    out: list[Version] = []
    for index, step in enumerate(steps):
        start = step.change.record.effective
        end = steps[index + 1].change.record.effective if index + 1 < len(steps) else None
        if end is not None and end <= start:
            continue
        assert isinstance(step.outcome, MasterData)
        out.append(Version(start, end, step.outcome, step.change))
    return out


EVENT_TYPES: Final = {
    "E02": "MeteringPointCreated",
    "D15": "MeteringPointConnected",
    "D14": "MeteringPointClosedDown",
    "E32": "MeteringPointMasterDataChanged",
    "D17": "SettlementMethodChanged",
    "D39": "ProductionObligationChanged",
    **{code: "EnergySupplierChanged" for code in SUPPLY_PROCESSES},
}


def event_type(change: MasterDataChange) -> str:
    if change.process_type == "E79":
        return (
            "MeteringPointDisconnected"
            if change.record.connection_state == "E23"
            else "MeteringPointReconnected"
        )
    return EVENT_TYPES[change.process_type]


def domain_event(event_id: str, change: MasterDataChange, state: MasterData) -> dict[str, Any]:
    """The published JSON of an applied record (schema version SCHEMA_VERSION)."""
    return {
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        "event_type": event_type(change),
        "gsrn": state.gsrn,
        "metering_point_type": state.type,
        "effective": change.record.effective.isoformat(),
        "effective_local_date": _day(change.record.effective),
        "process_type": change.process_type,
        "message_id": change.message_id,
        "transaction_id": change.record.transaction_id,
        "connection_status": state.connection_status,
        "grid_area": state.grid_area,
        "settlement_method": state.settlement_method,
        "production_obligation": state.production_obligation,
        "parent_gsrn": state.parent_gsrn,
    }
