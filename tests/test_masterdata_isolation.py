"""The master-data sink: a message the database refuses fails only itself.

The refusal is real: a trigger in the test's own database raises for one metering point, the way
a constraint would. The sink applies the batch, is refused, applies it message by message and
dead-letters (`database_rejected`) only the refused message; the other is applied.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from flows.masterdata import FlowItem, _Partition
from schemas.settings import settings
from settlement.masterdata import message_items
from storage.db import connect
from tests.masterdata_docs import gsrn, rsm022

pytestmark = pytest.mark.services

TOPIC = "datahub.masterdata"
GOOD, REFUSED = gsrn(11), gsrn(12)


def test_a_refused_message_is_dead_lettered_and_the_rest_of_the_batch_applied(db: str) -> None:
    created = datetime(2026, 9, 1, 22, tzinfo=UTC)
    with connect(db) as conn:
        conn.execute("""INSERT INTO grid_area VALUES ('031', '5790001333421', 'Net 031', 'DK1')""")
        conn.execute(
            f"""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.gsrn = '{REFUSED}' THEN
                        RAISE EXCEPTION 'refused for the test' USING ERRCODE = '23514';
                    END IF;
                    RETURN NEW;
                END $$"""
        )
        conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON metering_point_event "
            "FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
        conn.commit()
    values: list[FlowItem] = []
    for offset, point in enumerate((GOOD, REFUSED)):
        raw = rsm022("E02", point, created, mrid=f"create-{offset}")
        values += [item for _key, item in message_items(raw, TOPIC, 0, offset)]

    partition = _Partition(settings())
    try:
        outcome = partition._apply(values)
    finally:
        partition.close()

    assert outcome.applied == 1
    assert dict(outcome.dead_letters) == {"database_rejected": 1}
    with connect(db) as conn:
        events = conn.execute("SELECT gsrn FROM metering_point_event").fetchall()
        letters = conn.execute(
            "SELECT reason_code, error_reason, kafka_offset FROM dead_letter_message"
        ).fetchall()
    assert events == [(GOOD,)]
    [(reason, detail, offset)] = letters
    assert (reason, offset) == ("database_rejected", 1)
    assert "refused for the test" in detail and "23514" in detail


def test_readings_replay_leaves_master_data_dead_letters_to_their_own_replay(db: str) -> None:
    from flows.replay import replay_dead_letters
    from settlement.masterdata import apply_batch

    [(_key, unreadable)] = message_items(b"<not master data", TOPIC, 0, 7)
    with connect(db) as conn:
        apply_batch(conn, [unreadable], topic=TOPIC)
        conn.commit()
        before = conn.execute(
            "SELECT reason_code, error_reason FROM dead_letter_message"
        ).fetchall()
        outcomes = replay_dead_letters(conn, settings())
        after = conn.execute("SELECT reason_code, error_reason FROM dead_letter_message").fetchall()
    assert len(before) == 1 and before[0][0] == "unparseable"
    assert outcomes == []  # not re-parsed as RSM-012
    assert after == before
