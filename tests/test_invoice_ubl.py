"""The invoice a business books (settlement.invoice_ubl): golden invoice scenarios on the real
database, issued, written by `elflow invoice ubl`, every file checked by the validator (UBL 2.1
schema, the official EN 16931 rules, our Peppol checks) and parsed back: its figures equal the
invoice rows. Broken documents must be refused, so the check can fail."""

from __future__ import annotations

import re
import uuid
from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from deploy.cli import main
from schemas.calendar import BillingPeriod
from schemas.codelists import InvoiceType
from schemas.invoice_records import ACONTO
from settlement.invoice_document import (
    DocumentLine,
    InvoiceDocument,
    RateLine,
    assemble,
    check,
)
from settlement.invoice_run import run_invoicing
from settlement.invoice_ubl import COMPONENT, UblError, render
from settlement.rules import invoice_totals
from settlement.ubl_validation import CAC, CBC, fatal, validate
from storage.db import connect
from tests.test_invoice_scenarios import test_invoice_scenario as run_scenario

pytestmark = pytest.mark.services

LATER = datetime.fromisoformat("2026-12-02T09:00:00+00:00")
NS = {"cac": CAC, "cbc": CBC}
CVR = "31415926"
SIGN = {"380": 1, "383": 1, "381": -1}


def _issue_as_business(url: str, periods: list[str]) -> None:
    """Issue every Draft and make every customer a business with a CVR number and an address."""
    with connect(url) as conn:
        for period in periods:
            run_invoicing(conn, BillingPeriod.parse(period), LATER, issue=True)
        conn.execute(
            """UPDATE customer SET contact_type = 'Business', cpr_cvr = %s,
                      name = name || ' & Søn <ApS>', address = 'Havnegade 7, 2. th, 5000 Odense C'""",
            (CVR,),
        )
        conn.commit()


def _rows(url: str) -> dict[str, dict[str, Any]]:
    """Issued invoices by number: head figures, corrected number and lines by line_no."""
    with connect(url) as conn:
        heads = conn.execute(
            """SELECT i.id, i.invoice_number, i.type, i.total_ex_vat, i.vat_amount,
                      i.total_incl_vat, i.due_date, o.invoice_number
               FROM invoice i LEFT JOIN invoice o ON o.id = i.corrects_invoice_id
               WHERE i.invoice_number IS NOT NULL"""
        ).fetchall()
        out: dict[str, dict[str, Any]] = {}
        for invoice_id, number, kind, ex_vat, vat, incl, due, corrected in heads:
            lines = conn.execute(
                """SELECT line_no, metering_point_id, charge_type, quantity, amount
                   FROM invoice_line WHERE invoice_id = %s ORDER BY line_no""",
                (invoice_id,),
            ).fetchall()
            out[number] = {
                "type": kind,
                "totals": (ex_vat, vat, incl),
                "due": due.isoformat(),
                "corrected": corrected,
                "lines": {row[0]: row[1:] for row in lines},
            }
    return out


def _text(node: Any, path: str) -> str:
    found = node.find(path, NS)
    assert found is not None, path
    return str(found.text)


def _check_file(path: Path, row: dict[str, Any]) -> str:
    """Validate one written file and compare every figure with the invoice row; its type code."""
    data = path.read_bytes()
    findings = validate(data)
    assert not fatal(findings), [str(f) for f in findings]
    root = etree.fromstring(data)
    credit = etree.QName(root).localname == "CreditNote"
    code = _text(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode")
    sign = SIGN[code]
    assert code == {"CreditNote": "381", "DebitNote": "383"}.get(row["type"], "380")
    assert _text(root, "cbc:ID") == path.stem
    ex_vat, vat, incl = row["totals"]
    totals = root.find("cac:LegalMonetaryTotal", NS)
    assert Decimal(_text(totals, "cbc:TaxExclusiveAmount")) == sign * ex_vat
    assert Decimal(_text(totals, "cbc:LineExtensionAmount")) == sign * ex_vat
    assert Decimal(_text(totals, "cbc:TaxInclusiveAmount")) == sign * incl
    assert Decimal(_text(totals, "cbc:PayableAmount")) == sign * incl
    assert Decimal(_text(root, "cac:TaxTotal/cbc:TaxAmount")) == sign * vat
    assert _text(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID") == "S"
    assert Decimal(_text(root, "cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:Percent")) == 25
    if not credit:
        assert _text(root, "cbc:DueDate") == row["due"]
    if row["corrected"]:
        assert (
            _text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID")
            == (row["corrected"])
        )
    for party in ("AccountingCustomerParty", "AccountingSupplierParty"):
        assert _text(root, f"cac:{party}/cac:Party/cbc:EndpointID")
    buyer = root.find("cac:AccountingCustomerParty/cac:Party", NS)
    assert _text(buyer, "cbc:EndpointID") == CVR
    assert _text(buyer, "cac:PartyLegalEntity/cbc:RegistrationName").endswith(" & Søn <ApS>")
    assert _text(buyer, "cac:PostalAddress/cbc:PostalZone") == "5000"

    # Σ UBL lines per invoice line (rate parts are n.k) = the row's amount; kWh likewise.
    amounts: dict[int, Decimal] = defaultdict(Decimal)
    kwh: dict[int, Decimal] = defaultdict(Decimal)
    for line in root.findall("cac:CreditNoteLine" if credit else "cac:InvoiceLine", NS):
        line_no = int(_text(line, "cbc:ID").split(".")[0])
        amount = Decimal(_text(line, "cbc:LineExtensionAmount"))
        amounts[line_no] += amount
        quantity = line.find("cbc:CreditedQuantity" if credit else "cbc:InvoicedQuantity", NS)
        component = line.find(f"cac:Item/cac:AdditionalItemProperty[cbc:Name='{COMPONENT}']", NS)
        if quantity.get("unitCode") == "KWH" and component is None:
            kwh[line_no] += Decimal(quantity.text)
        gsrn = row["lines"][line_no][0]
        if gsrn:
            names = [
                p.text for p in line.findall("cac:Item/cac:AdditionalItemProperty/cbc:Value", NS)
            ]
            assert gsrn in names
    assert {n: sign * a for n, a in amounts.items()} == {n: r[3] for n, r in row["lines"].items()}
    for n, quantity in kwh.items():
        assert sign * quantity == row["lines"][n][2]
    return code


def _export(db: str, period: str, out: Path, capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["invoice", "ubl", "--period", period, "--out", str(out)]) == 0
    return capsys.readouterr().out


def _written(db: str, out: Path) -> list[str]:
    """Check every written file against its invoice row; their type codes."""
    rows = _rows(db)
    written = sorted(out.iterdir())
    assert [p.name for p in written] == sorted(f"{n}.xml" for n in rows)
    return [_check_file(path, rows[path.stem]) for path in written]


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        ("b_credit_note_after_lower_rerun", ["380", "381"]),
        pytest.param("c_debit_note_after_higher_rerun", ["380", "383"], marks=pytest.mark.slow),
        pytest.param("d_aconto_overpaid", ["380"], marks=pytest.mark.slow),
        pytest.param("g_final_settlement_supply_ended", ["380"], marks=pytest.mark.slow),
    ],
)
def test_every_business_invoice_validates_and_equals_its_rows(
    db: str, name: str, codes: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_scenario(db, name)
    _issue_as_business(db, ["2026-10"])
    printed = _export(db, "2026-10", tmp_path / "ubl", capsys)
    assert printed.startswith(f"wrote {len(codes)} Peppol BIS 3.0 (UBL 2.1) files of 2026-10")
    assert _written(db, tmp_path / "ubl") == codes
    if codes[-1] == "381":
        # Scenario b's README: the note credits 30.61 + 7.65 VAT = 38.26, as positive amounts.
        credit = etree.fromstring(sorted((tmp_path / "ubl").iterdir())[-1].read_bytes())
        assert _text(credit, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "38.26"
        assert _text(credit, "cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount") == "30.61"
        assert _text(credit, "cac:TaxTotal/cbc:TaxAmount") == "7.65"


def _rules(data: bytes) -> set[str]:
    return {f.rule for f in fatal(validate(data))}


def test_private_none_business_valid_broken_refused(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_scenario(db, "a_standard_monthly_rounding")
    with connect(db) as conn:
        run_invoicing(conn, BillingPeriod.parse("2026-10"), LATER, issue=True)
        row = conn.execute("SELECT id FROM invoice").fetchone()
        assert row is not None
        with pytest.raises(UblError, match="private customer"):
            render(assemble(conn, row[0]))
    # A private customer (CPR number) gets none, and the command says so.
    printed = _export(db, "2026-10", tmp_path / "private", capsys)
    assert "wrote 0 " in printed
    assert "1 issued invoices of private customers get no UBL file" in printed
    assert list((tmp_path / "private").iterdir()) == []

    _issue_as_business(db, [])
    _export(db, "2026-10", tmp_path / "ubl", capsys)
    assert _written(db, tmp_path / "ubl") == ["380"]
    with connect(db) as conn:
        data = render(assemble(conn, row[0]))
        assert render(assemble(conn, row[0])) == data  # deterministic: the same bytes
    assert (
        tmp_path / "ubl" / f"{_text(etree.fromstring(data), 'cbc:ID')}.xml"
    ).read_bytes() == data
    _broken_documents_are_refused(data)

    # An invoice that cannot be written fails only itself: one line, nothing written, exit 1.
    with connect(db) as conn:
        conn.execute("UPDATE customer SET cpr_cvr = '1234'")
        conn.commit()
    capsys.readouterr()
    assert main(["invoice", "ubl", "--period", "2026-10", "--out", str(tmp_path / "bad")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not written" in err[0] and "CVR" in err[0], err
    assert list((tmp_path / "bad").iterdir()) == []


def _broken_documents_are_refused(data: bytes) -> None:
    text = data.decode()
    assert _rules(data) == set()

    payable = re.search(r"<cbc:PayableAmount currencyID=\"DKK\">([-\d.]+)<", text)
    assert payable is not None
    wrong = payable.group(0).replace(payable.group(1), str(Decimal(payable.group(1)) + 1))
    assert "BR-CO-16" in _rules(text.replace(payable.group(0), wrong).encode())

    no_reference = re.sub(r"\s*<cbc:BuyerReference>[^<]*</cbc:BuyerReference>", "", text)
    assert _rules(no_reference.encode()) == {"PEPPOL-EN16931-R003"}

    bad_category = text.replace("<cbc:ID>S</cbc:ID>", "<cbc:ID>X</cbc:ID>")
    assert {"BR-CL-17", "BR-CL-18"} <= _rules(bad_category.encode())

    line_total = re.search(
        r"(<cac:InvoiceLine>.*?<cbc:LineExtensionAmount currencyID=\"DKK\">)([-\d.]+)<", text, re.S
    )
    assert line_total is not None
    shifted = f"{line_total.group(1)}{Decimal(line_total.group(2)) + 1}<"
    broken_line = text.replace(line_total.group(0), shifted, 1)
    assert {"BR-CO-10", "PEPPOL-EN16931-R120"} <= _rules(broken_line.encode())

    due_after_type = re.sub(
        r"(<cbc:DueDate>[^<]*</cbc:DueDate>)(\s*)(<cbc:InvoiceTypeCode>[^<]*</cbc:InvoiceTypeCode>)",
        r"\3\2\1",
        text,
    )
    assert _rules(due_after_type.encode()) == {"XSD"}
    short_cvr = text.replace(f'schemeID="0184">{CVR}', f'schemeID="0184">{CVR[:7]}')
    assert _rules(short_cvr.encode()) == {"ELFLOW-CVR"}


# ------------------------------------------------------ documents the scenarios do not reach
def _document_of(kind: InvoiceType, lines: list[DocumentLine], **extra: Any) -> InvoiceDocument:
    from settlement.invoice_document import Customer, Installation, supplier_from_settings

    ex_vat, vat, incl = invoice_totals([line.amount for line in lines])
    gsrns = sorted({line.gsrn for line in lines})
    values: dict[str, Any] = dict(
        invoice_id=uuid.uuid4(),
        number="EF-2026-000042",
        type=kind,
        title="Faktura",
        corrects_invoice_id=None,
        corrects_number=None,
        issue_date=date(2026, 11, 5),
        due_date=date(2026, 11, 25),
        period_label="2026-10",
        period_first_day=date(2026, 10, 1),
        period_last_day=date(2026, 10, 31),
        currency="DKK",
        supplier=supplier_from_settings(),
        customer=Customer(uuid.uuid4(), "Bager Hansen ApS", None, "DK 27182818", True, None),
        installations=tuple(Installation(g, None, "344", "Test Net") for g in gsrns),
        lines=tuple(lines),
        vat_rate=Decimal("0.25"),
        total_ex_vat=ex_vat,
        vat_amount=vat,
        total_incl_vat=incl,
        aconto_paid_incl_vat=Decimal("0.00"),
        next_aconto_incl_vat=Decimal("0.00"),
        amount_due=incl,
    )
    document = InvoiceDocument(**{**values, **extra})
    check(document)
    return document


def _rate(desc: str, kwh: str, rate: str, unit: str, amount: str, day: int = 1) -> RateLine:
    first, last = date(2026, 10, day), date(2026, 10, 31)
    quantity_unit = "dage" if unit == "kr/dag" else "kWh"
    return RateLine(desc, Decimal(kwh), quantity_unit, Decimal(rate), unit, first, last,
                    Decimal(amount), unit != "kr/kWh")  # fmt: skip


def _doc_line(no: int, gsrn: str, charge: str, rates: list[RateLine], **kw: Any) -> DocumentLine:
    amount = sum((r.amount for r in rates), Decimal("0.00"))
    quantity = sum((r.quantity for r in rates), Decimal("0.000"))
    values: dict[str, Any] = {
        "line_no": no, "gsrn": gsrn, "charge_type": charge, "aconto_kind": None,
        "description": f"{charge}, målepunkt {gsrn}", "quantity": quantity,
        "quantity_unit": rates[0].quantity_unit if rates else "stk", "unit_price": Decimal(0),
        "amount": amount, "amount_incl_vat": None, "rates": tuple(rates),
    }  # fmt: skip
    values.update(kw)
    return DocumentLine(**values)


GSRN_A, GSRN_B = "571313100000000011", "571313100000000028"


def test_published_rates_aconto_and_a_negative_invoice_validate() -> None:
    grid = [
        _rate("lavlast", "100.000", "12.34", "øre/kWh", "12.34"),
        _rate("højlast", "50.000", "37.02", "øre/kWh", "18.51"),
        _rate("spidslast", "10.000", "96.27", "øre/kWh", "9.63", day=16),
    ]
    lines = [
        _doc_line(1, GSRN_A, "GridTariff", grid),
        _doc_line(2, GSRN_A, "Energy", [_rate("spot", "160.000", "1.23456789", "kr/kWh", "197.53")]),
        _doc_line(3, GSRN_B, "SupplierSubscription", [_rate("abonnement", "31.000", "0.935484", "kr/dag", "29.00")]),
        _doc_line(4, GSRN_A, ACONTO, [], aconto_kind="Paid", quantity=Decimal("1.000"),
                  unit_price=Decimal("-710.40"), amount=Decimal("-710.40"),
                  amount_incl_vat=Decimal("-888.00")),
        _doc_line(5, GSRN_A, ACONTO, [], aconto_kind="Next", quantity=Decimal("1.000"),
                  unit_price=Decimal("400.00"), amount=Decimal("400.00"),
                  amount_incl_vat=Decimal("500.00")),
    ]  # fmt: skip
    document = _document_of(InvoiceType.ACONTO_COMBINED, lines)
    assert document.total_ex_vat == Decimal("-43.39")
    data = render(document)
    assert not fatal(validate(data)), [str(f) for f in validate(data)]
    root = etree.fromstring(data)
    ubl = root.findall("cac:InvoiceLine", NS)
    assert [_text(x, "cbc:ID") for x in ubl] == ["1.1", "1.2", "1.3", "2", "3", "4", "5"]
    # The grid tariff's published rates, in kr, with their periods; the paid aconto a credit line.
    assert [_text(x, "cac:Price/cbc:PriceAmount") for x in ubl[:3]] == [
        "0.1234",
        "0.3702",
        "0.9627",
    ]
    assert _text(ubl[2], "cac:InvoicePeriod/cbc:StartDate") == "2026-10-16"
    assert _text(ubl[0], "cbc:InvoicedQuantity") == "100"
    assert _text(ubl[5], "cbc:InvoicedQuantity") == "-1"
    assert _text(ubl[5], "cac:Price/cbc:PriceAmount") == "710.4"
    assert "-888.00" in [v.text for v in ubl[5].iterfind(".//cbc:Value", NS)]
    assert root.find("cac:Delivery", NS) is None  # two installations: the lines name them
    assert _text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "-54.24"


def test_a_credit_note_whose_kwh_did_not_change_validates() -> None:
    lines = [
        _doc_line(1, GSRN_A, "GridTariff", [_rate("rettet sats", "0.000", "0", "øre/kWh", "-5.00")]),
        _doc_line(2, GSRN_A, "Energy", [_rate("spot", "-20.000", "1.2", "kr/kWh", "-24.00")]),
        _doc_line(3, GSRN_A, "SystemTariff", [_rate("ny sats", "-10.000", "3", "øre/kWh", "3.00")]),
    ]  # fmt: skip
    document = _document_of(InvoiceType.CREDIT_NOTE, lines, corrects_number="EF-2026-000007")
    data = render(document)
    assert not fatal(validate(data)), [str(f) for f in validate(data)]
    root = etree.fromstring(data)
    ubl = root.findall("cac:CreditNoteLine", NS)
    # Negated: the credit note states 5.00 and 24.00 credited and 3.00 charged back.
    assert [_text(x, "cbc:LineExtensionAmount") for x in ubl] == ["5.00", "24.00", "-3.00"]
    assert [x.find("cbc:CreditedQuantity", NS).get("unitCode") for x in ubl] == [
        "C62",
        "KWH",
        "C62",
    ]
    assert _text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "32.50"
    assert (
        _text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == "EF-2026-000007"
    )


def test_missing_or_changed_rules_are_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The rules are fetched at install time, not committed: a machine without them (or with
    another file in their place) gets one line saying what to run, never a weaker check."""
    from schemas.settings import settings
    from settlement import ubl_artefacts
    from settlement.ubl_artefacts import RULES_FILES, UblArtefactError, rules_present, rules_xslt

    installed = ubl_artefacts.rules_dir()
    assert rules_present(installed), "deploy/stack.sh installs the rules before the tests"
    copy = tmp_path / "rules"
    copy.mkdir()
    for name in RULES_FILES:
        (copy / name).write_bytes((installed / name).read_bytes())
    assert rules_present(copy)
    (copy / "NOTICE").write_bytes((installed / "NOTICE").read_bytes() + b" ")
    assert not rules_present(copy)

    monkeypatch.setenv("ELFLOW_UBL_RULES_DIR", str(tmp_path / "nowhere"))
    settings.cache_clear()
    rules_xslt.cache_clear()
    try:
        with pytest.raises(UblArtefactError) as refused:
            rules_xslt()
        line = str(refused.value)
        assert "\n" not in line and "deploy.ubl_rules" in line and "nowhere" in line
    finally:
        monkeypatch.undo()
        settings.cache_clear()
        rules_xslt.cache_clear()
