"""The demo feed: deterministic, realistic, and every document is what its kind says."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest

from flows.feed import (
    DATAHUB_GLN,
    DEFAULT_GRID_AREAS,
    FeedMessage,
    FeedSpec,
    generate_feed,
    grid_area_for,
    gsrn_for,
    resolution_for,
)
from schemas.bands import DEFAULT_BANDS, band_of
from schemas.calendar import expected_slots, local_date
from schemas.rsm012 import (
    InvalidDocument,
    MeasureDocument,
    document_readings,
    is_valid_gsrn,
    parse_document,
)

# Around the spring DST day, with rates high enough that every kind shows up.
SPEC = FeedSpec(
    metering_points=60,
    days=4,
    start=date(2026, 3, 27),
    seed=7,
    hourly_share=0.25,
    estimated_rate=0.05,
    missing_rate=0.02,
    correction_rate=0.2,
    duplicate_rate=0.1,
    malformed_rate=0.25,
)
QUANTITY_LITERAL = re.compile(rb'"quantity":([^,}\]]*)')


@pytest.fixture(scope="module")
def messages() -> list[FeedMessage]:
    return list(generate_feed(SPEC))


@pytest.fixture(scope="module")
def parsed(messages: list[FeedMessage]) -> list[tuple[FeedMessage, MeasureDocument]]:
    return [(m, parse_document(m.value)) for m in messages if m.kind != "malformed"]


def test_same_seed_gives_identical_bytes(messages: list[FeedMessage]) -> None:
    assert list(generate_feed(SPEC)) == messages


def test_another_seed_gives_another_feed(messages: list[FeedMessage]) -> None:
    other = list(generate_feed(replace(SPEC, seed=8)))

    assert [m.value for m in other] != [m.value for m in messages]
    assert {m.key for m in other}.isdisjoint({m.key for m in messages})


def test_every_kind_is_present(messages: list[FeedMessage]) -> None:
    kinds = Counter(m.kind for m in messages)

    assert set(kinds) == {"original", "correction", "duplicate", "malformed"}
    assert kinds["original"] == SPEC.metering_points * SPEC.days


def test_one_original_per_metering_point_and_local_day(
    parsed: list[tuple[FeedMessage, MeasureDocument]],
) -> None:
    originals = Counter(
        (doc.series[0].gsrn, local_date(doc.series[0].start))
        for m, doc in parsed
        if m.kind == "original"
    )

    days = {SPEC.start + timedelta(days=d) for d in range(SPEC.days)}
    gsrns = {gsrn_for(i) for i in range(SPEC.metering_points)}
    assert set(originals) == {(g, d) for g in gsrns for d in days}
    assert set(originals.values()) == {1}


def test_documents_are_datahub_to_supplier_with_the_key_as_mrid(
    parsed: list[tuple[FeedMessage, MeasureDocument]],
) -> None:
    for message, doc in parsed:
        assert message.key == doc.mrid.encode()
        assert (doc.type, doc.process_type) == ("E66", "E23")
        assert (doc.sender_gln, doc.sender_role, doc.receiver_role) == (DATAHUB_GLN, "DGL", "DDQ")
        assert len(doc.series) == 1


def test_every_malformed_document_is_rejected_for_each_reason(
    messages: list[FeedMessage],
) -> None:
    reasons: Counter[str] = Counter()
    for message in messages:
        if message.kind == "malformed":
            with pytest.raises(InvalidDocument) as caught:
                parse_document(message.value)
            reasons[caught.value.reason] += 1

    assert set(reasons) == {
        "unparseable",
        "bad_gsrn",
        "unknown_resolution",
        "too_many_decimals",
        "wrong_document_type",
    }


def test_a_day_document_covers_the_whole_local_day(
    parsed: list[tuple[FeedMessage, MeasureDocument]],
) -> None:
    for _, doc in parsed:
        series = doc.series[0]
        day = local_date(series.start)
        assert [p.position for p in series.points] == list(
            range(1, expected_slots(day, series.resolution) + 1)
        )


@pytest.mark.parametrize(
    ("day", "quarters", "hours"), [(date(2026, 3, 29), 92, 23), (date(2026, 10, 25), 100, 25)]
)
def test_dst_day_documents_have_92_or_100_quarter_hours(
    day: date, quarters: int, hours: int
) -> None:
    spec = FeedSpec(metering_points=8, days=1, start=day, hourly_share=0.5, malformed_rate=0)
    counts: Counter[tuple[str, int]] = Counter()
    for message in generate_feed(spec):
        series = parse_document(message.value).series[0]
        counts[series.resolution, len(series.points)] += 1

    assert set(counts) == {("PT15M", quarters), ("PT1H", hours)}


def test_quantities_are_plain_decimals_with_at_most_3_decimals(
    messages: list[FeedMessage],
) -> None:
    literals = [
        literal
        for m in messages
        if m.kind != "malformed"
        for literal in QUANTITY_LITERAL.findall(m.value)
    ]

    assert len(literals) > 10_000
    assert all(re.fullmatch(rb"\d+\.\d{1,3}", literal) for literal in literals)


def test_estimated_and_missing_points_carry_their_quality(
    parsed: list[tuple[FeedMessage, MeasureDocument]],
) -> None:
    qualities: Counter[str] = Counter()
    for message, doc in parsed:
        for point in doc.series[0].points:
            qualities[point.quality] += 1
            assert (point.quantity is None) == (point.quality == "A02")
        # Measured points omit quality, as DataHub writes them.
        assert b'"A04"' not in message.value

    assert set(qualities) == {"A02", "A03", "A04"}
    total = sum(qualities.values())
    assert 0.01 < qualities["A02"] / total < 0.03
    assert 0.035 < qualities["A03"] / total < 0.065


def test_corrections_revise_an_earlier_original_later(
    parsed: list[tuple[FeedMessage, MeasureDocument]],
) -> None:
    seen: dict[tuple[str, object], tuple[int, MeasureDocument]] = {}
    late = 0
    corrections = 0
    for index, (message, doc) in enumerate(parsed):
        series = doc.series[0]
        slot = (series.gsrn, series.start)
        if message.kind == "original":
            seen[slot] = (index, doc)
        elif message.kind == "correction":
            corrections += 1
            _, original = seen[slot]
            assert doc.mrid != original.mrid
            assert series.mrid != original.series[0].mrid
            assert doc.created > original.created
            assert [p.quantity for p in series.points] != [
                p.quantity for p in original.series[0].points
            ]
            assert all(p.quantity is not None for p in series.points)
            newest_day = max(local_date(s[1].series[0].start) for s in seen.values())
            late += newest_day > local_date(series.start)

    assert corrections > 10
    assert late > 0  # some arrive after originals of later days: out of order


def test_duplicates_repeat_an_earlier_message_exactly(messages: list[FeedMessage]) -> None:
    earlier: set[tuple[bytes, bytes]] = set()
    duplicates = 0
    for message in messages:
        if message.kind == "duplicate":
            duplicates += 1
            assert (message.key, message.value) in earlier
        else:
            earlier.add((message.key, message.value))

    assert duplicates > 5


def test_originals_arrive_day_by_day(parsed: list[tuple[FeedMessage, MeasureDocument]]) -> None:
    starts = [doc.series[0].start for m, doc in parsed if m.kind == "original"]

    assert starts == sorted(starts)


def test_meters_follow_the_master_data_helpers(
    parsed: list[tuple[FeedMessage, MeasureDocument]],
) -> None:
    for _, doc in parsed:
        series = doc.series[0]
        index = int(series.gsrn[7:17])
        assert series.resolution == resolution_for(index, SPEC.hourly_share)
        assert series.metering_point_type == "E17"


def test_gsrns_are_valid_distinct_and_deterministic() -> None:
    gsrns = [gsrn_for(i) for i in range(1000)]

    assert all(g.startswith("5713131") and len(g) == 18 and is_valid_gsrn(g) for g in gsrns)
    assert len(set(gsrns)) == 1000
    assert gsrn_for(42) == "5713131" + "0000000042" + gsrns[42][-1]
    with pytest.raises(ValueError):
        gsrn_for(10**10)


def test_resolution_share_is_exact_over_any_run_of_meters() -> None:
    assert [resolution_for(i, 0.25) for i in range(8)].count("PT1H") == 2
    assert [resolution_for(i, 0.2) for i in range(100, 200)].count("PT1H") == 20
    assert {resolution_for(i, 0.0) for i in range(50)} == {"PT15M"}
    assert {resolution_for(i, 1.0) for i in range(50)} == {"PT1H"}


def test_grid_areas_are_spread_over_all_areas() -> None:
    areas = Counter(grid_area_for(i) for i in range(300))

    assert set(areas) == set(DEFAULT_GRID_AREAS)
    assert min(areas.values()) > 80
    assert grid_area_for(5, ("1", "2")) in {"1", "2"}


def _kwh_by_band(spec: FeedSpec) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    slots: Counter[str] = Counter()
    for message in generate_feed(spec):
        for reading in document_readings(parse_document(message.value)):
            if reading.resolution == "PT15M" and reading.quantity is not None:
                band = band_of(reading.ts, DEFAULT_BANDS)
                totals[band] = totals.get(band, Decimal(0)) + reading.quantity
                slots[band] += 1
    return {band: totals[band] / slots[band] for band in totals}


def test_load_peaks_in_the_evening_and_in_winter() -> None:
    quiet = FeedSpec(
        metering_points=30,
        hourly_share=0,
        estimated_rate=0,
        missing_rate=0,
        correction_rate=0,
        duplicate_rate=0,
        malformed_rate=0,
    )
    january = _kwh_by_band(replace(quiet, start=date(2026, 1, 20)))
    july = _kwh_by_band(replace(quiet, start=date(2026, 7, 20)))

    assert january["super_peak"] > january["peak"] > january["off_peak"]
    assert january["super_peak"] > Decimal("1.5") * january["off_peak"]
    assert sum(january.values()) > Decimal("1.3") * sum(july.values())


@pytest.mark.parametrize(
    "change",
    [
        {"metering_points": 0},
        {"days": 0},
        {"missing_rate": -0.1},
        {"duplicate_rate": 1.5},
        {"estimated_rate": 0.6, "missing_rate": 0.6},
        {"grid_areas": ()},
    ],
)
def test_spec_rejects_impossible_settings(change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        replace(SPEC, **change)  # type: ignore[arg-type]
