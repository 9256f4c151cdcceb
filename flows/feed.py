"""A deterministic feed of RSM-012 CIM JSON documents, for the demo and the benchmark.

One document per metering point per local day, as DataHub sends validated data to a
supplier (DGL → DDQ, business reason E23), with the awkward cases a consumer must survive:
estimated and missing points, corrections arriving days later, redelivered duplicates and
malformed documents. Everything is drawn from one `random.Random(seed)`, so a spec always
yields the same bytes.

Malformed documents are extra messages: every metering point still gets exactly one valid
original per day. Quantities are whole watt-hours written as kWh with 3 decimals; the load
model computes with integers, so no float ever becomes an energy value.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Final, Literal, NamedTuple

from schemas.calendar import SLOT_STEPS, day_bounds_utc, local_hour
from schemas.rsm012 import gsrn_check_digit

DATAHUB_GLN: Final = "5790001330552"
SUPPLIER_GLN: Final = "5790001234560"  # a test GLN (valid GS1 check digit), not a real actor
GSRN_PREFIX: Final = "5713131"
METERING_POINT_TYPE: Final = "E17"
DEFAULT_GRID_AREAS: Final = ("344", "740", "131")
MALFORMED_KINDS: Final = (
    "unparseable",
    "bad_gsrn",
    "unknown_resolution",
    "too_many_decimals",
    "wrong_document_type",
)

FeedKind = Literal["original", "correction", "duplicate", "malformed"]

# Relative consumption per local hour (mean ≈ 1000): low at night, a morning bump and the
# evening peak 17–21 that Tarifmodel 3.0 prices as spidslast.
_HOURLY_SHAPE: Final = (
    520, 450, 420, 410, 420, 480, 700, 1050, 1100, 950, 880, 860,
    880, 850, 830, 880, 1050, 1500, 1800, 1750, 1550, 1300, 1050, 750,
)  # fmt: skip
_NOISE_BITS: Final = 9  # each quantity is scaled by a factor in [0.75, 1.25)
_NOISE_FLOOR: Final = 3 << (_NOISE_BITS - 2)
_CORRECTION_DELAY_DAYS: Final = 4  # a correction arrives 0..3 days after its original
_DUPLICATE_WINDOW: Final = 50  # a redelivery follows its original within this many messages
_RATES: Final = (
    "hourly_share",
    "estimated_rate",
    "missing_rate",
    "correction_rate",
    "duplicate_rate",
    "malformed_rate",
)
_QUANTITY = re.compile(r'("quantity":\d+\.\d{3})')


@dataclass(frozen=True)
class FeedSpec:
    metering_points: int = 100
    days: int = 1
    start: date = date(2026, 1, 1)  # first local (Europe/Copenhagen) day
    seed: int = 0
    hourly_share: float = 0.2  # fraction of PT1H meters; the rest are PT15M
    estimated_rate: float = 0.01  # per point: quality A03
    missing_rate: float = 0.002  # per point: no quantity, quality A02
    correction_rate: float = 0.02  # per document: a later correcting document
    duplicate_rate: float = 0.01  # per document: the same key and bytes again
    malformed_rate: float = 0.005  # per document: an extra malformed document
    grid_areas: tuple[str, ...] = DEFAULT_GRID_AREAS

    def __post_init__(self) -> None:
        if not 1 <= self.metering_points <= 10**10:
            raise ValueError("metering_points must be 1..10**10")
        if self.days < 1:
            raise ValueError("days must be at least 1")
        for name in _RATES:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.estimated_rate + self.missing_rate > 1:
            raise ValueError("estimated_rate + missing_rate must not exceed 1")
        if not self.grid_areas:
            raise ValueError("grid_areas must not be empty")


class FeedMessage(NamedTuple):
    key: bytes  # the document mRID
    value: bytes
    kind: str  # one of FeedKind


def gsrn_for(index: int) -> str:
    """The GSRN of metering point `index`: 5713131, the index in 10 digits, a check digit."""
    if not 0 <= index < 10**10:
        raise ValueError(f"index {index} is outside 0..10**10-1")
    body = f"{GSRN_PREFIX}{index:010d}"
    return f"{body}{gsrn_check_digit(body)}"


def grid_area_for(index: int, grid_areas: tuple[str, ...] = DEFAULT_GRID_AREAS) -> str:
    """The grid area of metering point `index`, spread evenly by a multiplicative hash."""
    spread = (index + 1) * 2654435761 % 2**32
    return grid_areas[spread * len(grid_areas) >> 32]


def resolution_for(index: int, hourly_share: float = 0.2) -> str:
    """PT1H for an exact `hourly_share` of any run of consecutive indexes, else PT15M."""
    share = Fraction(str(hourly_share))
    hourly = math.floor((index + 1) * share) > math.floor(index * share)
    return "PT1H" if hourly else "PT15M"


class _Meter(NamedTuple):
    number: int
    gsrn: str
    resolution: str
    wh_per_hour: int  # mean consumption, Wh per hour


class _Day(NamedTuple):
    start: datetime
    end: datetime
    start_text: str
    end_text: str
    season: int  # per mille: ~1300 in January, ~700 in July
    hours: dict[str, tuple[int, ...]]  # resolution → local hour of each slot


class _Pending(NamedTuple):
    meter: _Meter
    day: _Day
    quantities: list[int | None]  # Wh per slot, None = missing
    created: datetime


def generate_feed(spec: FeedSpec) -> Iterator[FeedMessage]:
    """Messages day by day; corrections and redeliveries come later, out of order."""
    rng = random.Random(spec.seed)
    meters = [_meter(i, spec, rng) for i in range(spec.metering_points)]
    corrections: dict[int, list[_Pending]] = {}
    redeliveries: list[tuple[int, FeedMessage]] = []
    sent = 0

    def emit(message: FeedMessage) -> Iterator[FeedMessage]:
        nonlocal sent
        sent += 1
        yield message
        while redeliveries and redeliveries[0][0] <= sent:
            sent += 1
            yield redeliveries.pop(0)[1]

    def maybe_redeliver(message: FeedMessage) -> None:
        if rng.random() < spec.duplicate_rate:
            due = sent + rng.randint(1, _DUPLICATE_WINDOW)
            redeliveries.append((due, FeedMessage(message.key, message.value, "duplicate")))
            redeliveries.sort(key=lambda item: item[0])

    for offset in range(spec.days):
        day = _day(spec.start + timedelta(days=offset))
        order = list(meters)
        rng.shuffle(order)
        for meter in order:
            created = day.end + timedelta(seconds=rng.randint(3600, 6 * 3600))
            quantities = _quantities(meter, day, rng)
            qualities = _qualities(len(quantities), spec, rng)
            for slot, quality in enumerate(qualities):
                if quality == "A02":
                    quantities[slot] = None
            message = _message(meter, day, created, quantities, qualities, rng, "original")
            yield from emit(message)
            maybe_redeliver(message)
            if rng.random() < spec.correction_rate:
                delay = rng.randrange(_CORRECTION_DELAY_DAYS)
                pending = _Pending(meter, day, quantities, created + timedelta(days=delay))
                corrections.setdefault(offset + delay, []).append(pending)
            if rng.random() < spec.malformed_rate:
                yield from emit(_malformed(meter, day, created, quantities, qualities, rng))
        for pending in corrections.pop(offset, []):
            message = _correction(pending, rng)
            yield from emit(message)
            maybe_redeliver(message)
    for offset in sorted(corrections):
        for pending in corrections[offset]:
            yield from emit(_correction(pending, rng))
    for _, message in redeliveries:
        yield message


def _meter(index: int, spec: FeedSpec, rng: random.Random) -> _Meter:
    # Mostly households (1 500–6 000 kWh a year), a few small businesses up to 60 000.
    annual_kwh = rng.randint(1500, 6000) if rng.random() < 0.95 else rng.randint(10000, 60000)
    resolution = resolution_for(index, spec.hourly_share)
    return _Meter(index, gsrn_for(index), resolution, annual_kwh * 1000 // 8760)


def _day(local_day: date) -> _Day:
    start, end = day_bounds_utc(local_day)
    hours: dict[str, tuple[int, ...]] = {}
    for resolution, step in SLOT_STEPS.items():
        slots = (end - start) // step
        hours[resolution] = tuple(local_hour(start + i * step) for i in range(slots))
    day_of_year = local_day.timetuple().tm_yday
    season = 1000 + round(300 * math.cos(2 * math.pi * (day_of_year - 15) / 365.25))
    return _Day(start, end, f"{start:%Y-%m-%dT%H:%MZ}", f"{end:%Y-%m-%dT%H:%MZ}", season, hours)


def _quantities(meter: _Meter, day: _Day, rng: random.Random) -> list[int | None]:
    """Wh per slot: the meter's mean × hourly shape × season × noise, integers throughout."""
    per_hour = 4 if meter.resolution == "PT15M" else 1
    divisor = 1_000_000 * per_hour << _NOISE_BITS
    scale = meter.wh_per_hour * day.season
    bits = rng.getrandbits
    return [
        scale * _HOURLY_SHAPE[hour] * (_NOISE_FLOOR + bits(_NOISE_BITS - 1)) // divisor
        for hour in day.hours[meter.resolution]
    ]


def _qualities(slots: int, spec: FeedSpec, rng: random.Random) -> list[str | None]:
    """None for measured (quality omitted), A03 estimated, A02 missing."""
    missing = spec.missing_rate
    flagged = spec.missing_rate + spec.estimated_rate
    if flagged <= 0:
        return [None] * slots
    qualities: list[str | None] = []
    draw = rng.random
    for _ in range(slots):
        r = draw()
        qualities.append(None if r >= flagged else "A02" if r < missing else "A03")
    return qualities


def _points_json(quantities: list[int | None], qualities: list[str | None]) -> str:
    parts = []
    for position, (wh, quality) in enumerate(zip(quantities, qualities, strict=True), start=1):
        if wh is None:
            parts.append(f'{{"position":{{"value":{position}}},"quality":{{"value":"A02"}}}}')
        elif quality is None:
            parts.append(
                f'{{"position":{{"value":{position}}},"quantity":{wh // 1000}.{wh % 1000:03d}}}'
            )
        else:
            parts.append(
                f'{{"position":{{"value":{position}}},"quality":{{"value":"{quality}"}},'
                f'"quantity":{wh // 1000}.{wh % 1000:03d}}}'
            )
    return ",".join(parts)


def _document(
    document_id: str,
    created: datetime,
    gsrn: str,
    resolution: str,
    day: _Day,
    points: str,
    rng: random.Random,
    document_type: str = "E66",
) -> str:
    series_id = _uuid(rng)
    original_id = _uuid(rng)
    stamp = f"{created:%Y-%m-%dT%H:%M:%SZ}"
    return (
        '{"NotifyValidatedMeasureData_MarketDocument":{'
        f'"mRID":"{document_id}",'
        '"businessSector.type":{"value":"23"},'
        f'"createdDateTime":"{stamp}",'
        '"process.processType":{"value":"E23"},'
        f'"receiver_MarketParticipant.mRID":{{"codingScheme":"A10","value":"{SUPPLIER_GLN}"}},'
        '"receiver_MarketParticipant.marketRole.type":{"value":"DDQ"},'
        f'"sender_MarketParticipant.mRID":{{"codingScheme":"A10","value":"{DATAHUB_GLN}"}},'
        '"sender_MarketParticipant.marketRole.type":{"value":"DGL"},'
        f'"type":{{"value":"{document_type}"}},'
        '"Series":[{'
        f'"mRID":"{series_id}",'
        f'"marketEvaluationPoint.mRID":{{"codingScheme":"A10","value":"{gsrn}"}},'
        f'"marketEvaluationPoint.type":{{"value":"{METERING_POINT_TYPE}"}},'
        f'"originalTransactionIDReference_Series.mRID":"{original_id}",'
        '"product":"8716867000030",'
        '"quantity_Measure_Unit.name":{"value":"KWH"},'
        f'"registration_DateAndOrTime.dateTime":"{stamp}",'
        f'"Period":{{"resolution":"{resolution}","timeInterval":{{'
        f'"start":{{"value":"{day.start_text}"}},"end":{{"value":"{day.end_text}"}}}},'
        f'"Point":[{points}]}}'
        "}]}}"
    )


def _message(
    meter: _Meter,
    day: _Day,
    created: datetime,
    quantities: list[int | None],
    qualities: list[str | None],
    rng: random.Random,
    kind: FeedKind,
) -> FeedMessage:
    document_id = _uuid(rng)
    points = _points_json(quantities, qualities)
    text = _document(document_id, created, meter.gsrn, meter.resolution, day, points, rng)
    return FeedMessage(document_id.encode(), text.encode(), kind)


def _correction(pending: _Pending, rng: random.Random) -> FeedMessage:
    """A later document for the same point and day: gaps and estimates now measured, and a
    few measured values revised."""
    fresh = _quantities(pending.meter, pending.day, rng)
    quantities = list(pending.quantities)
    changed = False
    for slot, old in enumerate(quantities):
        if old is None or rng.random() < 0.1:
            changed = changed or old != fresh[slot]
            quantities[slot] = fresh[slot]
    if not changed:
        slot = rng.randrange(len(quantities))
        quantities[slot] = (quantities[slot] or 0) + 1
    qualities: list[str | None] = [None] * len(quantities)
    created = pending.created + timedelta(seconds=rng.randint(3600, 20 * 3600))
    return _message(pending.meter, pending.day, created, quantities, qualities, rng, "correction")


def _malformed(
    meter: _Meter,
    day: _Day,
    created: datetime,
    quantities: list[int | None],
    qualities: list[str | None],
    rng: random.Random,
) -> FeedMessage:
    flaw = rng.choice(MALFORMED_KINDS)
    document_id = _uuid(rng)
    gsrn, resolution, document_type = meter.gsrn, meter.resolution, "E66"
    points = _points_json(quantities, qualities)
    if flaw == "too_many_decimals" and '"quantity":' not in points:
        flaw = "bad_gsrn"
    if flaw == "bad_gsrn":
        gsrn = gsrn[:17] + str((int(gsrn[17]) + 1) % 10)
    elif flaw == "unknown_resolution":
        resolution = "PT30M"
    elif flaw == "too_many_decimals":
        points = _QUANTITY.sub(r"\g<1>7", points, count=1)
    elif flaw == "wrong_document_type":
        document_type = "E31"
    text = _document(document_id, created, gsrn, resolution, day, points, rng, document_type)
    value = text.encode()
    if flaw == "unparseable":
        value = value[: rng.randint(1, len(value) - 1)]
    return FeedMessage(document_id.encode(), value, "malformed")


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
