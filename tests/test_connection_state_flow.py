"""Every row of MARKET_PROCESSES.md §3 (the connection-state machine), accepted and rejected,
through the real broker, the real master-data Bytewax flow and the real database.

All cases are published on one topic (each on its own metering point, key = GSRN) and the flow
runs once to the end; each case then checks the point's projection (connection status of every
validity interval) and the dead letters of its documents with DataHub's reason code."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from flows import masterdata
from flows.publisher import publish
from storage.db import connect
from tests.conftest import scratch_database, use_database
from tests.masterdata_docs import gsrn, rsm022

pytestmark = pytest.mark.services

START = datetime(2026, 9, 30, 22, tzinfo=UTC)  # local midnight of 1 October 2026


@dataclass(frozen=True)
class Doc:
    process: str
    day: int  # of October 2026, local midnight
    kwargs: dict[str, Any] = field(default_factory=dict)


def _create(**kwargs: Any) -> Doc:
    return Doc("E02", 1, kwargs)


CONNECTED = [_create(), Doc("D15", 5)]
DISCONNECT, RECONNECT = {"state": "E23"}, {"state": "E22"}
CLOSED = [*CONNECTED, Doc("D14", 10)]

# name → (documents of one point in effective order, statuses of its validity intervals,
#         reason codes of its dead letters)
CASES: dict[str, tuple[list[Doc], list[str], list[str]]] = {
    "create: new": ([_create()], ["New"], []),
    "connect a New point": (CONNECTED, ["New", "Connected"], []),
    "disconnect, reconnect": (
        [*CONNECTED, Doc("E79", 10, DISCONNECT), Doc("E79", 15, RECONNECT)],
        ["New", "Connected", "Disconnected", "Connected"],
        [],
    ),
    "close down a Connected point": (CLOSED, ["New", "Connected", "ClosedDown"], []),
    "close down a New point": ([_create(), Doc("D14", 5)], ["New", "ClosedDown"], []),
    "master data update": (
        [*CONNECTED, Doc("E32", 12, {"grid_area": "344"})],
        ["New", "Connected", "Connected"],
        [],
    ),
    "D16 connect when not New": (
        [*CONNECTED, Doc("D15", 8)],
        ["New", "Connected"],
        ["D16"],
    ),
    "D16 disconnect a Disconnected point": (
        [*CONNECTED, Doc("E79", 10, DISCONNECT), Doc("E79", 15, DISCONNECT)],
        ["New", "Connected", "Disconnected"],
        ["D16"],
    ),
    "D16 reconnect a Connected point": (
        [*CONNECTED, Doc("E79", 10, RECONNECT)],
        ["New", "Connected"],
        ["D16"],
    ),
    "D16 disconnect after close down": (
        [*CLOSED, Doc("E79", 15, DISCONNECT)],
        ["New", "Connected", "ClosedDown"],
        ["D16"],
    ),
    "D16 close down twice": (
        [*CLOSED, Doc("D14", 15)],
        ["New", "Connected", "ClosedDown"],
        ["D16"],
    ),
    "D16 master data on a closed-down point": (
        [*CLOSED, Doc("E32", 15, {"grid_area": "344"})],
        ["New", "Connected", "ClosedDown"],
        ["D16"],
    ),
    "D16 create of an existing GSRN": (
        [*CONNECTED, Doc("E02", 20)],
        ["New", "Connected"],
        ["D16"],
    ),
    "D36 connect without a supplier": (
        [_create(supply_start=None), Doc("D15", 5, {"supply_start": None})],
        ["New"],
        ["D36"],
    ),
    "E10 unknown point": ([Doc("D15", 5)], [], ["E10"]),
    "E17 effective before the creation": (
        [Doc("D15", 3), Doc("E02", 4)],
        ["New"],
        ["E17"],
    ),
}
NAMES = sorted(CASES)


def _point(name: str) -> str:
    return gsrn(5000 + NAMES.index(name))


def _mrid(name: str, n: int) -> str:
    return f"sm{NAMES.index(name)}-{n}"


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The database after one run of the flow over every case's documents."""
    tmp_path = tmp_path_factory.mktemp("state-machine")
    monkeypatch = pytest.MonkeyPatch()
    from schemas.settings import settings

    with scratch_database(migrated=True) as url:
        with connect(url) as conn:
            conn.execute(
                """INSERT INTO grid_area VALUES ('031', '5790001333421', 'Net 031', 'DK1'),
                                                ('344', '5790000610976', 'Net 344', 'DK2')"""
            )
        monkeypatch.setenv("ELFLOW_MASTERDATA_TOPIC", f"test.md.sm.{uuid.uuid4().hex[:12]}")
        monkeypatch.setenv("ELFLOW_RECOVERY_DIR", str(tmp_path / "recovery"))
        use_database(monkeypatch, url)
        cfg = settings()
        feed = []
        for name in NAMES:
            point = _point(name)
            for n, doc in enumerate(CASES[name][0]):
                effective = START + timedelta(days=doc.day - 1)
                body = rsm022(doc.process, point, effective, mrid=_mrid(name, n), **doc.kwargs)
                feed.append((point.encode(), body))
        publish(cfg, cfg.masterdata_topic, feed, partitions=2)
        (proc,) = masterdata.start(cfg, until_end=True, log_dir=tmp_path)
        assert proc.wait(timeout=300) == 0, (tmp_path / "masterdata-0.log").read_text()[-3000:]
        yield url
    monkeypatch.undo()
    settings.cache_clear()


@pytest.mark.parametrize("name", NAMES)
def test_each_state_machine_row_through_the_flow(outcome: str, name: str) -> None:
    documents, statuses, reasons = CASES[name]
    point = _point(name)
    mrids = [_mrid(name, n) for n in range(len(documents))]
    with connect(outcome) as conn:
        found = conn.execute(
            "SELECT connection_status FROM metering_point_version WHERE gsrn = %s"
            " ORDER BY valid_from",
            (point,),
        ).fetchall()
        assert [r[0] for r in found] == statuses
        current = conn.execute(
            "SELECT connection_status FROM metering_point WHERE gsrn = %s", (point,)
        ).fetchone()
        assert (current[0] if current else None) == (statuses[-1] if statuses else None)
        dead = conn.execute(
            """SELECT reason_code, error_reason FROM dead_letter_message
               WHERE original_message_id = ANY(%s) AND NOT resolved ORDER BY reason_code""",
            (mrids,),
        ).fetchall()
        assert sorted(r[0] for r in dead) == sorted(reasons)
        assert all(point in r[1] and "\n" not in r[1] for r in dead)
        applied = conn.execute(
            "SELECT count(*) FROM metering_point_event WHERE gsrn = %s", (point,)
        ).fetchone()
        assert applied is not None and applied[0] == len(documents) - len(reasons)
