"""An independent, slow, obviously-correct model of what ingest must store: used by tests to
check the database against (current values, daily summaries, dead letters)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from schemas.bands import DEFAULT_BANDS, band_of
from schemas.calendar import expected_slots, local_date
from schemas.rsm012 import InvalidDocument, Reading, document_readings, parse_document
from storage.db import Conn

ZERO = Decimal("0.000")


@dataclass(frozen=True)
class DaySummary:
    total_kwh: Decimal
    peak_kwh: Decimal
    off_peak_kwh: Decimal
    super_peak_kwh: Decimal
    points_received: int
    points_expected: int
    missing_count: int


@dataclass
class Expected:
    current: dict[tuple[str, datetime], Reading]
    versions: int
    transactions: set[tuple[str, str]]
    dead_letters: int

    def summaries(self) -> dict[tuple[str, date], DaySummary]:
        by_day: dict[tuple[str, date], list[Reading]] = defaultdict(list)
        for (gsrn, ts), reading in self.current.items():
            by_day[(gsrn, local_date(ts))].append(reading)
        out = {}
        for (gsrn, day), readings in by_day.items():
            sums = {"peak": ZERO, "off_peak": ZERO, "super_peak": ZERO}
            for r in readings:
                if r.quantity is not None:
                    sums[band_of(r.ts, DEFAULT_BANDS)] += r.quantity
            expected = expected_slots(day, readings[0].resolution)
            present = sum(1 for r in readings if r.quantity is not None)
            out[(gsrn, day)] = DaySummary(
                total_kwh=sum((r.quantity for r in readings if r.quantity is not None), ZERO),
                peak_kwh=sums["peak"],
                off_peak_kwh=sums["off_peak"],
                super_peak_kwh=sums["super_peak"],
                points_received=len(readings),
                points_expected=expected,
                missing_count=expected - present,
            )
        return out


def expected_from(messages: Iterable[bytes]) -> Expected:
    """What the database must hold after ingesting these message values, in any order, any
    number of times: the latest createdDateTime wins per (metering point, timestamp)."""
    current: dict[tuple[str, datetime], Reading] = {}
    transactions: set[tuple[str, str]] = set()
    versions = 0
    dead = 0
    seen_bad: set[bytes] = set()
    for value in messages:
        try:
            document = parse_document(value)
        except InvalidDocument:
            if value not in seen_bad:
                dead += 1
            seen_bad.add(value)
            continue
        for reading in document_readings(document):
            key = (reading.document_id, reading.transaction_id)
            if key in transactions and (reading.gsrn, reading.ts) in current:
                # A redelivered transaction adds no version.
                continue
            versions += 1
            slot = (reading.gsrn, reading.ts)
            old = current.get(slot)
            if old is None or (reading.created, reading.document_id, reading.transaction_id) > (
                old.created,
                old.document_id,
                old.transaction_id,
            ):
                current[slot] = reading
        for series in document.series:
            transactions.add((document.mrid, series.mrid))
    return Expected(current, versions, transactions, dead)


def database_summaries(conn: Conn) -> dict[tuple[str, date], DaySummary]:
    rows = conn.execute(
        """SELECT metering_point_id, date, total_kwh, peak_kwh, off_peak_kwh, super_peak_kwh,
                  points_received, points_expected, missing_count FROM daily_summary"""
    ).fetchall()
    return {(r[0], r[1]): DaySummary(*r[2:]) for r in rows}


def database_current(conn: Conn) -> dict[tuple[str, datetime], Decimal | None]:
    rows = conn.execute(
        """SELECT DISTINCT ON (metering_point_id, "timestamp") metering_point_id, "timestamp",
                  quantity_kwh
           FROM metering_data
           ORDER BY metering_point_id, "timestamp", created_at DESC, source_message_id DESC,
                    transaction_id DESC"""
    ).fetchall()
    return {(r[0], r[1]): r[2] for r in rows}


def database_state(conn: Conn) -> tuple[object, ...]:
    """Everything ingest decides, in a comparable form (no surrogate ids or wall-clock times)."""
    readings = conn.execute(
        """SELECT metering_point_id, "timestamp", resolution, quantity_kwh, quality,
                  source_message_id, transaction_id, created_at
           FROM metering_data ORDER BY 1, 2, 6, 7"""
    ).fetchall()
    summaries = conn.execute(
        """SELECT metering_point_id, date, total_kwh, peak_kwh, off_peak_kwh, super_peak_kwh,
                  resolution, points_received, points_expected, missing_count, estimated_count,
                  slot_kwh
           FROM daily_summary ORDER BY 1, 2"""
    ).fetchall()
    processed = conn.execute(
        "SELECT message_id, transaction_id FROM processed_message_id ORDER BY 1, 2"
    ).fetchall()
    inbound = conn.execute(
        "SELECT data_hub_message_id, status FROM inbound_message ORDER BY 1"
    ).fetchall()
    dead = conn.execute(
        """SELECT reason_code, raw_payload FROM dead_letter_message ORDER BY 1, 2"""
    ).fetchall()
    return (readings, summaries, processed, inbound, dead)
