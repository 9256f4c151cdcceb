"""The connection-state machine of MARKET_PROCESSES.md section 3, as pure functions."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from schemas.rsm022 import MasterDataChange, document_changes, parse_document
from settlement.metering_point_state import MasterData, Rejection, Step, admit, fold, versions
from tests.masterdata_docs import gsrn, rsm022

POINT = gsrn(1)


def _at(day: int) -> datetime:
    return datetime(2026, 9, day, 22, tzinfo=UTC)  # local midnight of October (day + 1)


def change(process: str, day: int, mrid: str, **fields: str | None) -> MasterDataChange:
    (found,) = document_changes(
        parse_document(rsm022(process, POINT, _at(day), mrid=mrid, **fields))  # type: ignore[arg-type]
    )
    return found


# The issue's month: created on the 1st, connected on the 5th, moved to grid area 344 on the
# 12th, disconnected on the 20th, reconnected on the 24th, closed down on the 28th.
LIFE = [
    change("E02", 1, "create"),
    change("D15", 5, "connect"),
    change("E32", 12, "move", grid_area="344"),
    change("E79", 20, "disconnect", state="E23", grid_area="344"),
    change("E79", 24, "reconnect", state="E22", grid_area="344"),
    change("D14", 28, "close", grid_area="344"),
]


def _statuses(steps: list[Step]) -> list[str]:
    return [
        s.outcome.connection_status if isinstance(s.outcome, MasterData) else s.outcome.code
        for s in steps
    ]


def test_the_month_of_the_issue_walks_the_machine() -> None:
    steps = fold(LIFE)
    assert _statuses(steps) == [
        "New",
        "Connected",
        "Connected",
        "Disconnected",
        "Connected",
        "ClosedDown",
    ]
    found = versions(LIFE)
    assert [(v.valid_from.day, v.valid_to.day if v.valid_to else None) for v in found] == [
        (1, 5),
        (5, 12),
        (12, 20),
        (20, 24),
        (24, 28),
        (28, None),
    ]
    assert [v.state.grid_area for v in found] == ["031", "031", "344", "344", "344", "344"]
    assert found[-1].state.closed_down_at == _at(28)
    assert found[1].state.connected_at == _at(5)


@pytest.mark.parametrize(
    ("history", "candidate", "code"),
    [
        ([], change("D15", 5, "x"), "E10"),  # unknown metering point
        (LIFE[:1], change("E02", 2, "x"), "D16"),  # a GSRN is created once
        (LIFE[:2], change("D15", 6, "x"), "D16"),  # connect when not New
        (LIFE[:2], change("E79", 6, "x", state="E22"), "D16"),  # reconnect of a Connected point
        (LIFE[:1], change("E79", 6, "x", state="E23"), "D16"),  # disconnect of a New point
        (LIFE, change("E32", 29, "x"), "D16"),  # master data on a closed-down point
        (LIFE, change("D14", 29, "x"), "D16"),  # closed down twice
        (LIFE, change("E02", 29, "x"), "D16"),  # never reused
        (LIFE[:1], change("E32", 1, "x", grid_area="344"), None),  # same day as the create
        (
            LIFE[:1],
            change("D15", 5, "x", supply_start="2026-10-07T22:00:00Z"),
            "D36",
        ),  # no supplier yet
        (
            [change("E02", 1, "c", supply_start=None)],
            change("D15", 5, "x", supply_start=None),
            "D36",
        ),
        (LIFE[:1], change("E32", 3, "x", mp_type="E18"), "D18"),  # a type never changes
        (LIFE[:1], change("D17", 3, "x", settlement=None), "D15"),
    ],
)
def test_a_record_that_contradicts_the_state_is_refused_with_datahubs_code(
    history: list[MasterDataChange], candidate: MasterDataChange, code: str | None
) -> None:
    admission = admit(history, [candidate])
    if code is None:
        assert admission.admitted == [candidate]
    else:
        assert admission.admitted == []
        rejection = admission.rejected[candidate.key]
        assert isinstance(rejection, Rejection) and rejection.code == code
        assert "\n" not in rejection.detail and POINT in rejection.detail


def test_a_record_before_the_creation_is_out_of_its_time_limits() -> None:
    later_create = change("E02", 10, "create-10")
    early = change("E32", 3, "early")
    rejection = admit([later_create], [early]).rejected[early.key]
    assert rejection.code == "E17"
    assert "2026-09-04" in rejection.detail and "2026-09-11" in rejection.detail  # local dates


def test_a_create_of_a_production_point_with_a_settlement_method_is_refused() -> None:
    rejection = admit([], [change("E02", 1, "p", mp_type="E18")]).rejected[("p", "p-1")]
    assert rejection.code == "D15"
    assert admit([], [change("E02", 1, "p", mp_type="E18", settlement=None)]).admitted


@pytest.mark.parametrize("seed", range(25))
def test_any_arrival_order_ends_in_the_effective_date_order_history(seed: int) -> None:
    arrivals = LIFE[:]
    random.Random(seed).shuffle(arrivals)
    accepted: list[MasterDataChange] = []
    waiting: list[MasterDataChange] = []
    for arriving in arrivals:
        admission = admit(accepted, [arriving, *waiting])
        accepted += admission.admitted
        waiting = [c for c in [arriving, *waiting] if c.key in admission.rejected]
        steps = fold(accepted)
        assert all(isinstance(s.outcome, MasterData) for s in steps)  # history always valid
    assert waiting == []
    assert versions(accepted) == versions(LIFE)


def test_an_earlier_record_that_would_break_an_applied_one_waits() -> None:
    # Applied: create, connect, disconnect on the 20th. A disconnect on the 10th would make the
    # 20th's disconnect one of a Disconnected point: refused, the history stays as it is.
    history = [LIFE[0], LIFE[1], LIFE[3]]
    early = change("E79", 10, "early-disconnect", state="E23")
    admission = admit(history, [early])
    assert admission.admitted == []
    assert admission.rejected[early.key].code == "D16"


@pytest.mark.parametrize(
    ("process", "state", "expected"),
    [
        ("E03", "E22", "Connected"),  # switch
        ("D30", "E22", "Connected"),  # short-notice switch
        ("E65", "E23", "Disconnected"),  # move-in to a disconnected point
        ("D31", "D03", "New"),  # BRS-044 forced transfer
        ("E03", "D02", "D16"),  # a closed-down point has no new supplier
        ("E32", "E22", "E10"),  # plain master data still needs a known point
    ],
)
def test_supply_master_data_is_the_first_master_data_of_a_point_new_to_us(
    process: str, state: str, expected: str
) -> None:
    assert _statuses(fold([change(process, 6, "first", state=state)])) == [expected]


def test_supply_master_data_of_a_known_point_is_a_master_data_change() -> None:
    switch = change("E03", 14, "switch", grid_area="344")
    steps = fold([*LIFE[:3], switch])
    assert _statuses(steps)[-1] == "Connected"
    before, after = steps[-2].outcome, steps[-1].outcome
    assert isinstance(before, MasterData) and after == replace(before, grid_area="344")
