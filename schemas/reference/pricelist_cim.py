"""DataHub price-list documents: `RequestChangeOfPriceList_MarketDocument` (type D10, CIM XML),
process D18 (charge information) or D08 (prices).

One item per `ChargeType` element, in document order; a refusal's row is that item's 1-based
ordinal. Any DTD is refused, whatever the document's encoding (expat reports it after
decoding), so no entity is ever expanded. Prices are charge prices within `bounds`: the CIM
price format (99999999.999999) has no sign.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Literal, NamedTuple
from xml.parsers import expat

from pydantic import AwareDatetime, ValidationError

from schemas.calendar import (
    SLOT_STEPS,
    add_months,
    expected_slots,
    local_date,
    local_midnight_utc,
    to_local,
)
from schemas.codelists import ChargeType, DataHubChargeType, Resolution
from schemas.reference.bounds import (
    CHARGE_CODE_MAX,
    CHARGE_NAME_MAX,
    CHARGE_PRICE_BELOW,
    CHARGE_PRICE_DECIMALS,
    DESCRIPTION_MAX,
    MRID_MAX,
    PARTY_ID_MAX,
    POSITION_MAX,
    FieldError,
    ReferenceDataError,
    bounded_amount,
    bounded_text,
    in_window,
    shown,
)
from schemas.reference.charges import classify_charge
from schemas.reference.tabular import Frozen, text_to_decimal, validation_message

PRICE_LIST_NAMESPACE = "urn:ediel.org:structure:requestchangeofpricelist:0:1"


class ChargePricePoint(NamedTuple):
    """One price of a charge price series: from `start` (UTC) for one resolution step."""

    start: datetime
    price: Decimal


class ChargeDocumentItem(Frozen):
    """One `ChargeType` element of a price-list document.

    For D18 `points` is empty; for D08 it holds the price points, each starting at
    timeInterval start + (position − 1) × resolution (P1D and P1M steps are local days and
    calendar months). `price_intervals` are the Series_Period intervals the points replace.
    Prices are DKK/kWh for tariffs, DKK per period for subscriptions and fees.
    """

    document_id: str
    process_type: Literal["D18", "D08"]
    activity_id: str | None
    owner_gln: str
    charge_type: DataHubChargeType
    charge_code: str
    name: str | None
    description: str | None
    resolution: Resolution | None
    effective_date: AwareDatetime
    termination_date: AwareDatetime | None
    vat_payer: str | None
    transparent_invoicing: bool | None
    tax_indicator: bool | None
    price_intervals: tuple[tuple[AwareDatetime, AwareDatetime], ...]
    points: tuple[ChargePricePoint, ...]

    @property
    def settlement_charge(self) -> ChargeType | None:
        """What this charge prices (`classify_charge`); None when we do not bill it."""
        return classify_charge(
            self.owner_gln,
            self.charge_type,
            self.charge_code,
            note=self.name,
            tax_indicator=self.tax_indicator,
            resolution=self.resolution,
        )


def _q(tag: str) -> str:
    return f"{{{PRICE_LIST_NAMESPACE}}}{tag}"


def _optional(element: ET.Element, tag: str, limit: int, *, multiline: bool = False) -> str | None:
    child = element.find(_q(tag))
    text = None if child is None or child.text is None else child.text.strip()
    return bounded_text(tag, text, limit, multiline=multiline) if text else None


def _required(element: ET.Element, tag: str, limit: int) -> str:
    text = _optional(element, tag, limit)
    if text is None:
        raise FieldError(f"{tag} is missing")
    return text


def _utc(element: ET.Element, tag: str, *, required: bool = True) -> datetime | None:
    text = _required(element, tag, MRID_MAX) if required else _optional(element, tag, MRID_MAX)
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(f"{tag} is not a date-time: {shown(text)}") from None
    if moment.tzinfo is None:
        raise FieldError(f"{tag} has no time zone: {shown(text)}")
    in_window(tag, moment)
    return moment.astimezone(UTC)


def _required_utc(element: ET.Element, tag: str) -> datetime:
    moment = _utc(element, tag)
    assert moment is not None
    return moment


def _bool(element: ET.Element, tag: str) -> bool | None:
    text = _optional(element, tag, MRID_MAX)
    if text is None:
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise FieldError(f"{tag} is not true/false: {shown(text)}")


def _resolution(tag: str, text: str) -> Resolution:
    try:
        return Resolution(text)
    except ValueError:
        raise FieldError(f"{tag} is not a known resolution: {shown(text)}") from None


def _point_start(start: datetime, resolution: Resolution, steps: int) -> datetime:
    """`start` plus `steps` resolution steps; P1D and P1M step in local days and months."""
    if resolution in SLOT_STEPS:
        return start + steps * SLOT_STEPS[resolution]
    day = local_date(start)
    if resolution is Resolution.P1D:
        return local_midnight_utc(day + timedelta(days=steps))
    return local_midnight_utc(add_months(day, steps))


def _position(point: ET.Element) -> int:
    text = _required(point, "position", MRID_MAX)
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= POSITION_MAX:
        raise FieldError(
            f"Point position is not a whole number from 1 to {POSITION_MAX}: {shown(text)}"
        )
    return int(text)


def _series_points(
    period: ET.Element,
) -> tuple[Resolution, tuple[datetime, datetime], list[ChargePricePoint]]:
    resolution = _resolution("resolution", _required(period, "resolution", MRID_MAX))
    interval = period.find(_q("timeInterval"))
    if interval is None:
        raise FieldError("Series_Period has no timeInterval")
    start, end = _required_utc(interval, "start"), _required_utc(interval, "end")
    if end <= start:
        raise FieldError("timeInterval end is not after its start")
    if resolution not in SLOT_STEPS:
        local_start = to_local(start)
        if local_start.time() != time(0) or (resolution is Resolution.P1M and local_start.day != 1):
            raise FieldError(
                f"timeInterval start {start.isoformat()} is not the start of a local "
                f"{'month' if resolution is Resolution.P1M else 'day'}"
            )
    points: list[ChargePricePoint] = []
    positions: set[int] = set()
    for point in period.findall(_q("Point")):
        position = _position(point)
        if position in positions:
            raise FieldError(f"Point position {position} appears twice")
        positions.add(position)
        tag = f"price.amount of position {position}"
        price = bounded_amount(
            tag,
            text_to_decimal(tag, _required(point, "price.amount", MRID_MAX)),
            below=CHARGE_PRICE_BELOW,
            decimals=CHARGE_PRICE_DECIMALS,
        )
        if _point_start(start, resolution, position) > end:
            raise FieldError(f"Point position {position} lies outside the timeInterval")
        points.append(ChargePricePoint(_point_start(start, resolution, position - 1), price))
    if not points:
        raise FieldError("Series_Period has no Point")
    return resolution, (start, end), sorted(points, key=lambda p: p.start)


def _owner(charge: ET.Element) -> str:
    tag = "chargeTypeOwner_MarketParticipant.mRID"
    owner = _required(charge, tag, PARTY_ID_MAX)
    element = charge.find(_q(tag))
    is_gln = element is not None and element.get("codingScheme", "A10") == "A10"
    if is_gln and (len(owner) != 13 or not owner.isascii() or not owner.isdigit()):
        raise FieldError(f"{tag} is not a 13-digit GLN: {shown(owner)}")
    return owner


def _charge_item(
    charge: ET.Element,
    document_id: str,
    process_type: Literal["D18", "D08"],
    activity_id: str | None,
) -> ChargeDocumentItem:
    owner = _owner(charge)
    type_text = _required(charge, "type", MRID_MAX)
    try:
        charge_type = DataHubChargeType(type_text)
    except ValueError:
        raise FieldError(f"type must be D01, D02 or D03: {shown(type_text)}") from None
    vat_payer = _optional(charge, "VATPayer", MRID_MAX)
    if vat_payer is not None and vat_payer not in ("D01", "D02"):
        raise FieldError(f"VATPayer must be D01 or D02: {shown(vat_payer)}")
    frame_tag = "priceTimeFrame_Period.resolution"
    frame = _optional(charge, frame_tag, MRID_MAX)
    if frame is None and process_type == "D18":
        raise FieldError(f"{frame_tag} is missing")
    resolution = None if frame is None else _resolution(frame_tag, frame)
    intervals: list[tuple[datetime, datetime]] = []
    points: list[ChargePricePoint] = []
    for period in charge.findall(_q("Series_Period")):
        series_resolution, interval, series = _series_points(period)
        if resolution is None:
            resolution = series_resolution
        elif series_resolution is not resolution:
            raise FieldError(
                f"Series_Period resolution {series_resolution} differs from {resolution}"
            )
        intervals.append(interval)
        points.extend(series)
    if process_type == "D08" and not points:
        raise FieldError("a D08 price document must carry a Series_Period with Points")
    return ChargeDocumentItem(
        document_id=document_id,
        process_type=process_type,
        activity_id=activity_id,
        owner_gln=owner,
        charge_type=charge_type,
        charge_code=_required(charge, "mRID", CHARGE_CODE_MAX),
        name=_optional(charge, "name", CHARGE_NAME_MAX),
        description=_optional(charge, "description", DESCRIPTION_MAX, multiline=True),
        resolution=resolution,
        effective_date=_required_utc(charge, "effectiveDate"),
        termination_date=_utc(charge, "terminationDate", required=False),
        vat_payer=vat_payer,
        transparent_invoicing=_bool(charge, "transparentInvoicing"),
        tax_indicator=_bool(charge, "taxIndicator"),
        price_intervals=tuple(intervals),
        points=tuple(sorted(points, key=lambda p: p.start)),
    )


class _DtdFound(Exception):
    pass


def _refuse_dtd(*_: object) -> None:
    raise _DtdFound


def _xml_root(data: bytes, name: str) -> ET.Element:
    scanner = expat.ParserCreate()
    scanner.StartDoctypeDeclHandler = _refuse_dtd
    scanner.EntityDeclHandler = _refuse_dtd
    try:
        scanner.Parse(data, True)
        return ET.fromstring(data)
    except _DtdFound:
        raise ReferenceDataError(name, None, "XML with a DTD is not accepted") from None
    except (expat.ExpatError, ET.ParseError) as exc:
        raise ReferenceDataError(name, None, f"not well-formed XML: {exc}") from None


def _document_header(root: ET.Element, name: str) -> tuple[str, Literal["D18", "D08"]]:
    if root.tag != _q("RequestChangeOfPriceList_MarketDocument"):
        raise ReferenceDataError(
            name,
            None,
            f"root element is {shown(root.tag)}, not RequestChangeOfPriceList_MarketDocument",
        )
    try:
        document_id = _required(root, "mRID", MRID_MAX)
        document_type = _required(root, "type", MRID_MAX)
        process = _required(root, "process.processType", MRID_MAX)
    except FieldError as exc:
        raise ReferenceDataError(name, None, str(exc)) from None
    if document_type != "D10":
        raise ReferenceDataError(name, None, f"document type must be D10: {shown(document_type)}")
    if process not in ("D18", "D08"):
        raise ReferenceDataError(
            name,
            None,
            f"process.processType must be D18 or D08 (D17 links are not read): {shown(process)}",
        )
    return document_id, "D18" if process == "D18" else "D08"


def parse_price_list_document(data: bytes, name: str) -> list[ChargeDocumentItem]:
    """Every `ChargeType` of a D10 document, or the first refusal."""
    root = _xml_root(data, name)
    document_id, process_type = _document_header(root, name)
    items: list[ChargeDocumentItem] = []
    for activity in root.findall(_q("MktActivityRecord")):
        for charge in activity.findall(f"{_q('ChargeGroup')}/{_q('ChargeType')}"):
            number = len(items) + 1
            try:
                activity_id = _optional(activity, "mRID", MRID_MAX)
                items.append(_charge_item(charge, document_id, process_type, activity_id))
            except FieldError as exc:
                raise ReferenceDataError(name, number, str(exc)) from None
            except (ValidationError, InvalidOperation) as exc:
                message = validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
                raise ReferenceDataError(name, number, message) from None
    if not items:
        raise ReferenceDataError(name, None, "document has no ChargeType")
    return items


class DailyProfile(NamedTuple):
    """Whole local days [first, end) with the same 24 hourly prices (index = local hour)."""

    first: date
    end: date
    prices: tuple[Decimal, ...]


def daily_profiles(item: ChargeDocumentItem) -> list[DailyProfile]:
    """Hourly price points → runs of whole local days with the same 24 prices.

    The repeated hour of the 25-hour day must carry the same price twice (24 hourly rates
    cannot hold two); the 23-hour day's missing hour takes the price of the hour before it.
    """
    by_day: dict[date, dict[int, Decimal]] = {}
    counts: dict[date, int] = {}
    for point in item.points:
        local = to_local(point.start)
        hours = by_day.setdefault(local.date(), {})
        if local.hour in hours and hours[local.hour] != point.price:
            raise FieldError(
                f"local hour {local.hour} of {local.date()} has two different prices "
                "(a 25-hour day cannot be stored as 24 hourly rates)"
            )
        hours[local.hour] = point.price
        counts[local.date()] = counts.get(local.date(), 0) + 1
    profiles: list[DailyProfile] = []
    for day in sorted(by_day):
        if counts[day] != expected_slots(day, Resolution.PT1H):
            raise FieldError(f"the prices do not cover the whole local day {day}")
        hours = by_day[day]
        prices: list[Decimal] = []
        for hour in range(24):
            prices.append(hours.get(hour, prices[-1] if prices else hours[min(hours)]))
        following = day + timedelta(days=1)
        if profiles and profiles[-1].end == day and profiles[-1].prices == tuple(prices):
            profiles[-1] = profiles[-1]._replace(end=following)
        else:
            profiles.append(DailyProfile(day, following, tuple(prices)))
    return profiles
