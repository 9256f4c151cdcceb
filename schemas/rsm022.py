"""RSM-022 master data of a metering point, as DataHub sends it to the supplier.

Three shapes carry the same facts and are read into the same typed records:

- CIM XML `AccountingPointCharacteristics_MarketDocument` (type E07; DataHub's own sample
  spells the root `AccountingPointcharacteristics_…`, both spellings are accepted);
- CIM JSON of the same document (`{"AccountingPointCharacteristics_MarketDocument": {…}}`,
  scalars bare or wrapped as `{"value": …}` like DataHub's other CIM JSON documents);
- ebIX `DK_NotifyMasterDataMeteringPoint`, bare or inside DataHub's SOAP peek envelope.

`parse_document` returns a `MasterDataDocument` or raises `InvalidMasterData` with one of
`REASONS` (parse-level codes; the state rules in `settlement.metering_point_state` use DataHub's
reason codes). Hostile input is bounded: at most `MAX_BYTES` bytes and `MAX_RECORDS` records,
no DTD or entity declarations, texts of at most `MAX_TEXT` characters. (Over 400 lines on
purpose: three shapes of one document read into one record, so they cannot drift apart.)

Longer than 400 lines on purpose: three readers and their one validation path belong together,
so that a rule checked for one shape is checked for all.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal, NoReturn, get_args
from xml.etree import ElementTree

from pydantic import AwareDatetime, BaseModel, ConfigDict

from schemas.process_codes import BRS_044_FORCED_TRANSFER, DATAHUB, GAINS_SUPPLY
from schemas.rsm012 import is_valid_gsrn

CIM_NAMESPACE: Final = "urn:ediel.org:structure:accountingpointcharacteristics:0:1"
CIM_ROOTS: Final = frozenset(
    {
        "AccountingPointCharacteristics_MarketDocument",
        "AccountingPointcharacteristics_MarketDocument",
    }
)
EBIX_ROOT: Final = "DK_NotifyMasterDataMeteringPoint"
DOCUMENT_TYPE: Final = "E07"

MAX_BYTES: Final = 1_000_000
MAX_RECORDS: Final = 1_000
MAX_TEXT: Final = 256

SUPPLY_PROCESSES: Final = frozenset(
    {DATAHUB[kind].process_code for kind in GAINS_SUPPLY} | {BRS_044_FORCED_TRANSFER}
)
# The processes elflow applies (MARKET_PROCESSES.md sections 1 and 3).
PROCESSES: Final[dict[str, str]] = {
    "E02": "create metering point",
    "E32": "master data update",
    "D15": "connect",
    "E79": "disconnect / reconnect",
    "D14": "close down",
    "D17": "change of settlement method",
    "D39": "update production obligation",
    # The master data DataHub sends the new supplier with the process that makes it supplier
    # (MARKET_PROCESSES.md §1: RSM-022 with BRS-001/043/009/044); codes from the lifecycle's
    # one code list. For a point new to us it is the first master data we get.
    **{code: "master data to the new supplier" for code in SUPPLY_PROCESSES},
}
CONNECTION_STATES: Final = frozenset({"D03", "E22", "E23", "D02"})
SETTLEMENT_METHODS: Final = frozenset({"D01", "E02", "E01"})
METERING_METHODS: Final = frozenset({"D01", "D02", "D03"})
RESOLUTIONS: Final = frozenset({"PT15M", "PT1H", "P1M"})

Reason = Literal[
    "unparseable",
    "too_large",
    "wrong_document_type",
    "schema_violation",
    "bad_gsrn",
    "unsupported_process",
]
REASONS: Final[frozenset[str]] = frozenset(get_args(Reason))

_BOM: Final = b"\xef\xbb\xbf"
_UTC_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?Z", re.ASCII
)
_GLN = re.compile(r"\d{13}", re.ASCII)
_GRID_AREA = re.compile(r"\d{3}", re.ASCII)
_MP_TYPE = re.compile(r"E17|E18|E20|D\d{2}", re.ASCII)


class InvalidMasterData(Exception):
    """The bytes are not an acceptable RSM-022 document; `reason` is one of `REASONS`."""

    def __init__(self, reason: Reason, detail: str, document_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail
        self.document_id = document_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.detail, self.document_id))


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MasterDataRecord(_Frozen):
    """One MktActivityRecord: the metering point's characteristics from `effective` on."""

    transaction_id: str
    original_transaction_id: str | None = None
    effective: AwareDatetime
    gsrn: str
    metering_point_type: str | None = None
    settlement_method: str | None = None
    metering_method: str | None = None
    connection_state: str | None = None
    resolution: str | None = None
    net_settlement_group: str | None = None
    grid_area: str | None = None
    grid_operator_gln: str | None = None
    parent_gsrn: str | None = None
    production_obligation: bool | None = None
    supplier_gln: str | None = None
    supply_start: AwareDatetime | None = None
    meter_id: str | None = None


class MasterDataDocument(_Frozen):
    mrid: str
    type: str
    process_type: str
    created: AwareDatetime
    sender_gln: str
    receiver_gln: str | None = None
    source_format: Literal["cim-xml", "cim-json", "ebix"]
    records: list[MasterDataRecord]


class MasterDataChange(_Frozen):
    """One record with what its document says about it: the unit the state rules apply."""

    message_id: str
    process_type: str
    created: AwareDatetime
    source_format: Literal["cim-xml", "cim-json", "ebix"]
    record: MasterDataRecord

    @property
    def key(self) -> tuple[str, str]:
        return (self.message_id, self.record.transaction_id)


def document_changes(doc: MasterDataDocument) -> list[MasterDataChange]:
    return [
        MasterDataChange(
            message_id=doc.mrid,
            process_type=doc.process_type,
            created=doc.created,
            source_format=doc.source_format,
            record=record,
        )
        for record in doc.records
    ]


def parse_document(raw: bytes) -> MasterDataDocument:
    """Parse any of the three shapes (an optional UTF-8 BOM is skipped); raise InvalidMasterData."""
    data = bytes(raw)
    if len(data) > MAX_BYTES:
        raise InvalidMasterData("too_large", f"{len(data)} bytes, at most {MAX_BYTES} accepted")
    if data.startswith(_BOM):
        data = data[len(_BOM) :]
    data = data.lstrip()
    if not data:
        raise InvalidMasterData("unparseable", "empty document")
    found = _read_xml(data) if data[:1] == b"<" else _read_json(data)
    return _Rules(found).document()


# --- reading: every shape is first read into the same loosely typed form -------------------


@dataclass(slots=True)
class _FoundRecord:
    values: dict[str, object] = field(default_factory=dict)


@dataclass(slots=True)
class _FoundDocument:
    source_format: Literal["cim-xml", "cim-json", "ebix"]
    values: dict[str, object] = field(default_factory=dict)
    records: list[_FoundRecord] = field(default_factory=list)


# CIM element (or JSON key) of each record field, relative to MktActivityRecord.
_CIM_RECORD: Final = {
    "transaction_id": ("mRID",),
    "original_transaction_id": ("originalTransactionIDReference_MktActivityRecord.mRID",),
    "effective": ("validityStart_DateAndOrTime.dateTime",),
    "gsrn": ("MarketEvaluationPoint", "mRID"),
    "metering_point_type": ("MarketEvaluationPoint", "type"),
    "settlement_method": ("MarketEvaluationPoint", "settlementMethod"),
    "metering_method": ("MarketEvaluationPoint", "meteringMethod"),
    "connection_state": ("MarketEvaluationPoint", "connectionState"),
    "resolution": ("MarketEvaluationPoint", "readCycle"),
    "net_settlement_group": ("MarketEvaluationPoint", "netSettlementGroup"),
    "grid_area": ("MarketEvaluationPoint", "meteringGridArea_Domain.mRID"),
    "grid_operator_gln": (
        "MarketEvaluationPoint",
        "meteringPointResponsible_MarketParticipant.mRID",
    ),
    "parent_gsrn": ("MarketEvaluationPoint", "Parent_MarketEvaluationPoint", "mRID"),
    # DataHub's RSM-021 requests carry the parent flat; accepted here too.
    "parent_gsrn_flat": ("MarketEvaluationPoint", "parent_MarketEvaluationPoint.mRID"),
    "production_obligation": ("MarketEvaluationPoint", "productionObligation"),
    "supplier_gln": ("MarketEvaluationPoint", "energySupplier_MarketParticipant.mRID"),
    "supply_start": ("MarketEvaluationPoint", "supplyStart_DateAndOrTime.dateTime"),
    "meter_id": ("MarketEvaluationPoint", "meter.mRID"),
}
_CIM_HEADER: Final = {
    "mrid": ("mRID",),
    "type": ("type",),
    "process_type": ("process.processType",),
    "created": ("createdDateTime",),
    "sender_gln": ("sender_MarketParticipant.mRID",),
    "receiver_gln": ("receiver_MarketParticipant.mRID",),
}
# ebIX: relative to the document root (header) and to PayloadMasterDataMPEvent (record). Only
# elements seen in DataHub's sample are read (no parent or production obligation in ebIX here).
_EBIX_HEADER: Final = {
    "mrid": ("HeaderEnergyDocument", "Identification"),
    "type": ("HeaderEnergyDocument", "DocumentType"),
    "created": ("HeaderEnergyDocument", "Creation"),
    "sender_gln": ("HeaderEnergyDocument", "SenderEnergyParty", "Identification"),
    "receiver_gln": ("HeaderEnergyDocument", "RecipientEnergyParty", "Identification"),
    "process_type": ("ProcessEnergyContext", "EnergyBusinessProcess"),
}
_DETAIL = "DetailMeteringPointCharacteristic"
_EBIX_RECORD: Final = {
    "transaction_id": ("Identification",),
    "effective": ("Occurrence",),
    "gsrn": ("MeteringPointDomainLocation", "Identification"),
    "metering_point_type": (_DETAIL, "TypeOfMeteringPoint"),
    # ebIX calls the metering method the metering point's sub type (D01 physical …).
    "metering_method": (_DETAIL, "SubTypeOfMeteringPoint"),
    "settlement_method": (_DETAIL, "SettlementMethod"),
    "connection_state": (_DETAIL, "PhysicalStatusOfMeteringPoint"),
    "resolution": (_DETAIL, "MeterReadingOccurrence"),
    "net_settlement_group": (_DETAIL, "NetSettlementGroup"),
    "grid_area": (_DETAIL, "MeteringGridAreaUsedDomainLocation", "Identification"),
    "supplier_gln": (_DETAIL, "BalanceSupplierEnergyParty", "Identification"),
    "supply_start": (_DETAIL, "SupplyStart"),
    "meter_id": ("MeteringInstallationMeterFacility", "MeterIdentification"),
}


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _xml_path(element: ElementTree.Element, path: tuple[str, ...]) -> object:
    node: ElementTree.Element | None = element
    for name in path:
        node = next((c for c in node if _local(c.tag) == name), None) if node is not None else None
    if node is None:
        return None
    text = (node.text or "").strip()
    return text or None


def _read_xml(data: bytes) -> _FoundDocument:
    # DataHub documents never carry a DTD; refusing them rules out entity expansion.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise InvalidMasterData("unparseable", "XML with a DTD or entity declaration is refused")
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        raise InvalidMasterData("unparseable", f"not XML: {exc}") from None
    name = _local(root.tag)
    if name in CIM_ROOTS:
        namespace = root.tag[1:].partition("}")[0] if root.tag.startswith("{") else ""
        if namespace != CIM_NAMESPACE:
            raise InvalidMasterData(
                "schema_violation", f"namespace {namespace!r} is not {CIM_NAMESPACE}"
            )
        found = _FoundDocument("cim-xml")
        found.values = {k: _xml_path(root, p) for k, p in _CIM_HEADER.items()}
        for record in (c for c in root if _local(c.tag) == "MktActivityRecord"):
            _bound_records(found)
            found.records.append(
                _FoundRecord({k: _xml_path(record, p) for k, p in _CIM_RECORD.items()})
            )
        return found
    ebix = root if name == EBIX_ROOT else _find_ebix(root)
    if ebix is None:
        raise InvalidMasterData("wrong_document_type", f"{name} is not an RSM-022 document")
    found = _FoundDocument("ebix")
    found.values = {k: _xml_path(ebix, p) for k, p in _EBIX_HEADER.items()}
    for record in (c for c in ebix if _local(c.tag) == "PayloadMasterDataMPEvent"):
        _bound_records(found)
        found.records.append(
            _FoundRecord({k: _xml_path(record, p) for k, p in _EBIX_RECORD.items()})
        )
    return found


def _find_ebix(root: ElementTree.Element) -> ElementTree.Element | None:
    """The ebIX document inside DataHub's SOAP peek envelope (Envelope/Body/…/Payload)."""
    if _local(root.tag) != "Envelope":
        return None
    return next((e for e in root.iter() if _local(e.tag) == EBIX_ROOT), None)


def _bound_records(found: _FoundDocument) -> None:
    if len(found.records) >= MAX_RECORDS:
        raise InvalidMasterData(
            "too_large", f"more than {MAX_RECORDS} records", _text_or_none(found.values.get("mrid"))
        )


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _json_path(obj: object, path: tuple[str, ...]) -> object:
    for name in path:
        if isinstance(obj, list) and len(obj) == 1:
            obj = obj[0]
        if not isinstance(obj, dict):
            return None
        obj = obj.get(name)
    if isinstance(obj, dict) and "value" in obj:
        obj = obj["value"]
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, int):
        return str(obj)
    return obj


def _read_json(data: bytes) -> _FoundDocument:
    try:
        top = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise InvalidMasterData("unparseable", f"not JSON: {exc}") from None
    if not isinstance(top, dict):
        raise InvalidMasterData("schema_violation", "top level is not a JSON object")
    name = next((k for k in top if k in CIM_ROOTS), None)
    if name is None:
        other = next((k for k in top if isinstance(k, str) and k.endswith("_MarketDocument")), None)
        if other is not None:
            raise InvalidMasterData("wrong_document_type", f"{other} is not an RSM-022 document")
        raise InvalidMasterData(
            "schema_violation", "no AccountingPointCharacteristics_MarketDocument"
        )
    body = top[name]
    if not isinstance(body, dict):
        raise InvalidMasterData("schema_violation", f"{name} is not an object")
    found = _FoundDocument("cim-json")
    found.values = {k: _json_path(body, p) for k, p in _CIM_HEADER.items()}
    records = body.get("MktActivityRecord")
    if isinstance(records, dict):
        records = [records]
    if not isinstance(records, list):
        records = []
    for record in records:
        _bound_records(found)
        found.records.append(
            _FoundRecord({k: _json_path(record, p) for k, p in _CIM_RECORD.items()})
        )
    return found


# --- validation: one set of rules for every shape ------------------------------------------


class _Rules:
    def __init__(self, found: _FoundDocument) -> None:
        self.found = found
        self.document_id = _text_or_none(found.values.get("mrid"))

    def fail(self, reason: Reason, detail: str) -> NoReturn:
        raise InvalidMasterData(reason, detail, self.document_id)

    def text(self, value: object, what: str, *, required: bool = True) -> str | None:
        if value is None or value == "":
            if required:
                self.fail("schema_violation", f"{what} is missing")
            return None
        if not isinstance(value, str):
            self.fail("schema_violation", f"{what} is not text")
        if len(value) > MAX_TEXT:
            self.fail("too_large", f"{what} is longer than {MAX_TEXT} characters")
        return value

    def code(self, value: object, what: str, allowed: frozenset[str]) -> str | None:
        text = self.text(value, what, required=False)
        if text is not None and text not in allowed:
            self.fail(
                "schema_violation", f"{what} {text!r} is not one of {', '.join(sorted(allowed))}"
            )
        return text

    def pattern(self, value: object, what: str, regex: re.Pattern[str]) -> str | None:
        text = self.text(value, what, required=False)
        if text is not None and not regex.fullmatch(text):
            self.fail("schema_violation", f"{what} {text!r} is malformed")
        return text

    def utc(self, value: object, what: str, *, required: bool = True) -> datetime | None:
        text = self.text(value, what, required=required)
        if text is None:
            return None
        moment = _parse_utc(text)
        if moment is None:
            self.fail(
                "schema_violation", f"{what} {text!r} is not a UTC time yyyy-MM-ddTHH:mm[:ss]Z"
            )
        return moment

    def gsrn(self, value: object, what: str, *, required: bool) -> str | None:
        text = self.text(value, what, required=required)
        if text is not None and not is_valid_gsrn(text):
            self.fail("bad_gsrn", f"{what} {text!r} is not a GSRN (18 digits, 57…, check digit)")
        return text

    def document(self) -> MasterDataDocument:
        values = self.found.values
        doc_type = values.get("type")
        if doc_type != DOCUMENT_TYPE:
            self.fail("wrong_document_type", f"document type {doc_type!r} is not {DOCUMENT_TYPE}")
        mrid = self.text(values.get("mrid"), "document mRID")
        process = self.text(values.get("process_type"), "process type")
        assert mrid is not None and process is not None
        if process not in PROCESSES:
            self.fail(
                "unsupported_process",
                f"process type {process!r} is not one of {', '.join(sorted(PROCESSES))}",
            )
        created = self.utc(values.get("created"), "createdDateTime")
        sender = self.pattern(values.get("sender_gln"), "sender", _GLN)
        if created is None or sender is None:
            self.fail("schema_violation", "sender is missing")
        if not self.found.records:
            self.fail("schema_violation", "document has no MktActivityRecord")
        records = [self.record(r, n) for n, r in enumerate(self.found.records, start=1)]
        seen: set[str] = set()
        for record in records:
            if record.transaction_id in seen:
                self.fail("schema_violation", f"record {record.transaction_id} appears twice")
            seen.add(record.transaction_id)
        return MasterDataDocument(
            mrid=mrid,
            type=DOCUMENT_TYPE,
            process_type=process,
            created=created,
            sender_gln=sender,
            receiver_gln=self.pattern(values.get("receiver_gln"), "receiver", _GLN),
            source_format=self.found.source_format,
            records=records,
        )

    def record(self, found: _FoundRecord, number: int) -> MasterDataRecord:
        v = found.values
        mrid = _text_or_none(v.get("transaction_id"))
        label = f"record {mrid or f'#{number}'}"
        transaction_id = self.text(v.get("transaction_id"), f"{label}: mRID")
        effective = self.utc(v.get("effective"), f"{label}: effective date")
        gsrn = self.gsrn(v.get("gsrn"), f"{label}: metering point", required=True)
        assert transaction_id is not None and effective is not None and gsrn is not None
        obligation = self.code(
            v.get("production_obligation"), f"{label}: productionObligation", _BOOLEANS
        )
        return MasterDataRecord(
            transaction_id=transaction_id,
            original_transaction_id=self.text(
                v.get("original_transaction_id"), f"{label}: original transaction", required=False
            ),
            effective=effective,
            gsrn=gsrn,
            metering_point_type=self.pattern(
                v.get("metering_point_type"), f"{label}: type", _MP_TYPE
            ),
            settlement_method=self.code(
                v.get("settlement_method"), f"{label}: settlement method", SETTLEMENT_METHODS
            ),
            metering_method=self.code(
                v.get("metering_method"), f"{label}: metering method", METERING_METHODS
            ),
            connection_state=self.code(
                v.get("connection_state"), f"{label}: connection state", CONNECTION_STATES
            ),
            resolution=self.code(v.get("resolution"), f"{label}: resolution", RESOLUTIONS),
            net_settlement_group=self.text(
                v.get("net_settlement_group"), f"{label}: net settlement group", required=False
            ),
            grid_area=self.pattern(v.get("grid_area"), f"{label}: grid area", _GRID_AREA),
            grid_operator_gln=self.pattern(
                v.get("grid_operator_gln"), f"{label}: grid operator", _GLN
            ),
            parent_gsrn=self.gsrn(
                v.get("parent_gsrn") or v.get("parent_gsrn_flat"),
                f"{label}: parent",
                required=False,
            ),
            production_obligation=None if obligation is None else obligation == "true",
            supplier_gln=self.pattern(v.get("supplier_gln"), f"{label}: energy supplier", _GLN),
            supply_start=self.utc(v.get("supply_start"), f"{label}: supply start", required=False),
            meter_id=self.text(v.get("meter_id"), f"{label}: meter", required=False),
        )


_BOOLEANS: Final = frozenset({"true", "false"})


def _parse_utc(value: str) -> datetime | None:
    match = _UTC_TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g or 0) for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None
