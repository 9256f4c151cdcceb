"""Applying RSM-022 records to the real database: history, projection, waiting records, outbox."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import psycopg
import pytest

from settlement.masterdata import Item, apply_batch, message_items, rebuild_projection, replay
from storage.db import Conn, connect
from tests.masterdata_docs import gsrn, rsm022, state

pytestmark = pytest.mark.services

TOPIC = "datahub.masterdata"
POINT = gsrn(7)


def _at(day: int) -> datetime:
    return datetime(2026, 9, day, 22, tzinfo=UTC)


LIFE = [
    rsm022("E02", POINT, _at(1), mrid="create"),
    rsm022("D15", POINT, _at(5), mrid="connect"),
    rsm022("E32", POINT, _at(12), mrid="move", grid_area="344"),
    rsm022("E79", POINT, _at(20), mrid="disconnect", state="E23", grid_area="344"),
    rsm022("E79", POINT, _at(24), mrid="reconnect", state="E22", grid_area="344"),
    rsm022("D14", POINT, _at(28), mrid="close", grid_area="344"),
]


IN_ORDER = [
    (1, "New", "031"),
    (5, "Connected", "031"),
    (12, "Connected", "344"),
    (20, "Disconnected", "344"),
    (24, "Connected", "344"),
    (28, "ClosedDown", "344"),
]


def _items(raw: bytes, offset: int = 0) -> list[Item]:
    return [item for _key, item in message_items(raw, TOPIC, 0, offset)]


def _grid_areas(conn: Conn) -> None:
    conn.execute(
        """INSERT INTO grid_area VALUES ('031', '5790001333421', 'Net 031', 'DK1'),
                                        ('344', '5790000610976', 'Net 344', 'DK2')"""
    )
    conn.commit()


def test_the_month_applied_in_order_gives_six_intervals_events_and_the_current_row(db: str) -> None:
    with connect(db) as conn:
        _grid_areas(conn)
        for offset, raw in enumerate(LIFE):
            outcome = apply_batch(conn, _items(raw, offset), topic=TOPIC)
            assert (outcome.applied, outcome.waiting) == (1, 0)
        found = state(conn)
        statuses = [(v[1].astimezone(UTC).day, v[11], v[5], v[6]) for v in found["versions"]]
        assert [s[:3] for s in statuses] == IN_ORDER
        assert statuses == [
            (1, "New", "031", "DK1"),
            (5, "Connected", "031", "DK1"),
            (12, "Connected", "344", "DK2"),
            (20, "Disconnected", "344", "DK2"),
            (24, "Connected", "344", "DK2"),
            (28, "ClosedDown", "344", "DK2"),
        ]
        assert [e[2] for e in sorted(found["outbox"], key=lambda e: e[3]["effective"])] == [
            "MeteringPointCreated",
            "MeteringPointConnected",
            "MeteringPointMasterDataChanged",
            "MeteringPointDisconnected",
            "MeteringPointReconnected",
            "MeteringPointClosedDown",
        ]
        created = next(e[3] for e in found["outbox"] if e[2] == "MeteringPointCreated")
        assert (created["gsrn"], created["metering_point_type"], created["schema_version"]) == (
            POINT,
            "E17",
            1,
        )
        (current,) = found["current"]
        assert current[:6] == (
            POINT,
            "E17_Consumption",
            "NonProfiled",
            "ClosedDown",
            "344",
            "5790000610976",
        )
        assert (current[6], current[7]) == (_at(5), _at(28))
        statuses_in = conn.execute("SELECT DISTINCT status FROM inbound_message").fetchall()
        assert statuses_in == [("Processed",)]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_shuffled_arrivals_end_as_the_in_order_run(db: str, seed: int) -> None:
    arrivals = list(enumerate(LIFE))
    random.Random(seed).shuffle(arrivals)
    with connect(db) as conn:
        _grid_areas(conn)
        for offset, raw in arrivals:
            apply_batch(conn, _items(raw, offset), topic=TOPIC)
        shuffled = state(conn)
        open_letters = conn.execute(
            "SELECT count(*) FROM dead_letter_message WHERE NOT resolved"
        ).fetchone()
    assert shuffled["pending"] == []
    assert open_letters == (0,)
    assert [(v[1].astimezone(UTC).day, v[11], v[5]) for v in shuffled["versions"]] == IN_ORDER
    assert len(shuffled["events"]) == len(shuffled["outbox"]) == 6


def test_a_contradicting_record_waits_and_applies_once_the_missing_one_arrives(db: str) -> None:
    with connect(db) as conn:
        _grid_areas(conn)
        for raw in LIFE[:3]:
            apply_batch(conn, _items(raw), topic=TOPIC)
        outcome = apply_batch(
            conn, _items(LIFE[4], 4), topic=TOPIC
        )  # reconnect of a Connected point
        assert (outcome.applied, outcome.waiting, dict(outcome.dead_letters)) == (0, 1, {"D16": 1})
        letter = conn.execute(
            "SELECT reason_code, error_reason, resolved FROM dead_letter_message"
        ).fetchone()
        assert letter is not None and letter[0] == "D16" and not letter[2]
        assert "\n" not in letter[1] and "only a Disconnected point is reconnected" in letter[1]
        assert conn.execute(
            "SELECT status FROM inbound_message WHERE data_hub_message_id = 'reconnect'"
        ).fetchone() == ("DeadLettered",)
        # Redelivered while waiting: a duplicate, nothing new.
        again = apply_batch(conn, _items(LIFE[4], 4), topic=TOPIC)
        assert (again.duplicates, again.waiting) == (1, 0)
        # The disconnect arrives: both apply, the dead letter is resolved.
        outcome = apply_batch(conn, _items(LIFE[3], 3), topic=TOPIC)
        assert outcome.applied == 2
        assert conn.execute("SELECT resolved FROM dead_letter_message").fetchone() == (True,)
        assert conn.execute(
            "SELECT status FROM inbound_message WHERE data_hub_message_id = 'reconnect'"
        ).fetchone() == ("Processed",)
        assert state(conn)["pending"] == []


def test_redelivery_changes_nothing(db: str) -> None:
    with connect(db) as conn:
        _grid_areas(conn)
        for raw in LIFE:
            apply_batch(conn, _items(raw), topic=TOPIC)
        before = state(conn)
        outcome = apply_batch(conn, [i for raw in LIFE for i in _items(raw)], topic=TOPIC)
        assert (outcome.applied, outcome.duplicates) == (0, 6)
        assert state(conn) == before


def test_the_projection_rebuilt_from_the_events_alone_is_identical(db: str) -> None:
    with connect(db) as conn:
        _grid_areas(conn)
        others = [rsm022("E02", gsrn(20 + n), _at(2), mrid=f"c{n}") for n in range(5)]
        for raw in [*LIFE, *others, rsm022("D15", gsrn(21), _at(9), mrid="c-connect")]:
            apply_batch(conn, _items(raw), topic=TOPIC)
        before = state(conn)
        conn.execute("DELETE FROM metering_point_version")
        conn.execute(
            "UPDATE metering_point SET connection_status = 'Connected', activated_at = NULL"
        )
        conn.commit()
        assert rebuild_projection(conn) == 6
        after = state(conn)
    assert after == before
    assert len(before["versions"]) == 6 + 5 + 1


def test_events_are_append_only(db: str) -> None:
    with connect(db) as conn:
        apply_batch(conn, _items(LIFE[0]), topic=TOPIC)
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("UPDATE metering_point_event SET effective_at = now()")
        conn.rollback()
        with pytest.raises(psycopg.errors.RaiseException, match="append-only"):
            conn.execute("DELETE FROM metering_point_event")


def test_unreadable_bytes_are_a_dead_letter_and_replay_retries_what_waits(db: str) -> None:
    from storage import metering_points as store

    with connect(db) as conn:
        outcome = apply_batch(conn, _items(b"<not xml", 9), topic=TOPIC)
        assert dict(outcome.dead_letters) == {"unparseable": 1}
        apply_batch(conn, _items(LIFE[1], 1), topic=TOPIC)  # connect before the create: E10
        assert state(conn)["pending"] == [("connect", "connect-1", "E10")]
        # The create reaches the history by another path than the flow (which would have
        # retried the waiting connect itself); replay retries what waits.
        (create,) = [i.change for i in _items(LIFE[0]) if hasattr(i, "change")]
        with conn.transaction():
            store.append_events(conn, [create])
        result = replay(conn, topic=TOPIC)
        assert (result.applied, result.still_waiting, result.still_unreadable) == (1, 0, 1)
        assert [v[11] for v in state(conn)["versions"]] == ["New", "Connected"]
