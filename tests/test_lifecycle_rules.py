"""The lifecycle's pure rules: holidays, the fold of events, and one table per business rule with
its boundary dates (a DST change and Danish public holidays among them). No services."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest

from schemas.calendar import local_midnight_utc, wall_time_to_utc
from schemas.holidays import easter_sunday, is_working_day, public_holidays, working_days_before
from schemas.process_codes import DATAHUB, ProcessEventType, ProcessStatus, ProcessType
from settlement import lifecycle as rules
from settlement.lifecycle import (
    IllegalTransition,
    NewRequest,
    OtherRequest,
    PointFacts,
    fold,
)

E = ProcessEventType
S = ProcessStatus
T = ProcessType
GSRN = "571313180400000018"
OUR_GLN = "5799999933318"
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER_CUSTOMER = uuid.UUID("00000000-0000-4000-8000-000000000002")


# --- holidays and working days --------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "easter"),
    [(2000, date(2000, 4, 23)), (2024, date(2024, 3, 31)), (2027, date(2027, 3, 28)),
     (2038, date(2038, 4, 25)), (2285, date(2285, 3, 22))],
)  # fmt: skip
def test_easter_sunday_by_the_computus(year: int, easter: date) -> None:
    assert easter_sunday(year) == easter


def test_store_bededag_was_a_holiday_until_2023_only() -> None:
    assert public_holidays(2023)[date(2023, 5, 5)] == "Store bededag"
    assert date(2024, 4, 26) not in public_holidays(2024)
    assert is_working_day(date(2024, 4, 26))
    assert len(public_holidays(2026)) == 10


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2027, 3, 25), False),  # Maundy Thursday
        (date(2027, 3, 29), False),  # Easter Monday
        (date(2027, 5, 6), False),  # Ascension Day
        (date(2027, 5, 17), False),  # Whit Monday
        (date(2027, 6, 4), True),
        (date(2027, 6, 5), False),  # Saturday
        (date(2026, 6, 5), False),  # Constitution Day on a Friday (market day off)
        (date(2026, 12, 24), False),
        (date(2026, 12, 23), True),
    ],
)
def test_working_days(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_working_days_before_skips_easter_and_christmas() -> None:
    assert working_days_before(date(2027, 4, 1), 3) == date(2027, 3, 24)
    assert working_days_before(date(2026, 12, 28), 3) == date(2026, 12, 21)
    assert working_days_before(date(2026, 11, 12), 3) == date(2026, 11, 9)


# --- the fold --------------------------------------------------------------------------------

RID = uuid.UUID("11111111-1111-4111-8111-111111111111")


@pytest.mark.parametrize(
    ("events", "status"),
    [
        ([E.REQUESTED], S.PENDING),
        ([E.REQUESTED, E.SENT_TO_DATAHUB], S.SENT_TO_DATAHUB),
        ([E.REQUESTED, E.SENT_TO_DATAHUB, E.CONFIRMED], S.ACKNOWLEDGED),
        ([E.REQUESTED, E.SENT_TO_DATAHUB, E.REJECTED], S.REJECTED),
        ([E.REQUESTED, E.SENT_TO_DATAHUB, E.ANSWER_OVERDUE, E.CONFIRMED], S.ACKNOWLEDGED),
        ([E.REQUESTED, E.SENT_TO_DATAHUB, E.CONFIRMED, E.EFFECTUATION_SCHEDULED],
         S.EFFECTUATION_PENDING),
        ([E.REQUESTED, E.SENT_TO_DATAHUB, E.CONFIRMED, E.EFFECTUATION_SCHEDULED, E.COMPLETED],
         S.COMPLETED),
        ([E.REQUESTED, E.CANCELLED], S.CANCELLED),
        ([E.REQUESTED, E.SENT_TO_DATAHUB, E.CONFIRMED, E.CANCELLED], S.CANCELLED),
        ([E.NOTIFIED, E.COMPLETED], S.COMPLETED),
    ],
)  # fmt: skip
def test_status_is_the_fold_of_the_events(events: list[ProcessEventType], status: S) -> None:
    assert fold(RID, events) == status


@pytest.mark.parametrize(
    ("events", "message"),
    [
        ([E.SENT_TO_DATAHUB], "is new: SentToDataHub is not allowed"),
        ([E.REQUESTED, E.CONFIRMED], "is Pending: Confirmed is not allowed"),
        ([E.REQUESTED, E.SENT_TO_DATAHUB, E.CANCELLED], "is SentToDataHub: Cancelled"),
        ([E.REQUESTED, E.SENT_TO_DATAHUB, E.REJECTED, E.CONFIRMED], "is Rejected: Confirmed"),
        ([E.NOTIFIED, E.COMPLETED, E.CANCELLED], "is Completed: Cancelled is not allowed"),
        ([E.REQUESTED, E.REQUESTED], "is Pending: Requested is not allowed"),
    ],
)
def test_illegal_transitions_are_refused_in_one_line(
    events: list[ProcessEventType], message: str
) -> None:
    with pytest.raises(IllegalTransition) as caught:
        fold(RID, events)
    assert str(caught.value) == f"process request {RID} {message}" or message in str(caught.value)
    assert str(RID) in str(caught.value) and "\n" not in str(caught.value)


def test_final_statuses_allow_nothing() -> None:
    for status in (S.REJECTED, S.COMPLETED, S.CANCELLED):
        assert not [event for (before, event) in rules.TRANSITIONS if before is status]


def test_one_code_list_maps_every_process_type() -> None:
    assert set(DATAHUB) == set(ProcessType)
    assert DATAHUB[T.MOVE_IN].process_code == "E65" and DATAHUB[T.MOVE_IN].confirmed
    assert DATAHUB[T.SUPPLIER_SWITCH].brs == "BRS-001"
    assert set(rules.RULES) == set(ProcessType)


# --- one table per rule ----------------------------------------------------------------------


def _at(day: date) -> datetime:
    """Noon, local time, on `day` (when customer service asks)."""
    return wall_time_to_utc(datetime.combine(day, time(12)))


def _req(
    kind: ProcessType,
    today: date,
    effective: date | datetime | None,
    *,
    customer: uuid.UUID | None = CUSTOMER,
    target: OtherRequest | None = None,
) -> NewRequest:
    moment = effective if isinstance(effective, datetime) or effective is None else None
    if isinstance(effective, date) and not isinstance(effective, datetime):
        moment = local_midnight_utc(effective)
    return NewRequest(kind, GSRN, _at(today), moment, customer, target)


SUPPLIED = PointFacts(GSRN, "E17", "Connected", True, "5790000000005")
OURS = PointFacts(GSRN, "E17", "Connected", True, OUR_GLN, our_customer=CUSTOMER)
TODAY = date(2026, 10, 20)


def _code(check: rules.Check, req: NewRequest, point: PointFacts) -> str | None:
    found = check(req, point, OUR_GLN)
    return None if found is None else found.code


@pytest.mark.parametrize(
    ("point", "code"),
    [
        (SUPPLIED, None),
        (PointFacts(GSRN, "E18", "Connected"), None),
        (PointFacts(GSRN), "E10"),
        (PointFacts(GSRN, "D07", "Connected"), "E10"),
        (PointFacts(GSRN, "E20", "Connected"), "E10"),
    ],
)
def test_rule_accounting_point(point: PointFacts, code: str | None) -> None:
    assert (
        _code(rules.accounting_point, _req(T.SUPPLIER_SWITCH, TODAY, date(2026, 11, 1)), point)
        == code
    )


@pytest.mark.parametrize(
    ("status", "code"),
    [("Connected", None), ("Disconnected", None), ("New", None), ("ClosedDown", "D16")],
)
def test_rule_not_closed_down(status: str, code: str | None) -> None:
    point = PointFacts(GSRN, "E17", status)
    assert _code(rules.not_closed_down, _req(T.MOVE_IN, TODAY, TODAY), point) == code


@pytest.mark.parametrize(
    ("point", "code"),
    [
        (SUPPLIED, None),
        (PointFacts(GSRN, "E17", "Connected", supplier_known=True, supplier_gln=None), "D36"),
        (PointFacts(GSRN, "E17", "Connected", supplier_known=False), None),  # from a file
    ],
)
def test_rule_has_a_supplier(point: PointFacts, code: str | None) -> None:
    assert (
        _code(rules.has_a_supplier, _req(T.SUPPLIER_SWITCH, TODAY, date(2026, 11, 1)), point)
        == code
    )


@pytest.mark.parametrize(
    ("point", "code"),
    [
        (SUPPLIED, None),
        (OURS, "E16"),
        (PointFacts(GSRN, "E17", "Connected", True, OUR_GLN), "E16"),
    ],
)
def test_rule_not_our_customer_already(point: PointFacts, code: str | None) -> None:
    req = _req(T.SUPPLIER_SWITCH, TODAY, date(2026, 11, 1))
    assert _code(rules.not_our_customer_already, req, point) == code


@pytest.mark.parametrize(
    ("today", "effective", "code"),
    [
        (date(2026, 10, 20), date(2026, 10, 20), None),
        (date(2026, 10, 20), date(2026, 10, 19), "E17"),
        # Asked at 00:30 local on the DST day (still 24 October in UTC): today is the 25th.
        (date(2026, 10, 25), date(2026, 10, 24), "E17"),
        (date(2026, 10, 25), date(2026, 10, 25), None),
    ],
)
def test_rule_not_in_the_past(today: date, effective: date, code: str | None) -> None:
    req = _req(T.SUPPLIER_SWITCH, today, effective)
    if today == date(2026, 10, 25):
        req = NewRequest(req.type, GSRN, datetime(2026, 10, 24, 22, 30, tzinfo=UTC), req.effective)
    assert _code(rules.not_in_the_past, req, SUPPLIED) == code


@pytest.mark.parametrize(
    ("effective", "code"),
    [
        (datetime(2026, 10, 24, 22, tzinfo=UTC), None),  # 25 Oct 00:00 CEST (DST day)
        (datetime(2026, 10, 25, 23, tzinfo=UTC), None),  # 26 Oct 00:00 CET
        (datetime(2026, 10, 25, 22, tzinfo=UTC), "D66"),  # 25 Oct 23:00 CET
        (datetime(2026, 10, 24, 23, tzinfo=UTC), "D66"),  # 25 Oct 01:00 CEST
        (datetime(2027, 3, 27, 23, tzinfo=UTC), None),  # 28 Mar 00:00 CET: DST and Easter Sunday
        (datetime(2027, 3, 28, 22, tzinfo=UTC), None),  # 29 Mar 00:00 CEST
        (datetime(2027, 3, 28, 23, tzinfo=UTC), "D66"),
    ],
)
def test_rule_at_local_midnight(effective: datetime, code: str | None) -> None:
    assert _code(rules.at_local_midnight, _req(T.MOVE_IN, TODAY, effective), SUPPLIED) == code


def _other(kind: ProcessType, status: S, effective: date) -> OtherRequest:
    return OtherRequest(uuid.uuid4(), kind, status, local_midnight_utc(effective))


@pytest.mark.parametrize(
    ("others", "code"),
    [
        ((), None),
        ((_other(T.MOVE_IN, S.ACKNOWLEDGED, date(2026, 11, 1)),), "E22"),
        ((_other(T.SUPPLIER_SWITCH, S.COMPLETED, date(2026, 11, 1)),), "E22"),
        ((_other(T.SUPPLIER_SWITCH, S.REJECTED, date(2026, 11, 1)),), None),
        ((_other(T.MOVE_IN, S.CANCELLED, date(2026, 11, 1)),), None),
        ((_other(T.MOVE_IN, S.PENDING, date(2026, 11, 2)),), None),
        ((_other(T.END_OF_SUPPLY, S.PENDING, date(2026, 11, 1)),), None),
    ],
)
def test_rule_no_other_switch_or_move_in(
    others: tuple[OtherRequest, ...], code: str | None
) -> None:
    point = PointFacts(GSRN, "E17", "Connected", True, "5790000000005", others=others)
    req = _req(T.SUPPLIER_SWITCH, TODAY, date(2026, 11, 1))
    assert _code(rules.no_other_switch_or_move_in, req, point) == code


@pytest.mark.parametrize(
    ("today", "effective", "code"),
    [
        (date(2026, 10, 20), date(2026, 10, 4), None),  # 16 days back
        (date(2026, 10, 20), date(2026, 10, 3), "E17"),
        (date(2026, 10, 20), date(2026, 12, 19), None),  # 60 days ahead
        (date(2026, 10, 20), date(2026, 12, 20), "E17"),
        (date(2026, 11, 10), date(2026, 10, 25), None),  # the DST day, 16 days back
        (date(2026, 11, 10), date(2026, 10, 24), "E17"),
    ],
)
def test_rule_move_in_window(today: date, effective: date, code: str | None) -> None:
    assert _code(rules.move_in_window, _req(T.MOVE_IN, today, effective), SUPPLIED) == code


@pytest.mark.parametrize(("customer", "code"), [(OTHER_CUSTOMER, None), (CUSTOMER, "D17")])
def test_rule_new_customer(customer: uuid.UUID, code: str | None) -> None:
    req = _req(T.MOVE_IN, TODAY, TODAY, customer=customer)
    assert _code(rules.new_customer, req, OURS) == code


@pytest.mark.parametrize(("point", "code"), [(OURS, None), (SUPPLIED, "E16")])
def test_rule_we_supply_then(point: PointFacts, code: str | None) -> None:
    assert (
        _code(rules.we_supply_then, _req(T.END_OF_SUPPLY, TODAY, date(2026, 11, 20)), point) == code
    )


@pytest.mark.parametrize(
    ("today", "effective", "code"),
    [
        (date(2027, 3, 24), date(2027, 4, 1), None),  # 3 working days before, over Easter
        (date(2027, 3, 25), date(2027, 4, 1), "E17"),  # Maundy Thursday is no working day
        (date(2027, 1, 31), date(2027, 4, 1), None),  # 60 calendar days before
        (date(2027, 1, 30), date(2027, 4, 1), "E17"),
        (date(2026, 12, 21), date(2026, 12, 28), None),
        (date(2026, 12, 22), date(2026, 12, 28), "E17"),  # Christmas
        (date(2026, 10, 21), date(2026, 10, 25), None),  # DST Sunday: 23, 22, 21 Oct
        (date(2026, 10, 22), date(2026, 10, 25), "E17"),
    ],
)
def test_rule_end_of_supply_notice(today: date, effective: date, code: str | None) -> None:
    req = _req(T.END_OF_SUPPLY, today, effective)
    assert _code(rules.end_of_supply_notice, req, OURS) == code


@pytest.mark.parametrize(
    ("effective", "code"),
    [
        (TODAY, "E17"),
        (TODAY + timedelta(days=1), None),
        (TODAY + timedelta(days=60), None),
        (TODAY + timedelta(days=61), "E17"),
    ],
)
def test_rule_move_out_window(effective: date, code: str | None) -> None:
    assert _code(rules.move_out_window, _req(T.MOVE_OUT, TODAY, effective), OURS) == code


@pytest.mark.parametrize(
    ("kind", "target", "code"),
    [
        (T.CANCEL_SWITCH, _other(T.SUPPLIER_SWITCH, S.ACKNOWLEDGED, date(2026, 11, 1)), None),
        (T.CANCEL_SWITCH, _other(T.SHORT_NOTICE_SWITCH, S.SENT_TO_DATAHUB, date(2026, 11, 1)), None),
        (T.CANCEL_SWITCH, _other(T.MOVE_IN, S.ACKNOWLEDGED, date(2026, 11, 1)), "D02"),
        (T.CANCEL_SWITCH, _other(T.SUPPLIER_SWITCH, S.COMPLETED, date(2026, 11, 1)), "D02"),
        (T.CANCEL_SWITCH, None, "D02"),
        (T.CANCEL_END_OF_SUPPLY, _other(T.END_OF_SUPPLY, S.EFFECTUATION_PENDING, date(2026, 11, 1)), None),
        (T.CANCEL_END_OF_SUPPLY, _other(T.END_OF_SUPPLY, S.REJECTED, date(2026, 11, 1)), "D02"),
    ],
)  # fmt: skip
def test_rule_target_open(kind: ProcessType, target: OtherRequest | None, code: str | None) -> None:
    assert _code(rules.target_open, _req(kind, TODAY, None, target=target), OURS) == code


@pytest.mark.parametrize(
    ("today", "code"),
    [(date(2026, 10, 24), None), (date(2026, 10, 25), "E17"), (date(2026, 10, 26), "E17")],
)
def test_rule_before_target_effective(today: date, code: str | None) -> None:
    target = _other(T.SUPPLIER_SWITCH, S.ACKNOWLEDGED, date(2026, 10, 25))  # the DST day
    req = _req(T.CANCEL_SWITCH, today, None, target=target)
    assert _code(rules.before_target_effective, req, OURS) == code


@pytest.mark.parametrize(
    ("kind", "target", "code"),
    [
        (T.INCORRECT_SWITCH, _other(T.SUPPLIER_SWITCH, S.COMPLETED, date(2026, 10, 1)), None),
        (T.INCORRECT_SWITCH, _other(T.SUPPLIER_SWITCH, S.ACKNOWLEDGED, date(2026, 10, 1)), "D02"),
        (T.INCORRECT_SWITCH, _other(T.MOVE_IN, S.COMPLETED, date(2026, 10, 1)), "D02"),
        (T.INCORRECT_MOVE, _other(T.MOVE_IN, S.COMPLETED, date(2026, 10, 1)), None),
        (T.INCORRECT_MOVE, None, "D02"),
    ],
)
def test_rule_target_completed(
    kind: ProcessType, target: OtherRequest | None, code: str | None
) -> None:
    assert _code(rules.target_completed, _req(kind, TODAY, None, target=target), OURS) == code


@pytest.mark.parametrize(
    ("today", "code"),
    [
        (date(2026, 10, 25), None),  # the effective day itself (DST)
        (date(2026, 10, 24), "E17"),  # not yet in effect
        (date(2026, 12, 24), None),  # 60 days after
        (date(2026, 12, 25), "E17"),
    ],
)
def test_rule_within_60_days_after(today: date, code: str | None) -> None:
    target = _other(T.SUPPLIER_SWITCH, S.COMPLETED, date(2026, 10, 25))
    req = _req(T.INCORRECT_SWITCH, today, None, target=target)
    assert _code(rules.within_60_days_after, req, OURS) == code


def test_forced_end_of_supply_is_started_by_datahub_only() -> None:
    req = _req(T.FORCED_END_OF_SUPPLY, TODAY, date(2026, 11, 1))
    assert [r.code for r in rules.rejections(req, OURS, OUR_GLN)] == ["D02"]


def test_a_valid_switch_passes_every_rule_of_its_type() -> None:
    req = _req(T.SUPPLIER_SWITCH, TODAY, date(2026, 11, 1))
    assert rules.rejections(req, SUPPLIED, OUR_GLN) == []
    assert [r.code for r in rules.rejections(req, PointFacts(GSRN), OUR_GLN)] == ["E10"]


@pytest.mark.parametrize(
    ("kind", "effective", "now", "first_reading", "master_data", "due"),
    [
        (T.SUPPLIER_SWITCH, date(2026, 11, 1), date(2026, 11, 2), True, True, True),
        (T.SUPPLIER_SWITCH, date(2026, 11, 1), date(2026, 11, 2), False, True, False),
        (T.SUPPLIER_SWITCH, date(2026, 11, 1), date(2026, 11, 2), True, False, False),
        (T.MOVE_IN, date(2026, 11, 1), date(2026, 11, 1), True, True, True),
        (T.MOVE_IN, date(2026, 11, 1), date(2026, 11, 1), False, False, False),
        (T.SUPPLIER_SWITCH, date(2026, 11, 1), date(2026, 10, 31), True, True, False),
        (T.END_OF_SUPPLY, date(2026, 11, 1), date(2026, 11, 1), False, False, True),
        (T.MOVE_OUT, date(2026, 11, 1), date(2026, 10, 31), False, False, False),
    ],
)
def test_completion_waits_for_the_date_the_master_data_and_the_first_reading(
    kind: ProcessType, effective: date, now: date, first_reading: bool, master_data: bool, due: bool
) -> None:
    moment = local_midnight_utc(now)
    assert rules.due(kind, local_midnight_utc(effective), moment, first_reading,
                     master_data) is due  # fmt: skip
