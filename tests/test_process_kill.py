"""kill -9 of the process relay and of the inbound (master-data) flow in the middle of a lifecycle
scenario loses and doubles nothing: the final state and the published request documents equal
those of an uninterrupted run of the same scenario.

The scenario: 120 metering points, six kinds of process (switch completed, switch rejected,
move-in completed, end of supply, stop of supply E01, BRS-044 forced transfer to us), with
DataHub's answers, notifications, RSM-022 master data and RSM-028 customer data. The killed run
SIGKILLs the relay twice while it publishes and the flow twice while it applies, restarts each,
and finishes; the reference runs each once."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from flows import masterdata
from flows.process_relay import relay
from flows.publisher import publish
from schemas.calendar import local_midnight_utc
from schemas.process_codes import ProcessType
from schemas.settings import Settings, settings
from settlement import processes as run
from settlement.processes import StartRequest
from storage import processes as store
from storage.db import Conn, connect
from tests.conftest import scratch_database
from tests.masterdata_docs import gsrn, rsm022
from tests.process_docs import (
    CUSTOMERS,
    OTHER_SUPPLIER,
    PRODUCT,
    answer,
    customer_data,
    isolated_topics,
    notification,
    outbound_documents,
    portfolio,
    reading,
)

pytestmark = [pytest.mark.services, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[1]
T = ProcessType
NOW = datetime(2026, 10, 1, 8, tzinfo=UTC)
DAY = date(2026, 10, 6)
OURS = "5799999933318"
POINTS = [gsrn(800 + n) for n in range(120)]
# What happens to point n: KINDS[n % 6].
KINDS = ["switch", "rejected", "move-in", "end", "stop", "transfer"]
SUPPLIED_KINDS = {"end", "stop"}
GAINS = {"switch": "E03", "move-in": "E65", "transfer": "D31"}


def _kind(n: int) -> str:
    return KINDS[n % len(KINDS)]


def _customer(n: int) -> int:
    return n % len(CUSTOMERS)


@dataclass
class Run:
    db: str
    tmp: Path
    kill: bool
    kills: int = 0


def _start_requests(conn: Conn) -> dict[str, uuid.UUID]:
    requests = {}
    start = local_midnight_utc(DAY)
    for n, point in enumerate(POINTS):
        kind, customer = _kind(n), CUSTOMERS[_customer(n)]
        req = {
            "switch": StartRequest(T.SUPPLIER_SWITCH, point, start, customer, PRODUCT),
            "rejected": StartRequest(T.SUPPLIER_SWITCH, point, start, customer, PRODUCT),
            "move-in": StartRequest(T.MOVE_IN, point, start, customer, PRODUCT),
            "end": StartRequest(T.END_OF_SUPPLY, point, start),
        }.get(kind)
        if req is not None:
            requests[point] = run.start(conn, req, now=NOW)
    return requests


def _feed(requests: dict[str, uuid.UUID]) -> list[tuple[bytes, bytes]]:
    """DataHub's side of the scenario, in the order DataHub would send it."""
    feed: list[tuple[bytes, bytes]] = []
    start = local_midnight_utc(DAY)
    z = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    for n, point in enumerate(POINTS):
        kind, key, rid = _kind(n), point.encode(), requests.get(point)
        docs: list[bytes] = []
        if rid is not None:
            reasons = (("E16", "Ukendt leverandør"),) if kind == "rejected" else ()
            docs.append(answer(rid, accept=kind != "rejected", reasons=reasons, mrid=f"a-{point}"))
        if kind in GAINS:
            code = GAINS[kind]
            docs += [
                notification(point, DAY, code, new_supplier=OURS, request_id=rid,
                             mrid=f"n-{point}"),
                rsm022(code, point, start, mrid=f"md-{point}", grid_area="344", supply_start=z),
                customer_data(point, DAY, request_id=rid, mrid=f"c-{point}",
                              number=None if kind == "transfer" else f"010190123{_customer(n) + 1}",
                              name=f"Kunde {_customer(n)} hos DataHub", process=code),
            ]  # fmt: skip
        if kind == "stop":
            docs.append(notification(point, DAY, "E01", new_supplier=OTHER_SUPPLIER,
                                     mrid=f"n-{point}"))  # fmt: skip
        feed += [(key, doc) for doc in docs]
    return feed


def _count(db: str, sql: str) -> int:
    with connect(db) as conn:
        row = conn.execute(sql).fetchone()
    return int(row[0]) if row else 0


def _kill_when(r: Run, proc: subprocess.Popen[bytes], sql: str, target: float) -> None:
    """SIGKILL `proc` once the count `sql` reaches `target` (if it is still running)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if _count(r.db, sql) >= target:
            break
        time.sleep(0.01)
    if proc.poll() is None:
        proc.kill()
        r.kills += 1
    proc.wait(timeout=30)


def _relay(r: Run, total: int) -> None:
    if r.kill:
        for fraction in (0.25, 0.6):
            proc = subprocess.Popen(
                [sys.executable, "-m", "flows.process_relay", "--batch", "4"],
                cwd=ROOT,
                stdout=(r.tmp / "relay.log").open("ab"),
                stderr=subprocess.STDOUT,
            )
            sql = "SELECT count(*) FROM outbound_request WHERE status <> 'Queued'"
            _kill_when(r, proc, sql, fraction * total)
    relay(settings(), until_empty=True, batch=4)


def _flow(r: Run, total: int) -> None:
    if r.kill:
        for fraction in (0.3, 0.7):
            (proc,) = masterdata.start(settings(), until_end=True, log_dir=r.tmp)
            _kill_when(r, proc, "SELECT count(*) FROM processed_message_id", fraction * total)
    (proc,) = masterdata.start(settings(), until_end=True, log_dir=r.tmp)
    assert proc.wait(timeout=300) == 0, (r.tmp / "masterdata-0.log").read_text()[-3000:]


def _scenario(monkeypatch: pytest.MonkeyPatch, r: Run) -> dict[str, Any]:
    isolated_topics(monkeypatch, r.tmp, r.db)
    supplied = {
        p: (CUSTOMERS[_customer(n)], date(2026, 1, 1))
        for n, p in enumerate(POINTS)
        if _kind(n) in SUPPLIED_KINDS
    }
    with connect(r.db, autocommit=True) as conn:
        portfolio(conn, supplied=supplied, points=POINTS)
        requests = _start_requests(conn)
    _relay(r, len(requests))
    feed = _feed(requests)
    publish(settings(), settings().masterdata_topic, feed, partitions=2)
    _flow(r, len(feed))
    with connect(r.db, autocommit=True) as conn:
        for n, point in enumerate(POINTS):
            if _kind(n) in GAINS:
                reading(conn, point, DAY)
        run.advance(conn, now=local_midnight_utc(DAY + timedelta(days=1)))
        return {"state": _state(conn), "published": _published(settings(), requests)}


def _published(cfg: Settings, requests: dict[str, uuid.UUID]) -> list[str]:
    """The outbound documents with our random ids replaced by their metering point; each
    request exactly once."""
    found = outbound_documents(cfg)
    counts = Counter(request_id for request_id, _doc in found)
    assert set(counts) == set(requests.values()) and max(counts.values()) == 1
    by_id = {str(v): k for k, v in requests.items()}
    normal = []
    for request_id, document in found:
        text = json.dumps(document, sort_keys=True).replace(str(request_id), by_id[str(request_id)])
        body = json.loads(text)["RequestChangeOfSupplier_MarketDocument"]
        body["mRID"] = "document"
        normal.append(json.dumps(body, sort_keys=True))
    return sorted(normal)


def _state(conn: Conn) -> dict[str, Any]:
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted(tuple(r) for r in conn.execute(sql).fetchall())

    outbound = {r[0]: r[1] for r in store.outbound_rows(conn)}
    requests = sorted(
        (
            r.gsrn,
            r.type,
            r.status,
            r.initiator,
            tuple(e.event_type for e in store.events(conn, r.id)),
            outbound.get(r.id),
            str(r.customer_id),
        )
        for r in store.requests(conn)
    )
    return {
        "requests": requests,
        "supply": rows("SELECT gsrn, start_date, end_date, end_reason FROM supply_period"),
        "contracts": rows("SELECT gsrn, customer_id::text, start_date, end_date FROM contract"),
        "customers": rows(
            "SELECT id::text, name, cpr_cvr, contact_type, email, phone, address FROM customer"
        ),
        "dead": rows("SELECT original_message_id, reason_code FROM dead_letter_message"),
        "inbound": rows("SELECT data_hub_message_id, status FROM inbound_message"),
        "claims": rows("SELECT count(*) FROM processed_message_id"),
        "events": rows("SELECT count(*) FROM process_event"),
        "md_events": rows("SELECT gsrn, process_type, effective_at FROM metering_point_event"),
        "versions": rows(
            "SELECT gsrn, valid_from, valid_to, supplier_gln FROM metering_point_version"
        ),
    }


def test_kill_9_of_relay_and_flow_mid_scenario_equals_an_uninterrupted_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db: str
) -> None:
    (tmp_path / "killed").mkdir()
    (tmp_path / "reference").mkdir()
    killed = Run(db, tmp_path / "killed", kill=True)
    result = _scenario(monkeypatch, killed)
    with scratch_database(migrated=True) as other:
        reference = _scenario(monkeypatch, Run(other, tmp_path / "reference", kill=False))
    assert killed.kills >= 3, f"only {killed.kills} SIGKILLs landed; make the scenario longer"
    assert result["published"] == reference["published"]
    assert result["state"] == reference["state"]
    state = reference["state"]
    statuses = Counter((t, s) for _g, t, s, *_rest in state["requests"])
    assert statuses == Counter({
        ("SupplierSwitch", "Completed"): 40, ("SupplierSwitch", "Rejected"): 20,
        ("MoveIn", "Completed"): 20, ("EndOfSupply", "Completed"): 20,
        ("ForcedEndOfSupply", "Completed"): 20,
    })  # fmt: skip
    assert state["dead"] == []
