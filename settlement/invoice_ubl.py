"""The invoice a business books: an issued invoice (settlement.invoice_document.InvoiceDocument, the
same model the PDF prints) as a Peppol BIS Billing 3.0 / UBL 2.1 Invoice or CreditNote.

Only for business customers (a CVR number); a private customer's document would carry a CPR
number, so `render` refuses it. Deterministic: the same document gives the same bytes (no clock,
no random ids); text is escaped by lxml; every number is written from its Decimal, never a float.

Mapping (BT = EN 16931 business term):
- Standard, AcontoCombined, FinalSettlement → Invoice 380; DebitNote → Invoice 383; CreditNote →
  CreditNote 381. Notes carry the corrected invoice's number (BillingReference, BT-25). Our
  credit notes store negative amounts; a UBL CreditNote states the credit as positive amounts,
  so every amount and quantity of a CreditNote is negated.
- Seller: name, address, VAT id DK+CVR, legal id CVR (scheme 0184), endpoint GLN (0088, or CVR
  when the GLN setting is not a valid GLN), contact. Buyer: name, address, legal id and endpoint
  CVR (0184). BuyerReference (BT-10, Peppol requires it): our customer id, until the customer
  master data carries a reference of the buyer's own.
- Delivery location (BT-71): the installation's GSRN when the invoice covers one installation;
  every line also names its GSRN (item property "Målepunkt").
- Lines: one UBL line per rate part (quantity × the published rate in force, kWh as KWH,
  subscription days as DAY; øre/kWh rates in kr); the price is the rate whenever quantity ×
  rate gives the part's amount within Peppol's 0.02 (PEPPOL-EN16931-R120); otherwise (e.g. a
  note whose kWh did not change but whose amount did) the line states its amount for its
  quantity (price = amount, base quantity = quantity) or as one lump sum (C62). Aconto lines
  are lump sums (the paid aconto with quantity −1) and carry their amount incl. VAT as an item
  property. A spot product's energy line has two priced parts over the same kWh (the mean spot
  price, the product's margin); the second is marked with the item property "Pristillæg". No
  allowances or charges are needed.
- VAT: one breakdown, category S at 25 %; totals equal the invoice row (total ex VAT, VAT,
  total incl. VAT = amount due); PaymentMeans 42 (Danish bank account: registration number as
  the branch, account number) with the invoice number as payment id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from lxml import etree

from schemas.codelists import InvoiceType
from schemas.errors import ElflowError
from schemas.invoice_records import ACONTO
from schemas.rsm012 import gsrn_check_digit
from settlement.invoice_document import DocumentLine, InvoiceDocument, RateLine
from settlement.ubl_validation import BIS3_CUSTOMIZATION, CAC, CBC, LINE_SLACK

INVOICE_NS = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
CREDIT_NOTE_NS = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
BIS3_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
TYPE_CODES: dict[InvoiceType, str] = {
    InvoiceType.STANDARD: "380",
    InvoiceType.ACONTO_COMBINED: "380",
    InvoiceType.FINAL_SETTLEMENT: "380",
    InvoiceType.DEBIT_NOTE: "383",
    InvoiceType.CREDIT_NOTE: "381",
}
UNIT_CODES = {"kWh": "KWH", "dage": "DAY", "stk": "C62"}
LUMP_SUM = "C62"  # UN/ECE rec. 20 "one"
COMPONENT = "Pristillæg"  # item property of a part whose kWh another part counts
CENT = Decimal("0.01")
ONE = Decimal(1)


class UblError(ElflowError):
    """An invoice cannot be written as a Peppol BIS document (one line)."""


@dataclass(frozen=True)
class UblLine:
    """One UBL invoice line, signed as the document states it."""

    id: str
    quantity: Decimal
    unit: str
    amount: Decimal
    price: Decimal  # never negative (BR-27)
    base_quantity: Decimal | None
    name: str
    description: str | None
    first_day: date | None
    last_day: date | None
    properties: tuple[tuple[str, str], ...]


# ------------------------------------------------------------------------------- formatting
def money(value: Decimal) -> str:
    """An amount with exactly two decimals (BR-DEC-*), from the Decimal."""
    return f"{value.quantize(CENT):f}"


def plain(value: Decimal) -> str:
    """A quantity or price without exponent or trailing zeros (200.000 → 200, 0.00800 → 0.008)."""
    text = f"{value.normalize():f}"
    return "0" if text in ("-0", "0E-8") else text


def is_gln(value: str) -> bool:
    return re.fullmatch(r"\d{13}", value) is not None and gsrn_check_digit(value[:12]) == int(
        value[12]
    )


def cvr_of(text: str) -> str | None:
    """A Danish CVR number (8 digits) from how it is stored (spaces or a DK prefix allowed)."""
    digits = re.sub(r"\s", "", text).removeprefix("DK")
    return digits if re.fullmatch(r"[1-9]\d{7}", digits) else None


def address_parts(text: str | None) -> dict[str, str]:
    """A one-line address ("Vej 1, 2. tv, 8000 Aarhus C, DK") as UBL PostalAddress parts."""
    parts = [p.strip() for p in (text or "").split(",") if p.strip()]
    country = "DK"
    if parts and re.fullmatch(r"[A-Z]{2}", parts[-1]):
        country = parts.pop()
    found: dict[str, str] = {}
    for n, part in enumerate(parts):
        match = re.fullmatch(r"(\d{4})\s+(.+)", part)
        if match:
            found["PostalZone"], found["CityName"] = match.group(1), match.group(2)
            parts = parts[:n] + parts[n + 1 :]
            break
    if parts:
        found["StreetName"] = parts[0]
    if len(parts) > 1:
        found["AdditionalStreetName"] = ", ".join(parts[1:])
    found["Country"] = country
    return found


# ------------------------------------------------------------------------------------ lines
def _rate_in_kr(rate: RateLine) -> Decimal:
    return rate.rate / 100 if rate.rate_unit.startswith("øre") else rate.rate


def _priced(
    quantity: Decimal, unit: str, amount: Decimal, rate: Decimal | None
) -> tuple[Decimal, str, Decimal, Decimal | None]:
    """(quantity, unit code, price, base quantity) that state `amount` (see module docstring)."""
    exact = rate is not None and rate >= 0 and abs(quantity * rate - amount) <= LINE_SLACK
    if rate is not None and exact and quantity != 0:
        return quantity, unit, rate, None
    if amount == 0:
        return (quantity or ONE), (unit if quantity else LUMP_SUM), Decimal(0), None
    if quantity != 0 and (quantity > 0) == (amount > 0):
        return quantity, unit, abs(amount), abs(quantity)
    return (ONE if amount > 0 else -ONE), LUMP_SUM, abs(amount), None


def ubl_lines(document: InvoiceDocument) -> list[UblLine]:
    sign = -1 if document.type is InvoiceType.CREDIT_NOTE else 1
    out: list[UblLine] = []
    for line in document.lines:
        out.extend(_line_parts(line, sign))
    return out


def _line_parts(line: DocumentLine, sign: int) -> Iterator[UblLine]:
    unit = UNIT_CODES.get(line.quantity_unit, LUMP_SUM)
    gsrn: tuple[tuple[str, str], ...] = (("Målepunkt", line.gsrn),) if line.gsrn else ()
    if line.charge_type == ACONTO or not line.rates:
        extra: tuple[tuple[str, str], ...] = ()
        if line.amount_incl_vat is not None:
            extra = (("Beløb inkl. moms", money(sign * line.amount_incl_vat)),)
        quantity, code, price, base = _priced(
            sign * line.quantity, unit, sign * line.amount, sign * line.unit_price
        )
        yield UblLine(
            id=str(line.line_no),
            quantity=quantity,
            unit=code,
            amount=sign * line.amount,
            price=price,
            base_quantity=base,
            name=line.description,
            description=None,
            first_day=None,
            last_day=None,
            properties=gsrn + extra,
        )
        return
    several = len(line.rates) > 1
    for k, rate in enumerate(line.rates, start=1):
        quantity, code, price, base = _priced(
            sign * rate.quantity, unit, sign * rate.amount, _rate_in_kr(rate)
        )
        published: tuple[tuple[str, str], ...] = ()
        if rate.published:
            published = (("Sats", f"{plain(rate.rate)} {rate.rate_unit}"),)
        if not rate.counts_quantity:
            # A price component of kWh another part of the line counts (spot share + margin).
            published += ((COMPONENT, "kWh tælles i anden delpost"),)
        yield UblLine(
            id=f"{line.line_no}.{k}" if several else str(line.line_no),
            quantity=quantity,
            unit=code,
            amount=sign * rate.amount,
            price=price,
            base_quantity=base,
            name=line.description,
            description=rate.description or None,
            first_day=rate.first_day,
            last_day=rate.last_day,
            properties=gsrn + published,
        )


# --------------------------------------------------------------------------------- document
class _Builder:
    def __init__(self, root_ns: str, root: str) -> None:
        self.root = etree.Element(
            f"{{{root_ns}}}{root}", nsmap={None: root_ns, "cac": CAC, "cbc": CBC}
        )

    def cbc(self, parent: Any, name: str, text: str | None, **attrs: str) -> Any:
        """A basic element; nothing when the text is empty (PEPPOL-EN16931-R008)."""
        if text is None or not str(text).strip():
            return None
        element = etree.SubElement(parent, f"{{{CBC}}}{name}", attrs)
        element.text = str(text)
        return element

    def cac(self, parent: Any, name: str) -> Any:
        return etree.SubElement(parent, f"{{{CAC}}}{name}")

    def amount(self, parent: Any, name: str, value: Decimal) -> None:
        self.cbc(parent, name, money(value), currencyID="DKK")


def render(document: InvoiceDocument) -> bytes:
    """The UBL 2.1 bytes (UTF-8) of one issued business invoice; UblError (one line) otherwise."""
    if not document.customer.is_business:
        raise UblError(f"invoice {document.number}: a private customer gets no UBL file")
    buyer_cvr = cvr_of(document.customer.cpr_cvr)
    if buyer_cvr is None:
        raise UblError(f"invoice {document.number}: the customer's CVR number is not 8 digits")
    seller_cvr = cvr_of(document.supplier.cvr)
    if seller_cvr is None:
        raise UblError("ELFLOW_SUPPLIER_CVR is not a CVR number (8 digits)")
    if document.currency != "DKK":
        raise UblError(f"invoice {document.number}: currency {document.currency}, not DKK")
    credit = document.type is InvoiceType.CREDIT_NOTE
    sign = -1 if credit else 1
    lines = ubl_lines(document)
    if sum((line.amount for line in lines), Decimal(0)) != sign * document.total_ex_vat:
        raise UblError(f"invoice {document.number}: its lines do not add up to its total")

    b = _Builder(CREDIT_NOTE_NS if credit else INVOICE_NS, "CreditNote" if credit else "Invoice")
    root = b.root
    b.cbc(root, "CustomizationID", BIS3_CUSTOMIZATION)
    b.cbc(root, "ProfileID", BIS3_PROFILE)
    b.cbc(root, "ID", document.number)
    b.cbc(root, "IssueDate", document.issue_date.isoformat())
    if not credit:
        b.cbc(root, "DueDate", document.due_date.isoformat())
    b.cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", TYPE_CODES[document.type])
    first, last = document.period_first_day, document.period_last_day
    b.cbc(root, "Note", f"{document.title} {document.period_label} ({first} – {last})")
    b.cbc(root, "DocumentCurrencyCode", "DKK")
    b.cbc(root, "BuyerReference", str(document.customer.id))
    period = b.cac(root, "InvoicePeriod")
    b.cbc(period, "StartDate", first.isoformat())
    b.cbc(period, "EndDate", last.isoformat())
    if document.is_note:
        corrected = document.corrects_number or str(document.corrects_invoice_id or "")
        if not corrected:
            raise UblError(f"invoice {document.number}: a note without the invoice it corrects")
        reference = b.cac(b.cac(root, "BillingReference"), "InvoiceDocumentReference")
        b.cbc(reference, "ID", corrected)
    _seller(b, document, seller_cvr)
    _buyer(b, document, buyer_cvr)
    if len(document.installations) == 1:
        location = b.cac(b.cac(root, "Delivery"), "DeliveryLocation")
        b.cbc(location, "ID", document.installations[0].gsrn)
    _payment(b, document, credit)
    _totals(b, document, sign)
    for line in lines:
        _line(b, line, credit, document.vat_rate)
    body = etree.tostring(root, xml_declaration=False, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + bytes(body)


def _address(b: _Builder, party: Any, text: str | None) -> None:
    parts = address_parts(text)
    address = b.cac(party, "PostalAddress")
    for name in ("StreetName", "AdditionalStreetName", "CityName", "PostalZone"):
        b.cbc(address, name, parts.get(name))
    b.cbc(b.cac(address, "Country"), "IdentificationCode", parts["Country"])


def _seller(b: _Builder, document: InvoiceDocument, cvr: str) -> None:
    supplier = document.supplier
    party = b.cac(b.cac(b.root, "AccountingSupplierParty"), "Party")
    if is_gln(supplier.gln):
        b.cbc(party, "EndpointID", supplier.gln, schemeID="0088")
    else:
        b.cbc(party, "EndpointID", cvr, schemeID="0184")
    _address(b, party, supplier.address)
    tax = b.cac(party, "PartyTaxScheme")
    b.cbc(tax, "CompanyID", f"DK{cvr}")
    b.cbc(b.cac(tax, "TaxScheme"), "ID", "VAT")
    legal = b.cac(party, "PartyLegalEntity")
    b.cbc(legal, "RegistrationName", supplier.name)
    b.cbc(legal, "CompanyID", cvr, schemeID="0184")
    if supplier.phone or supplier.email:
        contact = b.cac(party, "Contact")
        b.cbc(contact, "Telephone", supplier.phone)
        b.cbc(contact, "ElectronicMail", supplier.email)


def _buyer(b: _Builder, document: InvoiceDocument, cvr: str) -> None:
    customer = document.customer
    party = b.cac(b.cac(b.root, "AccountingCustomerParty"), "Party")
    b.cbc(party, "EndpointID", cvr, schemeID="0184")
    _address(b, party, customer.address)
    legal = b.cac(party, "PartyLegalEntity")
    b.cbc(legal, "RegistrationName", customer.name)
    b.cbc(legal, "CompanyID", cvr, schemeID="0184")


def _payment(b: _Builder, document: InvoiceDocument, credit: bool) -> None:
    supplier = document.supplier
    if not credit:
        means = b.cac(b.root, "PaymentMeans")
        b.cbc(means, "PaymentMeansCode", "42")
        b.cbc(means, "PaymentID", document.number)
        account = b.cac(means, "PayeeFinancialAccount")
        b.cbc(account, "ID", supplier.bank_account)
        b.cbc(b.cac(account, "FinancialInstitutionBranch"), "ID", supplier.bank_reg)
    terms = (
        f"Krediteres; modregnes eller udbetales senest {document.due_date}"
        if credit
        else f"Betales senest {document.due_date} til reg.nr. {supplier.bank_reg}"
        f" konto {supplier.bank_account}, med fakturanummeret som reference"
    )
    b.cbc(b.cac(b.root, "PaymentTerms"), "Note", terms)


def _totals(b: _Builder, document: InvoiceDocument, sign: int) -> None:
    net, vat = sign * document.total_ex_vat, sign * document.vat_amount
    gross = sign * document.total_incl_vat
    tax_total = b.cac(b.root, "TaxTotal")
    b.amount(tax_total, "TaxAmount", vat)
    subtotal = b.cac(tax_total, "TaxSubtotal")
    b.amount(subtotal, "TaxableAmount", net)
    b.amount(subtotal, "TaxAmount", vat)
    _vat_category(b, subtotal, "TaxCategory", document.vat_rate)
    totals = b.cac(b.root, "LegalMonetaryTotal")
    b.amount(totals, "LineExtensionAmount", net)
    b.amount(totals, "TaxExclusiveAmount", net)
    b.amount(totals, "TaxInclusiveAmount", gross)
    b.amount(totals, "PayableAmount", sign * document.amount_due)


def _vat_category(b: _Builder, parent: Any, name: str, rate: Decimal) -> None:
    category = b.cac(parent, name)
    b.cbc(category, "ID", "S")
    b.cbc(category, "Percent", plain(rate * 100))
    b.cbc(b.cac(category, "TaxScheme"), "ID", "VAT")


def _line(b: _Builder, line: UblLine, credit: bool, vat_rate: Decimal) -> None:
    element = b.cac(b.root, "CreditNoteLine" if credit else "InvoiceLine")
    b.cbc(element, "ID", line.id)
    quantity_tag = "CreditedQuantity" if credit else "InvoicedQuantity"
    b.cbc(element, quantity_tag, plain(line.quantity), unitCode=line.unit)
    b.amount(element, "LineExtensionAmount", line.amount)
    if line.first_day is not None and line.last_day is not None:
        period = b.cac(element, "InvoicePeriod")
        b.cbc(period, "StartDate", line.first_day.isoformat())
        b.cbc(period, "EndDate", line.last_day.isoformat())
    item = b.cac(element, "Item")
    b.cbc(item, "Description", line.description)
    b.cbc(item, "Name", line.name)
    _vat_category(b, item, "ClassifiedTaxCategory", vat_rate)
    for name, value in line.properties:
        prop = b.cac(item, "AdditionalItemProperty")
        b.cbc(prop, "Name", name)
        b.cbc(prop, "Value", value)
    price = b.cac(element, "Price")
    b.cbc(price, "PriceAmount", plain(line.price), currencyID="DKK")
    if line.base_quantity is not None:
        b.cbc(price, "BaseQuantity", plain(line.base_quantity), unitCode=line.unit)
