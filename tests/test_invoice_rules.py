"""Invoicing rules without a database: periods, and property tests of building, correcting and
planning invoices (settlement/invoicing.py)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.calendar import BillingPeriod
from schemas.codelists import (
    BillingFrequency,
    ChargeType,
    InvoiceStatus,
    InvoiceType,
    PaymentModel,
)
from schemas.invoice_records import AcontoSettled, ContractTerms, ExistingInvoice, SettledLine
from settlement.invoicing import (
    Create,
    InvoiceDraft,
    InvoicingError,
    Replace,
    build_correction,
    build_invoice,
    missing_runs,
    plan_customer,
)
from settlement.rules import VAT_RATE, round_ore

CUSTOMER = uuid.UUID(int=1)
GSRNS = ("571313100000000001", "571313100000000002")
OCTOBER = BillingPeriod.parse("2026-10")
RUN = uuid.UUID(int=99)


def _contract(
    n: int, *, model: PaymentModel = PaymentModel.POST_PAYMENT, end: date | None = None
) -> ContractTerms:
    return ContractTerms(
        id=uuid.UUID(int=100 + n),
        customer_id=CUSTOMER,
        gsrn=GSRNS[n],
        grid_area_code="344",
        billing_frequency=BillingFrequency.MONTHLY,
        payment_model=model,
        payment_term_days=14 + n,
        start_date=date(2025, 1, 1),
        end_date=end,
    )


CONTRACTS = [_contract(0), _contract(1)]

amounts = st.decimals(
    min_value=Decimal("-500"),
    max_value=Decimal("5000"),
    places=6,
    allow_nan=False,
    allow_infinity=False,
)
kwh = st.decimals(
    min_value=Decimal(0), max_value=Decimal("9999"), places=3, allow_nan=False, allow_infinity=False
)


@st.composite
def settled_lines(draw: st.DrawFn) -> list[SettledLine]:
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from([0, 1]), st.sampled_from(list(ChargeType))),
            unique=True,
            max_size=14,
        )
    )
    return [
        SettledLine(
            run_id=RUN,
            run_version=1,
            month=OCTOBER.start,
            metering_point_id=GSRNS[n],
            charge_type=charge,
            total_kwh=draw(kwh),
            total_amount=(amount := draw(amounts)),
            vat_amount=(amount * VAT_RATE).quantize(Decimal("0.000001")),
            contract_id=CONTRACTS[n].id,
        )
        for n, charge in keys
    ]


# ------------------------------------------------------------------------------------ periods
def test_quarter_needs_a_run_for_each_month_of_each_contracts_grid_area() -> None:
    q4 = BillingPeriod.parse("2026-Q4")
    completed: set[tuple[date, str | None]] = {
        (date(2026, 10, 1), "344"),
        (date(2026, 11, 1), "344"),
    }
    assert missing_runs(q4, CONTRACTS, completed) == ["2026-12 grid area 344"]
    # A contract that ended in November needs no December run; a national run covers every area.
    ended = [_contract(0, end=date(2026, 11, 20))]
    assert missing_runs(q4, ended, completed) == []
    assert missing_runs(q4, CONTRACTS, completed | {(date(2026, 12, 1), None)}) == []


# ------------------------------------------------------------------------------ property tests
@settings(max_examples=300, database=None)
@given(settled_lines())
def test_invoice_lines_sum_to_the_settlement_lines_rounded_per_line(
    lines: list[SettledLine],
) -> None:
    draft = build_invoice(OCTOBER, CUSTOMER, CONTRACTS, lines)
    assert sum((line.amount for line in draft.lines), Decimal(0)) == sum(
        (round_ore(s.total_amount) for s in lines), Decimal(0)
    )
    assert all(line.amount == round_ore(line.amount) for line in draft.lines)
    assert len(draft.lines) == len(lines)  # one line per charge type per metering point
    ex, vat, incl = draft.totals
    assert ex == sum((line.amount for line in draft.lines), Decimal("0.00"))
    assert vat == round_ore(ex * VAT_RATE)
    assert incl == ex + vat
    assert draft.type is InvoiceType.STANDARD
    assert draft.payment_term_days == 15


@settings(max_examples=300, database=None)
@given(settled_lines(), settled_lines())
def test_invoice_plus_correction_equals_the_new_run(
    before: list[SettledLine], after: list[SettledLine]
) -> None:
    original = build_invoice(OCTOBER, CUSTOMER, CONTRACTS, before)
    target = build_invoice(OCTOBER, CUSTOMER, CONTRACTS, after)
    original_id = uuid.uuid4()
    note = build_correction(target, original.lines, original_id)

    old_net, new_net = original.totals.total_ex_vat, target.totals.total_ex_vat
    if old_net == new_net:
        assert note is None
        return
    assert note is not None
    assert note.corrects_invoice_id == original_id
    assert note.type is (InvoiceType.CREDIT_NOTE if new_net < old_net else InvoiceType.DEBIT_NOTE)
    assert note.totals.total_ex_vat == new_net - old_net
    per_key: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for line in (*original.lines, *note.lines):
        per_key[line.key] += line.amount
    for line in target.lines:
        assert per_key.pop(line.key, Decimal(0)) == line.amount
    assert all(amount == 0 for amount in per_key.values())
    assert all(line.amount != 0 for line in note.lines)


@settings(max_examples=200, database=None)
@given(settled_lines(), settled_lines())
def test_planning_again_after_applying_the_plan_changes_nothing(
    first: list[SettledLine], second: list[SettledLine]
) -> None:
    stored: list[ExistingInvoice] = []

    def apply(target: InvoiceDraft) -> None:
        for action in plan_customer(target, stored):
            if isinstance(action, Create):
                stored.append(_stored(uuid.uuid4(), action.draft))
            elif isinstance(action, Replace):
                stored[:] = [
                    _stored(action.invoice_id, action.draft) if e.id == action.invoice_id else e
                    for e in stored
                ]
            else:
                stored[:] = [e for e in stored if e.id != action.invoice_id]
        assert plan_customer(target, stored) == []

    apply(build_invoice(OCTOBER, CUSTOMER, CONTRACTS, first))
    issued = [ExistingInvoice(e.id, e.type, InvoiceStatus.ISSUED, e.lines) for e in stored]
    stored[:] = issued
    apply(build_invoice(OCTOBER, CUSTOMER, CONTRACTS, second))
    # Issued invoices are never rewritten or discarded.
    assert all(e in stored for e in issued)


def _stored(invoice_id: uuid.UUID, draft: InvoiceDraft) -> ExistingInvoice:
    return ExistingInvoice(
        invoice_id, draft.type, InvoiceStatus.DRAFT, draft.lines, draft.corrects_invoice_id
    )


def test_draft_is_rebuilt_not_corrected_when_the_run_changes_before_issue() -> None:
    line = SettledLine(
        RUN,
        1,
        OCTOBER.start,
        GSRNS[0],
        ChargeType.ENERGY,
        Decimal(10),
        Decimal("12.345"),
        Decimal(0),
        CONTRACTS[0].id,
    )
    first = build_invoice(OCTOBER, CUSTOMER, CONTRACTS, [line])
    draft = _stored(uuid.uuid4(), first)
    changed = build_invoice(
        OCTOBER,
        CUSTOMER,
        CONTRACTS,
        [line.__class__(**{**line.__dict__, "total_amount": Decimal(13)})],
    )
    assert plan_customer(changed, [draft]) == [Replace(draft.id, changed)]


# ------------------------------------------------------------------------------------- aconto
def test_aconto_contract_without_aconto_settlement_is_refused() -> None:
    aconto = [_contract(0, model=PaymentModel.ACONTO)]
    line = SettledLine(
        RUN,
        1,
        OCTOBER.start,
        GSRNS[0],
        ChargeType.ENERGY,
        Decimal(10),
        Decimal(12),
        Decimal(3),
        aconto[0].id,
    )
    with pytest.raises(InvoicingError, match="no aconto settlement"):
        build_invoice(OCTOBER, CUSTOMER, aconto, [line])


def test_aconto_settlement_that_does_not_match_the_lines_is_refused() -> None:
    aconto = [_contract(0, model=PaymentModel.ACONTO)]
    line = SettledLine(
        RUN,
        1,
        OCTOBER.start,
        GSRNS[0],
        ChargeType.ENERGY,
        Decimal(10),
        Decimal(12),
        Decimal(3),
        aconto[0].id,
    )
    # actual_cost excl. VAT (12) where the run writes it incl. VAT (15): refused, not guessed.
    row = AcontoSettled(
        aconto[0].id, OCTOBER.start, BillingFrequency.MONTHLY, Decimal(12), Decimal(20), Decimal(20)
    )
    with pytest.raises(InvoicingError, match="actual cost"):
        build_invoice(OCTOBER, CUSTOMER, aconto, [line], [row])


def test_quarterly_aconto_uses_the_quarter_row_over_monthly_rows() -> None:
    q4 = BillingPeriod.parse("2026-Q4")
    contract = ContractTerms(
        uuid.UUID(int=7),
        CUSTOMER,
        GSRNS[0],
        "344",
        BillingFrequency.QUARTERLY,
        PaymentModel.ACONTO,
        30,
        date(2025, 1, 1),
        None,
    )
    line = SettledLine(
        RUN,
        1,
        q4.start,
        GSRNS[0],
        ChargeType.ENERGY,
        Decimal(100),
        Decimal(100),
        Decimal(25),
        contract.id,
    )
    rows = [
        AcontoSettled(
            contract.id,
            q4.start,
            BillingFrequency.QUARTERLY,
            Decimal(125),
            Decimal(250),
            Decimal(375),
        ),
        AcontoSettled(
            contract.id, q4.start, BillingFrequency.MONTHLY, Decimal(1), Decimal(1), Decimal(1)
        ),
    ]
    draft = build_invoice(q4, CUSTOMER, [contract], [line], rows)
    assert [(line.aconto_kind, line.description, line.amount) for line in draft.lines[1:]] == [
        ("Paid", f"Betalt aconto 2026-Q4, målepunkt {GSRNS[0]}", Decimal("-200.00")),
        ("Next", f"Aconto 2027-Q1, målepunkt {GSRNS[0]}", Decimal("300.00")),
    ]
    assert draft.type is InvoiceType.ACONTO_COMBINED
