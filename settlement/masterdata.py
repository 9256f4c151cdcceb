"""Applying RSM-022 master data: one database transaction per batch, idempotent.

For every metering point touched by a batch, under a per-point lock, in one transaction:

1. records already applied (processed_message_id) or already waiting (metering_point_pending)
   are duplicates and change nothing;
2. the new records and the waiting ones are offered to `metering_point_state.admit` against the
   point's accepted history; admitted ones become immutable events (claimed in
   processed_message_id) with one outbox row each, waiting ones that now apply are resolved;
3. new records that contradict the state wait in metering_point_pending with a dead letter
   (DataHub's reason code, one line) and their document is DeadLettered;
4. the point's projection (validity intervals) is recomputed from its history and the class
   diagram's metering_point row updated from its latest version.

Bytes that do not parse are dead letters with a parse code. `replay` retries what waits and
re-parses the dead letters of the master-data topic with the current parser.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, cast

from schemas.rsm022 import InvalidMasterData, MasterDataChange, document_changes, parse_document
from settlement import metering_point_state as rules
from storage import metering_points as store
from storage.db import Conn

log = logging.getLogger(__name__)
D = TypeVar("D")

DEAD_LETTER_KEY = "dead-letter"


@dataclass(frozen=True, slots=True)
class ChangeItem:
    """One record of a master-data document, with the document's bytes and where it came from."""

    change: MasterDataChange
    payload: bytes
    topic: str
    partition: int | None
    offset: int | None


@dataclass(frozen=True, slots=True)
class UnreadableItem:
    """A message that did not parse: its parse code, one line and the exact bytes."""

    reason_code: str
    detail: str
    payload: bytes
    message_id: str | None
    topic: str
    partition: int | None
    offset: int | None


Item = ChangeItem | UnreadableItem


@dataclass
class BatchOutcome:
    applied: int = 0
    duplicates: int = 0
    waiting: int = 0
    events: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    # (reason code, one line, bytes, message id) of each new dead letter, for the topic copy.
    new_dead_letters: list[tuple[str, str, bytes, str | None]] = field(default_factory=list)

    def merge(self, other: BatchOutcome) -> None:
        self.applied += other.applied
        self.duplicates += other.duplicates
        self.waiting += other.waiting
        self.events += other.events
        self.dead_letters.update(other.dead_letters)
        self.new_dead_letters.extend(other.new_dead_letters)


class Unusable(Protocol):
    """What a parser's refusal carries (schemas.rsm022.InvalidMasterData,
    schemas.process_documents.InvalidAnswer)."""

    reason: str
    detail: str
    document_id: str | None


def parse_or_park(
    parse: Callable[[bytes], D],
    refused: type[Exception],
    value: bytes | None,
    topic: str,
    partition: int,
    offset: int,
) -> D | UnreadableItem:
    """`parse` the message, or the UnreadableItem that parks it: a refusal with its reason, a
    parser bug as `internal_error`. Never raises: bad input cannot stop the flow."""
    raw = value or b""
    where = f"{topic}[{partition}]@{offset}"
    try:
        return parse(raw)
    except refused as exc:
        why = cast(Unusable, exc)
        detail = f"{where}: {why.detail}"
        return UnreadableItem(why.reason, detail, raw, why.document_id, topic, partition, offset)
    except Exception as exc:  # a parser bug must not stop the flow: park the input, name it
        detail = f"{where}: {type(exc).__name__}: {exc}".splitlines()[0]
        return UnreadableItem("internal_error", detail, raw, None, topic, partition, offset)


def message_items(
    value: bytes | None, topic: str, partition: int, offset: int
) -> list[tuple[str, Item]]:
    """One Kafka message → (routing key, item) pairs: one ChangeItem per record keyed by GSRN,
    or one UnreadableItem. Never raises: bad input cannot stop the flow."""
    document = parse_or_park(parse_document, InvalidMasterData, value, topic, partition, offset)
    if isinstance(document, UnreadableItem):
        return [(DEAD_LETTER_KEY, document)]
    return [
        (change.record.gsrn, ChangeItem(change, value or b"", topic, partition, offset))
        for change in document_changes(document)
    ]


def apply_batch(conn: Conn, items: Sequence[Item], *, topic: str) -> BatchOutcome:
    """Apply a batch in one transaction (see the module docstring)."""
    outcome = BatchOutcome()
    by_point: dict[str, list[ChangeItem]] = {}
    for item in items:
        if isinstance(item, ChangeItem):
            by_point.setdefault(item.change.record.gsrn, []).append(item)
    with conn.transaction():
        for item in items:
            if isinstance(item, UnreadableItem):
                _unreadable(conn, item, outcome)
        for gsrn in sorted(by_point):
            _apply_point(conn, gsrn, by_point[gsrn], outcome, topic)
    return outcome


def _unreadable(conn: Conn, item: UnreadableItem, outcome: BatchOutcome) -> None:
    letter = store.add_dead_letter(
        conn,
        message_id=item.message_id,
        topic=item.topic,
        reason_code=item.reason_code,
        detail=item.detail,
        payload=item.payload,
        partition=item.partition,
        offset=item.offset,
    )
    if letter is None:
        outcome.duplicates += 1
        return
    outcome.dead_letters[item.reason_code] += 1
    outcome.new_dead_letters.append((item.reason_code, item.detail, item.payload, item.message_id))
    if item.message_id:
        store.record_document(conn, item.message_id, item.topic, "DeadLettered", item.detail)


def _apply_point(
    conn: Conn, gsrn: str, items: list[ChangeItem], outcome: BatchOutcome, topic: str
) -> None:
    store.lock_metering_point(conn, gsrn)
    keys = [i.change.key for i in items]
    seen = store.seen_keys(conn, keys)
    fresh: dict[tuple[str, str], ChangeItem] = {}
    for item in items:
        if item.change.key not in seen:
            fresh.setdefault(item.change.key, item)
    outcome.duplicates += len(items) - len(fresh)
    if not fresh:
        return
    waiting = {p.change.key: p for p in store.pending(conn, gsrn)}
    admission = _admit_and_apply(
        conn, gsrn, [i.change for i in fresh.values()], waiting, outcome, topic
    )
    for key, item in fresh.items():
        rejection = admission.rejected.get(key)
        if rejection is None:
            store.record_document(conn, item.change.message_id, item.topic, "Processed")
            continue
        _wait(conn, item, rejection, outcome)


def _admit_and_apply(
    conn: Conn,
    gsrn: str,
    fresh: list[MasterDataChange],
    waiting: dict[tuple[str, str], store.Pending],
    outcome: BatchOutcome,
    topic: str,
) -> rules.Admission:
    accepted = store.history(conn, gsrn)
    admission = rules.admit(accepted, [*fresh, *(p.change for p in waiting.values())])
    if admission.admitted:
        store.append_events(conn, admission.admitted)
        full = [*accepted, *admission.admitted]
        states = {s.change.key: s.outcome for s in rules.fold(full)}
        events = []
        for change in sorted(admission.admitted, key=rules.order_key):
            state = states[change.key]
            assert isinstance(state, rules.MasterData)
            eid = store.event_id(change)
            events.append(
                (eid, gsrn, rules.event_type(change), rules.domain_event(str(eid), change, state))
            )
        store.add_outbox(conn, events)
        store.unpark(conn, [c.key for c in admission.admitted if c.key in waiting], topic)
        project(conn, gsrn, full)
        outcome.applied += len(admission.admitted)
        outcome.events += len(events)
    for key, rejection in admission.rejected.items():
        if key in waiting and waiting[key].detail != rejection.detail:
            store.update_pending_reason(conn, key, rejection.code, rejection.detail)
    return admission


def _wait(conn: Conn, item: ChangeItem, rejection: rules.Rejection, outcome: BatchOutcome) -> None:
    change = item.change
    where = f"{item.topic}[{item.partition}]@{item.offset}"
    detail = (
        f"{where}: {change.process_type} record {change.record.transaction_id}: {rejection.detail}"
    )
    letter = store.add_dead_letter(
        conn,
        message_id=change.message_id,
        topic=item.topic,
        reason_code=rejection.code,
        detail=detail,
        payload=item.payload,
        partition=item.partition,
        offset=item.offset,
    )
    if letter is not None:
        outcome.new_dead_letters.append((rejection.code, detail, item.payload, change.message_id))
    else:
        letter = store.reopen_dead_letter(conn, item.topic, item.payload, rejection.code, detail)
    store.park(conn, change, rejection.code, rejection.detail, letter)
    store.record_document(conn, change.message_id, item.topic, "DeadLettered", detail)
    outcome.waiting += 1
    outcome.dead_letters[rejection.code] += 1


def project(conn: Conn, gsrn: str, history: Sequence[MasterDataChange]) -> None:
    """Recompute the point's validity intervals and its current-view row from its history."""
    found = rules.versions(history)
    areas = store.price_areas(conn, {v.state.grid_area for v in found if v.state.grid_area})
    rows = []
    for version in found:
        state = version.state
        area = areas.get(state.grid_area or "")
        rows.append(
            store.VersionRow(
                gsrn=gsrn,
                valid_from=version.valid_from,
                valid_to=version.valid_to,
                type=state.type,
                parent_gsrn=state.parent_gsrn,
                grid_area_code=state.grid_area,
                price_area=area[0] if area else None,
                grid_operator_gln=state.grid_operator_gln or (area[1] if area else None),
                resolution=state.resolution,
                settlement_method=state.settlement_method,
                metering_method=state.metering_method,
                connection_status=state.connection_status,
                production_obligation=state.production_obligation,
                supplier_gln=state.supplier_gln,
                supply_start=state.supply_start,
                net_settlement_group=state.net_settlement_group,
                meter_id=state.meter_id,
                event_id=store.event_id(version.change),
            )
        )
    store.replace_versions(conn, gsrn, rows)
    if found:
        last = found[-1].state
        store.upsert_current(conn, rows[-1], last.connected_at, last.closed_down_at)


def rebuild_projection(conn: Conn) -> int:
    """Recompute every point's projection from the events alone; returns the number of points."""
    gsrns = store.all_gsrns(conn)
    with conn.transaction():
        for gsrn in gsrns:
            store.lock_metering_point(conn, gsrn)
            project(conn, gsrn, store.history(conn, gsrn))
    return len(gsrns)


@dataclass(frozen=True)
class ReplayOutcome:
    applied: int
    still_waiting: int
    reparsed: int
    still_unreadable: int


def replay(conn: Conn, *, topic: str) -> ReplayOutcome:
    """Retry every waiting record, then re-parse the topic's unreadable dead letters."""
    outcome = BatchOutcome()
    with conn.transaction():
        for gsrn in store.pending_gsrns(conn):
            store.lock_metering_point(conn, gsrn)
            waiting = {p.change.key: p for p in store.pending(conn, gsrn)}
            _admit_and_apply(conn, gsrn, [], waiting, outcome, topic)
    reparsed = unreadable = 0
    for letter, payload, partition, offset in store.open_dead_letters(conn, topic):
        items = [i for _k, i in message_items(payload, topic, partition or 0, offset or 0)]
        if any(isinstance(i, UnreadableItem) for i in items):
            unreadable += 1
            continue
        with conn.transaction():
            # Resolve first: the batch may park a record of it again under the same bytes.
            store.resolve_dead_letter(conn, letter, "replayed: parses now")
            result = apply_batch(conn, items, topic=topic)
        outcome.applied += result.applied
        reparsed += 1
    with conn.transaction():
        left = len(store.pending(conn))
    log.info("master-data replay: %d applied, %d still waiting", outcome.applied, left)
    return ReplayOutcome(outcome.applied, left, reparsed, unreadable)
