"""RSM-012 `NotifyValidatedMeasureData_MarketDocument` (type E66): validated metered data.

(Over 400 lines on purpose: both formats, the decoding and every rule of this one document type
are one validation path, which is what keeps JSON and XML from drifting apart.)

DataHub 3 sends it as CIM JSON or CIM XML; both are read into the same pydantic models.
`parse_document` either returns a fully validated `MeasureDocument` or raises `InvalidDocument`
with a short, stable `reason` (see `REASONS`) meant for dead-lettering and metrics.

Conventions kept from DataHub (opengeh-edi's RSM-012 writers):
- a point without `quality` is "as provided" (A04, measured);
- a point without `quantity` is missing: the quantity is `None`, never 0, and its quality
  defaults to A02 when absent too;
- points absent from a series are simply absent; nothing is invented for them.

Choices of our own, so that nothing wrong reaches storage silently:
- quantities are read with `Decimal` (never through float) and must fit DataHub's
  Decimal(18,3): at most 3 decimals, below 10**15; they are returned with exactly 3 decimals
  (242 → Decimal("242.000"), equal in value to what was sent);
- negative quantities are rejected for every metering-point type: DataHub sends production
  (E18) as positive energy too, so a negative value is an error whatever the type;
- only the unit KWH is accepted, because a `Reading` carries no unit;
- the GSRN must be 18 digits starting with 57 and carry a valid GS1 mod-10 check digit
  (DataHub's own RSM-012 samples do);
- a point without a quantity must be missing (A02, or no quality), and a point with one must
  not be: "no quantity, quality A04" would otherwise be stored as a measured NULL;
- a Series mRID may appear once per document; repeated with other content it is
  `conflicting_series` (dropping either copy would lose readings silently).

Bounds, so that nothing a sender controls can fail a database write or a day calculation
(see InputLimits and README "Bad input"):
- identifiers: DataHub's CIM XSD for this document (opengeh-edi,
  `urn-ediel-org-measure-notifyvalidatedmeasuredata-0-1.xsd`) types document and Series mRIDs
  as unbounded `xs:string`, `PartyID_String` (sender/receiver) as at most 16 characters and
  `MeasurementPointID_String` as at most 35; codes come from ENTSO-E code lists. We accept mRIDs
  of 1-64 printable ASCII characters without spaces (DataHub sends UUIDs, 36), party ids of
  1-16 letters, digits or '-', codes and products of 1-35 letters or digits; anything else
  (NUL, lone surrogates, control characters, 10 000 characters) is `bad_identifier`;
- times: every time must fall in a window of years around now (ELFLOW_INPUT_YEARS_BACK /
  _AHEAD), else `time_out_of_range`; createdDateTime may not be ahead of our clock by more than
  ELFLOW_INPUT_CREATED_SKEW_SECONDS (`created_in_future`), or it would win over every later
  correction;
- quantities below 10**13 kWh, so that a day of at most 100 slots sums below DataHub's
  Decimal(18,3) limit of 10**15;
- XML is decoded first (UTF-8, UTF-16 or UTF-32 by BOM or by the XML autodetection rule; any
  other declared encoding is refused) and refused with any DTD (`dtd_not_allowed`), whatever the
  encoding was.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, Literal, NamedTuple, NoReturn, get_args
from xml.etree import ElementTree

from pydantic import AwareDatetime, BaseModel, ConfigDict, SkipValidation

from schemas.printable import escape

NAMESPACE: Final = "urn:ediel.org:measure:notifyvalidatedmeasuredata:0:1"
ROOT: Final = "NotifyValidatedMeasureData_MarketDocument"
DOCUMENT_TYPE: Final = "E66"

RESOLUTIONS: Final[dict[str, timedelta]] = {
    "PT15M": timedelta(minutes=15),
    "PT1H": timedelta(hours=1),
}

Reason = Literal[
    "unparseable",
    "wrong_document_type",
    "schema_violation",
    "bad_gsrn",
    "unknown_resolution",
    "position_outside_interval",
    "too_many_decimals",
    "negative_quantity",
    "bad_identifier",
    "time_out_of_range",
    "created_in_future",
    "conflicting_series",
    "dtd_not_allowed",
]
REASONS: Final[frozenset[str]] = frozenset(get_args(Reason))

# Byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one).
_BOMS: Final = (
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\xef\xbb\xbf", "utf-8"),
    (b"\xfe\xff", "utf-16-be"),
    (b"\xff\xfe", "utf-16-le"),
)
# Where the NUL bytes are among the first four bytes of "<?xm" or '{"' without a BOM.
_NUL_PATTERNS: Final = {
    "000x": "utf-32-be",
    "x000": "utf-32-le",
    "0x0x": "utf-16-be",
    "x0x0": "utf-16-le",
}
_XML_DECLARATION = re.compile(r"<\?xml\s[^>]*?\?>")
_DECLARED_ENCODING = re.compile(r"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_UNICODE_ENCODINGS: Final = frozenset(
    {"utf8", "utf16", "utf32", "utf16le", "utf16be", "utf32le", "utf32be", "usascii", "ascii"}
)
# "<!" starts a DTD (DOCTYPE, ENTITY, ELEMENT, ...) unless it opens a comment or a CDATA section.
_DTD = re.compile(r"<!(?!--|\[CDATA\[)")
_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
_MILLI: Final = Decimal("0.001")
# At most 13 digits before the point: a day has at most 100 slots, so its total stays below
# 10**15 and fits DataHub's Decimal(18,3) (and daily_summary's NUMERIC(18,3)).
_MAX_QUANTITY_DIGITS: Final = 13
_MAX_DETAIL: Final = 400  # characters of a rejection's detail
_SHOW: Final = 40  # characters of a rejected value quoted in a detail
_ZERO: Final = Decimal("0.000")
_UTC_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?Z", re.ASCII
)
_GSRN = re.compile(r"57\d{16}", re.ASCII)
_METERING_POINT_TYPE = re.compile(r"E17|E18|E20|D\d{2}", re.ASCII)
_XML_DECIMAL = re.compile(r"-?\d+(?:\.\d+)?", re.ASCII)
_XML_INTEGER = re.compile(r"\d{1,6}", re.ASCII)  # Position_Integer: 1..999999
_MRID = re.compile(r"[\x21-\x7e]{1,64}", re.ASCII)
_PARTY_ID = re.compile(r"[A-Za-z0-9-]{1,16}", re.ASCII)
_CODE = re.compile(r"[A-Za-z0-9]{1,35}", re.ASCII)


class Quality(StrEnum):
    """DataHub's CIM quality codes for a metered quantity (edi `Quality.cs`).

    We store exactly the code DataHub sends. The project card's class diagram lists a
    `QualityCode` enumeration that does not match DataHub; same code, different meaning:

    ======  ==============================  ==========================  ======================
    CIM     DataHub meaning                 card's enum, same code      card's closest meaning
    ======  ==============================  ==========================  ======================
    —       (DataHub sends validated data)  A01_NotValidated            A01_NotValidated
    A02     missing (no quantity)           A02_Estimated  (clash)      — none
    A03     estimated                       A03_Validated  (clash)      A02_Estimated
    A04     as provided / measured          —                           A03_Validated
    A05     incomplete (aggregates)         —                           — none
    A06     calculated                      A06_Substituted             A06_Substituted (near)
    ======  ==============================  ==========================  ======================

    So the card's codes must never be compared with what DataHub sends.
    """

    MISSING = "A02"
    ESTIMATED = "A03"
    MEASURED = "A04"
    INCOMPLETE = "A05"
    CALCULATED = "A06"


QUALITY_CODES: Final[frozenset[str]] = frozenset(q.value for q in Quality)
_MEASURED: Final = Quality.MEASURED.value
_MISSING: Final = Quality.MISSING.value


class InvalidDocument(Exception):
    """The bytes are not a valid RSM-012 document; `reason` is one of `REASONS`."""

    def __init__(self, reason: Reason, detail: str, document_id: str | None = None) -> None:
        # The detail quotes what the sender wrote: one printable line of bounded length, safe
        # for a text column, a Kafka header and a terminal. The document id is kept only when
        # it is a valid mRID, because it is stored as a key.
        detail = escape(detail, _MAX_DETAIL)
        super().__init__(f"{reason}: {detail}")
        self.reason: Reason = reason
        self.detail = detail
        self.document_id = document_id if is_valid_mrid(document_id) else None

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the attributes when the error crosses a process boundary (pickled).
        return (type(self), (self.reason, self.detail, self.document_id))


@dataclass(frozen=True, slots=True)
class InputLimits:
    """Bounds on the times of a document, relative to `now` (see the module docstring)."""

    years_back: int = 10
    years_ahead: int = 1
    created_skew: timedelta = timedelta(minutes=5)

    @classmethod
    def from_settings(cls) -> InputLimits:
        from schemas.settings import settings

        cfg = settings()
        return cls(
            cfg.input_years_back,
            cfg.input_years_ahead,
            timedelta(seconds=cfg.input_created_skew_seconds),
        )


class Point(NamedTuple):
    position: int
    quantity: Decimal | None
    quality: str


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MeasureSeries(_Frozen):
    """One transaction: a metering point's quantities over one period."""

    mrid: str
    gsrn: str
    metering_point_type: str
    original_transaction_id: str | None = None
    resolution: str
    start: AwareDatetime
    end: AwareDatetime
    registered: AwareDatetime | None = None
    product: str | None = None
    unit: str = "KWH"
    # Checked point by point by parse_document; pydantic would only repeat it, 40 µs a series.
    points: SkipValidation[list[Point]]


class MeasureDocument(_Frozen):
    mrid: str
    type: str
    process_type: str
    business_sector: str | None = None
    created: AwareDatetime
    sender_gln: str
    sender_role: str
    receiver_gln: str
    receiver_role: str
    series: list[MeasureSeries]


class Reading(NamedTuple):
    """One quantity of one slot, as stored: all versions are kept, the latest `created` wins."""

    gsrn: str
    ts: datetime
    resolution: str
    quantity: Decimal | None
    quality: str
    transaction_id: str
    document_id: str
    created: datetime


def parse_document(
    raw: bytes, *, limits: InputLimits | None = None, now: datetime | None = None
) -> MeasureDocument:
    """Parse CIM JSON or CIM XML; raise InvalidDocument.

    `limits` default to the settings, `now` to the current time (both fixed by tests)."""
    text, encoding = _decode(bytes(raw))
    text = text.lstrip()
    if not text:
        raise InvalidDocument("unparseable", "empty document")
    if text[0] == "<":
        found = _read_xml(text)
    elif encoding != "utf-8":
        raise InvalidDocument("unparseable", f"JSON in {encoding.upper()}: it must be UTF-8")
    else:
        found = _read_json(text)
    return _validate(
        found, limits or InputLimits.from_settings(), now if now is not None else datetime.now(UTC)
    )


def document_readings(doc: MeasureDocument) -> list[Reading]:
    """One Reading per point present; the slot starts at start + (position - 1) × resolution."""
    readings: list[Reading] = []
    for series in doc.series:
        step = RESOLUTIONS[series.resolution]
        gsrn, start, resolution, mrid = series.gsrn, series.start, series.resolution, series.mrid
        readings.extend(
            Reading(
                gsrn,
                start + (position - 1) * step,
                resolution,
                quantity,
                quality,
                mrid,
                doc.mrid,
                doc.created,
            )
            for position, quantity, quality in series.points
        )
    return readings


def gsrn_check_digit(body: str) -> int:
    """GS1 mod-10 check digit of the first 17 digits of a GSRN (weights 3,1,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def is_valid_gsrn(value: str) -> bool:
    return bool(_GSRN.fullmatch(value)) and gsrn_check_digit(value[:17]) == int(value[17])


def is_valid_mrid(value: object) -> bool:
    """A document or transaction id we accept: 1-64 printable ASCII characters, no spaces."""
    return isinstance(value, str) and _MRID.fullmatch(value) is not None


def _decode(data: bytes) -> tuple[str, str]:
    """The document as text: a BOM names the encoding; without one, the pattern of NUL bytes
    in the first four tells UTF-16/UTF-32 from UTF-8 (XML 1.0 appendix F, RFC 4627 §3)."""
    encoding = "utf-8"
    for mark, name in _BOMS:
        if data.startswith(mark):
            data, encoding = data[len(mark) :], name
            break
    else:
        head = "".join("0" if b == 0 else "x" for b in data[:4])
        encoding = _NUL_PATTERNS.get(head, "utf-8")
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as exc:
        raise InvalidDocument("unparseable", f"not {encoding.upper()}: {exc}") from None


# --- reading: both formats are first read into the same loosely typed shape ---------------


_FoundPoint = tuple[object, object, object]  # position, quantity, quality as found


@dataclass(slots=True)
class _FoundSeries:
    mrid: object = None
    gsrn: object = None
    metering_point_type: object = None
    original_transaction_id: object = None
    registered: object = None
    product: object = None
    unit: object = None
    resolution: object = None
    start: object = None
    end: object = None
    points: list[_FoundPoint] = field(default_factory=list)


@dataclass(slots=True)
class _FoundDocument:
    mrid: object = None
    type: object = None
    process_type: object = None
    business_sector: object = None
    created: object = None
    sender_gln: object = None
    sender_role: object = None
    receiver_gln: object = None
    receiver_role: object = None
    series: list[_FoundSeries] = field(default_factory=list)


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _scalar(obj: dict[str, Any], key: str) -> object:
    """CIM JSON wraps most scalars as {"value": ...}; accept both forms."""
    value = obj.get(key)
    if isinstance(value, dict):
        return value.get("value")
    return value


def _json_point(point: dict[str, Any]) -> _FoundPoint:
    # The hot loop of a 96-point document: _scalar inlined.
    position = point.get("position")
    if type(position) is dict:
        position = position.get("value")
    quality = point.get("quality")
    if type(quality) is dict:
        quality = quality.get("value")
    quantity = point.get("quantity")
    if type(quantity) is dict:
        quantity = quantity.get("value")
    return position, quantity, quality


def _read_json(data: str) -> _FoundDocument:
    try:
        top = json.loads(
            data,
            parse_float=Decimal,
            parse_int=int,  # exact; positions are ints, integer quantities become Decimal
            parse_constant=_reject_constant,
        )
    except (ValueError, RecursionError) as exc:
        raise InvalidDocument("unparseable", f"not JSON: {exc}") from None
    if not isinstance(top, dict):
        raise InvalidDocument("schema_violation", "top level is not a JSON object")
    body = top.get(ROOT)
    if body is None:
        other = next((k for k in top if k.endswith("_MarketDocument")), None)
        if other is not None:
            raise InvalidDocument("wrong_document_type", f"{_show(other)} is not {ROOT}")
        raise InvalidDocument("schema_violation", f"no {ROOT} object")
    if not isinstance(body, dict):
        raise InvalidDocument("schema_violation", f"{ROOT} is not an object")

    found = _FoundDocument(
        mrid=_scalar(body, "mRID"),
        type=_scalar(body, "type"),
        process_type=_scalar(body, "process.processType"),
        business_sector=_scalar(body, "businessSector.type"),
        created=_scalar(body, "createdDateTime"),
        sender_gln=_scalar(body, "sender_MarketParticipant.mRID"),
        sender_role=_scalar(body, "sender_MarketParticipant.marketRole.type"),
        receiver_gln=_scalar(body, "receiver_MarketParticipant.mRID"),
        receiver_role=_scalar(body, "receiver_MarketParticipant.marketRole.type"),
    )
    all_series = body.get("Series")
    if not isinstance(all_series, list):
        _fail_header(found, "schema_violation", "Series is not a list")
    for element in all_series:
        if not isinstance(element, dict):
            _fail_header(found, "schema_violation", "a Series element is not an object")
        period = element.get("Period")
        if isinstance(period, list) and len(period) == 1:
            period = period[0]
        if not isinstance(period, dict):
            _fail_header(
                found, "schema_violation", f"series {_show(element.get('mRID'))}: no Period"
            )
        interval = period.get("timeInterval")
        if not isinstance(interval, dict):
            interval = {}
        points = period.get("Point")
        if not isinstance(points, list) or not all(isinstance(p, dict) for p in points):
            _fail_header(
                found,
                "schema_violation",
                f"series {_show(element.get('mRID'))}: Point is not a list",
            )
        found.series.append(
            _FoundSeries(
                mrid=_scalar(element, "mRID"),
                gsrn=_scalar(element, "marketEvaluationPoint.mRID"),
                metering_point_type=_scalar(element, "marketEvaluationPoint.type"),
                original_transaction_id=_scalar(
                    element, "originalTransactionIDReference_Series.mRID"
                ),
                registered=_scalar(element, "registration_DateAndOrTime.dateTime"),
                product=_scalar(element, "product"),
                unit=_scalar(element, "quantity_Measure_Unit.name"),
                resolution=_scalar(period, "resolution"),
                start=_scalar(interval, "start"),
                end=_scalar(interval, "end"),
                points=[_json_point(p) for p in points],
            )
        )
    return found


def _children(element: ElementTree.Element) -> dict[str, list[ElementTree.Element]]:
    prefix = "{" + NAMESPACE + "}"
    out: dict[str, list[ElementTree.Element]] = {}
    for child in element:
        tag = child.tag
        if isinstance(tag, str) and tag.startswith(prefix):
            out.setdefault(tag[len(prefix) :], []).append(child)
    return out


def _text(children: dict[str, list[ElementTree.Element]], name: str) -> str | None:
    found = children.get(name)
    if not found:
        return None
    return (found[0].text or "").strip()


def _read_xml(text: str) -> _FoundDocument:
    declaration = _XML_DECLARATION.match(text)
    if declaration is not None:
        declared = _DECLARED_ENCODING.search(declaration.group())
        name = declared.group(1).lower().replace("-", "").replace("_", "") if declared else "utf8"
        if name not in _UNICODE_ENCODINGS:
            raise InvalidDocument(
                "unparseable", f"XML encoding {_show(declared and declared.group(1))} is not UTF-8"
            )
        # Already decoded: the parser gets UTF-8 without a declaration that could contradict it.
        text = text[declaration.end() :]
    # DataHub documents never carry a DTD; refusing any rules out entity expansion (billion
    # laughs, external entities). Checked on the decoded text, so no encoding can hide one.
    if _DTD.search(text):
        raise InvalidDocument("dtd_not_allowed", "XML with a DTD (<!DOCTYPE, <!ENTITY) is refused")
    try:
        root = ElementTree.fromstring(text.encode("utf-8"))
    except (ElementTree.ParseError, ValueError) as exc:
        raise InvalidDocument("unparseable", f"not XML: {exc}") from None
    namespace, _, local = root.tag.rpartition("}")
    if local != ROOT:
        raise InvalidDocument("wrong_document_type", f"{_show(local)} is not {ROOT}")
    if namespace != "{" + NAMESPACE:
        raise InvalidDocument(
            "schema_violation", f"namespace {_show(namespace[1:])} is not {NAMESPACE}"
        )

    head = _children(root)
    found = _FoundDocument(
        mrid=_text(head, "mRID"),
        type=_text(head, "type"),
        process_type=_text(head, "process.processType"),
        business_sector=_text(head, "businessSector.type"),
        created=_text(head, "createdDateTime"),
        sender_gln=_text(head, "sender_MarketParticipant.mRID"),
        sender_role=_text(head, "sender_MarketParticipant.marketRole.type"),
        receiver_gln=_text(head, "receiver_MarketParticipant.mRID"),
        receiver_role=_text(head, "receiver_MarketParticipant.marketRole.type"),
    )
    for element in head.get("Series", []):
        series = _children(element)
        periods = series.get("Period", [])
        if len(periods) != 1:
            _fail_header(
                found,
                "schema_violation",
                f"series {_show(_text(series, 'mRID'))}: {len(periods)} Period elements, expected 1",
            )
        period = _children(periods[0])
        intervals = period.get("timeInterval")
        interval = _children(intervals[0]) if intervals else {}
        points: list[_FoundPoint] = []
        for point_element in period.get("Point", []):
            point = _children(point_element)
            points.append(
                (_text(point, "position"), _text(point, "quantity"), _text(point, "quality"))
            )
        found.series.append(
            _FoundSeries(
                mrid=_text(series, "mRID"),
                gsrn=_text(series, "marketEvaluationPoint.mRID"),
                metering_point_type=_text(series, "marketEvaluationPoint.type"),
                original_transaction_id=_text(series, "originalTransactionIDReference_Series.mRID"),
                registered=_text(series, "registration_DateAndOrTime.dateTime"),
                product=_text(series, "product"),
                unit=_text(series, "quantity_Measure_Unit.name"),
                resolution=_text(period, "resolution"),
                start=_text(interval, "start"),
                end=_text(interval, "end"),
                points=points,
            )
        )
    return found


# --- validation: one set of rules for both formats ----------------------------------------


def _fail_header(found: _FoundDocument, reason: Reason, detail: str) -> NoReturn:
    raise InvalidDocument(reason, detail, found.mrid if isinstance(found.mrid, str) else None)


def _show(value: object) -> str:
    """A sender's value quoted in a detail: repr of at most _SHOW characters (escaped later)."""
    if isinstance(value, str) and len(value) > _SHOW:
        return repr(value[:_SHOW]) + f"…(+{len(value) - _SHOW} chars)"
    if isinstance(value, dict | list):
        return f"<{type(value).__name__} of {len(value)}>"
    text = str(value) if isinstance(value, Decimal | int) else repr(value)
    return text if len(text) <= _SHOW else text[:_SHOW] + "…"


class _Rules:
    """The checks shared by both formats; every failure names the document when it can."""

    def __init__(self, document_id: str | None, limits: InputLimits, now: datetime) -> None:
        self.document_id = document_id
        self.first_year = now.year - limits.years_back
        self.last_year = now.year + limits.years_ahead
        self.latest_created = now + limits.created_skew

    def fail(self, reason: Reason, detail: str) -> NoReturn:
        raise InvalidDocument(reason, detail, self.document_id)

    def text(self, value: object, what: str) -> str:
        if not isinstance(value, str) or not value:
            self.fail("schema_violation", f"{what} is missing")
        return value

    def matching(self, value: object, pattern: re.Pattern[str], what: str, rule: str) -> str:
        text = self.text(value, what)
        if pattern.fullmatch(text) is None:
            self.fail("bad_identifier", f"{what} {_show(text)} is not {rule}")
        return text

    def mrid(self, value: object, what: str) -> str:
        return self.matching(value, _MRID, what, "1-64 printable ASCII characters")

    def code(self, value: object, what: str) -> str:
        return self.matching(value, _CODE, what, "a code of 1-35 letters or digits")

    def utc(self, value: object, what: str) -> datetime:
        moment = _parse_utc(value) if isinstance(value, str) else None
        if moment is None:
            self.fail(
                "schema_violation",
                f"{what} {_show(value)} is not a UTC time yyyy-MM-ddTHH:mm[:ss]Z",
            )
        if not self.first_year <= moment.year <= self.last_year:
            self.fail(
                "time_out_of_range",
                f"{what} {moment:%Y-%m-%dT%H:%MZ} is outside the years "
                f"{self.first_year}-{self.last_year}",
            )
        return moment

    def document(self, found: _FoundDocument) -> MeasureDocument:
        if found.type != DOCUMENT_TYPE:
            self.fail(
                "wrong_document_type", f"document type {_show(found.type)} is not {DOCUMENT_TYPE}"
            )
        if found.mrid is None:
            self.fail("schema_violation", "document mRID is missing")
        document_id = self.mrid(found.mrid, "document mRID")
        created = self.utc(found.created, "createdDateTime")
        if created > self.latest_created:
            self.fail(
                "created_in_future",
                f"createdDateTime {created:%Y-%m-%dT%H:%M:%SZ} is ahead of our clock",
            )
        sector = found.business_sector
        party = "1-16 letters, digits or '-'"
        process_type = self.code(found.process_type, "process.processType")
        business_sector = None if sector is None else self.code(sector, "businessSector.type")
        sender = self.matching(found.sender_gln, _PARTY_ID, "sender_MarketParticipant.mRID", party)
        sender_role = self.code(found.sender_role, "sender_MarketParticipant.marketRole.type")
        receiver = self.matching(
            found.receiver_gln, _PARTY_ID, "receiver_MarketParticipant.mRID", party
        )
        receiver_role = self.code(found.receiver_role, "receiver_MarketParticipant.marketRole.type")
        if not found.series:
            self.fail("schema_violation", "document has no Series")
        by_mrid: dict[str, MeasureSeries] = {}
        for number, raw in enumerate(found.series, start=1):
            label = f"series {raw.mrid}" if is_valid_mrid(raw.mrid) else f"series #{number}"
            series = self.series(raw, label)
            earlier = by_mrid.setdefault(series.mrid, series)
            if earlier is not series and earlier != series:
                self.fail(
                    "conflicting_series",
                    f"{label} appears more than once with different content",
                )
        return MeasureDocument(
            mrid=document_id,
            type=DOCUMENT_TYPE,
            process_type=process_type,
            business_sector=business_sector,
            created=created,
            sender_gln=sender,
            sender_role=sender_role,
            receiver_gln=receiver,
            receiver_role=receiver_role,
            series=list(by_mrid.values()),
        )

    def bad_position(
        self, label: str, raw: object, position: int | None, slots: int, resolution: str
    ) -> NoReturn:
        if position is None:
            self.fail("schema_violation", f"{label}: position {_show(raw)} is not an integer")
        if not 0 < position <= slots:
            self.fail(
                "position_outside_interval",
                f"{label} position {position}: outside 1..{slots} ({resolution})",
            )
        self.fail("schema_violation", f"{label} position {position}: appears twice")

    def series(self, raw: _FoundSeries, label: str) -> MeasureSeries:
        fail = self.fail
        mrid = self.mrid(raw.mrid, f"{label}: mRID")
        if raw.gsrn is None:
            fail("schema_violation", f"{label}: marketEvaluationPoint.mRID is missing")
        if not isinstance(raw.gsrn, str) or not is_valid_gsrn(raw.gsrn):
            fail(
                "bad_gsrn",
                f"{label}: {_show(raw.gsrn)} is not a GSRN (18 digits, 57…, check digit)",
            )
        mp_type = raw.metering_point_type
        if not isinstance(mp_type, str) or not _METERING_POINT_TYPE.fullmatch(mp_type):
            fail(
                "schema_violation",
                f"{label}: metering point type {_show(mp_type)} is not E17/E18/E20/Dnn",
            )
        unit = "KWH" if raw.unit is None else raw.unit
        if unit != "KWH":
            fail("schema_violation", f"{label}: unit {_show(unit)} is not KWH")
        original = raw.original_transaction_id
        if original is not None:
            original = self.mrid(original, f"{label}: originalTransactionIDReference")
        registered = None
        if raw.registered is not None:
            registered = self.utc(raw.registered, f"{label}: registration_DateAndOrTime")
        product = None if raw.product is None else self.code(raw.product, f"{label}: product")

        resolution = raw.resolution
        if not isinstance(resolution, str) or not resolution:
            fail("schema_violation", f"{label}: resolution is missing")
        step = RESOLUTIONS.get(resolution)
        if step is None:
            fail(
                "unknown_resolution",
                f"{label}: resolution {_show(resolution)} is not PT15M or PT1H",
            )
        start = self.utc(raw.start, f"{label}: timeInterval start")
        end = self.utc(raw.end, f"{label}: timeInterval end")
        if end <= start:
            fail("schema_violation", f"{label}: timeInterval end is not after its start")
        if (end - start) % step or (start - _EPOCH) % step:
            fail("schema_violation", f"{label}: timeInterval is not whole {resolution} steps")
        slots = (end - start) // step

        if not raw.points:
            fail("schema_violation", f"{label}: no Point")
        points: list[Point] = []
        seen: set[int] = set()
        position: int | None = None
        try:
            for raw_position, raw_quantity, quality in raw.points:
                position = raw_position if type(raw_position) is int else _position(raw_position)
                if position is None or not 0 < position <= slots or position in seen:
                    self.bad_position(label, raw_position, position, slots, resolution)
                seen.add(position)
                quantity = None if raw_quantity is None else _quantity(raw_quantity)
                if quality is None:
                    # No quality means "as provided"; no quantity at all means missing.
                    quality = _MISSING if quantity is None else _MEASURED
                elif type(quality) is not str or quality not in QUALITY_CODES:
                    fail(
                        "schema_violation",
                        f"{label} position {position}: quality {_show(quality)} is not A02..A06",
                    )
                elif (quantity is None) != (quality == _MISSING):
                    fail(
                        "schema_violation",
                        f"{label} position {position}: quality {quality} "
                        + ("without a quantity" if quantity is None else "(missing) with one"),
                    )
                points.append(Point(position, quantity, quality))
        except _BadQuantity as exc:
            fail(exc.reason, f"{label} position {position}: {exc.detail}")
        points.sort()

        return MeasureSeries(
            mrid=mrid,
            gsrn=raw.gsrn,
            metering_point_type=mp_type,
            original_transaction_id=original,
            resolution=resolution,
            start=start,
            end=end,
            registered=registered,
            product=product,
            unit=unit,
            points=points,
        )


def _validate(found: _FoundDocument, limits: InputLimits, now: datetime) -> MeasureDocument:
    document_id = found.mrid if isinstance(found.mrid, str) and is_valid_mrid(found.mrid) else None
    return _Rules(document_id, limits, now).document(found)


def _position(value: object) -> int | None:
    if type(value) is int:
        return value
    if isinstance(value, str) and _XML_INTEGER.fullmatch(value):
        return int(value)
    return None


class _BadQuantity(Exception):
    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason: Reason = reason
        self.detail = detail


def _quantity(value: object) -> Decimal:
    """The quantity with exactly 3 decimals, as DataHub's Decimal(18,3); _BadQuantity if not."""
    if type(value) is not Decimal:
        if type(value) is int or (isinstance(value, str) and _XML_DECIMAL.fullmatch(value)):
            value = Decimal(value)
        else:
            raise _BadQuantity(
                "schema_violation", f"quantity {_show(value)} is not a decimal number"
            )
    if not value.is_finite():
        raise _BadQuantity("schema_violation", f"quantity {value} is not a finite number")
    if value.adjusted() >= _MAX_QUANTITY_DIGITS:
        raise _BadQuantity(
            "schema_violation", f"quantity {_show(value)} is not below 10**13 kWh (Decimal(18,3))"
        )
    rounded = value.quantize(_MILLI)
    if rounded != value:
        raise _BadQuantity("too_many_decimals", f"quantity {_show(value)} has more than 3 decimals")
    if value.is_signed():
        if rounded.is_zero():
            return _ZERO  # -0
        raise _BadQuantity("negative_quantity", f"quantity {value} is negative")
    return rounded


def _parse_utc(value: str) -> datetime | None:
    match = _UTC_TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction = match.groups()
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")[:6]),
            tzinfo=UTC,
        )
    except ValueError:
        return None
