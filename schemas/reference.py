"""Parsers for reference data files: spot prices, price lists, charge documents and master data.

Every parser reads one file completely and returns a list of frozen records, or raises
`ReferenceDataError` for the first bad row; nothing is returned from a file with a bad row
(making an import all-or-nothing is the importer's job).

Formats accepted for tabular data (spot prices, DatahubPricelist, master data):
- Energi Data Service API JSON, `{"records": [...]}` or a bare list of objects. Numbers are read
  straight from the JSON text into Decimal, never through float.
- CSV with a header row; the delimiter (`;` or `,`) is taken from the header line. With `;` a
  decimal comma (`1093,53`) is accepted. UTF-8 with or without BOM. Empty cells are null.

Conventions:
- Energy prices come out in DKK per kWh; EDS publishes spot prices per MWh, so they are divided
  by 1000 exactly (a decimal shift, no rounding).
- Every datetime returned is aware and in UTC. Times without zone in EDS `*UTC` columns are UTC;
  times without zone in `*DK` columns and in DatahubPricelist `ValidFrom`/`ValidTo` are local
  Danish wall-clock times (Europe/Copenhagen). An ambiguous local time (02:xx on the last
  Sunday of October) resolves to its first occurrence; a local time that does not exist
  (02:xx on the last Sunday of March) is an error.
- Contract and supply-period `StartDate`/`EndDate` are local dates: supply starts at local
  midnight of `StartDate` and ends at local midnight of `EndDate` (exclusive). The same holds for
  aconto `BillingPeriodStart`/`BillingPeriodEnd`. `local_midnight_utc` turns such a date into the
  UTC instant.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeVar, overload
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from schemas.codelists import (
    BillingFrequency,
    ConnectionStatus,
    CustomerStatus,
    DataHubChargeType,
    EndReason,
    EnergyModel,
    MeteringPointType,
    PaymentModel,
    PriceArea,
    Resolution,
    SettlementMethod,
)

COPENHAGEN = ZoneInfo("Europe/Copenhagen")
PRICE_LIST_NAMESPACE = "urn:ediel.org:structure:requestchangeofpricelist:0:1"

_KWH_PER_MWH_EXPONENT = -3


class ReferenceDataError(Exception):
    """A reference data file is unusable; `str()` is one line naming the file and the row.

    `row` is the 1-based data row (CSV rows after the header, JSON records, charge items in an
    XML document), or None when the problem is with the file as a whole.
    """

    def __init__(self, path: Path | str, row: int | None, message: str) -> None:
        self.path = Path(path)
        self.row = row
        self.message = " ".join(message.split())
        super().__init__(path, row, message)

    def __str__(self) -> str:
        where = self.path.name if self.row is None else f"{self.path.name} row {self.row}"
        return f"{where}: {self.message}"


def local_midnight_utc(day: date) -> datetime:
    """The UTC instant at which `day` begins in Denmark (local midnight always exists)."""
    return datetime.combine(day, time(0), tzinfo=COPENHAGEN).astimezone(UTC)


def copenhagen_wall_time_to_utc(wall: datetime) -> datetime:
    """Convert a naive Danish wall-clock time to aware UTC.

    The repeated hour on the autumn DST day resolves to its first (summer time) occurrence; a
    wall time skipped by the spring DST change raises ValueError.
    """
    if wall.tzinfo is not None:
        raise ValueError("expected a naive local time")
    moment = wall.replace(tzinfo=COPENHAGEN, fold=0).astimezone(UTC)
    if moment.astimezone(COPENHAGEN).replace(tzinfo=None) != wall:
        raise ValueError(f"{wall.isoformat()} does not exist in Europe/Copenhagen (DST gap)")
    return moment


# --------------------------------------------------------------------------------------------
# Records


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SpotPriceRow(_Frozen):
    """Day-ahead price of one interval in one price area, in DKK per kWh excl. VAT."""

    price_area: PriceArea
    start: AwareDatetime
    resolution: Resolution
    price_dkk_per_kwh: Decimal

    @property
    def end(self) -> datetime:
        return self.start + _FIXED_STEPS[self.resolution]


class PriceListRow(_Frozen):
    """One row of Energi Data Service `DatahubPricelist`: a charge's prices for a validity period.

    `prices[h]` is the price in DKK/kWh (tariffs) or DKK per period (subscriptions, fees) for local
    hour h (0 = 00–01); PriceN left null in the source is filled with Price1. For P1D and P1M
    charges only `prices[0]` is meaningful. `valid_to` None means open-ended.
    """

    charge_owner: str
    gln: str
    charge_type: DataHubChargeType
    charge_type_code: str
    note: str
    description: str
    valid_from: AwareDatetime
    valid_to: AwareDatetime | None
    vat_class: str | None
    prices: tuple[Decimal, ...] = Field(min_length=24, max_length=24)
    resolution: Resolution
    transparent_invoicing: bool
    tax_indicator: bool


class ChargePricePoint(NamedTuple):
    """One price of a charge price series: from `start` (UTC) for one resolution step."""

    start: datetime
    price: Decimal


class ChargeDocumentItem(_Frozen):
    """One `ChargeType` element of a `RequestChangeOfPriceList_MarketDocument`.

    For process D18 (charge information) `points` is empty; for D08 (prices) it holds the price
    points, each starting at timeInterval start + (position − 1) × resolution (P1D and P1M steps
    are local days and calendar months). `price_intervals` are the Series_Period intervals the
    points replace. Prices are DKK/kWh for tariffs, DKK per period for subscriptions and fees.
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


class ProductRow(_Frozen):
    """A product. Øre amounts are øre/kWh excl. VAT; the subscription is kr/month excl. VAT.

    `fixed_price_ore_per_kwh` is set for FixedPrice and Mixed products; `spot_share` (0..1) only
    for Mixed products.
    """

    id: uuid.UUID
    name: str
    energy_model: EnergyModel
    margin_ore_per_kwh: Decimal
    supplement_ore_per_kwh: Decimal | None
    subscription_kr_per_month: Decimal
    binding_period_months: int | None
    is_active: bool
    fixed_price_ore_per_kwh: Decimal | None
    spot_share: Decimal | None


class CustomerRow(_Frozen):
    id: uuid.UUID
    name: str
    cpr_cvr: str
    contact_type: str
    email: str | None
    phone: str | None
    created_at: AwareDatetime
    status: CustomerStatus


class _LocalDatePeriod(_Frozen):
    """Local dates [start_date, end_date): from local midnight to local midnight (exclusive;
    end_date None = ongoing)."""

    start_date: date
    end_date: date | None

    @property
    def start_utc(self) -> datetime:
        return local_midnight_utc(self.start_date)

    @property
    def end_utc(self) -> datetime | None:
        return None if self.end_date is None else local_midnight_utc(self.end_date)


class ContractRow(_LocalDatePeriod):
    """A contract; `start_date`/`end_date` are local dates, the end exclusive (None = open)."""

    id: uuid.UUID
    customer_id: uuid.UUID
    gsrn: str
    product_id: uuid.UUID
    billing_frequency: BillingFrequency
    payment_model: PaymentModel
    payment_term_days: int


class SupplyPeriodRow(_LocalDatePeriod):
    """A period in which we supply a metering point: from local midnight of `start_date` to
    local midnight of `end_date` (exclusive; None = ongoing)."""

    id: uuid.UUID
    gsrn: str
    end_reason: EndReason | None


class MeteringPointRow(_Frozen):
    gsrn: str
    type: MeteringPointType
    settlement_method: SettlementMethod
    connection_status: ConnectionStatus
    grid_area_code: str
    grid_operator_gln: str
    activated_at: AwareDatetime | None
    deactivated_at: AwareDatetime | None


class GridAreaRow(_Frozen):
    code: str
    grid_operator_gln: str
    grid_operator_name: str
    price_area: PriceArea


class AcontoPaymentRow(_Frozen):
    """An aconto payment in DKK incl. VAT for the local-date billing period [start, end)."""

    id: uuid.UUID
    contract_id: uuid.UUID
    billing_period_start: date
    billing_period_end: date
    amount: Decimal
    paid_at: AwareDatetime


MasterDataRow = (
    ProductRow
    | CustomerRow
    | ContractRow
    | SupplyPeriodRow
    | MeteringPointRow
    | GridAreaRow
    | AcontoPaymentRow
)
MasterDataKind = Literal[
    "products",
    "customers",
    "contracts",
    "supply_periods",
    "metering_points",
    "grid_areas",
    "aconto_payments",
]

# --------------------------------------------------------------------------------------------
# Reading tabular files

_FIXED_STEPS: dict[Resolution, timedelta] = {
    Resolution.PT15M: timedelta(minutes=15),
    Resolution.PT1H: timedelta(hours=1),
}


class _FieldError(Exception):
    """A bad value in one row; the caller adds file and row."""


@dataclass(frozen=True)
class _Record:
    number: int
    values: Mapping[str, object]
    decimal_comma: bool


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise ReferenceDataError(path, None, f"cannot read file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ReferenceDataError(
            path, None, f"not UTF-8 text (bad byte at offset {exc.start})"
        ) from None


def _load_records(path: Path) -> list[_Record]:
    text = _read_text(path)
    stripped = text.lstrip()
    if not stripped:
        raise ReferenceDataError(path, None, "file is empty")
    if stripped[0] in "[{":
        return _json_records(path, text)
    return _csv_records(path, text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _json_records(path: Path, text: str) -> list[_Record]:
    try:
        document = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except (json.JSONDecodeError, ValueError) as exc:
        raise ReferenceDataError(path, None, f"not valid JSON: {exc}") from None
    if isinstance(document, dict):
        if "records" not in document:
            raise ReferenceDataError(path, None, 'JSON object has no "records" list')
        document = document["records"]
    if not isinstance(document, list):
        raise ReferenceDataError(path, None, "JSON records are not a list")
    records = []
    for index, item in enumerate(document):
        if not isinstance(item, dict):
            raise ReferenceDataError(path, index + 1, "record is not a JSON object")
        records.append(_Record(index + 1, item, decimal_comma=False))
    return records


def _csv_records(path: Path, text: str) -> list[_Record]:
    header_line = text.lstrip().splitlines()[0]
    if ";" in header_line:
        delimiter = ";"
    elif "," in header_line:
        delimiter = ","
    else:
        raise ReferenceDataError(
            path, None, "cannot find the CSV delimiter (';' or ',') in the header"
        )
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip(), newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise ReferenceDataError(path, None, f"not valid CSV: {exc}") from None
    header = [cell.strip() for cell in rows[0]]
    for position, name in enumerate(header):
        if not name:
            raise ReferenceDataError(path, None, f"header column {position + 1} has no name")
        if header.index(name) != position:
            raise ReferenceDataError(path, None, f"header names column {name} twice")
    records = []
    number = 0
    for cells in rows[1:]:
        if not any(cell.strip() for cell in cells):
            continue
        number += 1
        if len(cells) != len(header):
            raise ReferenceDataError(
                path, number, f"has {len(cells)} fields but the header has {len(header)}"
            )
        values = {name: (cell.strip() or None) for name, cell in zip(header, cells, strict=True)}
        records.append(_Record(number, values, decimal_comma=delimiter == ";"))
    return records


_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)

_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TRUE = frozenset({"true", "1", "yes"})
_FALSE = frozenset({"false", "0", "no"})


class _Fields:
    """Typed access to one record's fields; every failure is a one-line `_FieldError`."""

    def __init__(self, record: _Record) -> None:
        self._record = record

    def raw(self, name: str) -> object:
        if name not in self._record.values:
            raise _FieldError(f"{name} is missing")
        value = self._record.values[name]
        if value is None or (isinstance(value, str) and not value.strip()):
            raise _FieldError(f"{name} is empty")
        return value

    def has(self, name: str) -> bool:
        value = self._record.values.get(name)
        return value is not None and not (isinstance(value, str) and not value.strip())

    def optional(self, name: str, read: Callable[[str], _T]) -> _T | None:
        return read(name) if self.has(name) else None

    def text(self, name: str) -> str:
        value = self.raw(name)
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise _FieldError(f"{name} is not text: {value!r}")
        return str(value).strip()

    def digits(self, name: str, count: int) -> str:
        value = self.text(name)
        if len(value) != count or not value.isascii() or not value.isdigit():
            raise _FieldError(f"{name} must be {count} digits: {value!r}")
        return value

    def gsrn(self, name: str) -> str:
        return self.digits(name, 18)

    def gln(self, name: str) -> str:
        return self.digits(name, 13)

    def decimal(self, name: str) -> Decimal:
        value = self.raw(name)
        if isinstance(value, Decimal):
            number = value
        elif isinstance(value, int) and not isinstance(value, bool):
            number = Decimal(value)
        elif isinstance(value, str):
            number = _text_to_decimal(name, value.strip(), self._record.decimal_comma)
        else:
            raise _FieldError(f"{name} is not a number: {value!r}")
        if not number.is_finite():
            raise _FieldError(f"{name} is not a finite number: {value!r}")
        return number

    def integer(self, name: str) -> int:
        value = self.raw(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"[+-]?\d+", value.strip()):
            return int(value.strip())
        raise _FieldError(f"{name} is not a whole number: {value!r}")

    def boolean(self, name: str) -> bool:
        value = self.raw(name)
        if isinstance(value, bool):
            return value
        token = str(value).strip().lower()
        if token in _TRUE:
            return True
        if token in _FALSE:
            return False
        raise _FieldError(f"{name} is not true/false: {value!r}")

    def uuid(self, name: str) -> uuid.UUID:
        value = self.text(name)
        try:
            return uuid.UUID(value)
        except ValueError:
            raise _FieldError(f"{name} is not a UUID: {value!r}") from None

    def enum(self, name: str, kind: type[_E]) -> _E:
        value = self.text(name)
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise _FieldError(f"{name} must be one of {allowed}: {value!r}") from None

    def _datetime(self, name: str) -> datetime:
        value = self.text(name)
        if not _DATETIME.fullmatch(value):
            raise _FieldError(f"{name} is not a date-time: {value!r}")
        try:
            return datetime.fromisoformat(value.replace(" ", "T", 1))
        except ValueError:
            raise _FieldError(f"{name} is not a date-time: {value!r}") from None

    def utc_datetime(self, name: str) -> datetime:
        """A UTC time; without zone it is taken as UTC (EDS `*UTC` columns)."""
        moment = self._datetime(name)
        if moment.tzinfo is None:
            return moment.replace(tzinfo=UTC)
        return moment.astimezone(UTC)

    def local_wall_time(self, name: str) -> datetime:
        """A Danish wall-clock time, naive (EDS `*DK` columns)."""
        moment = self._datetime(name)
        if moment.tzinfo is None:
            return moment
        return moment.astimezone(COPENHAGEN).replace(tzinfo=None)

    def local_datetime(self, name: str) -> datetime:
        """An instant, aware UTC; without zone it is a Danish wall-clock time."""
        moment = self._datetime(name)
        if moment.tzinfo is not None:
            return moment.astimezone(UTC)
        try:
            return copenhagen_wall_time_to_utc(moment)
        except ValueError as exc:
            raise _FieldError(f"{name}: {exc}") from None

    def local_date(self, name: str) -> date:
        """A local Danish date: `YYYY-MM-DD`, or a date-time at Danish midnight."""
        value = self.text(name)
        if _DATE.fullmatch(value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                raise _FieldError(f"{name} is not a date: {value!r}") from None
        moment = self._datetime(name)
        local = moment if moment.tzinfo is None else moment.astimezone(COPENHAGEN)
        if local.time() != time(0):
            raise _FieldError(f"{name} must be a date (local midnight): {value!r}")
        return local.date()


def _text_to_decimal(name: str, text: str, decimal_comma: bool) -> Decimal:
    candidate = text
    if decimal_comma and text.count(",") == 1 and "." not in text:
        candidate = text.replace(",", ".")
    if not _NUMBER.fullmatch(candidate):
        raise _FieldError(f"{name} is not a number: {text!r}")
    try:
        return Decimal(candidate)
    except InvalidOperation:
        raise _FieldError(f"{name} is not a number: {text!r}") from None


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    return f"{location}: {first['msg']}" if location else str(first["msg"])


def _parse_rows(
    path: Path | str,
    build: Callable[[_Fields], _T],
    key: Callable[[_T], Hashable],
    key_name: str,
) -> list[_T]:
    """Build one item per record; a duplicate `key` is an error naming the earlier row."""
    file = Path(path)
    items: list[_T] = []
    seen: dict[Hashable, int] = {}
    for record in _load_records(file):
        try:
            item = build(_Fields(record))
        except _FieldError as exc:
            raise ReferenceDataError(file, record.number, str(exc)) from None
        except ValidationError as exc:
            raise ReferenceDataError(file, record.number, _validation_message(exc)) from None
        identity = key(item)
        if identity in seen:
            raise ReferenceDataError(
                file, record.number, f"duplicate {key_name} (same as row {seen[identity]})"
            )
        seen[identity] = record.number
        items.append(item)
    return items


# --------------------------------------------------------------------------------------------
# Spot prices


def _check_local_agrees(fields: _Fields, utc_name: str, local_name: str, start: datetime) -> None:
    local = fields.local_wall_time(local_name)
    expected = start.astimezone(COPENHAGEN).replace(tzinfo=None)
    if local != expected:
        raise _FieldError(
            f"{local_name} {local.isoformat()} does not match {utc_name} "
            f"{start.strftime('%Y-%m-%dT%H:%M')}Z (expected {expected.isoformat()} in "
            "Europe/Copenhagen)"
        )


def _price_area(fields: _Fields) -> PriceArea:
    value = fields.text("PriceArea")
    try:
        return PriceArea(value)
    except ValueError:
        raise _FieldError(
            f"PriceArea must be DK1 or DK2 (filter the download to Danish areas): {value!r}"
        ) from None


def _spot_row(
    fields: _Fields, utc_name: str, local_name: str, price_name: str, resolution: Resolution
) -> SpotPriceRow:
    start = fields.utc_datetime(utc_name)
    step_minutes = int(_FIXED_STEPS[resolution].total_seconds()) // 60
    if start.second or start.microsecond or start.minute % step_minutes:
        raise _FieldError(f"{utc_name} {start.isoformat()} is not on a {resolution} boundary")
    _check_local_agrees(fields, utc_name, local_name, start)
    return SpotPriceRow(
        price_area=_price_area(fields),
        start=start,
        resolution=resolution,
        price_dkk_per_kwh=fields.decimal(price_name).scaleb(_KWH_PER_MWH_EXPONENT),
    )


def parse_day_ahead_prices(path: Path | str) -> list[SpotPriceRow]:
    """Energi Data Service `DayAheadPrices` (15-minute MTU): one row per area and quarter-hour.

    `DayAheadPriceDKK` (DKK/MWh) becomes DKK/kWh; `TimeDK` must equal `TimeUTC` in
    Europe/Copenhagen (on the autumn DST day the local 02:xx appears twice).
    """
    return _parse_rows(
        path,
        lambda f: _spot_row(f, "TimeUTC", "TimeDK", "DayAheadPriceDKK", Resolution.PT15M),
        key=lambda row: (row.price_area, row.start),
        key_name="PriceArea and TimeUTC",
    )


def parse_elspot_prices(path: Path | str) -> list[SpotPriceRow]:
    """Legacy hourly Energi Data Service `Elspotprices` (until 30 Sep 2025), resolution PT1H.

    A null `SpotPriceDKK` is an error (we never settle on the EUR price).
    """
    return _parse_rows(
        path,
        lambda f: _spot_row(f, "HourUTC", "HourDK", "SpotPriceDKK", Resolution.PT1H),
        key=lambda row: (row.price_area, row.start),
        key_name="PriceArea and HourUTC",
    )


# --------------------------------------------------------------------------------------------
# DatahubPricelist

_PRICE_LIST_RESOLUTIONS = (Resolution.PT1H, Resolution.P1D, Resolution.P1M)


def _price_list_row(fields: _Fields) -> PriceListRow:
    first = fields.decimal("Price1")
    given = [fields.optional(f"Price{hour}", fields.decimal) for hour in range(2, 25)]
    prices = (first, *(first if price is None else price for price in given))
    resolution = fields.enum("ResolutionDuration", Resolution)
    if resolution not in _PRICE_LIST_RESOLUTIONS:
        raise _FieldError(f"ResolutionDuration must be PT1H, P1D or P1M: {resolution.value!r}")
    valid_from = fields.local_datetime("ValidFrom")
    valid_to = fields.optional("ValidTo", fields.local_datetime)
    if valid_to is not None and valid_to <= valid_from:
        raise _FieldError("ValidTo is not after ValidFrom")
    return PriceListRow(
        charge_owner=fields.text("ChargeOwner"),
        gln=fields.gln("GLN_Number"),
        charge_type=fields.enum("ChargeType", DataHubChargeType),
        charge_type_code=fields.text("ChargeTypeCode"),
        note=fields.optional("Note", fields.text) or "",
        description=fields.optional("Description", fields.text) or "",
        valid_from=valid_from,
        valid_to=valid_to,
        vat_class=fields.optional("VATClass", fields.text),
        prices=prices,
        resolution=resolution,
        transparent_invoicing=fields.optional("TransparentInvoicing", fields.boolean) or False,
        tax_indicator=fields.optional("TaxIndicator", fields.boolean) or False,
    )


def parse_datahub_pricelist(path: Path | str) -> list[PriceListRow]:
    """Energi Data Service `DatahubPricelist`: charges with 24 local-hour prices per row.

    ValidFrom/ValidTo are local Danish times without zone and become aware UTC; a null PriceN
    falls back to Price1; TaxIndicator and TransparentInvoicing default to false when null.
    """
    return _parse_rows(
        path,
        _price_list_row,
        key=lambda row: (row.gln, row.charge_type, row.charge_type_code, row.valid_from),
        key_name="GLN_Number, ChargeType, ChargeTypeCode and ValidFrom",
    )


# --------------------------------------------------------------------------------------------
# RequestChangeOfPriceList_MarketDocument (CIM XML)


def _q(tag: str) -> str:
    return f"{{{PRICE_LIST_NAMESPACE}}}{tag}"


def _xml_optional(element: ET.Element, tag: str) -> str | None:
    child = element.find(_q(tag))
    text = None if child is None or child.text is None else child.text.strip()
    return text or None


def _xml_required(element: ET.Element, tag: str) -> str:
    text = _xml_optional(element, tag)
    if text is None:
        raise _FieldError(f"{tag} is missing")
    return text


def _to_utc(tag: str, text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _FieldError(f"{tag} is not a date-time: {text!r}") from None
    if moment.tzinfo is None:
        raise _FieldError(f"{tag} has no time zone: {text!r}")
    return moment.astimezone(UTC)


def _xml_utc(element: ET.Element, tag: str) -> datetime:
    return _to_utc(tag, _xml_required(element, tag))


def _xml_optional_utc(element: ET.Element, tag: str) -> datetime | None:
    text = _xml_optional(element, tag)
    return None if text is None else _to_utc(tag, text)


def _xml_bool(element: ET.Element, tag: str) -> bool | None:
    text = _xml_optional(element, tag)
    if text is None:
        return None
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    raise _FieldError(f"{tag} is not true/false: {text!r}")


def _to_resolution(tag: str, text: str) -> Resolution:
    try:
        return Resolution(text)
    except ValueError:
        raise _FieldError(f"{tag} is not a known resolution: {text!r}") from None


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return day.replace(year=index // 12, month=index % 12 + 1)


def _point_start(start: datetime, resolution: Resolution, steps: int) -> datetime:
    """`start` plus `steps` resolution steps; P1D and P1M step in local days and months."""
    if resolution in _FIXED_STEPS:
        return start + steps * _FIXED_STEPS[resolution]
    local_day = start.astimezone(COPENHAGEN).date()
    if resolution is Resolution.P1D:
        return local_midnight_utc(local_day + timedelta(days=steps))
    return local_midnight_utc(_add_months(local_day, steps))


def _series_points(
    period: ET.Element,
) -> tuple[Resolution, tuple[datetime, datetime], list[ChargePricePoint]]:
    resolution = _to_resolution("resolution", _xml_required(period, "resolution"))
    interval = period.find(_q("timeInterval"))
    if interval is None:
        raise _FieldError("Series_Period has no timeInterval")
    start = _xml_utc(interval, "start")
    end = _xml_utc(interval, "end")
    if end <= start:
        raise _FieldError("timeInterval end is not after its start")
    if resolution not in _FIXED_STEPS:
        local_start = start.astimezone(COPENHAGEN)
        if local_start.time() != time(0) or (resolution is Resolution.P1M and local_start.day != 1):
            raise _FieldError(
                f"timeInterval start {start.isoformat()} is not the start of a local "
                f"{'month' if resolution is Resolution.P1M else 'day'}"
            )
    points: list[ChargePricePoint] = []
    positions: set[int] = set()
    for point in period.findall(_q("Point")):
        position_text = _xml_required(point, "position")
        if not position_text.isdigit() or int(position_text) < 1:
            raise _FieldError(f"Point position is not a positive whole number: {position_text!r}")
        position = int(position_text)
        if position in positions:
            raise _FieldError(f"Point position {position} appears twice")
        positions.add(position)
        amount = _xml_required(point, "price.amount")
        if not _NUMBER.fullmatch(amount):
            raise _FieldError(f"price.amount of position {position} is not a number: {amount!r}")
        if _point_start(start, resolution, position) > end:
            raise _FieldError(f"Point position {position} lies outside the timeInterval")
        points.append(
            ChargePricePoint(_point_start(start, resolution, position - 1), Decimal(amount))
        )
    if not points:
        raise _FieldError("Series_Period has no Point")
    points.sort(key=lambda p: p.start)
    return resolution, (start, end), points


def _charge_item(
    charge: ET.Element,
    document_id: str,
    process_type: Literal["D18", "D08"],
    activity_id: str | None,
) -> ChargeDocumentItem:
    owner_element = charge.find(_q("chargeTypeOwner_MarketParticipant.mRID"))
    owner = _xml_required(charge, "chargeTypeOwner_MarketParticipant.mRID")
    if (
        owner_element is not None
        and owner_element.get("codingScheme", "A10") == "A10"
        and (len(owner) != 13 or not owner.isdigit())
    ):
        raise _FieldError(
            f"chargeTypeOwner_MarketParticipant.mRID is not a 13-digit GLN: {owner!r}"
        )
    type_text = _xml_required(charge, "type")
    try:
        charge_type = DataHubChargeType(type_text)
    except ValueError:
        raise _FieldError(f"type must be D01, D02 or D03: {type_text!r}") from None
    vat_payer = _xml_optional(charge, "VATPayer")
    if vat_payer is not None and vat_payer not in ("D01", "D02"):
        raise _FieldError(f"VATPayer must be D01 or D02: {vat_payer!r}")
    frame_tag = "priceTimeFrame_Period.resolution"
    frame = _xml_optional(charge, frame_tag)
    if frame is None and process_type == "D18":
        raise _FieldError(f"{frame_tag} is missing")
    resolution = None if frame is None else _to_resolution(frame_tag, frame)
    intervals: list[tuple[datetime, datetime]] = []
    points: list[ChargePricePoint] = []
    for period in charge.findall(_q("Series_Period")):
        series_resolution, interval, series = _series_points(period)
        if resolution is None:
            resolution = series_resolution
        elif series_resolution is not resolution:
            raise _FieldError(
                f"Series_Period resolution {series_resolution} differs from {resolution}"
            )
        intervals.append(interval)
        points.extend(series)
    if process_type == "D08" and not points:
        raise _FieldError("a D08 price document must carry a Series_Period with Points")
    return ChargeDocumentItem(
        document_id=document_id,
        process_type=process_type,
        activity_id=activity_id,
        owner_gln=owner,
        charge_type=charge_type,
        charge_code=_xml_required(charge, "mRID"),
        name=_xml_optional(charge, "name"),
        description=_xml_optional(charge, "description"),
        resolution=resolution,
        effective_date=_xml_utc(charge, "effectiveDate"),
        termination_date=_xml_optional_utc(charge, "terminationDate"),
        vat_payer=vat_payer,
        transparent_invoicing=_xml_bool(charge, "transparentInvoicing"),
        tax_indicator=_xml_bool(charge, "taxIndicator"),
        price_intervals=tuple(intervals),
        points=tuple(sorted(points, key=lambda p: p.start)),
    )


def parse_price_list_document(path: Path | str) -> list[ChargeDocumentItem]:
    """A DataHub `RequestChangeOfPriceList_MarketDocument` (type D10), process D18 or D08.

    One item per `ChargeType` element, in document order; the error row is that item's 1-based
    ordinal. DTDs are refused (no entity expansion from untrusted documents).
    """
    file = Path(path)
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise ReferenceDataError(file, None, f"cannot read file: {exc.strerror}") from None
    if b"<!DOCTYPE" in raw or b"<!ENTITY" in raw:
        raise ReferenceDataError(file, None, "XML with a DTD is not accepted")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise ReferenceDataError(file, None, f"not well-formed XML: {exc}") from None
    if root.tag != _q("RequestChangeOfPriceList_MarketDocument"):
        raise ReferenceDataError(
            file, None, f"root element is {root.tag}, not RequestChangeOfPriceList_MarketDocument"
        )
    try:
        document_id = _xml_required(root, "mRID")
        document_type = _xml_required(root, "type")
        process = _xml_required(root, "process.processType")
    except _FieldError as exc:
        raise ReferenceDataError(file, None, str(exc)) from None
    if document_type != "D10":
        raise ReferenceDataError(file, None, f"document type must be D10: {document_type!r}")
    if process not in ("D18", "D08"):
        raise ReferenceDataError(
            file,
            None,
            f"process.processType must be D18 or D08 (D17 links are not read): {process!r}",
        )
    process_type: Literal["D18", "D08"] = "D18" if process == "D18" else "D08"
    items: list[ChargeDocumentItem] = []
    for activity in root.findall(_q("MktActivityRecord")):
        activity_id = _xml_optional(activity, "mRID")
        for charge in activity.findall(f"{_q('ChargeGroup')}/{_q('ChargeType')}"):
            number = len(items) + 1
            try:
                items.append(_charge_item(charge, document_id, process_type, activity_id))
            except _FieldError as exc:
                raise ReferenceDataError(file, number, str(exc)) from None
            except (ValidationError, InvalidOperation) as exc:
                message = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
                raise ReferenceDataError(file, number, message) from None
    if not items:
        raise ReferenceDataError(file, None, "document has no ChargeType")
    return items


# --------------------------------------------------------------------------------------------
# Master data


def _ore_or_none_for(
    fields: _Fields, name: str, model: EnergyModel, needed_by: Sequence[EnergyModel]
) -> Decimal | None:
    if model in needed_by:
        return fields.decimal(name)
    if fields.has(name):
        allowed = "/".join(m.value for m in needed_by)
        raise _FieldError(f"{name} only applies to {allowed} products, not {model.value}")
    return None


def _product(fields: _Fields) -> ProductRow:
    model = fields.enum("EnergyModel", EnergyModel)
    fixed = _ore_or_none_for(
        fields, "FixedPriceOrePerKwh", model, (EnergyModel.FIXED_PRICE, EnergyModel.MIXED)
    )
    share = _ore_or_none_for(fields, "SpotShare", model, (EnergyModel.MIXED,))
    if share is not None and not Decimal(0) <= share <= Decimal(1):
        raise _FieldError(f"SpotShare must be between 0 and 1: {share}")
    subscription = fields.decimal("SubscriptionKrPerMonth")
    if subscription < 0:
        raise _FieldError(f"SubscriptionKrPerMonth is negative: {subscription}")
    binding = fields.optional("BindingPeriodMonths", fields.integer)
    if binding is not None and binding < 0:
        raise _FieldError(f"BindingPeriodMonths is negative: {binding}")
    return ProductRow(
        id=fields.uuid("Id"),
        name=fields.text("Name"),
        energy_model=model,
        margin_ore_per_kwh=fields.decimal("MarginOrePerKwh"),
        supplement_ore_per_kwh=fields.optional("SupplementOrePerKwh", fields.decimal),
        subscription_kr_per_month=subscription,
        binding_period_months=binding,
        is_active=fields.boolean("IsActive"),
        fixed_price_ore_per_kwh=fixed,
        spot_share=share,
    )


def _customer(fields: _Fields) -> CustomerRow:
    cpr_cvr = fields.text("CprCvr").replace("-", "")
    if len(cpr_cvr) not in (8, 10) or not cpr_cvr.isascii() or not cpr_cvr.isdigit():
        raise _FieldError("CprCvr must be an 8-digit CVR or a 10-digit CPR number")
    email = fields.optional("Email", fields.text)
    if email is not None and "@" not in email:
        raise _FieldError(f"Email is not an e-mail address: {email!r}")
    return CustomerRow(
        id=fields.uuid("Id"),
        name=fields.text("Name"),
        cpr_cvr=cpr_cvr,
        contact_type=fields.text("ContactType"),
        email=email,
        phone=fields.optional("Phone", fields.text),
        created_at=fields.local_datetime("CreatedAt"),
        status=fields.enum("Status", CustomerStatus),
    )


def _date_range(fields: _Fields, start_name: str, end_name: str) -> tuple[date, date | None]:
    start = fields.local_date(start_name)
    end = fields.optional(end_name, fields.local_date)
    if end is not None and end <= start:
        raise _FieldError(f"{end_name} {end} is not after {start_name} {start}")
    return start, end


def _contract(fields: _Fields) -> ContractRow:
    start, end = _date_range(fields, "StartDate", "EndDate")
    term = fields.integer("PaymentTermDays")
    if term < 0:
        raise _FieldError(f"PaymentTermDays is negative: {term}")
    return ContractRow(
        id=fields.uuid("Id"),
        customer_id=fields.uuid("CustomerId"),
        gsrn=fields.gsrn("Gsrn"),
        product_id=fields.uuid("ProductId"),
        billing_frequency=fields.enum("BillingFrequency", BillingFrequency),
        payment_model=fields.enum("PaymentModel", PaymentModel),
        payment_term_days=term,
        start_date=start,
        end_date=end,
    )


def _supply_period(fields: _Fields) -> SupplyPeriodRow:
    start, end = _date_range(fields, "StartDate", "EndDate")
    reason = fields.optional("EndReason", lambda name: fields.enum(name, EndReason))
    if reason is not None and end is None:
        raise _FieldError("EndReason is given but EndDate is empty")
    return SupplyPeriodRow(
        id=fields.uuid("Id"),
        gsrn=fields.gsrn("Gsrn"),
        start_date=start,
        end_date=end,
        end_reason=reason,
    )


def _metering_point(fields: _Fields) -> MeteringPointRow:
    activated = fields.optional("ActivatedAt", fields.local_datetime)
    deactivated = fields.optional("DeactivatedAt", fields.local_datetime)
    if activated is not None and deactivated is not None and deactivated <= activated:
        raise _FieldError("DeactivatedAt is not after ActivatedAt")
    return MeteringPointRow(
        gsrn=fields.gsrn("Gsrn"),
        type=fields.enum("Type", MeteringPointType),
        settlement_method=fields.enum("SettlementMethod", SettlementMethod),
        connection_status=fields.enum("ConnectionStatus", ConnectionStatus),
        grid_area_code=fields.digits("GridAreaCode", 3),
        grid_operator_gln=fields.gln("GridOperatorGln"),
        activated_at=activated,
        deactivated_at=deactivated,
    )


def _grid_area(fields: _Fields) -> GridAreaRow:
    return GridAreaRow(
        code=fields.digits("Code", 3),
        grid_operator_gln=fields.gln("GridOperatorGln"),
        grid_operator_name=fields.text("GridOperatorName"),
        price_area=fields.enum("PriceArea", PriceArea),
    )


def _aconto_payment(fields: _Fields) -> AcontoPaymentRow:
    start = fields.local_date("BillingPeriodStart")
    end = fields.local_date("BillingPeriodEnd")
    if end <= start:
        raise _FieldError(f"BillingPeriodEnd {end} is not after BillingPeriodStart {start}")
    amount = fields.decimal("Amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise _FieldError(f"Amount has more than 2 decimals: {amount}")
    return AcontoPaymentRow(
        id=fields.uuid("Id"),
        contract_id=fields.uuid("ContractId"),
        billing_period_start=start,
        billing_period_end=end,
        amount=amount,
        paid_at=fields.local_datetime("PaidAt"),
    )


def _by_id(row: Any) -> Hashable:
    return row.id  # type: ignore[no-any-return]


_MASTER_DATA: dict[
    str, tuple[Callable[[_Fields], MasterDataRow], Callable[[Any], Hashable], str]
] = {
    "products": (_product, _by_id, "Id"),
    "customers": (_customer, _by_id, "Id"),
    "contracts": (_contract, _by_id, "Id"),
    "supply_periods": (_supply_period, _by_id, "Id"),
    "metering_points": (_metering_point, lambda row: row.gsrn, "Gsrn"),
    "grid_areas": (_grid_area, lambda row: row.code, "Code"),
    "aconto_payments": (_aconto_payment, _by_id, "Id"),
}
MASTER_DATA_KINDS: tuple[str, ...] = tuple(_MASTER_DATA)


@overload
def parse_master_data(kind: Literal["products"], path: Path | str) -> list[ProductRow]: ...
@overload
def parse_master_data(kind: Literal["customers"], path: Path | str) -> list[CustomerRow]: ...
@overload
def parse_master_data(kind: Literal["contracts"], path: Path | str) -> list[ContractRow]: ...
@overload
def parse_master_data(
    kind: Literal["supply_periods"], path: Path | str
) -> list[SupplyPeriodRow]: ...
@overload
def parse_master_data(
    kind: Literal["metering_points"], path: Path | str
) -> list[MeteringPointRow]: ...
@overload
def parse_master_data(kind: Literal["grid_areas"], path: Path | str) -> list[GridAreaRow]: ...
@overload
def parse_master_data(
    kind: Literal["aconto_payments"], path: Path | str
) -> list[AcontoPaymentRow]: ...
@overload
def parse_master_data(kind: str, path: Path | str) -> Sequence[MasterDataRow]: ...
def parse_master_data(kind: str, path: Path | str) -> Sequence[MasterDataRow]:
    """Master data in CSV or JSON with the class diagram's PascalCase field names.

    `kind` is one of MASTER_DATA_KINDS; an unknown kind raises ValueError. Ids (or Gsrn, or
    Code) must be unique within the file.
    """
    if kind not in _MASTER_DATA:
        raise ValueError(f"unknown master data kind {kind!r}; one of {', '.join(_MASTER_DATA)}")
    build, key, key_name = _MASTER_DATA[kind]
    return _parse_rows(path, build, key=key, key_name=key_name)
