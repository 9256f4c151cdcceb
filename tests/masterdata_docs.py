"""RSM-022 test documents in the real shape: DataHub's CIM sample with the fields of a case."""

from __future__ import annotations

import re
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

from storage.db import Conn

SAMPLE = (
    (
        Path(__file__).parent
        / "fixtures"
        / "market"
        / "rsm022-cim-accounting-point-characteristics.xml"
    )
    .read_bytes()
    .decode("utf-8-sig")
)
SUPPLIER = "5799999933318"


def gsrn(n: int) -> str:
    """A valid GSRN (GS1 check digit) numbered n."""
    from schemas.rsm012 import gsrn_check_digit

    body = f"57131313{n:09d}"
    return body + str(gsrn_check_digit(body))


def _set(xml: str, element: str, value: str | None) -> str:
    pattern = re.compile(rf"<cim:{re.escape(element)}( [^>]*)?>[^<]*</cim:{re.escape(element)}>")
    if value is None:
        return pattern.sub("", xml, count=1)
    return pattern.sub(
        lambda m: f"<cim:{element}{m.group(1) or ''}>{value}</cim:{element}>", xml, count=1
    )


def rsm022(
    process: str,
    point: str,
    effective: datetime,
    *,
    mrid: str,
    mp_type: str = "E17",
    state: str | None = None,
    grid_area: str = "031",
    settlement: str | None = "E02",
    supply_start: str | None = "2019-02-11T23:00:00Z",
    created: str = "2026-09-20T09:30:47Z",
) -> bytes:
    """CIM XML of one record; `state` is the record's connectionState (E79: E22/E23)."""
    xml = SAMPLE
    xml = xml.replace("<cim:mRID>25365897</cim:mRID>", f"<cim:mRID>{mrid}</cim:mRID>", 1)
    xml = xml.replace("<cim:mRID>2536982547</cim:mRID>", f"<cim:mRID>{mrid}-1</cim:mRID>", 1)
    xml = _set(xml, "process.processType", process)
    xml = _set(xml, "createdDateTime", created)
    xml = xml.replace("579999993331812345", point)
    xml = _set(
        xml, "validityStart_DateAndOrTime.dateTime", effective.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    xml = xml.replace("<cim:type>E17</cim:type>", f"<cim:type>{mp_type}</cim:type>", 1)
    xml = _set(
        xml,
        "connectionState",
        state if state is not None else ("E22" if process != "E02" else "D03"),
    )
    xml = _set(xml, "meteringGridArea_Domain.mRID", grid_area)
    xml = _set(xml, "settlementMethod", settlement)
    xml = _set(xml, "supplyStart_DateAndOrTime.dateTime", supply_start)
    return xml.encode()


def month_feed(points: int, seed: int) -> list[tuple[bytes, bytes]]:
    """Each point's month (create 1st, connect 5th, move to 344 on the 12th, disconnect 20th,
    reconnect 24th, close down 28th of October 2026), each point's documents in a shuffled
    order, key = GSRN; every 10th point also gets a reconnect of a Connected point on the 8th
    (never valid), and two unreadable messages."""
    import random
    from datetime import UTC, timedelta

    rng = random.Random(seed)
    start = datetime(2026, 9, 30, 22, tzinfo=UTC)  # local midnight of 1 October

    def at(day: int) -> datetime:
        return start + timedelta(days=day - 1)

    messages: list[tuple[bytes, bytes]] = []
    for n in range(points):
        point = gsrn(1000 + n)
        key = point.encode()
        docs = [
            rsm022("E02", point, at(1), mrid=f"{n}-create"),
            rsm022("D15", point, at(5), mrid=f"{n}-connect"),
            rsm022("E32", point, at(12), mrid=f"{n}-move", grid_area="344"),
            rsm022("E79", point, at(20), mrid=f"{n}-disconnect", state="E23", grid_area="344"),
            rsm022("E79", point, at(24), mrid=f"{n}-reconnect", state="E22", grid_area="344"),
            rsm022("D14", point, at(28), mrid=f"{n}-close", grid_area="344"),
        ]
        if n % 10 == 0:
            docs.append(rsm022("E79", point, at(8), mrid=f"{n}-bad-reconnect", state="E22"))
        rng.shuffle(docs)
        messages.extend((key, doc) for doc in docs)
    messages.insert(len(messages) // 3, (b"junk", b"<not xml"))
    messages.insert(
        2 * len(messages) // 3, (b"junk", b'{"AccountingPointCharacteristics_MarketDocument": 1}')
    )
    return messages


def state(conn: Conn) -> dict[str, Any]:
    """Everything the flow decides, without arrival times and random row ids."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return conn.execute(sql).fetchall()

    return {
        "versions": rows("SELECT * FROM metering_point_version ORDER BY gsrn, valid_from"),
        "events": rows(
            "SELECT id, gsrn, message_id, transaction_id, process_type, effective_at, change"
            " FROM metering_point_event ORDER BY id"
        ),
        "outbox": rows(
            "SELECT event_id, gsrn, event_type, payload FROM metering_point_outbox ORDER BY event_id"
        ),
        "current": rows("SELECT * FROM metering_point ORDER BY gsrn"),
        "pending": rows(
            "SELECT message_id, transaction_id, reason_code FROM metering_point_pending ORDER BY 1, 2"
        ),
        "dead": Counter(
            rows("SELECT original_message_id, reason_code, resolved FROM dead_letter_message")
        ),
        "inbound": rows("SELECT data_hub_message_id, status FROM inbound_message ORDER BY 1"),
    }
