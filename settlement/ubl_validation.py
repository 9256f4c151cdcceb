"""Check a Peppol BIS Billing 3.0 / UBL 2.1 document before anyone receives it: bytes in, findings
out, no network.

Three layers, in this order (a document that is not schema-valid UBL gets no rule findings: rules
over a wrong structure say nothing):
1. **UBL 2.1 schema** — the official OASIS XSDs (see settlement/ubl_artefacts.py), with libxml2.
2. **EN 16931 (CEN)** — the official CEN/TC 434 business rules for UBL (BR-*, BR-CO-* totals,
   BR-CL-* code lists, BR-S-* standard-rated VAT), the compiled Schematron of OpenPeppol's
   release 3.0.20 (see settlement/ubl_artefacts.py), run by Saxon-HE (saxonche).
3. **Peppol** — OpenPeppol's own rules are not available here (no package ships them and their
   file grants no redistribution), so `peppol_findings` re-implements the ones our documents
   depend on, each under its published id: our reading of the rule texts, not the official
   artefact. ELFLOW-* are identifier checks of our own (GLN check digit, CVR format).

What none of this checks: the rest of the Peppol overlay (among them the Danish DK-R-* rules and
the Peppol code-list subsets beyond the document type codes), whether the parties are registered
in the Peppol network, and that a CVR number exists. The access point remains the judge.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any

from lxml import etree

from schemas.rsm012 import gsrn_check_digit
from settlement.ubl_artefacts import rules_xslt, schema_dir

SCHEMAS = {
    "Invoice": "maindoc/UBL-Invoice-2.1.xsd",
    "CreditNote": "maindoc/UBL-CreditNote-2.1.xsd",
}

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
SVRL = "http://purl.oclc.org/dsdl/svrl"
NS = {"cbc": CBC, "cac": CAC}

BIS3_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
_PROFILE = re.compile(r"^urn:fdc:peppol\.eu:2017:poacc:billing:\d{2}:1\.0$")
# The Peppol subsets of UNCL1001 (PEPPOL-EN16931-P0100 / P0101).
_INVOICE_CODES = (71, 80, 82, 84, 102, 218, 219, 331, 380, 382, 383, 386, 388, 393, 395, 553, 575)
INVOICE_TYPES = frozenset(str(n) for n in (*_INVOICE_CODES, 623, 780, 817, 870, 875, 876, 877))
CREDIT_NOTE_TYPES = frozenset(
    str(n) for n in (81, 83, 261, 262, 296, 308, 381, 396, 420, 456, 457, 458, 532)
)
LINE_SLACK = Decimal("0.02")  # PEPPOL-EN16931-R120's tolerance

SCHEMA = "UBL 2.1 schema"
CEN = "EN 16931 (CEN)"
PEPPOL = "Peppol (elflow's reading)"


@dataclass(frozen=True)
class Finding:
    rule: str  # BR-CO-16, PEPPOL-EN16931-R003, XSD, …
    flag: str  # fatal | warning | information
    source: str  # SCHEMA | CEN | PEPPOL
    message: str
    location: str = ""

    def __str__(self) -> str:
        where = f" at {self.location}" if self.location else ""
        return f"{self.rule} ({self.source}, {self.flag}){where}: {self.message}"


def fatal(findings: list[Finding]) -> list[Finding]:
    """The findings that make a document invalid (fatal and error flags)."""
    return [f for f in findings if f.flag in ("fatal", "error")]


def validate(data: bytes) -> list[Finding]:
    """Every finding on one document (empty: it passed all three layers)."""
    try:
        tree = _parse(data)
    except (etree.XMLSyntaxError, ValueError) as exc:
        return [Finding("XML", "fatal", SCHEMA, f"not well-formed XML: {exc}")]
    name = etree.QName(tree).localname
    if name not in SCHEMAS:
        return [Finding("XSD", "fatal", SCHEMA, f"root element is {name}, not Invoice/CreditNote")]
    schema = _schema(name)
    if not schema.validate(tree):
        return [
            Finding("XSD", "fatal", SCHEMA, error.message, f"line {error.line}")
            for error in schema.error_log
        ]
    return en16931_findings(data) + peppol_findings(tree)


def _parse(data: bytes) -> Any:
    if b"<!DOCTYPE" in data[:4096]:
        raise ValueError("a document type declaration is not allowed")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(data, parser)


@cache
def _schema(root: str) -> Any:
    return etree.XMLSchema(etree.parse(str(schema_dir() / SCHEMAS[root])))


# --------------------------------------------------------------------------- EN 16931 (CEN)
_SAXON_LOCK = threading.Lock()  # Saxon/C: one processor per process, calls serialised


@cache
def _en16931_executable() -> tuple[Any, Any]:
    from saxonche import PySaxonProcessor

    processor = PySaxonProcessor(license=False)
    compiler = processor.new_xslt30_processor()
    return processor, compiler.compile_stylesheet(stylesheet_file=str(rules_xslt()))


def en16931_findings(data: bytes) -> list[Finding]:
    """The failed asserts and reports of the CEN rules, as SVRL says them."""
    with _SAXON_LOCK:
        processor, executable = _en16931_executable()
        node = processor.parse_xml(xml_text=data.decode("utf-8"))
        svrl = executable.transform_to_string(xdm_node=node)
    report = etree.fromstring(svrl.encode("utf-8"))
    found = []
    for item in report.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text = " ".join("".join(item.itertext()).split())
        found.append(
            Finding(
                item.get("id") or "?",
                item.get("flag") or "fatal",
                CEN,
                text,
                _short_location(item.get("location") or ""),
            )
        )
    return found


_STEP = re.compile(r"Q\{[^}]*\}|\*:|\[namespace-uri\(\)='[^']*'\]")


def _short_location(path: str) -> str:
    return _STEP.sub("", path)


# ---------------------------------------------------------------- Peppol (our re-implementation)
def _text(node: Any, path: str) -> str:
    found = node.find(path, NS)
    return "" if found is None or found.text is None else found.text.strip()


def _decimal(text: str) -> Decimal | None:
    try:
        return Decimal(text)
    except (InvalidOperation, ValueError):
        return None


def _gln_ok(value: str) -> bool:
    return re.fullmatch(r"\d{13}", value) is not None and gsrn_check_digit(value[:12]) == int(
        value[12]
    )


def peppol_findings(root: Any) -> list[Finding]:
    out: list[Finding] = []

    def add(rule: str, message: str, location: str = "") -> None:
        out.append(Finding(rule, "fatal", PEPPOL, message, location))

    credit = etree.QName(root).localname == "CreditNote"
    profile = _text(root, "cbc:ProfileID")
    if not profile:
        add("PEPPOL-EN16931-R001", "Business process (ProfileID) MUST be provided")
    elif not _PROFILE.match(profile):
        add("PEPPOL-EN16931-R007", f"Business process {profile!r} is not in the Peppol format")
    if not _text(root, "cbc:CustomizationID").startswith(BIS3_CUSTOMIZATION):
        add("PEPPOL-EN16931-R004", "Specification identifier is not BIS Billing 3.0")
    if not (_text(root, "cbc:BuyerReference") or _text(root, "cac:OrderReference/cbc:ID")):
        add("PEPPOL-EN16931-R003", "A buyer reference or purchase order reference MUST be provided")
    for party, rule in (("AccountingCustomerParty", "R010"), ("AccountingSupplierParty", "R020")):
        if not _text(root, f"cac:{party}/cac:Party/cbc:EndpointID"):
            add(f"PEPPOL-EN16931-{rule}", f"{party} electronic address MUST be provided")
    empty = [e for e in root.iter() if len(e) == 0 and not (e.text or "").strip()]
    if empty:
        add("PEPPOL-EN16931-R008", "Document MUST not contain empty elements", empty[0].tag)
    with_subtotals = root.findall("cac:TaxTotal[cac:TaxSubtotal]", NS)
    if len(with_subtotals) != 1:
        add("PEPPOL-EN16931-R053", "Only one tax total with tax subtotals MUST be provided")
    currency = _text(root, "cbc:DocumentCurrencyCode")
    for element in root.iterfind(".//*[@currencyID]"):
        if element.get("currencyID") != currency:
            add("PEPPOL-EN16931-R051", "currencyID differs from the document currency", element.tag)
            break
    code = _text(root, "cbc:CreditNoteTypeCode" if credit else "cbc:InvoiceTypeCode")
    if code not in (CREDIT_NOTE_TYPES if credit else INVOICE_TYPES):
        add("PEPPOL-EN16931-P0101" if credit else "PEPPOL-EN16931-P0100", f"type code {code}")
    for element in root.iterfind(".//cbc:EndpointID", NS):
        _identifier(element.get("schemeID"), (element.text or "").strip(), add)
    for element in root.iterfind(".//cac:PartyLegalEntity/cbc:CompanyID", NS):
        _identifier(element.get("schemeID"), (element.text or "").strip(), add)
    _lines(root, credit, add)
    return out


def _identifier(scheme: str | None, value: str, add: Any) -> None:
    if scheme == "0088" and not _gln_ok(value):
        add("ELFLOW-GLN", f"{value!r} is not a GLN (13 digits, GS1 check digit)")
    if scheme == "0184" and re.fullmatch(r"[1-9]\d{7}", value) is None:
        add("ELFLOW-CVR", f"{value!r} is not a Danish CVR number (8 digits)")


def _lines(root: Any, credit: bool, add: Any) -> None:
    tag, quantity_tag = (
        ("CreditNoteLine", "CreditedQuantity") if credit else ("InvoiceLine", "InvoicedQuantity")
    )
    start = _text(root, "cac:InvoicePeriod/cbc:StartDate")
    end = _text(root, "cac:InvoicePeriod/cbc:EndDate")
    for n, line in enumerate(root.iterfind(f"cac:{tag}", NS), start=1):
        where = f"{tag}[{n}]"
        quantity_node = line.find(f"cbc:{quantity_tag}", NS)
        quantity = _decimal(_text(line, f"cbc:{quantity_tag}"))
        price = _decimal(_text(line, "cac:Price/cbc:PriceAmount"))
        amount = _decimal(_text(line, "cbc:LineExtensionAmount"))
        base_node = line.find("cac:Price/cbc:BaseQuantity", NS)
        base = Decimal(1) if base_node is None else _decimal((base_node.text or "").strip())
        if base is None or base <= 0:
            add("PEPPOL-EN16931-R121", "Base quantity MUST be a positive number above zero", where)
            continue
        if (
            base_node is not None
            and quantity_node is not None
            and base_node.get("unitCode") != quantity_node.get("unitCode")
        ):
            add("PEPPOL-EN16931-R130", "Unit code of price base quantity differs", where)
        if quantity is None or price is None or amount is None:
            continue
        charges = sum(
            (
                (Decimal(1) if _text(ac, "cbc:ChargeIndicator") == "true" else Decimal(-1))
                * (_decimal(_text(ac, "cbc:Amount")) or Decimal(0))
                for ac in line.iterfind("cac:AllowanceCharge", NS)
            ),
            Decimal(0),
        )
        if abs(quantity * price / base + charges - amount) > LINE_SLACK:
            add(
                "PEPPOL-EN16931-R120",
                f"line net amount {amount} is not quantity {quantity} × price {price} / {base}",
                where,
            )
        first = _text(line, "cac:InvoicePeriod/cbc:StartDate")
        last = _text(line, "cac:InvoicePeriod/cbc:EndDate")
        if start and first and not start <= first <= (end or first):
            add(
                "PEPPOL-EN16931-R110",
                "Start date of line period MUST be within invoice period",
                where,
            )
        if end and last and not (start or last) <= last <= end:
            add(
                "PEPPOL-EN16931-R111",
                "End date of line period MUST be within invoice period",
                where,
            )
