"""Random settlement portfolios for the differential test: generated, written to a database, and
handed to the Python oracle (settlement.calc) as the same facts.

A portfolio is one grid area: its metering points (PT15M or PT1H) with supply periods and
contracts that start and end anywhere around the month, its grid tariff and grid subscription
(versions changing mid-month, at any whole hour), the spot prices of its price area (quarter-
hour, hourly or both per day) and the national system and transmission tariffs and electricity
tax (also changing mid-month). Some metering points have history (master data with validity
intervals, as RSM-022 leaves it): created or connected mid-month, moved between the portfolio's
grid areas, disconnected and reconnected, closed down, now and then a production or child type,
changes mostly at local midnight and sometimes at another whole hour. Tariffs are sometimes flat over the day (the SQL's per-day
shortcut) and sometimes hourly. Bulk values come from a seeded random.Random so that an example
is cheap to generate; hypothesis draws the seed and the shape.

The daily summaries are written directly (`daily_summary.slot_kwh`, complete days): the run
reads only those, and ingest's summaries are tested against their own oracle (tests/oracle.py).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

from hypothesis import strategies as st

from schemas import calendar
from schemas.calendar import BillingPeriod
from schemas.codelists import EnergyModel
from settlement import calc, rules
from storage.db import Conn

T = TypeVar("T")
_FIRST_QUARTER_PRICES = date(2025, 10, 1)  # 15-minute day-ahead prices from this day
_DST_MONTHS = [(2025, 3), (2025, 10), (2026, 3), (2026, 10), (2027, 3), (2027, 10)]
_TABLES = (
    "settlement_line, aconto_settlement, settlement_run, billing_period, daily_summary, "
    "spot_price, tariff_rate, grid_tariff, subscription, electricity_tax, contract, "
    "supply_period, metering_point_version, metering_point_event, metering_point, product, "
    "customer, grid_area"
)


def dec(rnd: random.Random, low: float, high: float, places: int) -> Decimal:
    scale = 10**places
    return Decimal(rnd.randint(round(low * scale), round(high * scale))).scaleb(-places)


@dataclass(frozen=True)
class ProductRecord:
    product_id: uuid.UUID
    model: EnergyModel
    margin: Decimal
    supplement: Decimal | None
    fixed: Decimal | None
    share: Decimal | None
    subscription: Decimal

    def oracle(self) -> calc.Product:
        terms = rules.energy_price_terms(
            self.model,
            margin_ore_per_kwh=self.margin,
            supplement_ore_per_kwh=self.supplement,
            fixed_price_ore_per_kwh=self.fixed,
            spot_share=self.share,
        )
        return calc.Product(terms, self.subscription)


@dataclass
class Area:
    code: str
    price_area: str
    points: list[calc.MeteringPoint]
    grid_tariff: list[calc.Version[tuple[Decimal, ...]]]
    grid_subscription: list[calc.Version[Decimal]]


@dataclass
class Portfolios:
    period: BillingPeriod
    products: list[ProductRecord]
    product_of: dict[str, uuid.UUID]  # contract id → product id
    areas: list[Area]
    spot: dict[str, tuple[dict[datetime, Decimal], dict[datetime, Decimal]]]
    system_tariff: list[calc.Version[tuple[Decimal, ...]]]
    transmission_tariff: list[calc.Version[tuple[Decimal, ...]]]
    electricity_tax: list[calc.Version[Decimal]]
    customer: uuid.UUID = field(default_factory=uuid.uuid4)

    def prices(self, area: Area) -> calc.PriceSet:
        quarter, hour = self.spot[area.price_area]
        return calc.PriceSet(
            spot_quarter=quarter,
            spot_hour=hour,
            grid_tariff=area.grid_tariff,
            system_tariff=self.system_tariff,
            transmission_tariff=self.transmission_tariff,
            electricity_tax=self.electricity_tax,
            grid_subscription=area.grid_subscription,
        )


# ------------------------------------------------------------------------------- generation
def _versions(
    rnd: random.Random, period: BillingPeriod, count: int, make: Callable[[], T]
) -> list[calc.Version[T]]:
    """`count` versions covering the whole period: the first from before it, the others from
    random whole hours inside it; an older version either ends where the next starts or stays
    open (then the later valid_from wins)."""
    start, end = period.bounds_utc()
    hours = int((end - start) / timedelta(hours=1))
    starts = [start - timedelta(hours=rnd.choice([0, 1, 24 * rnd.randint(1, 60)]))]
    starts += sorted(start + timedelta(hours=h) for h in rnd.sample(range(1, hours), count - 1))
    ends: list[datetime | None] = [rnd.choice([nxt, None]) for nxt in starts[1:]] + [
        rnd.choice([None, end + timedelta(days=rnd.randint(0, 40))])
    ]
    return [calc.Version(s, e, make()) for s, e in zip(starts, ends, strict=True)]


def _tariff(rnd: random.Random) -> tuple[Decimal, ...]:
    if rnd.random() < 0.4:  # flat over the day (P1D, or a national tariff)
        return (dec(rnd, 0, 1.5, rnd.choice([3, 6, 8])),) * 24
    return tuple(dec(rnd, 0, 2, rnd.choice([2, 4, 6, 8])) for _ in range(24))


def _product(rnd: random.Random, model: EnergyModel) -> ProductRecord:
    supplement = None if rnd.random() < 0.5 else dec(rnd, 0, 3, rnd.choice([2, 4, 8]))
    fixed = dec(rnd, 40, 160, rnd.choice([2, 4, 8])) if model != EnergyModel.SPOT else None
    share = dec(rnd, 0, 1, rnd.choice([1, 2, 6])) if model == EnergyModel.MIXED else None
    return ProductRecord(
        product_id=uuid.UUID(int=rnd.getrandbits(128), version=4),
        model=model,
        margin=dec(rnd, 0, 12, rnd.choice([0, 2, 4, 8])),
        supplement=supplement,
        fixed=fixed,
        share=share,
        subscription=dec(rnd, 0, 60, rnd.choice([0, 2, 6])),
    )


def _date_ranges(
    rnd: random.Random, period: BillingPeriod, count: int
) -> list[tuple[date, date | None]]:
    """`count` non-overlapping local-date ranges around the period (ends exclusive)."""
    low, high = period.start - timedelta(days=10), period.end + timedelta(days=10)
    span = (high - low).days
    cuts = sorted(rnd.sample(range(span + 1), 2 * count))
    ranges: list[tuple[date, date | None]] = []
    for n in range(count):
        first, last = cuts[2 * n], cuts[2 * n + 1]
        end = None if n == count - 1 and rnd.random() < 0.4 else low + timedelta(days=last)
        ranges.append((low + timedelta(days=first), end))
    return ranges


def _history(
    rnd: random.Random, period: BillingPeriod, home: str, areas: list[str]
) -> list[calc.Version[calc.MasterData]]:
    """Master data versions around the period, contiguous, the last one in `home` (the point's
    current grid area)."""
    days = (period.end - period.start).days
    starts = []
    for day in sorted(rnd.sample(range(days), rnd.randint(1, 4))):
        moment = calendar.local_midnight_utc(period.start + timedelta(days=day))
        if rnd.random() < 0.2:  # not at midnight: the day follows its midnight's version
            moment += timedelta(hours=rnd.randint(1, 22))
        starts.append(moment)
    if rnd.random() < 0.5:  # created before the period
        starts[0] = calendar.local_midnight_utc(period.start) - timedelta(days=rnd.randint(0, 90))
    versions: list[calc.Version[calc.MasterData]] = []
    for n, start in enumerate(starts):
        last = n == len(starts) - 1
        kind = "E17" if rnd.random() < 0.85 else rnd.choice(["E18", "D01"])
        if n == 0 and rnd.random() < 0.3:
            status = "New"
        elif last and rnd.random() < 0.25:
            status = "ClosedDown"
        else:
            status = rnd.choice(["Connected", "Connected", "Disconnected"])
        area = home if last else rnd.choice(areas)
        end = None if last else starts[n + 1]
        versions.append(calc.Version(start, end, calc.MasterData(area, kind, status)))
    return versions


def _point(
    rnd: random.Random,
    gsrn: str,
    period: BillingPeriod,
    products: list[ProductRecord],
    product_of: dict[str, uuid.UUID],
    home: str,
    areas: list[str],
) -> calc.MeteringPoint:
    resolution = rnd.choice(["PT15M", "PT1H"])
    slots: dict[date, list[Decimal]] = {}
    day = period.start
    while day < period.end:
        n = calendar.expected_slots(day, resolution)
        peak = rnd.choice([0.05, 0.5, 3, 40])
        slots[day] = [
            dec(rnd, 0, peak, 3) if rnd.random() > 0.05 else Decimal("0.000") for _ in range(n)
        ]
        day += timedelta(days=1)
    contracts = []
    for start, end in _date_ranges(rnd, period, rnd.choice([1, 1, 2])):
        product = rnd.choice(products)
        contract_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        product_of[contract_id] = product.product_id
        contracts.append(calc.Contract(contract_id, product.oracle(), start, end))
    supply = _date_ranges(rnd, period, rnd.choice([1, 1, 2]))
    if rnd.random() < 0.3:
        supply = [(period.start - timedelta(days=400), None)]  # supplied all along
    history = _history(rnd, period, home, areas) if rnd.random() < 0.35 else []
    return calc.MeteringPoint(gsrn, resolution, slots, supply, contracts, history)


def _spot(
    rnd: random.Random, period: BillingPeriod
) -> tuple[dict[datetime, Decimal], dict[datetime, Decimal]]:
    quarter: dict[datetime, Decimal] = {}
    hour: dict[datetime, Decimal] = {}
    day = period.start
    while day < period.end:
        start, end = calendar.day_bounds_utc(day)
        kinds = ["PT15M", "PT1H", "both"] if day >= _FIRST_QUARTER_PRICES else ["PT1H"]
        kind = rnd.choice(kinds)
        places = rnd.choice([2, 5, 8])
        moment = start
        while moment < end:
            if kind != "PT1H":
                quarter[moment] = dec(rnd, -0.3, 4, places)
            if kind != "PT15M" and moment.minute == 0:
                hour[moment] = dec(rnd, -0.3, 4, places)
            moment += timedelta(minutes=15)
        day += timedelta(days=1)
    return quarter, hour


@st.composite
def portfolios(draw: st.DrawFn, areas: int | None = None) -> Portfolios:
    year, month = draw(
        st.one_of(
            st.sampled_from(_DST_MONTHS),
            st.tuples(st.integers(2025, 2027), st.integers(1, 12)),
        )
    )
    period = BillingPeriod.parse(f"{year}-{month:02d}")
    area_count = areas if areas is not None else draw(st.integers(1, 3))
    models = draw(st.lists(st.sampled_from(list(EnergyModel)), min_size=1, max_size=4))
    rnd = random.Random(draw(st.integers(0, 2**64)))
    products = [_product(rnd, model) for model in models]
    codes = rnd.sample(range(100, 1000), area_count)
    names = [f"{code:03d}" for code in codes]
    area_list = []
    product_of: dict[str, uuid.UUID] = {}
    for code in codes:
        points = [
            _point(
                rnd, f"5713131{code:03d}{n:08d}", period, products, product_of, f"{code:03d}", names
            )
            for n in range(rnd.randint(1, 4))
        ]
        area_list.append(
            Area(
                code=f"{code:03d}",
                price_area=rnd.choice(["DK1", "DK2"]),
                points=points,
                grid_tariff=_versions(rnd, period, rnd.randint(1, 3), lambda: _tariff(rnd)),
                grid_subscription=_versions(
                    rnd, period, rnd.randint(1, 2), lambda: dec(rnd, 0, 80, rnd.choice([2, 6]))
                ),
            )
        )
    return Portfolios(
        period=period,
        products=products,
        product_of=product_of,
        areas=area_list,
        spot={area: _spot(rnd, period) for area in ("DK1", "DK2")},
        system_tariff=_versions(rnd, period, rnd.randint(1, 2), lambda: _tariff(rnd)),
        transmission_tariff=_versions(rnd, period, rnd.randint(1, 2), lambda: _tariff(rnd)),
        electricity_tax=_versions(
            rnd, period, rnd.randint(1, 2), lambda: dec(rnd, 0, 1, rnd.choice([3, 8]))
        ),
    )


# ---------------------------------------------------------------------------------- database
_TariffRow = tuple[uuid.UUID, str | None, str, str, datetime, datetime | None, tuple[Decimal, ...]]


def _tariff_rows(
    kind: str, area: str | None, owner: str, versions: list[calc.Version[tuple[Decimal, ...]]]
) -> list[_TariffRow]:
    return [(uuid.uuid4(), area, owner, kind, v.valid_from, v.valid_to, v.value) for v in versions]


def write(conn: Conn, p: Portfolios) -> None:
    """Replace the database's master data, prices and summaries with the portfolios' (one
    transaction)."""
    with conn.transaction():
        conn.execute(f"TRUNCATE {_TABLES} CASCADE")
        conn.execute(
            """INSERT INTO customer (id, name, cpr_cvr, contact_type)
               VALUES (%s, 'Differential', '0101901234', 'Private')""",
            (p.customer,),
        )
        with conn.cursor() as cur:
            cur.executemany(
                """INSERT INTO product (id, name, energy_model, margin_ore_per_kwh,
                       supplement_ore_per_kwh, subscription_kr_per_month,
                       fixed_price_ore_per_kwh, spot_share)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s)""",
                [
                    (
                        x.product_id,
                        f"P{n}",
                        x.model.value,
                        x.margin,
                        x.supplement,
                        x.subscription,
                        x.fixed,
                        x.share,
                    )
                    for n, x in enumerate(p.products)
                ],
            )
        tariffs = _tariff_rows("SystemTariff", None, "5790000432752", p.system_tariff)
        tariffs += _tariff_rows("TransmissionTariff", None, "5790000432752", p.transmission_tariff)
        with conn.cursor() as cur:
            for area in p.areas:
                gln = f"5790000000{area.code}"
                cur.execute(
                    """INSERT INTO grid_area (code, grid_operator_gln, grid_operator_name,
                           price_area) VALUES (%s, %s, 'Net', %s)""",
                    (area.code, gln, area.price_area),
                )
                tariffs += _tariff_rows("GridTariff", area.code, gln, area.grid_tariff)
                cur.executemany(
                    """INSERT INTO subscription (id, grid_area_code, type, amount_kr_per_month,
                           valid_from, valid_to, charge_owner_id, charge_code)
                       VALUES (%s, %s, 'GridSubscription', %s, %s, %s, %s, 'ABON')""",
                    [
                        (uuid.uuid4(), area.code, v.value, v.valid_from, v.valid_to, gln)
                        for v in area.grid_subscription
                    ],
                )
                for point in area.points:
                    _write_point(conn, p, area.code, gln, point)
            for tariff_id, area_code, owner, kind, start, end, prices in tariffs:
                cur.execute(
                    """INSERT INTO grid_tariff (id, grid_area_code, charge_owner_id, tariff_type,
                           valid_from, valid_to, charge_code)
                       VALUES (%s, %s, %s, %s, %s, %s, 'T')""",
                    (tariff_id, area_code, owner, kind, start, end),
                )
                cur.executemany(
                    """INSERT INTO tariff_rate (grid_tariff_id, hour_number, price_per_kwh)
                       VALUES (%s, %s, %s)""",
                    [(tariff_id, n + 1, price) for n, price in enumerate(prices)],
                )
            cur.executemany(
                """INSERT INTO electricity_tax (id, rate_per_kwh, valid_from, valid_to)
                   VALUES (%s, %s, %s, %s)""",
                [(uuid.uuid4(), v.value, v.valid_from, v.valid_to) for v in p.electricity_tax],
            )
        with conn.cursor().copy(
            "COPY spot_price (price_area, hour, resolution, price_per_kwh) FROM STDIN"
        ) as copy:
            for price_area, (quarter, hour) in p.spot.items():
                for moment, price in quarter.items():
                    copy.write_row((price_area, moment, "PT15M", price))
                for moment, price in hour.items():
                    copy.write_row((price_area, moment, "PT1H", price))


def _write_point(conn: Conn, p: Portfolios, area: str, gln: str, point: calc.MeteringPoint) -> None:
    conn.execute(
        """INSERT INTO metering_point (gsrn, type, settlement_method, connection_status,
               grid_area_code, grid_operator_gln)
           VALUES (%s, 'E17_Consumption', 'Flex', 'Connected', %s, %s)""",
        (point.gsrn, area, gln),
    )
    _write_history(conn, point)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO supply_period (id, gsrn, start_date, end_date) VALUES (%s, %s, %s, %s)",
            [(uuid.uuid4(), point.gsrn, start, end) for start, end in point.supply],
        )
        cur.executemany(
            """INSERT INTO contract (id, customer_id, gsrn, product_id, billing_frequency,
                   payment_model, payment_term_days, start_date, end_date)
               VALUES (%s, %s, %s, %s, 'Monthly', 'PostPayment', 14, %s, %s)""",
            [
                (c.contract_id, p.customer, point.gsrn, p.product_of[c.contract_id], c.start, c.end)
                for c in point.contracts
            ],
        )
    with conn.cursor().copy(
        """COPY daily_summary (metering_point_id, date, total_kwh, peak_kwh, off_peak_kwh,
               super_peak_kwh, resolution, points_received, points_expected, missing_count,
               estimated_count, slot_kwh) FROM STDIN"""
    ) as copy:
        for day, slots in point.slot_kwh.items():
            total = sum(slots, Decimal("0.000"))
            n = len(slots)
            # The band split is not read by settlement; the whole day is put under peak.
            copy.write_row(
                (point.gsrn, day, total, total, 0, 0, point.resolution, n, n, 0, 0, list(slots))
            )


def _write_history(conn: Conn, point: calc.MeteringPoint) -> None:
    """The point's versions, each with a bare event (the projection's foreign key); the run
    reads only the versions."""
    with conn.cursor() as cur:
        for n, version in enumerate(point.history):
            event = uuid.uuid4()
            cur.execute(
                """INSERT INTO metering_point_event (id, gsrn, message_id, transaction_id,
                       process_type, effective_at, document_created_at, change)
                   VALUES (%s, %s, %s, %s, 'E32', %s, %s, '{}')""",
                (
                    event,
                    point.gsrn,
                    f"diff-{point.gsrn}",
                    str(n),
                    version.valid_from,
                    version.valid_from,
                ),
            )
            master = version.value
            cur.execute(
                """INSERT INTO metering_point_version (gsrn, valid_from, valid_to, type,
                       grid_area_code, connection_status, settlement_method, event_id)
                   VALUES (%s, %s, %s, %s, %s, %s, 'Flex', %s)""",
                (
                    point.gsrn,
                    version.valid_from,
                    version.valid_to,
                    master.type,
                    master.grid_area,
                    master.connection_status,
                    event,
                ),
            )
